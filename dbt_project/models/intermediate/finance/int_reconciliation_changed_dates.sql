-- Every (charge_date, changed_seq) pair: a day whose usage-vs-ledger reconciliation may have changed
-- when ingestion made the load numbered changed_seq (ops.load_sequence).
-- rpt_usage_ledger_reconciliation rebuilds exactly the days changed since its last build
-- (int_reconciliation_affected_dates). Sources of change:
--   the day's effective or rated usage (int_usage_changed_dates);
--   a ledger entry loaded (or released from quarantine), on its charge_date;
--   a reversing entry loaded, on the charge_date of the entry it reverses.
with usage_changes as (
    select
        usage_date as charge_date,
        changed_seq
    from {{ ref('int_usage_changed_dates') }}
),

touched as (
    -- when each batch's ledger rows, by posted day (the lake partition), were loaded or released
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
        e.charge_date,
        e.reverses_entry_id,
        t.changed_seq
    from entries as e
    inner join touched as t on e.batch_id = t.batch_id and t.day = {{ utc_date('e.posted_at') }}
),

reversed as (
    select
        o.charge_date,
        r.changed_seq
    from loaded as r
    inner join entries as o on r.reverses_entry_id = o.entry_id
),

final as (
    select
        charge_date,
        max(changed_seq) as changed_seq
    from (
        select * from usage_changes
        union all
        select
            charge_date,
            changed_seq
        from loaded
        union all
        select * from reversed
    ) as changes
    where charge_date is not null
    group by charge_date
)

select * from final
