-- Models served by the Token Factory, as of their latest version.
with versions as (
    select * from {{ ref('int_models_versioned') }}
    where is_latest_version
),

final as (
    select
        model_id,
        display_name,
        family,
        updated_at,
        deleted_at
    from versions
)

select * from final
