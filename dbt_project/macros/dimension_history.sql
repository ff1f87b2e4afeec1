{#
  History of a dimension from its per-batch full snapshots in the lake (oltp-export-v1):
  - a version is valid from its updated_at until the updated_at of the next version that differs;
    consecutive snapshots with the same values are one version;
  - a key absent from a later snapshot of its table was deleted as of that snapshot's exported_at
    (it stays in history); a row quarantined out of a snapshot is not a deletion;
  - usage before a key's first version uses that first version: attributed_from is -infinity for
    version 1, so no usage is dropped for want of history.
  Rebuildable from the lake at any time, unlike dbt snapshots.
#}
{% macro dimension_history(table_name, key, columns) %}
{%- set keys = key | join(', ') -%}
with batches as (
    select batch_id, exported_at, loaded_at, load_seq
    from {{ source('ops', 'ingested_batches') }}
    where status = 'loaded'
),

snapshots as (
    select s.*, b.exported_at, b.loaded_at, b.load_seq
    from {{ ref('stg_oltp__' ~ table_name) }} as s
    inner join batches as b using (batch_id)
),

versions as (
    select
        {{ keys }},
        {{ columns | join(', ') }},
        updated_at,
        min(batch_id) as first_batch_id,
        min(exported_at) as first_seen_at,
        min(loaded_at) as first_loaded_at,
        min(load_seq) as first_load_seq,
        {{ values_hash(columns) }} as values_hash
    from snapshots
    group by all
),

changes as (
    select
        *,
        lag(values_hash) over (partition by {{ keys }} order by updated_at, first_batch_id) as previous_hash
    from versions
),

kept as (
    select {{ star_except(['previous_hash']) }}
    from changes
    where previous_hash is null or previous_hash <> values_hash
),

table_snapshots as (
    select f.batch_id, b.exported_at, b.loaded_at, b.load_seq
    from {{ source('ops', 'ingested_files') }} as f
    inner join batches as b using (batch_id)
    where f.table_name = '{{ table_name }}'
),

last_seen as (
    select {{ keys }}, max(exported_at) as last_seen_at
    from snapshots
    group by all
),

quarantined as (
    select
        batch_id,
        {% for k in key %}{{ json_text('raw_record', k) }} as {{ k }}{{ ", " if not loop.last }}{% endfor %}
    from {{ source('ops', 'quarantine') }}
    where table_name = '{{ table_name }}'
),

deletions as (
    select {% for k in key %}l.{{ k }}, {% endfor %}min(t.exported_at) as deleted_at, min(t.loaded_at) as deleted_loaded_at, min(t.load_seq) as deleted_load_seq
    from last_seen as l
    inner join table_snapshots as t on t.exported_at > l.last_seen_at
    where not exists (
        select 1 from quarantined as q
        where q.batch_id = t.batch_id {% for k in key %}and q.{{ k }} = l.{{ k }} {% endfor %}
    )
    group by all
),

final as (
    select
        {% for k in key %}kept.{{ k }}, {% endfor %}
        {{ columns | join(', ') }},
        kept.updated_at,
        kept.updated_at as valid_from,
        lead(kept.updated_at) over w as valid_to,
        cast(row_number() over w as bigint) as version_number,
        case when row_number() over w = 1 then {{ instant_min() }} else kept.updated_at end as attributed_from,
        coalesce(lead(kept.updated_at) over w, {{ instant_max() }}) as attributed_to,
        lead(kept.updated_at) over w is null as is_latest_version,
        d.deleted_at,
        d.deleted_loaded_at,
        d.deleted_load_seq,
        kept.first_batch_id,
        kept.first_seen_at,
        kept.first_loaded_at,
        kept.first_load_seq
    from kept
    left join deletions as d using ({{ keys }})
    window w as (partition by {% for k in key %}kept.{{ k }}{{ ", " if not loop.last }}{% endfor %} order by kept.updated_at, kept.first_batch_id)
)

select * from final
{% endmacro %}
