-- ledger_entries: append-only events, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('ledger_entries') }}
),

renamed as (
    select
        entry_id,
        organization_id,
        project_id,
        usage_unit,
        model_id,
        charge_date,
        quantity,
        amount,
        currency,
        entry_type,
        posted_at,
        reverses_entry_id,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
