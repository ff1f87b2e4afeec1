-- audit_events: append-only events, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('audit_events') }}
),

renamed as (
    select
        audit_id,
        seq,
        occurred_at,
        actor_type,
        actor_id,
        action,
        resource_type,
        resource_id,
        organization_id,
        outcome,
        privileged,
        scope,
        correlation_id,
        source_ip,
        prev_hash,
        row_hash,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
