-- status_events: append-only events, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('status_events') }}
),

renamed as (
    select
        component,
        check_name,
        observed_at,
        status,
        latency_ms,
        dlq_depth,
        outbox_lag_seconds,
        detail,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
