-- Organizations as of their latest version (deleted ones stay, flagged).
with versions as (
    select * from {{ ref('int_organizations_versioned') }}
    where is_latest_version
),

final as (
    select
        organization_id,
        name,
        plan_id,
        billing_currency,
        created_at,
        updated_at,
        deleted_at,
        deleted_at is not null as is_deleted
    from versions
)

select * from final
