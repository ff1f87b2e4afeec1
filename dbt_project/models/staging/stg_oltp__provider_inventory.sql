-- provider_inventory: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('provider_inventory') }}
),

renamed as (
    select
        provider,
        provider_resource_id,
        observed_at,
        state,
        gpu_type,
        runtime_tag,
        project_tag,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
