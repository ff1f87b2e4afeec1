"""The Parquet lake: valid rows and quarantine, Hive-partitioned, written atomically.

Layout under <data>/lake/ (deterministic names per batch and table, so a rerun overwrites
instead of duplicating):
  <table>/event_date=YYYY-MM-DD/<batch_id>.parquet      event tables, by UTC date of event time
  <table>/batch_id=<batch_id>/snapshot.parquet          dimension snapshots, one per batch
  quarantine/table=<table>/batch_id=<batch_id>/rows.parquet

Every data file written is recorded in ops.lake_files (path relative to the lake, rows, bytes,
sha256): the build reads exactly the recorded files, never a pattern over a directory whose name
we do not control, and the control totals check them (pipelines/lib/ingest/control.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

# Every lake row keeps where it came from: its batch (BATCH) and its row number in the export file
# (ROW, 1-based, the header not counted), the key of quarantine and of a release.
BATCH = "_batch_id"
ROW = "_row_number"


@dataclass(frozen=True)
class LakeFile:
    path: str  # relative to the lake directory, with /
    table: str
    batch_id: str
    day: date | None  # an event file's UTC day
    rows: int
    size: int
    sha256: str


def _replace(target: Path, write) -> None:
    """write(temporary name), then rename over target: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, target)


def copy_file(src: Path, target: Path) -> None:
    """A copy of src at target, appearing whole."""
    _replace(target, lambda tmp: shutil.copyfile(src, tmp))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_to_parquet(con, select_sql: str, target: Path, params: list | None = None) -> None:
    """COPY a query to Parquet (zstd)."""
    _replace(target, lambda tmp: con.execute(
        f"copy ({select_sql}) to '{_q(str(tmp))}' (format parquet, compression zstd)", params or []))


def write_parquet(frame: pl.DataFrame, lake: Path, rel: str, table: str, batch_id: str, day) -> LakeFile:
    """Typed rows to Parquet (zstd) at lake/rel; returns the record of the file. The lake's column
    types are the warehouse's: TIMESTAMPTZ as UTC-adjusted microseconds, DECIMAL(38, 9)."""
    stats = {}

    def write(tmp: Path) -> None:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        stats.update(size=tmp.stat().st_size, sha256=sha256_file(tmp))

    _replace(lake / rel, write)
    return LakeFile(rel, table, batch_id, day, frame.height, stats["size"], stats["sha256"])


def event_file(table: str, day, batch_id: str, generation: str | None = None) -> str:
    return f"{table}/event_date={day}/{batch_id}{'.' + generation if generation else ''}.parquet"


def snapshot_file(table: str, batch_id: str, generation: str | None = None) -> str:
    return f"{table}/batch_id={batch_id}/snapshot{'.' + generation if generation else ''}.parquet"


def quarantine_file(lake: Path, table: str, batch_id: str) -> Path:
    return lake / "quarantine" / f"table={table}" / f"batch_id={batch_id}" / "rows.parquet"


def _q(text: str) -> str:
    return text.replace("'", "''")
