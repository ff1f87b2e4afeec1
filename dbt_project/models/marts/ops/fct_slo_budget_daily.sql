-- The error budget left at the end of each day: the SLI over the SLO's rolling window ending that
-- day, against its target. What the ops page charts next to the daily SLI.
with daily as (
    select * from {{ ref('fct_sli_daily') }}
),

definitions as (
    select * from {{ ref('int_slo_definitions_expanded') }}
),

windowed as (
    select
        d.day,
        d.component,
        d.slo_name,
        s.target,
        s.window_days,
        sum(w.total_events)::bigint as window_total_events,
        sum(w.good_events)::bigint as window_good_events
    from daily as d
    inner join definitions as s using (component, slo_name)
    inner join daily as w
        on
            d.component = w.component
            and d.slo_name = w.slo_name
            and w.day > {{ add_days_to_date('d.day', '-s.window_days') }}
            and d.day >= w.day
    group by all
),

final as (
    select
        day,
        component,
        slo_name,
        target,
        window_days,
        window_total_events,
        window_good_events,
        window_good_events / window_total_events as window_sli,
        1 - (1 - window_good_events / window_total_events) / (1 - target::double) as error_budget_remaining
    from windowed
)

select * from final
