-- A failing row is a table and batch whose rows the build read from the lake differ from the rows
-- the ingestion record says were loaded (warehouse-v1, three-way control totals): a lake file lost,
-- truncated or swapped behind the record's back. dbt build then fails and nothing is published.
-- The other two ways (record = recorded files, every file as recorded) are checked before dbt
-- starts (pipelines/lib/ingest/control.py).
{%- set tables = ['organizations', 'departments', 'projects', 'api_keys', 'models', 'usage_units', 'prices',
                  'credentials', 'runtime_instances', 'provider_inventory', 'usage_events', 'ledger_entries',
                  'audit_events', 'status_events'] %}
with read_from_lake as (
    -- a select per table, joined by union all from loop.last: SQLFluff misreads the indent of those lines
    -- noqa: disable=LT02
    {%- for t in tables %}
        select
            '{{ t }}' as table_name,
            batch_id,
            count(*) as rows_read
        from {{ ref('stg_oltp__' ~ t) }}
        group by all
        {{ 'union all' if not loop.last }}
    {%- endfor %}
    -- noqa: enable=LT02
),

recorded as (
    select
        f.table_name,
        f.batch_id,
        f.rows_loaded
    from {{ source('ops', 'ingested_files') }} as f
    semi join {{ source('ops', 'ingested_batches') }} as b on f.batch_id = b.batch_id and b.status = 'loaded'
)

select
    r.rows_loaded,
    coalesce(r.table_name, l.table_name) as table_name,
    coalesce(r.batch_id, l.batch_id) as batch_id,
    coalesce(l.rows_read, 0) as rows_read
from recorded as r
full outer join read_from_lake as l on r.table_name = l.table_name and r.batch_id = l.batch_id
where coalesce(r.rows_loaded, -1) <> coalesce(l.rows_read, 0)
