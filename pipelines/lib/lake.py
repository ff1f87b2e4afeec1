"""The Parquet lake: valid rows and quarantine, Hive-partitioned, written atomically.

Layout under <data>/lake/ (deterministic names per batch and table, so a rerun overwrites
instead of duplicating):
  <table>/event_date=YYYY-MM-DD/<batch_id>.parquet      event tables, by UTC date of event time
  <table>/batch_id=<batch_id>/snapshot.parquet          dimension snapshots, one per batch
  quarantine/table=<table>/batch_id=<batch_id>/rows.parquet
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl


def _replace(target: Path, write) -> None:
    """write(temporary name), then rename over target: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, target)


def copy_to_parquet(con, select_sql: str, target: Path, params: list | None = None) -> None:
    """COPY a query to Parquet (zstd)."""
    _replace(target, lambda tmp: con.execute(
        f"copy ({select_sql}) to '{_q(str(tmp))}' (format parquet, compression zstd)", params or []))


def write_parquet(frame: pl.DataFrame, target: Path) -> None:
    """Typed rows to Parquet (zstd). The lake's column types are the warehouse's: TIMESTAMPTZ as
    UTC-adjusted microseconds, DECIMAL(38, 9)."""
    _replace(target, lambda tmp: frame.write_parquet(tmp, compression="zstd", statistics=True))


def event_file(lake: Path, table: str, day, batch_id: str) -> Path:
    return lake / table / f"event_date={day}" / f"{batch_id}.parquet"


def snapshot_file(lake: Path, table: str, batch_id: str) -> Path:
    return lake / table / f"batch_id={batch_id}" / "snapshot.parquet"


def quarantine_file(lake: Path, table: str, batch_id: str) -> Path:
    return lake / "quarantine" / f"table={table}" / f"batch_id={batch_id}" / "rows.parquet"


def _q(text: str) -> str:
    return text.replace("'", "''")
