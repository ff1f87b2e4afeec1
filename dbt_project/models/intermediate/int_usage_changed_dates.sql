-- Every (usage_date, changed_seq) pair: a day whose effective usage may have changed when
-- ingestion made the load numbered changed_seq (ops.load_sequence: an order no clock decides).
-- The incremental usage marts rebuild exactly the days changed since their last build
-- (int_usage_affected_dates). Sources of change:
--   new or released usage rows, on the days ingestion recorded for them (ops.touched_dates);
--   corrections, on their original's day, which may differ from their own;
--   a new version of a project, organization or usage unit, over the days it now governs;
--   a new, changed or deleted price row, over the days of every window it ever had.
with touched as (
    select
        day as usage_date,
        load_seq as changed_seq,
        batch_id
    from {{ source('ops', 'touched_dates') }}
    where table_name = 'usage_events'
),

events as {{ not_materialized() }} (
    -- event_date is the lake partition, the UTC day of occurred_at (a singular test checks it):
    -- read from the folder names, not computed from every row
    select
        event_id,
        event_date,
        correction_of,
        batch_id
    from {{ ref('stg_oltp__usage_events') }}
),

days as (
    select distinct event_date as usage_date from events
),

bounds as (
    select
        min(usage_date) as first_day,
        max(usage_date) as last_day
    from days
),

corrections_of_other_days as (
    select
        o.event_date as usage_date,
        t.changed_seq
    from events as c
    inner join events as o on c.correction_of = o.event_id
    inner join touched as t on c.batch_id = t.batch_id and c.event_date = t.usage_date
    where c.correction_of is not null
),

dimension_versions as (
    -- a select per dimension, joined by union all from loop.last: SQLFluff misreads the indent of those lines
    -- noqa: disable=LT02
    {% for dim in ['projects', 'organizations', 'usage_units'] %}
        select
            case when v.version_number = 1 then b.first_day else v.valid_from::date end as from_day,
            coalesce(v.valid_to::date, b.last_day) as to_day,
            v.first_load_seq as changed_seq
        from {{ ref('int_' ~ dim ~ '_versioned') }} as v, bounds as b
        {{ "union all" if not loop.last }}
    {% endfor %}
    -- noqa: enable=LT02
),

price_row_changes as (
    -- when each price row was loaded, and when it was deleted
    select
        price_id,
        first_load_seq as changed_seq
    from {{ ref('int_prices_versioned') }}
    union all
    select
        price_id,
        deleted_load_seq
    from {{ ref('int_prices_versioned') }}
    where deleted_at is not null
),

price_changes as (
    -- when a price row changes (or is deleted), every window it ever had may rate differently
    select
        v.effective_from::date as from_day,
        coalesce(v.effective_to::date, b.last_day) as to_day,
        greatest(c.changed_seq, v.first_load_seq) as changed_seq
    from {{ ref('int_prices_versioned') }} as v
    inner join price_row_changes as c using (price_id),
        bounds as b
),

ranges as (
    select * from dimension_versions
    union all
    select * from price_changes
),

expanded as (
    select
        d.usage_date,
        r.changed_seq
    from ranges as r
    inner join days as d on d.usage_date between r.from_day and r.to_day
),

final as (
    select
        usage_date,
        max(changed_seq) as changed_seq
    from (
        select
            usage_date,
            changed_seq
        from touched
        union all
        select * from corrections_of_other_days
        union all
        select * from expanded
    ) as changes
    where usage_date is not null
    group by usage_date
)

select * from final
