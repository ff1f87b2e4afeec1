"""The finance reconciliation pack of one billing period: reports/finance/<YYYY-MM>/<draft|rN>/.

A workbook (control totals per organization and currency, the biggest breaks, the credits, refunds
and adjustments), the same tables as CSV, and the evidence manifest, all restricted to the period's
charge dates. The reconciliation has a row per key and day, millions on a large platform: its CSVs
are written from DuckDB batch by batch, and a sheet holds at most SHEET_ROWS rows (the biggest
breaks first; the first entries), so memory follows neither the period's size nor history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.lib.faults import kill_point
from pipelines.lib.periods import Kind, period_bounds
from pipelines.lib.reports import stream_csvs, write_csv, write_workbook

SHEET_ROWS = 10_000
RECONCILIATION = "select * exclude (_watermark) from marts.rpt_usage_ledger_reconciliation"

# Per period among the days [$first, $end): its rows' count and hash sum, the reconciliation's and
# the other ledger entries'
FINGERPRINT = """
    select period, sum(n) as row_count, sum(h) as content_hash from (
        select strftime(charge_date, '%Y-%m') as period, count(*) as n, sum(hash(r)::hugeint) as h
        from (select * exclude (_watermark) from marts.rpt_usage_ledger_reconciliation
              where charge_date >= $first and charge_date < $end) r group by 1
        union all
        select strftime(charge_date, '%Y-%m'), count(*), sum(hash(e)::hugeint)
        from marts.rpt_ledger_non_usage_entries e where charge_date >= $first and charge_date < $end group by 1)
    group by period
"""

# Per period, what changes whenever its rows may have (periods.py): the reconciliation's row count
# and newest _watermark (it is incremental by day), and the other ledger entries' count and hash sum
# (a small table, rebuilt whole)
PROBE = """
    select strftime(month, '%Y-%m') as period,
           concat_ws(' ', sum(n), max(w), sum(h)) as probe from (
        select date_trunc('month', charge_date) as month, count(*) as n, max(_watermark) as w, 0::hugeint as h
        from marts.rpt_usage_ledger_reconciliation group by 1
        union all
        select date_trunc('month', charge_date), count(*), null, sum(hash(e)::hugeint)
        from marts.rpt_ledger_non_usage_entries e group by 1)
    group by month
"""

# Per organization, day, usage unit and currency: what the usage and the ledger hold in a period
TOTALS = """
    with usage as (
        select organization_id, charge_date, usage_unit, currency,
               sum(usage_quantity) as quantity, sum(rated_amount) as rated_amount,
               sum(ledger_amount) as ledger_amount
        from marts.rpt_usage_ledger_reconciliation
        where charge_date >= $start and charge_date < $end
        group by all
    ),
    other as (
        select organization_id, charge_date, usage_unit, currency, sum(amount) as ledger_amount
        from marts.rpt_ledger_non_usage_entries
        where charge_date >= $start and charge_date < $end
        group by all
    )
    select organization_id, charge_date, usage_unit, currency, sum(quantity) as quantity,
           sum(rated_amount) as rated_amount, sum(ledger_amount) as ledger_amount
    from (select * from usage union all by name select * from other)
    group by all
"""


def write_finance_pack(con, period: str, directory: Path) -> list[Path]:
    """The period's finance files under `directory` (the evidence manifest is added by periods.py)."""
    start, end = period_bounds(period)
    in_period = f"charge_date >= date '{start}' and charge_date < date '{end}'"
    summary = con.sql("select * exclude (billing_period) from marts.rpt_reconciliation_summary "
                      f"where billing_period = date '{start}' order by organization_id, currency nulls last").pl()
    reconciliation = f"{RECONCILIATION} where {in_period}"
    breaks = f"{reconciliation} and status <> 'matched'"
    # a sheet is for reading: the biggest breaks first, at most SHEET_ROWS of them; the CSV has all
    sheet_breaks = con.sql(
        f"{breaks} order by abs(amount_diff) desc nulls last, abs(rated_amount) desc nulls last, "
        f"charge_date, organization_id, project_id, usage_unit, model_id limit {SHEET_ROWS}").pl()
    non_usage_sql = f"select * from marts.rpt_ledger_non_usage_entries where {in_period} order by entry_id"
    non_usage = con.sql(f"{non_usage_sql} limit {SHEET_ROWS}").pl()
    # no clock in the file: the same rows give the same bytes whenever they are written
    created = datetime.combine(start, datetime.min.time(), UTC)
    files = [write_workbook(directory / "reconciliation.xlsx",
                            {"Summary": summary, "Breaks": sheet_breaks, "Non-usage entries": non_usage},
                            created, f"Usage and ledger reconciliation, billing period {period}")]
    kill_point("mid_report")
    return files + [
        write_csv(summary, directory / "reconciliation_summary.csv"),
        *stream_csvs(con, f"{reconciliation} order by all", {
            directory / "usage_ledger_reconciliation.csv": None,
            directory / "usage_ledger_breaks.csv": pl.col("status") != "matched"}),
        *stream_csvs(con, non_usage_sql, {directory / "ledger_non_usage_entries.csv": None}),
    ]


FINANCE = Kind("finance", "finance_reconciliation", FINGERPRINT, write_finance_pack, TOTALS, PROBE)
