-- projects: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('projects') }}
),

renamed as (
    select
        project_id,
        organization_id,
        department_id,
        name,
        created_at,
        archived_at,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
