-- A failing row is a usage event filed in the lake under another day than its occurred_at's UTC
-- day: fct_usage_events reads only the partitions of the days it rebuilds, so it would miss it.
select event_id, occurred_at, event_date
from {{ ref('stg_oltp__usage_events') }}
where event_date <> occurred_at::date
