-- runtime_instances: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('runtime_instances') }}
),

renamed as (
    select
        runtime_id,
        project_id,
        product,
        provider,
        provider_resource_id,
        gpu_type,
        state,
        started_at,
        ended_at,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
