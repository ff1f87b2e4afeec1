"""The FOCUS export: each organization's charges per billing period, as files its FinOps tools read.

reports/<newest batch_id>/focus/<organization_id>/<YYYY-MM>.parquet and .csv, one pair per
organization and billing period (UTC month) of marts.rpt_focus_charges, and the pack's evidence
manifest (focus_charges.evidence.json) with every file's sha256. A pack like the others
(pipelines/lib/reports.py): never rewritten, other bytes for the same batch become a revision.

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

from pipelines.lib.config import Settings
from pipelines.lib.duck import first
from pipelines.lib.reports import Written, newest_batch, spreadsheet_safe, write_pack

FOCUS_VERSION = "1.2"
MART = "marts.rpt_focus_charges"
FOCUS_DATETIME = "%Y-%m-%dT%H:%M:%SZ"  # FOCUS's date/time format: ISO 8601 in UTC


def folder_name(organization_id: str) -> str:
    """An organization id as one folder name. Ids are [A-Za-z0-9_.:-] (oltp-export-v1), so the only
    names that would not be a plain folder are those beginning with dots ("..", ".hidden"): their
    leading dots are written %2E, which no id holds, so two organizations never share a folder."""
    name = re.sub(r"^\.+", lambda m: "%2E" * len(m.group()), organization_id)
    if not name or "/" in name or "\0" in name:
        raise ValueError(f"organization id {organization_id!r} cannot name a folder")
    return name


# Rows the export holds in memory at once, whatever the mart's size: one Arrow batch at a time
# goes from DuckDB's sorted scan to the open files of its organization and period.
BATCH_ROWS = 100_000


def focus_report(con, settings: Settings, batch_rows: int = BATCH_ROWS) -> Written | None:
    """The FOCUS pack as of the newest loaded batch; None when nothing is loaded yet.

    One sorted scan of the mart, streamed: each batch of rows is split where its organization or
    period changes and appended to that partition's Parquet file (a row group per piece) and CSV;
    only a batch is ever in Python's memory, and DuckDB's sort spills past its memory limit, so the
    export of any number of rows completes in bounded memory."""
    batch_id, as_of = newest_batch(con)
    if batch_id is None:
        return None
    # every column in the sort: the same rows give the same bytes, whatever order the build left
    columns = [d[0] for d in con.execute(f"select * from {MART} limit 0").description]
    first_keys = ["BillingAccountId", "BillingPeriodStart", "ChargePeriodStart", "ChargeCategory"]
    order = ", ".join(f'"{c}"' for c in first_keys + [c for c in columns if c not in first_keys])
    rows, organizations = first(con.execute(f'select count(*), count(distinct "BillingAccountId") from {MART}'))

    def write(directory: Path) -> list[Path]:
        return _write_partitions(con, f"select *, strftime(\"BillingPeriodStart\", '%Y-%m') as _period "
                                      f"from {MART} order by {order}", directory, batch_rows)

    pack = write_pack(con, settings, "focus_charges", "focus", batch_id, as_of, write)
    return Written(pack, batch_id, {"rows": rows, "organizations": organizations, "files": len(pack.files)})


class _Partition:
    """One organization's period: its Parquet and CSV files, open while its rows stream in, each
    written to a temporary name and renamed into place when closed."""

    def __init__(self, folder: Path, period: str, schema: pa.Schema):
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"{period}.parquet", folder / f"{period}.csv"]
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


def _write_partitions(con, sql: str, directory: Path, batch_rows: int) -> list[Path]:
    """The query's rows (sorted by organization and period, `_period` last) into one Parquet and one
    CSV file per organization and period under `directory`; returns the files."""
    reader = con.sql(sql).to_arrow_reader(batch_rows)
    schema = pa.schema([f for f in reader.schema if f.name != "_period"])
    files: list[Path] = []
    current, key = None, None
    try:
        for batch in reader:
            table = pa.Table.from_batches([batch])
            keys = pl.from_arrow(table.select(["BillingAccountId", "_period"]))
            # where the organization or period changes inside the batch
            starts = keys.with_row_index().filter(
                pl.struct(keys.columns).ne_missing(pl.struct(keys.columns).shift(1)).fill_null(True))
            bounds = [*starts["index"].to_list(), table.num_rows]
            for begin, end in itertools.pairwise(bounds):
                piece_key = (keys["BillingAccountId"][begin], keys["_period"][begin])
                if piece_key != key:
                    if current is not None:
                        files += current.close()
                    key = piece_key
                    current = _Partition(directory / folder_name(key[0]), key[1], schema)
                current.append(table.slice(begin, end - begin).drop_columns(["_period"]))
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
