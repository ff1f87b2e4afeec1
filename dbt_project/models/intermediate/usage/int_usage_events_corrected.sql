-- Effective usage: one row per original event, with its latest correction (highest outbox_seq)
-- applied. Duplicates and conflicting copies never reach the lake (ingestion keeps the first copy).
-- A correction keeps its original's occurred_at; its other columns replace the original's. A
-- correction whose original has not arrived yet has no row here: it waits, neither lost nor
-- counted, and applies by itself once the original loads. Voids (quantity 0) are flagged here and
-- dropped by the marts.
-- Originals and corrections each read the staging view (not a shared CTE: DuckDB keeps no
-- `not materialized` hint in a stored view, and a materialized CTE would hold every event and stop a
-- filter on event_date from reaching the lake scan). The corrections' scan reads only their rows.
with originals as (
    select * from {{ ref('stg_oltp__usage_events') }}
    where correction_of is null
),

latest_corrections as (
    select *
    from {{ ref('stg_oltp__usage_events') }}
    where correction_of is not null
    qualify row_number() over (partition by correction_of order by outbox_seq desc, event_id desc) = 1
),

final as (
    select
        o.event_id,
        o.occurred_at,
        {% for col in ['outbox_seq', 'recorded_at', 'organization_id', 'project_id', 'api_key_id', 'model_id',
                       'resource_id', 'usage_unit', 'quantity', 'attributes', 'batch_id'] -%}
            if(c.event_id is null, o.{{ col }}, c.{{ col }}) as {{ col }},
        {% endfor -%}
        c.event_id as correction_event_id,
        c.event_id is not null as is_corrected,
        coalesce(c.quantity = 0, false) as is_void,
        -- the original's lake partition, its UTC day: a filter on it reads only those days' files
        o.event_date
    from originals as o
    left join latest_corrections as c on o.event_id = c.correction_of
)

select * from final
