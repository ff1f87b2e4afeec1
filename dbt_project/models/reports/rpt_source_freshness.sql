-- Freshness of every export table, reproducibly: lag is the newest exported_at loaded minus the
-- table's newest record time, never the wall clock. Thresholds: pipelines/config/freshness.yml.
{% set record_time = {
    'usage_events': 'occurred_at', 'audit_events': 'occurred_at', 'status_events': 'observed_at',
    'ledger_entries': 'posted_at', 'provider_inventory': 'observed_at'} %}
{% set tables = ['organizations', 'departments', 'projects', 'api_keys', 'models', 'usage_units', 'prices',
                 'credentials', 'runtime_instances', 'provider_inventory', 'usage_events', 'ledger_entries',
                 'audit_events', 'status_events'] %}
with batches as (
    select
        batch_id,
        exported_at,
        loaded_at
    from {{ source('ops', 'ingested_batches') }}
    where status = 'loaded'
),

as_of as (
    select max(exported_at) as as_of from batches
),

loads as (
    select
        f.table_name,
        max_by(f.batch_id, b.exported_at) as last_batch_id,
        max(b.loaded_at) as last_loaded_at
    from {{ source('ops', 'ingested_files') }} as f
    inner join batches as b using (batch_id)
    group by all
),

newest_records as (
    -- a select per table, joined by union all from loop.last: SQLFluff misreads the indent of those lines
    -- noqa: disable=LT02
    {%- for t in tables %}
        select
            '{{ t }}' as table_name,
            max({{ record_time.get(t, 'updated_at') }}) as newest_record_at
        from {{ ref('stg_oltp__' ~ t) }}
        {{ "union all" if not loop.last }}
    {%- endfor %}
    -- noqa: enable=LT02
),

final as (
    select
        t.table_name,
        l.last_batch_id,
        l.last_loaded_at,
        r.newest_record_at,
        {{ trunc_div(micros_between('r.newest_record_at', 'a.as_of'), 1000000) }} as lag_seconds,
        t.max_lag_seconds,
        case
            when l.last_batch_id is null or r.newest_record_at is null then 'missing'
            when {{ micros_between('r.newest_record_at', 'a.as_of') }} > t.max_lag_seconds * 1000000 then 'stale'
            else 'fresh'
        end as status,
        a.as_of
    from {{ source('config', 'freshness_thresholds') }} as t
    cross join as_of as a
    left join loads as l using (table_name)
    left join newest_records as r using (table_name)
)

select * from final
