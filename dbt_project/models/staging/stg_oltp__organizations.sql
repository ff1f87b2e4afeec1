-- organizations: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('organizations') }}
),

renamed as (
    select
        organization_id,
        name,
        plan_id,
        billing_currency,
        created_at,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
