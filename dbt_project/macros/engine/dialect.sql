{#
  Where DuckDB's SQL and Spark's differ, one macro each, dispatched on the target's adapter
  (`duckdb__` and `spark__`): models call these and hold no engine's own syntax. The differences
  were measured on both engines (../shared/scale-out/dialect-probe.md); each macro returns the
  same values on both, or says where they cannot be the same.
#}

{# `*` without some columns: `* exclude (..)` on DuckDB, `* except (..)` on Spark. #}
{% macro star_except(columns, alias=none) -%}
    {{ return(adapter.dispatch('star_except')(columns, alias)) }}
{%- endmacro %}

{% macro duckdb__star_except(columns, alias=none) -%}
    {{ alias ~ '.' if alias }}* exclude ({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__star_except(columns, alias=none) -%}
    {{ alias ~ '.' if alias }}* except ({{ columns | join(', ') }})
{%- endmacro %}

{# A CTE read twice that should be computed once per read, not held: DuckDB's hint; Spark never
   materializes a CTE. `with x as {{ not_materialized() }} (...)` #}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized')()) }}
{%- endmacro %}

{% macro duckdb__not_materialized() -%}
    not materialized
{%- endmacro %}

{% macro spark__not_materialized() -%}
{%- endmacro %}

{# The type of an instant: DuckDB's TIMESTAMPTZ; Spark's TIMESTAMP, which is an instant shown in
   the session zone (UTC here: dbt_project/profiles.yml). #}
{% macro instant_type() -%}
    {{ return(adapter.dispatch('instant_type')()) }}
{%- endmacro %}

{% macro duckdb__instant_type() -%}
    timestamptz
{%- endmacro %}

{% macro spark__instant_type() -%}
    timestamp
{%- endmacro %}

{# The open ends of a validity window. DuckDB has -infinity and infinity; Spark has no infinite
   timestamp, and uses the first and last microsecond of its range, which compare the same way
   with every instant the exports can hold (oltp-export-v1: years 2000 to 2100). #}
{% macro instant_min() -%}
    {{ return(adapter.dispatch('instant_min')()) }}
{%- endmacro %}

{% macro duckdb__instant_min() -%}
    '-infinity'::timestamptz
{%- endmacro %}

{% macro spark__instant_min() -%}
    timestamp'0001-01-01 00:00:00'
{%- endmacro %}

{% macro instant_max() -%}
    {{ return(adapter.dispatch('instant_max')()) }}
{%- endmacro %}

{% macro duckdb__instant_max() -%}
    'infinity'::timestamptz
{%- endmacro %}

{% macro spark__instant_max() -%}
    timestamp'9999-12-31 23:59:59.999999'
{%- endmacro %}

{# A hash of a row's values, to tell versions apart (never stored, never compared across engines). #}
{% macro values_hash(columns) -%}
    {{ return(adapter.dispatch('values_hash')(columns)) }}
{%- endmacro %}

{% macro duckdb__values_hash(columns) -%}
    md5(row({{ columns | join(', ') }})::varchar)
{%- endmacro %}

{% macro spark__values_hash(columns) -%}
    md5(to_json(struct({{ columns | join(', ') }})))
{%- endmacro %}

{# The hex SHA-256 of a string. #}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex')(expr)) }}
{%- endmacro %}

{% macro duckdb__sha256_hex(expr) -%}
    sha256({{ expr }})
{%- endmacro %}

{% macro spark__sha256_hex(expr) -%}
    sha2({{ expr }}, 256)
{%- endmacro %}

{# An instant as UTC text with six fractional digits: 2026-11-01T00:05:00.000000Z #}
{% macro utc_text_micros(ts) -%}
    {{ return(adapter.dispatch('utc_text_micros')(ts)) }}
{%- endmacro %}

{% macro duckdb__utc_text_micros(ts) -%}
    strftime({{ ts }} at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')
{%- endmacro %}

{% macro spark__utc_text_micros(ts) -%}
    date_format({{ ts }}, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
{%- endmacro %}

{# A top-level key of a JSON object held as text, as text (null when absent). #}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text')(column, key)) }}
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    ({{ column }})::json ->> '{{ key }}'
{%- endmacro %}

{% macro spark__json_text(column, key) -%}
    get_json_object({{ column }}, '$.{{ key }}')
{%- endmacro %}

{# Microseconds from instant a to instant b (b - a), a BIGINT. #}
{% macro micros_between(a, b) -%}
    {{ return(adapter.dispatch('micros_between')(a, b)) }}
{%- endmacro %}

{% macro duckdb__micros_between(a, b) -%}
    (epoch_us({{ b }}) - epoch_us({{ a }}))
{%- endmacro %}

{% macro spark__micros_between(a, b) -%}
    (unix_micros({{ b }}) - unix_micros({{ a }}))
{%- endmacro %}

{# Integer division truncated toward zero: -7 by 2 is -3 on both. #}
{% macro trunc_div(a, b) -%}
    {{ return(adapter.dispatch('trunc_div')(a, b)) }}
{%- endmacro %}

{% macro duckdb__trunc_div(a, b) -%}
    (({{ a }}) // ({{ b }}))
{%- endmacro %}

{% macro spark__trunc_div(a, b) -%}
    (({{ a }}) div ({{ b }}))
{%- endmacro %}

{# An instant plus a whole number of days (24-hour days: the instants are UTC). #}
{% macro add_days(ts, days) -%}
    {{ return(adapter.dispatch('add_days')(ts, days)) }}
{%- endmacro %}

{% macro duckdb__add_days(ts, days) -%}
    ({{ ts }} + to_days(cast({{ days }} as integer)))
{%- endmacro %}

{% macro spark__add_days(ts, days) -%}
    ({{ ts }} + make_dt_interval(cast({{ days }} as integer)))
{%- endmacro %}

{# Lists: one element, one more element at the end, membership. #}
{% macro list_of(x) -%}
    {{ return(adapter.dispatch('list_of')(x)) }}
{%- endmacro %}

{% macro duckdb__list_of(x) -%}
    [{{ x }}]
{%- endmacro %}

{% macro spark__list_of(x) -%}
    array({{ x }})
{%- endmacro %}

{% macro list_append_item(l, x) -%}
    {{ return(adapter.dispatch('list_append_item')(l, x)) }}
{%- endmacro %}

{% macro duckdb__list_append_item(l, x) -%}
    list_append({{ l }}, {{ x }})
{%- endmacro %}

{% macro spark__list_append_item(l, x) -%}
    concat({{ l }}, array({{ x }}))
{%- endmacro %}

{% macro list_has(l, x) -%}
    {{ return(adapter.dispatch('list_has')(l, x)) }}
{%- endmacro %}

{% macro duckdb__list_has(l, x) -%}
    list_contains({{ l }}, {{ x }})
{%- endmacro %}

{% macro spark__list_has(l, x) -%}
    array_contains({{ l }}, {{ x }})
{%- endmacro %}

{# A DATE plus a whole number of days, a DATE. #}
{% macro add_days_to_date(d, days) -%}
    {{ return(adapter.dispatch('add_days_to_date')(d, days)) }}
{%- endmacro %}

{% macro duckdb__add_days_to_date(d, days) -%}
    ({{ d }} + cast({{ days }} as integer))
{%- endmacro %}

{% macro spark__add_days_to_date(d, days) -%}
    date_add({{ d }}, cast({{ days }} as integer))
{%- endmacro %}

{# The type of a query's column, for tests/generic/is_decimal.sql: a row when it does not start with
   type_prefix (or the column is missing), none otherwise. #}
{% macro column_type_failures(model, column_name, type_prefix) -%}
    {{ return(adapter.dispatch('column_type_failures')(model, column_name, type_prefix)) }}
{%- endmacro %}

{# DuckDB: DESCRIBE binds the query in the test's own SQL. #}
{% macro duckdb__column_type_failures(model, column_name, type_prefix) %}
select '{{ column_name }}' as column_name, coalesce(max(column_type), 'missing') as column_type
from (describe select * from {{ model }})
where column_name = '{{ column_name }}'
having coalesce(max(column_type), 'missing') not like '{{ type_prefix }}%'
{% endmacro %}

{# Spark: DESCRIBE QUERY is a statement, not a relation: it runs as the test renders, and the test
   returns its verdict as a row or none. #}
{% macro spark__column_type_failures(model, column_name, type_prefix) %}
{%- set found = namespace(type='missing') -%}
{%- if execute -%}
  {%- for row in run_query('describe query select * from ' ~ model).rows -%}
    {%- if row[0] == column_name -%}{%- set found.type = row[1] -%}{%- endif -%}
  {%- endfor -%}
{%- endif -%}
select '{{ column_name }}' as column_name, '{{ found.type }}' as column_type
where {{ 'false' if found.type.upper().startswith(type_prefix) else 'true' }}
{% endmacro %}

{# The first day of a date's month, and a date some months later (billing periods). #}
{% macro month_start(d) -%}
    {{ return(adapter.dispatch('month_start')(d)) }}
{%- endmacro %}

{% macro duckdb__month_start(d) -%}
    cast(date_trunc('month', {{ d }}) as date)
{%- endmacro %}

{% macro spark__month_start(d) -%}
    trunc({{ d }}, 'MM')
{%- endmacro %}

{% macro add_months_to_date(d, months) -%}
    {{ return(adapter.dispatch('add_months_to_date')(d, months)) }}
{%- endmacro %}

{% macro duckdb__add_months_to_date(d, months) -%}
    cast({{ d }} + to_months(cast({{ months }} as integer)) as date)
{%- endmacro %}

{% macro spark__add_months_to_date(d, months) -%}
    add_months({{ d }}, {{ months }})
{%- endmacro %}
