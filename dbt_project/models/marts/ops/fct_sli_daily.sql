-- Service level indicator per UTC day x component x SLO, for charts and trends.
with probes as (
    select * from {{ ref('int_slo_probes') }}
),

final as (
    select
        observed_at::date as day,
        component,
        slo_name,
        count(*) as total_events,
        count(*) filter (where is_good) as good_events,
        count(*) filter (where is_good) / count(*) as sli
    from probes
    group by all
)

select * from final
