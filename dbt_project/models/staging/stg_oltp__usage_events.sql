-- usage_events: append-only events, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('usage_events', partition_date='event_date') }}
),

renamed as (
    select
        event_id,
        outbox_seq,
        occurred_at,
        recorded_at,
        organization_id,
        project_id,
        api_key_id,
        model_id,
        resource_id,
        usage_unit,
        quantity,
        correction_of,
        attributes,
        _batch_id as batch_id,
        _row_number as source_row_number,
        event_date
    from source
)

select * from renamed
