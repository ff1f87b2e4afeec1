{# The incremental usage marts (models/marts/usage/) rebuild only the days changed since their
   last build. Each row carries the watermark (the newest change it reflects); the days to rebuild
   are those with a change newer than the oldest watermark among the usage marts. #}

{% macro usage_marts() -%}
    {{ return(['fct_usage_events', 'fct_usage_hourly', 'fct_usage_daily', 'usage_by_department_daily',
               'usage_by_project_daily', 'usage_by_api_key_daily', 'usage_by_model_daily']) }}
{%- endmacro %}

{% macro usage_watermark() -%}
    (select max(changed_at) from {{ ref('int_usage_changed_dates') }})
{%- endmacro %}

{# The pre-hook of a model incremental by day: delete the days this run rebuilds, listed in the
   `column` of the work-list model `affected` (int_usage_affected_dates for the usage marts,
   int_reconciliation_affected_dates for the reconciliation). Nothing on a first build. #}
{% macro delete_affected_days(column, affected) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ column }} in (select {{ column }} from {{ ref(affected) }})
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{# The days to rebuild as a list, read when the model runs (empty while dbt parses). #}
{% macro affected_usage_days() -%}
    {%- if execute -%}
        {{ return(run_query("select usage_date::varchar from " ~ ref('int_usage_affected_dates') ~ " order by 1").columns[0].values() | list) }}
    {%- endif -%}
    {{ return([]) }}
{%- endmacro %}

{# A filter on a lake partition date column for a list of days (affected_usage_days()): literal
   dates, so DuckDB reads only those days' files. #}
{% macro partition_days_filter(column, days) -%}
    {{ column }} in ({% for d in days %}'{{ d }}'::date, {% endfor %}null::date)
{%- endmacro %}

{% macro affected_usage_dates_filter() -%}
    usage_date in (select usage_date from {{ ref('int_usage_affected_dates') }})
{%- endmacro %}

{# The measures every daily usage rollup sums from the finer one, defined once. #}
{% macro usage_rollup_measures() -%}
        sum(quantity) as quantity,
        sum(rated_amount) as rated_amount,
        sum(event_count) as event_count,
        sum(unrated_event_count) as unrated_event_count,
        {{ usage_watermark() }} as _watermark
{%- endmacro %}

{# on-run-start: a reconciliation built before it was incremental has no _watermark, and adding
   the column in the run that rewrites it fails in DuckDB ("another transaction has altered this
   table"). Add it first, empty, in its own statement: every day is then older than any change,
   and the run rebuilds them all. A no-op on a current or missing table. #}
{% macro add_reconciliation_watermark() -%}
    {%- set rel = api.Relation.create(database=target.database, schema='marts',
                                      identifier='rpt_usage_ledger_reconciliation') -%}
    alter table if exists {{ rel }} add column if not exists _watermark timestamptz
{%- endmacro %}
