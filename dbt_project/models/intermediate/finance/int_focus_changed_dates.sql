-- Every (charge_date, changed_seq) pair: a day whose FOCUS charges (rpt_focus_charges) may have
-- changed when ingestion made the load numbered changed_seq (ops.load_sequence).
-- rpt_focus_charges rebuilds exactly the days changed since its last build
-- (int_focus_affected_dates). Sources of change:
--   the day's usage or ledger entries, as the reconciliation's (int_reconciliation_changed_dates);
--   an entry loaded that an earlier-loaded entry reverses: the reversing entry's day, whose charge
--   class (Correction) and whether it is a charge at all follow the entry it reverses;
--   a version of an organization or project with a name its previous version did not have, or of a
--   usage unit with another unit of measure or product (a first version too): every day, since a
--   charge carries the current names and units. A plan change, a department move or an archiving
--   changes the usage of the days it governs, which the reconciliation's changes already hold.
with reconciliation_changes as (
    select
        charge_date,
        changed_seq
    from {{ ref('int_reconciliation_changed_dates') }}
),

touched as (
    {{ touched_loads('ledger_entries') }}
),

entries as {{ not_materialized() }} (
    select
        entry_id,
        charge_date,
        posted_at,
        reverses_entry_id,
        batch_id
    from {{ ref('stg_oltp__ledger_entries') }}
),

loaded as (
    select
        e.entry_id,
        t.changed_seq
    from entries as e
    inner join touched as t on e.batch_id = t.batch_id and t.day = {{ utc_date('e.posted_at') }}
),

reversers as (
    -- the entries reversing one loaded at changed_seq, on their own day
    select
        r.charge_date,
        l.changed_seq
    from loaded as l
    inner join entries as r on l.entry_id = r.reverses_entry_id
),

focus_columns as (
    -- per key and version, the columns a charge takes from it
    select
        concat('organization ', organization_id) as key_id,
        version_number,
        name as value,
        first_load_seq
    from {{ ref('int_organizations_versioned') }}
    union all
    select
        concat('project ', project_id) as key_id,
        version_number,
        name as value,
        first_load_seq
    from {{ ref('int_projects_versioned') }}
    union all
    select
        concat('usage unit ', usage_unit) as key_id,
        version_number,
        concat(coalesce(unit_of_measure, ''), ' / ', coalesce(product, '')) as value,
        first_load_seq
    from {{ ref('int_usage_units_versioned') }}
),

renames as (
    select max(first_load_seq) as changed_seq
    from (
        select
            first_load_seq,
            version_number,
            value,
            lag(value) over (partition by key_id order by version_number) as previous_value
        from focus_columns
    ) as versions
    where version_number = 1 or previous_value is distinct from value
),

final as (
    select
        c.charge_date,
        greatest(max(c.changed_seq), coalesce(max(r.changed_seq), -1)) as changed_seq
    from (
        select * from reconciliation_changes
        union all
        select * from reversers
    ) as c
    cross join renames as r
    where c.charge_date is not null
    group by c.charge_date
)

select * from final
