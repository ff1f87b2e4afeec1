-- A failing row is a table and batch whose rows the build read from the lake differ from the rows
-- the ingestion record says were loaded (warehouse-v1, three-way control totals): a lake file lost,
-- truncated or swapped behind the record's back. dbt build then fails and nothing is published.
-- The other two ways (record = recorded files, every file as recorded) are checked before dbt
-- starts (pipelines/lib/ingest/control.py).
{%- set tables = ['organizations', 'departments', 'projects', 'api_keys', 'models', 'usage_units', 'prices',
                  'credentials', 'runtime_instances', 'provider_inventory', 'usage_events', 'ledger_entries',
                  'audit_events', 'status_events'] %}
with read_from_lake as (
    {%- for t in tables %}
    select '{{ t }}' as table_name, batch_id, count(*) as rows_read
    from {{ ref('stg_oltp__' ~ t) }}
    group by all
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

recorded as (
    select f.table_name, f.batch_id, f.rows_loaded
    from {{ source('ops', 'ingested_files') }} as f
    semi join {{ source('ops', 'ingested_batches') }} as b on b.batch_id = f.batch_id and b.status = 'loaded'
)

select
    coalesce(r.table_name, l.table_name) as table_name,
    coalesce(r.batch_id, l.batch_id) as batch_id,
    r.rows_loaded,
    coalesce(l.rows_read, 0) as rows_read
from recorded as r
full outer join read_from_lake as l on l.table_name = r.table_name and l.batch_id = r.batch_id
where coalesce(r.rows_loaded, -1) <> coalesce(l.rows_read, 0)
