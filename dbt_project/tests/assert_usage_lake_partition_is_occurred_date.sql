-- A failing row is a usage event filed in the lake under another day than its occurred_at's UTC
-- day: fct_usage_events reads only the partitions of the days it rebuilds, so it would miss it.
-- Like the usage marts' tests, it reads the days this run rebuilt (every day on a first build or
-- a --full-refresh, and with --vars '{test_all_days: true}'): ingestion wrote no other partition.
{%- set affected_days = ref('int_usage_affected_dates') %}
select event_id, occurred_at, event_date
from {{ ref('stg_oltp__usage_events') }}
where event_date <> {{ utc_date('occurred_at') }}
{%- if not var('test_all_days', false) %}
    and {{ partition_days_filter('event_date', affected_usage_days(affected_days)) }}
{%- endif %}
