-- Projects with one row per validity interval: valid_from is the version's updated_at, valid_to
-- the next version's (null = current). Usage is attributed to the department of the interval
-- holding its occurred_at (usage before the first version uses the first).
with versions as (
    select * from {{ ref('int_projects_versioned') }}
),

final as (
    select
        project_id,
        organization_id,
        department_id,
        name,
        created_at,
        archived_at,
        valid_from,
        valid_to,
        version_number,
        deleted_at,
        valid_to is null and deleted_at is null as is_current
    from versions
)

select * from final
