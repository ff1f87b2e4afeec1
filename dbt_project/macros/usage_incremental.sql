{# The incremental usage marts (models/marts/usage/) rebuild only the days changed since their
   last build (macros/engine/incremental.sql). Each row carries the watermark: the newest change
   the build that wrote it reflects. #}

{% macro usage_marts() -%}
    {{ return(['fct_usage_events', 'fct_usage_hourly', 'fct_usage_daily', 'usage_by_department_daily',
               'usage_by_project_daily', 'usage_by_api_key_daily', 'usage_by_model_daily']) }}
{%- endmacro %}

{% macro usage_watermark() -%}
    (select max(changed_at) from {{ ref('int_usage_changed_dates') }})
{%- endmacro %}

{# The days to rebuild as a list, read when the model runs (empty while dbt parses). #}
{% macro affected_usage_days() -%}
    {%- if execute -%}
        {{ return(run_query("select cast(usage_date as string) from " ~ ref('int_usage_affected_dates') ~ " order by 1").columns[0].values() | list) }}
    {%- endif -%}
    {{ return([]) }}
{%- endmacro %}

{# A filter on a lake partition date column for a list of days (affected_usage_days()): literal
   dates, so DuckDB reads only those days' files. #}
{% macro partition_days_filter(column, days) -%}
    {{ column }} in ({% for d in days %}'{{ d }}'::date, {% endfor %}null::date)
{%- endmacro %}

{% macro affected_usage_dates_filter() -%}
    {{ affected_days_filter('usage_date', 'int_usage_affected_dates') }}
{%- endmacro %}

{# The measures every daily usage rollup sums from the finer one, defined once. Counts stay BIGINT
   (DuckDB sums BIGINT to HUGEINT, whose stored columns scan ~10x slower: see narrowed_columns). #}
{% macro usage_rollup_measures() -%}
        sum(quantity) as quantity,
        sum(rated_amount) as rated_amount,
        sum(event_count)::bigint as event_count,
        sum(unrated_event_count)::bigint as unrated_event_count,
        {{ usage_watermark() }} as _watermark
{%- endmacro %}

{# on-run-start: a reconciliation built before it was incremental has no _watermark, and adding
   the column in the run that rewrites it fails in DuckDB ("another transaction has altered this
   table"). Add it first, empty, in its own statement: every day is then older than any change,
   and the run rebuilds them all. A no-op on a current or missing table, and on Spark (no
   warehouse was built there before). #}
{% macro add_reconciliation_watermark() -%}
    {{ return(adapter.dispatch('add_reconciliation_watermark')()) }}
{%- endmacro %}

{% macro default__add_reconciliation_watermark() -%}
    select 1
{%- endmacro %}

{% macro duckdb__add_reconciliation_watermark() -%}
    {%- set rel = api.Relation.create(database=target.database, schema='marts',
                                      identifier='rpt_usage_ledger_reconciliation') -%}
    alter table if exists {{ rel }} add column if not exists _watermark timestamptz
{%- endmacro %}

{# Columns whose stored type changed, and the type they have now: the event counts of the daily
   usage marts and the reconciliation were HUGEINT (DuckDB's type for a sum of BIGINTs), the
   reconciliation's cents DECIMAL(38,2). DuckDB 1.5 stores both as 128-bit integers, and scans a
   bit-packed one about ten times slower than a 64-bit one (event_count of 3M daily rows: 0.63 s
   against 0.06 s; rated_amount of the 2.2M-key reconciliation: 0.71 s against 0.04 s), and every
   rollup test, report and analyst query reads them. BIGINT counts, and cents up to 10^16 a key
   and day, lose nothing. #}
{% macro narrowed_columns() -%}
    {%- set counts = {'event_count': 'BIGINT', 'unrated_event_count': 'BIGINT'} -%}
    {{ return({
        'fct_usage_daily': counts, 'usage_by_department_daily': counts, 'usage_by_project_daily': counts,
        'usage_by_api_key_daily': counts, 'usage_by_model_daily': counts,
        'rpt_usage_ledger_reconciliation': {'usage_events': 'BIGINT', 'unrated_events': 'BIGINT',
                                            'rated_amount': 'DECIMAL(18,2)'},
    }) }}
{%- endmacro %}

{# on-run-start: a warehouse built before narrowed_columns() has the wider types, and an
   incremental mart fails on a changed column type (on_schema_change: fail): the existing columns
   are converted first, each in its own statement. A no-op once converted, and on Spark. #}
{% macro narrow_stored_types() -%}
    {{ return(adapter.dispatch('narrow_stored_types')()) }}
{%- endmacro %}

{% macro default__narrow_stored_types() -%}
    select 1
{%- endmacro %}

{% macro duckdb__narrow_stored_types() -%}
    {%- if execute -%}
        {%- set narrowed = narrowed_columns() -%}
        {%- set found = run_query(
            "select table_name, column_name, data_type from information_schema.columns where table_catalog = '"
            ~ target.database ~ "' and table_schema = 'marts'") -%}
        {%- for row in found.rows if narrowed.get(row[0], {}).get(row[1], row[2]) != row[2] -%}
            {%- set rel = api.Relation.create(database=target.database, schema='marts', identifier=row[0]) -%}
            {%- set wanted = narrowed[row[0]][row[1]] -%}
            {%- do run_query("alter table " ~ rel ~ " alter column " ~ row[1] ~ " type " ~ wanted) -%}
            {%- do log("converted " ~ rel ~ "." ~ row[1] ~ " from " ~ row[2] ~ " to " ~ wanted, info=true) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
