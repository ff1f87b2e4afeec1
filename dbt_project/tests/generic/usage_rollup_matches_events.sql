{#
  A failing row is a (usage_date, usage_unit, currency) where a usage rollup and fct_usage_events
  disagree on quantity, rated amount or event count, to the last decimal. A `where` config
  restricts both sides alike.
#}
{% test usage_rollup_matches_events(model) %}
with rollup as (
    select usage_date, usage_unit, currency,
           sum(quantity) as quantity, sum(rated_amount) as rated_amount, sum(event_count) as event_count
    from {{ model }}
    group by all
),

events as (
    select usage_date, usage_unit, currency,
           sum(quantity) as quantity, sum(rated_amount) as rated_amount, count(*) as event_count
    from {{ get_where_subquery(ref('fct_usage_events')) }}  {# the same days as the rollup's #}
    group by all
)

select
    coalesce(r.usage_date, e.usage_date) as usage_date,
    coalesce(r.usage_unit, e.usage_unit) as usage_unit,
    coalesce(r.currency, e.currency) as currency,
    r.quantity as rollup_quantity, e.quantity as events_quantity,
    r.rated_amount as rollup_rated_amount, e.rated_amount as events_rated_amount,
    r.event_count as rollup_event_count, e.event_count as events_event_count
from rollup as r
full outer join events as e
    on r.usage_date = e.usage_date
    and r.usage_unit = e.usage_unit
    and r.currency is not distinct from e.currency
where r.quantity is distinct from e.quantity
   or r.rated_amount is distinct from e.rated_amount
   or r.event_count is distinct from e.event_count
{% endtest %}
