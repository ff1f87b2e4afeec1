-- Departments as of their latest version, with their place in the tree: path is the names from
-- the root joined by ' / ', depth is 0 at the root.
with recursive departments as (
    select * from {{ ref('int_departments_versioned') }}
    where is_latest_version
),

tree as (
    select
        department_id,
        name as path,
        0 as depth,
        {{ list_of('department_id') }} as lineage
    from departments
    where parent_department_id is null
    union all
    select
        d.department_id,
        t.path || ' / ' || d.name as path,
        t.depth + 1 as depth,
        {{ list_append_item('t.lineage', 'd.department_id') }} as lineage
    from departments as d
    inner join tree as t on d.parent_department_id = t.department_id
    where not {{ list_has('t.lineage', 'd.department_id') }}  -- a cycle would break the contract: stop, never loop
),

final as (
    select
        d.department_id,
        d.organization_id,
        d.parent_department_id,
        d.name,
        t.path,
        t.depth,
        d.updated_at,
        d.deleted_at,
        d.deleted_at is not null as is_deleted
    from departments as d
    left join tree as t using (department_id)
)

select * from final
