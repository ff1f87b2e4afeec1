-- The usage-unit registry as of its latest version: a new unit arrives as a new row, never as code.
with versions as (
    select * from {{ ref('int_usage_units_versioned') }}
    where is_latest_version
),

final as (
    select
        usage_unit,
        product,
        unit_of_measure,
        description,
        registry_version,
        updated_at,
        deleted_at
    from versions
)

select * from final
