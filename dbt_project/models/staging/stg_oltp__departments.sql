-- departments: full snapshots, one per batch, typed by the ingestion contracts, read from the lake.
with source as (
    select * from {{ lake_source('departments') }}
),

renamed as (
    select
        department_id,
        organization_id,
        parent_department_id,
        name,
        updated_at,
        _batch_id as batch_id,
        _row_number as source_row_number
    from source
)

select * from renamed
