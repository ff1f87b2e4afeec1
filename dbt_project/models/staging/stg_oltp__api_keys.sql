-- api_keys: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('api_keys') }}
),

renamed as (
    select
        api_key_id,
        project_id,
        service_account_id,
        label,
        created_at,
        revoked_at,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
