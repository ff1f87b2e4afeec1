-- API keys as of their latest version (never key material).
with versions as (
    select * from {{ ref('int_api_keys_versioned') }}
    where is_latest_version
),

final as (
    select
        api_key_id,
        project_id,
        service_account_id,
        label,
        created_at,
        revoked_at,
        deleted_at,
        deleted_at is not null as is_deleted
    from versions
)

select * from final
