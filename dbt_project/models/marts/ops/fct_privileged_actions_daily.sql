-- Privileged actions per UTC day x actor x action x resource type x outcome, for security reviews.
with audit as (
    select * from {{ ref('fct_audit_events') }}
    where privileged
),

final as (
    select
        occurred_at::date as day,
        actor_type,
        actor_id,
        action,
        resource_type,
        outcome,
        organization_id,
        count(*) as event_count,
        count(*) filter (where chain_status <> 'valid') as unverified_event_count
    from audit
    group by all
)

select * from final
