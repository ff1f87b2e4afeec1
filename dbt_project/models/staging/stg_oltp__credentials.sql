-- credentials: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('credentials') }}
),

renamed as (
    select
        credential_id,
        purpose,
        kind,
        owner_component,
        issued_at,
        expires_at,
        rotated_at,
        rotation_period_days,
        revoked_at,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
