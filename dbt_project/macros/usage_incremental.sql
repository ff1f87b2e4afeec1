{# The incremental usage marts (models/marts/usage/) rebuild only the days changed since their
   last build (macros/engine/incremental.sql). Each row carries the watermark: the newest load (its
   number in ops.load_sequence) the build that wrote it reflects. #}

{% macro usage_marts() -%}
    {{ return(['fct_usage_events', 'fct_usage_hourly', 'fct_usage_daily', 'usage_by_department_daily',
               'usage_by_project_daily', 'usage_by_api_key_daily', 'usage_by_model_daily']) }}
{%- endmacro %}

{% macro usage_watermark() -%}
    (select max(changed_seq) from {{ ref('int_usage_changed_dates') }})
{%- endmacro %}

{# The days to rebuild (a relation of int_usage_affected_dates' shape) as a list, read when the
   model runs (empty while dbt parses). #}
{% macro affected_usage_days(affected_days) -%}
    {%- if execute -%}
        {{ return(run_query("select cast(usage_date as string) from " ~ affected_days ~ " order by 1").columns[0].values() | list) }}
    {%- endif -%}
    {{ return([]) }}
{%- endmacro %}

{# A filter on a lake partition date column for a list of days (affected_usage_days): literal
   dates, so DuckDB reads only those days' files. #}
{% macro partition_days_filter(column, days) -%}
    {{ column }} in ({% for d in days %}'{{ d }}'::date, {% endfor %}null::date)
{%- endmacro %}

{% macro affected_usage_dates_filter() -%}
    {{ affected_days_filter('usage_date', 'int_usage_affected_dates') }}
{%- endmacro %}

{# The measures every daily usage rollup sums from the finer one, defined once. Counts stay BIGINT
   (DuckDB sums BIGINT to HUGEINT, whose stored columns scan slower; the contract pins BIGINT). #}
{% macro usage_rollup_measures() -%}
        sum(quantity) as quantity,
        sum(rated_amount) as rated_amount,
        sum(event_count)::bigint as event_count,
        sum(unrated_event_count)::bigint as unrated_event_count,
        {{ usage_watermark() }} as _watermark
{%- endmacro %}

