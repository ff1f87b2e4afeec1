-- models: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('models') }}
),

renamed as (
    select
        model_id,
        display_name,
        family,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
