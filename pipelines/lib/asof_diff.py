"""What changed for finance between two as-of states (pipelines/lib/replay.py), and why.

`python -m pipelines diff --from A --to B` replays the warehouse as of A and as of B (reusing a
replay already in the output folder when its inputs are unchanged) and compares them:
- per organization, UTC day, usage unit and currency: quantity and rated amount (the
  reconciliation's, each key rounded half-even) before and after;
- per event that moved them: what it was (kind) and the batch that brought the change:
  `late` (an event that occurred before A's newest export, first loaded after A), `new` (occurred
  after it), `correction` (its quantity or attribution corrected), `void` (corrected to nothing),
  `repriced` (rated again: a price or plan arrived), `release` (its row released from quarantine).
Written as <out>/diff_<A>_<B>.csv (the days), diff_<A>_<B>_events.csv, and a workbook with both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.lib.config import Settings
from pipelines.lib.duck import connect, first
from pipelines.lib.reports import write_csv, write_workbook

DAYS = """
    select organization_id, charge_date, usage_unit, currency,
           sum(usage_quantity) as quantity, sum(rated_amount) as rated_amount
    from {db}.marts.rpt_usage_ledger_reconciliation
    where usage_quantity is not null
    group by all
"""
# A day's quantity and rated amount before and after, and their changes: the columns of a diff
# and of a revision's changes.csv (pipelines/lib/periods.py), over `before` full join `after`
BEFORE_AFTER = """coalesce(before.quantity, 0) as quantity_before, coalesce(after.quantity, 0) as quantity_after,
    coalesce(after.quantity, 0) - coalesce(before.quantity, 0) as quantity_change,
    before.rated_amount as rated_amount_before, after.rated_amount as rated_amount_after,
    coalesce(after.rated_amount, 0) - coalesce(before.rated_amount, 0) as amount_change"""
COMPARED = ("occurred_at", "organization_id", "project_id", "usage_unit", "model_id", "quantity")


@dataclass(frozen=True)
class Diff:
    out: Path
    days: Path
    events: Path
    workbook: Path
    changed_days: int
    changed_events: int


def diff_as_of(source: Settings, from_id: str, to_id: str, out: Path | None = None) -> Diff:
    """Replay both states into <out>/as-of-<id> (reusing replays made from the same inputs), then
    compare them; `out` defaults to <data>/replays/diff-<A>-<B>. Raises ReplayError."""
    from pipelines.lib.replay import replay_as_of

    out = _checked_diff_dir(Path(out) if out else source.data_dir / "replays" / f"diff-{from_id}-{to_id}", source)
    before, _ = replay_as_of(source, from_id, out / f"as-of-{from_id}", reports=False)
    after, _ = replay_as_of(source, to_id, out / f"as-of-{to_id}", reports=False)
    return diff_states(before.settings(source), after.settings(source), from_id, to_id, out)


def _checked_diff_dir(out: Path, source: Settings) -> Path:
    """A diff's folder (replay.checked_folder): empty, or an earlier diff's (its replays and files)."""
    from pipelines.lib.replay import checked_folder

    return checked_folder(out, source, "diff", lambda folder: all(
        p.name.startswith(("as-of-", "diff_", "diff-")) or p.name.endswith(".tmp") for p in folder.iterdir()))


def summary(diff: Diff, from_id: str, to_id: str) -> str:
    return (f"diff       {from_id} -> {to_id}: {diff.changed_days} organization-day-unit row(s) changed, "
            f"moved by {diff.changed_events} event(s)\n"
            f"days       {diff.days}\nevents     {diff.events}\nworkbook   {diff.workbook}")


def diff_states(before: Settings, after: Settings, from_id: str, to_id: str, out: Path) -> Diff:
    """Compare two replays' warehouses (their build files, read only)."""
    con = connect(settings=after)
    try:
        con.execute(f"attach '{_q(before.build_db)}' as a (read_only)")
        con.execute(f"attach '{_q(after.build_db)}' as b (read_only)")
        as_of = first(con.execute("select max(exported_at) from a.ops.ingested_batches where status = 'loaded'"))[0]
        events = _moved_events(con, as_of)
        con.register("moved", events)
        days = con.sql(f"""
            with before as ({DAYS.format(db="a")}), after as ({DAYS.format(db="b")}),
            why as (
                select organization_id, usage_date as charge_date, usage_unit, count(*) as events,
                       string_agg(distinct batch_id, ', ' order by batch_id) as batches,
                       string_agg(distinct kind, ', ' order by kind) as kinds
                from moved group by all
            )
            select organization_id, charge_date, usage_unit, currency,
                   {BEFORE_AFTER},
                   coalesce(why.events, 0) as events, why.batches, why.kinds
            from before full join after using (organization_id, charge_date, usage_unit, currency)
            left join why using (organization_id, charge_date, usage_unit)
            where quantity_before is distinct from quantity_after
               or rated_amount_before is distinct from rated_amount_after
            order by organization_id, charge_date, usage_unit, currency""").pl()
    finally:
        con.close()
    out.mkdir(parents=True, exist_ok=True)
    name = f"diff_{from_id}_{to_id}"
    files = (write_csv(days, out / f"{name}.csv"), write_csv(events, out / f"{name}_events.csv"),
             write_workbook(out / f"{name}.xlsx", {"Changes by day": days, "Events": events}, as_of,
                            f"Usage and rated amounts as of {to_id} against {from_id}"))
    return Diff(out, *files, days.height, events.height)


def _q(path: Path) -> str:
    return str(path).replace("'", "''")


def _moved_events(con, as_of) -> pl.DataFrame:
    """Every effective event that differs between a (before) and b (after), with its kind and the
    batch that brought the change: a late or new event's own batch, a correction's or void's."""
    differs = " or ".join(f"x.{c} is distinct from y.{c}" for c in COMPARED)
    return con.sql(f"""
        with x as (select * from a.marts.fct_usage_events), y as (select * from b.marts.fct_usage_events),
        released as (  -- usage rows released from quarantine between the two states: their event ids
            select distinct coalesce(json_extract_string(q.raw_record, '$.correction_of'),
                                     json_extract_string(q.raw_record, '$.event_id')) as event_id
            from b.ops.quarantine q
            left join a.ops.quarantine p using (batch_id, table_name, row_number)
            where q.table_name = 'usage_events' and q.released_at is not null and p.released_at is null
        ),
        arrivals as (  -- the batch each original event came in (its correction may have come earlier)
            select event_id, min(batch_id) as batch_id
            from b.staging.stg_oltp__usage_events where correction_of is null group by event_id
        ),
        voids as (
            select correction_of as event_id, batch_id
            from b.staging.stg_oltp__usage_events where correction_of is not null
            qualify row_number() over (partition by correction_of order by outbox_seq desc, event_id desc) = 1
        ),
        moved as (
            select
                coalesce(y.event_id, x.event_id) as event_id,
                coalesce(y.organization_id, x.organization_id) as organization_id,
                coalesce(y.usage_date, x.usage_date) as usage_date,
                coalesce(y.usage_unit, x.usage_unit) as usage_unit,
                case
                    when r.event_id is not null then 'release'
                    when x.event_id is null and y.occurred_at < $as_of then 'late'
                    when x.event_id is null then 'new'
                    when y.event_id is null then 'void'
                    when {differs} then 'correction'
                    else 'repriced'
                end as kind,
                case when x.event_id is null then n.batch_id else coalesce(y.batch_id, v.batch_id) end as batch_id,
                x.quantity as quantity_before, y.quantity as quantity_after,
                x.rated_amount as rated_amount_before, y.rated_amount as rated_amount_after
            from x full join y on x.event_id = y.event_id
            left join released r on r.event_id = coalesce(y.event_id, x.event_id)
            left join voids v on v.event_id = x.event_id and y.event_id is null
            left join arrivals n on n.event_id = y.event_id and x.event_id is null
            where x.event_id is null or y.event_id is null or {differs}
               or x.rated_amount is distinct from y.rated_amount
        )
        select * from moved order by organization_id, usage_date, usage_unit, event_id""",
                  params={"as_of": as_of}).pl()
