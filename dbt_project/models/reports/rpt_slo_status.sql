-- SLO status per component x SLO as of the feed's newest observation: the SLI and error budget over
-- the rolling window, burn rates over 1h/6h/24h/72h, and the multi-window alert (Google SRE
-- workbook): page on fast burn confirmed by a short window, ticket on slow burn.
-- The last W is observed_at in (newest - W, newest].
{% set windows = {'5m': '5 minutes', '30m': '30 minutes', '1h': '1 hour', '2h': '2 hours', '6h': '6 hours',
                  '24h': '24 hours', '72h': '72 hours'} %}
with definitions as (
    select * from {{ ref('int_slo_definitions_expanded') }}
),

probes as (
    select * from {{ ref('int_slo_probes') }}
),

newest as (
    select max(observed_at) as newest_observed_at from {{ ref('stg_oltp__status_events') }}
),

counts as (
    select
        d.component,
        d.slo_name,
        d.target,
        d.window_days,
        n.newest_observed_at,
        count(p.observed_at) filter (
            where p.observed_at > {{ add_days('n.newest_observed_at', '-d.window_days') }}
        ) as total_events,
        count(p.observed_at) filter (
            where p.observed_at > {{ add_days('n.newest_observed_at', '-d.window_days') }} and p.is_good
        )
            as good_events,
    -- a column per loop item, its comma from loop.last: SQLFluff misreads the indent of those lines
        -- noqa: disable=LT02
        {%- for name, span in windows.items() %}
        count(p.observed_at) filter (where p.observed_at > n.newest_observed_at - interval '{{ span }}')
            as total_{{ name }},
        count(p.observed_at) filter (
            where p.observed_at > n.newest_observed_at - interval '{{ span }}' and not p.is_good
        )
            as bad_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02
    from definitions as d
    cross join newest as n
    left join probes as p using (component, slo_name)
    group by all
),

rates as (
    select
        *,
        good_events / nullif(total_events, 0) as sli,
        -- a column per loop item, its comma from loop.last: SQLFluff misreads the indent of those lines
        -- noqa: disable=LT02
        {%- for name in windows %}
        (bad_{{ name }} / nullif(total_{{ name }}, 0))
        / (1 - target::double) as burn_rate_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    -- noqa: enable=LT02
    from counts
),

final as (
    select
        component,
        slo_name,
        target,
        window_days,
        total_events,
        good_events,
        sli,
        burn_rate_1h,
        burn_rate_6h,
        burn_rate_24h,
        burn_rate_72h,
        burn_rate_5m,
        burn_rate_30m,
        burn_rate_2h,
        newest_observed_at as as_of,
        1 - (1 - sli) / (1 - target::double) as error_budget_remaining,
        case
            when (burn_rate_1h > 14.4 and burn_rate_5m > 14.4) or (burn_rate_6h > 6 and burn_rate_30m > 6) then 'page'
            when (burn_rate_24h > 3 and burn_rate_2h > 3) or (burn_rate_72h > 1 and burn_rate_6h > 1) then 'ticket'
            else 'none'
        end as alert
    from rates
)

select * from final
