"""The FOCUS export: each organization's charges of one billing period, as files its FinOps tools read.

reports/focus/<YYYY-MM>/<draft|rN>/<organization_id>.parquet and .csv, one pair per organization with
charges in the period (BillingPeriodStart, a UTC month) of marts.rpt_focus_charges, and the pack's
evidence manifest (focus_charges.evidence.json) with every file's sha256. A period pack like the
finance one (pipelines/lib/periods.py): a draft while open, r1 once closed, a revision for a change.

The Parquet file keeps the mart's types (DECIMAL money, UTC instants); the CSV writes decimals as
exact text and instants as FOCUS writes them, ISO 8601 in UTC (2026-11-01T00:00:00Z).
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lib.periods import Kind, period_bounds
from pipelines.lib.reports import spreadsheet_safe

FOCUS_VERSION = "1.2"
MART = "marts.rpt_focus_charges"
# The mart's FOCUS columns: charge_date (the day it is rebuilt by) and _watermark are the warehouse's
FOCUS_COLUMNS = "* exclude (charge_date, _watermark)"
FOCUS_DATETIME = "%Y-%m-%dT%H:%M:%SZ"  # FOCUS's date/time format: ISO 8601 in UTC


# A file name a pack holds besides the organizations' (a revision's changes.csv)
RESERVED = {"changes"}


def folder_name(organization_id: str) -> str:
    """An organization id as the stem of its files' names. Ids are [A-Za-z0-9_.:-] (oltp-export-v1),
    so the only stems that would not be a plain visible name are those beginning with dots ("..",
    ".hidden"): their leading dots are written %2E, which no id holds, and an id equal to a name the
    pack uses itself ("changes") has its first letter written %XX: two organizations, or an
    organization and the pack, never share a file."""
    name = re.sub(r"^\.+", lambda m: "%2E" * len(m.group()), organization_id)
    if name in RESERVED:
        name = f"%{ord(name[0]):02X}{name[1:]}"
    if not name or "/" in name or "\0" in name:
        raise ValueError(f"organization id {organization_id!r} cannot name a file")
    return name


# Rows the export holds in memory at once, whatever the mart's size: one Arrow batch at a time
# goes from DuckDB's sorted scan to the open files of its organization and period.
BATCH_ROWS = 100_000
# Rows DuckDB sorts at once: the period is sorted in pieces of whole (organization, day) keys of
# about this many rows (a key of more rows is a piece of its own), taken in the sort's order, so
# the export's memory is the same for a period of 100 thousand rows or of 100 million.
CHUNK_ROWS = 250_000


# Per period (BillingPeriodStart's month) among the days [$first, $end): its rows' count and hash sum
FINGERPRINT = f"""
    select strftime("BillingPeriodStart", '%Y-%m') as period, count(*) as row_count,
           sum(hash(c)::hugeint) as content_hash
    from (select {FOCUS_COLUMNS} from {MART} where charge_date >= $first and charge_date < $end) c
    group by 1
"""

# Per period, what changes whenever its rows may have (periods.py): the count and newest _watermark
PROBE = f"""
    select strftime(date_trunc('month', charge_date), '%Y-%m') as period,
           concat_ws(' ', count(*), max(_watermark)) as probe
    from {MART} group by date_trunc('month', charge_date)
"""


def write_focus_pack(con, period: str, directory: Path, batch_rows: int = BATCH_ROWS,
                     chunk_rows: int = CHUNK_ROWS) -> list[Path]:
    """The period's FOCUS files under `directory`, streamed. The rows are sorted by organization and
    day (ChargePeriodStart is the day's start) in pieces of whole (organization, day) keys of about
    `chunk_rows` rows, one piece after the other in key order: the pieces in turn are the period in
    the one sort order. Each batch of rows is split where its organization changes and appended to
    that organization's Parquet file (a row group per piece) and CSV; only a batch is ever in
    Python's memory and only a piece in DuckDB's sort, so a period of any number of rows is written
    in the same memory."""
    start, end = period_bounds(period)
    # every column in the sort: the same rows give the same bytes, whatever order the build left
    columns = [d[0] for d in con.execute(f"select {FOCUS_COLUMNS} from {MART} limit 0").description]
    first_keys = ["BillingAccountId", "ChargePeriodStart", "ChargeCategory"]
    order = ", ".join(f'"{c}"' for c in first_keys + [c for c in columns if c not in first_keys])
    period_rows = f"{MART} where charge_date >= date '{start}' and charge_date < date '{end}'"
    keys = con.execute(f'select "BillingAccountId", charge_date, count(*) from {period_rows} '
                       f"group by all order by all").fetchall()

    def batches():
        for low, high in _pieces(keys, chunk_rows):
            yield from con.sql(
                f'select {FOCUS_COLUMNS} from {period_rows} '
                f'and ("BillingAccountId" > $1 or ("BillingAccountId" = $1 and charge_date >= $2)) '
                f'and ("BillingAccountId" < $3 or ("BillingAccountId" = $3 and charge_date <= $4)) '
                f"order by {order}", params=[*low, *high]).to_arrow_reader(batch_rows)

    return _write_partitions(batches(), directory)


def _pieces(keys: list[tuple], chunk_rows: int) -> list[tuple[tuple, tuple]]:
    """Sorted (organization, day, rows) keys as runs of consecutive keys of at most `chunk_rows`
    rows (or a single key): each run's first and last (organization, day)."""
    pieces, low, rows = [], None, 0
    for i, (organization, day, count) in enumerate(keys):
        if low is not None and rows + count > chunk_rows:
            pieces.append((low, keys[i - 1][:2]))
            low, rows = None, 0
        if low is None:
            low = (organization, day)
        rows += count
    if low is not None:
        pieces.append((low, keys[-1][:2]))
    return pieces


# Per organization, day, usage unit and currency: the usage's quantity and cost, the ledger's cost
TOTALS = f"""
    select "BillingAccountId" as organization_id, cast("ChargePeriodStart" as date) as charge_date,
           "x_UsageUnit" as usage_unit, "BillingCurrency" as currency,
           sum("ConsumedQuantity") as quantity,
           sum("BilledCost") filter (where "ChargeCategory" = 'Usage') as rated_amount,
           sum("BilledCost") filter (where "ChargeCategory" <> 'Usage') as ledger_amount
    from {MART}
    where "BillingPeriodStart" >= cast($start as timestamptz) and "BillingPeriodStart" < cast($end as timestamptz)
    group by all
"""

FOCUS = Kind("focus", "focus_charges", FINGERPRINT, write_focus_pack, TOTALS, PROBE)


class _Partition:
    """One organization's charges: its Parquet and CSV files, open while its rows stream in, each
    written to a temporary name and renamed into place when closed."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema):
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"{name}.parquet", folder / f"{name}.csv"]
        self.tmps = [p.with_name(f".{p.name}.{os.getpid()}.tmp") for p in self.paths]
        self.parquet = pq.ParquetWriter(self.tmps[0], schema, compression="zstd", write_statistics=True)
        self.csv = self.tmps[1].open("wb")
        self.header = True

    def append(self, piece: pa.Table) -> None:
        self.parquet.write_table(piece)
        text = spreadsheet_safe(pl.from_arrow(piece).with_columns(pl.col(pl.Datetime).dt.strftime(FOCUS_DATETIME)))
        text.write_csv(self.csv, include_header=self.header)
        self.header = False

    def close(self) -> list[Path]:
        self.parquet.close()
        self.csv.close()
        for tmp, path in zip(self.tmps, self.paths, strict=True):
            os.replace(tmp, path)
        return self.paths


def _write_partitions(batches, directory: Path) -> list[Path]:
    """Arrow batches (sorted by organization) into one Parquet and one CSV file per organization
    under `directory`; returns the files."""
    files: list[Path] = []
    current, key = None, None
    try:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            keys = pl.from_arrow(table.select(["BillingAccountId"]))["BillingAccountId"]
            # where the organization changes inside the batch
            starts = keys.to_frame().with_row_index().filter(keys.ne_missing(keys.shift(1)).fill_null(True))
            bounds = [*starts["index"].to_list(), table.num_rows]
            for begin, end in itertools.pairwise(bounds):
                piece_key = keys[begin]
                if piece_key != key or current is None:
                    if current is not None:
                        files += current.close()
                    key = piece_key
                    current = _Partition(directory, folder_name(key), batch.schema)
                current.append(table.slice(begin, end - begin))
        if current is not None:
            files += current.close()
            current = None
    finally:
        if current is not None:  # stopped half-way: its temporaries go
            current.parquet.close()
            current.csv.close()
            for tmp in current.tmps:
                tmp.unlink(missing_ok=True)
    return files
