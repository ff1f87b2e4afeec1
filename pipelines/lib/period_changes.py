"""What moved a closed billing period (pipelines/lib/periods.py): the totals each period's latest pack
holds (ops.report_period_totals), and a revision's changes.csv against them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipelines.lib.asof_diff import BEFORE_AFTER
from pipelines.lib.duck import first
from pipelines.lib.reports import write_csv

CHANGES = "changes.csv"


def save_totals(con, kind, period: str, bounds: tuple[date, date]) -> None:
    """The period's totals as its latest pack holds them: the `before` of its next changes.csv."""
    start, end = bounds
    con.execute("delete from ops.report_period_totals where kind = ? and period = ?", [kind.name, period])
    con.execute(f"insert into ops.report_period_totals by name select $kind as kind, $period as period, * "
                f"from ({kind.totals_sql})", {"kind": kind.name, "period": period, "start": start, "end": end})


def write_changes(con, kind, bounds: tuple[date, date], directory: Path) -> Path:
    """changes.csv of a revision: per organization, day, usage unit and currency, the quantity and the
    amounts before (the latest revision) and after, and the events that moved them since the batch
    that revision reflects: their ids, kinds (late, new, correction, void, release, ledger) and batches."""
    start, end = bounds
    period = f"{start:%Y-%m}"
    since, since_at = first(con.execute(
        "select p.load_seq, b.exported_at from ops.report_periods p "
        "left join ops.ingested_batches b on b.batch_id = p.batch_id where p.kind = ? and p.period = ?",
        [kind.name, period])) or (0, None)
    params = {"kind": kind.name, "period": period, "start": start, "end": end, "since": since or 0,
              "since_at": since_at}
    changes = con.sql(f"""
        with before as (select * exclude (kind, period) from ops.report_period_totals
                        where kind = $kind and period = $period),
        after as ({kind.totals_sql}),
        later as (select batch_id from ops.ingested_batches where status = 'loaded' and load_seq > $since),
        released as (
            select distinct coalesce(json_extract_string(raw_record, '$.correction_of'),
                                     json_extract_string(raw_record, '$.event_id')) as event_id
            from ops.quarantine where table_name = 'usage_events' and released_seq > $since
        ),
        originals as (
            select event_id, organization_id, event_date as charge_date, usage_unit
            from staging.stg_oltp__usage_events
            where correction_of is null and event_date >= $start and event_date < $end
        ),
        moved as (
            select e.event_id, e.organization_id, e.usage_date as charge_date, e.usage_unit, e.batch_id,
                   case when r.event_id is not null then 'release'
                        when e.is_corrected then 'correction'
                        when e.occurred_at < $since_at then 'late' else 'new' end as kind
            from marts.fct_usage_events e left join released r using (event_id)
            where e.usage_date >= $start and e.usage_date < $end
              and (e.batch_id in (select batch_id from later) or r.event_id is not null)
            union all
            select o.event_id, o.organization_id, o.charge_date, o.usage_unit, c.batch_id, 'void' as kind
            from staging.stg_oltp__usage_events c
            join originals o on o.event_id = c.correction_of
            where c.batch_id in (select batch_id from later)
              and o.event_id not in (select event_id from marts.fct_usage_events
                                     where usage_date >= $start and usage_date < $end)
            union all
            select entry_id, organization_id, charge_date, usage_unit, batch_id, 'ledger' as kind
            from staging.stg_oltp__ledger_entries
            where charge_date >= $start and charge_date < $end and batch_id in (select batch_id from later)
        ),
        why as (
            select organization_id, charge_date, usage_unit, count(distinct event_id) as events,
                   string_agg(distinct event_id, ' ' order by event_id) as event_ids,
                   string_agg(distinct kind, ', ' order by kind) as kinds,
                   string_agg(distinct batch_id, ', ' order by batch_id) as batches
            from moved group by all
        )
        select organization_id, charge_date, usage_unit, currency,
               {BEFORE_AFTER},
               before.ledger_amount as ledger_amount_before, after.ledger_amount as ledger_amount_after,
               coalesce(why.events, 0) as events, why.event_ids, why.kinds, why.batches
        from before full join after using (organization_id, charge_date, usage_unit, currency)
        left join why using (organization_id, charge_date, usage_unit)
        where before.quantity is distinct from after.quantity
           or before.rated_amount is distinct from after.rated_amount
           or before.ledger_amount is distinct from after.ledger_amount
        order by organization_id, charge_date, usage_unit, currency nulls last""", params=params).pl()
    return write_csv(changes, directory / CHANGES)
