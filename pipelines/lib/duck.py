"""DuckDB connections configured the same way everywhere (UTC, bounded memory)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.lib.config import Settings


def connect(path: Path | str = ":memory:", settings: Settings | None = None, read_only: bool = False):
    settings = settings or Settings.from_env()
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    # TIMESTAMPTZ -> DATE casts follow the session zone: pin it, or dates shift by host.
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    if not read_only:
        # The WAL makes every commit durable; checkpointing it into the file on every commit of a
        # batch (DuckDB's default above 16 MB) cost a quarter of ingestion. Checkpoint at 1 GB, and
        # explicitly before publishing.
        con.execute("SET checkpoint_threshold = '1GB'")
    return con
