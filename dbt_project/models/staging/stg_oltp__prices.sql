-- prices: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('prices') }}
),

renamed as (
    select
        price_id,
        plan_id,
        usage_unit,
        model_id,
        unit_price,
        currency,
        effective_from,
        effective_to,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
