-- Credential rotation posture as of the newest exported_at loaded (reproducible). The first status
-- that applies: revoked, expired (past expires_at), overdue (last rotation, or issue, older than the
-- rotation period), due_soon (expiry or rotation deadline within 14 days), ok.
with credentials as (
    select * from {{ ref('int_credentials_versioned') }}
    where is_latest_version and deleted_at is null
),

as_of as (
    select max(exported_at) as as_of from {{ source('ops', 'ingested_batches') }}
    where status = 'loaded'
),

dated as (
    select
        c.*,
        a.as_of,
        coalesce(c.rotated_at, c.issued_at) as last_rotated_at,
        {{ add_days('coalesce(c.rotated_at, c.issued_at)', 'c.rotation_period_days') }} as rotation_due_at
    from credentials as c
    cross join as_of as a
),

final as (
    select
        credential_id,
        purpose,
        kind,
        owner_component,
        -- whole days, truncated toward zero: expired a day and five minutes ago is -1, not -2
        {{ trunc_div(micros_between('last_rotated_at', 'as_of'), 86400000000) }} as age_days,
        case when expires_at is not null then {{ trunc_div(micros_between('as_of', 'expires_at'), 86400000000) }} end
            as days_to_expiry,
        case
            when revoked_at is not null then 'revoked'
            when expires_at is not null and as_of > expires_at then 'expired'
            when as_of > rotation_due_at then 'overdue'
            when
                (expires_at is not null and expires_at <= {{ add_days('as_of', 14) }})
                or rotation_due_at <= {{ add_days('as_of', 14) }} then 'due_soon'
            else 'ok'
        end as rotation_status,
        issued_at,
        rotated_at,
        last_rotated_at,
        rotation_period_days,
        rotation_due_at,
        expires_at,
        revoked_at,
        as_of
    from dated
)

select * from final
