-- usage_units: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('usage_units') }}
),

renamed as (
    select
        usage_unit,
        product,
        unit_of_measure,
        description,
        registry_version,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
