"""DuckDB connections configured the same way everywhere (UTC, bounded memory)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.lib.config import Settings

# The storage format of a DuckDB file this project creates (DuckDB's default is v0.10.2's, for old
# readers): v1.3.0's string compression writes and reads the marts faster at the same size
# (measured in docs/benchmark.md). Such a file
# opens in DuckDB 1.3 and later. Set where a file is created; dbt's profile says the same
# (dbt_project/profiles.yml). A file created before keeps its format.
STORAGE_VERSION = "v1.3.0"


def connect(path: Path | str = ":memory:", settings: Settings | None = None, read_only: bool = False):
    settings = settings or Settings.from_env()
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only,
                         config={} if read_only else {"storage_compatibility_version": STORAGE_VERSION})
    # TIMESTAMPTZ -> DATE casts follow the session zone: pin it, or dates shift by host.
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    if not read_only:
        # The WAL makes every commit durable; checkpointing it into the file on every commit of a
        # batch (DuckDB's default above 16 MB) is a large part of ingestion's time (docs/benchmark.md).
        # Checkpoint at 1 GB, and
        # explicitly before publishing.
        con.execute("SET checkpoint_threshold = '1GB'")
    return con


def first(result) -> tuple | None:
    """The first row of an executed query, or None; the result is read to its end. (DuckDB 2.0: a
    result read only in part, as fetchone() leaves even a one-row result, keeps the connection busy,
    and its next register() or relation fails.)"""
    rows = result.fetchall()
    return rows[0] if rows else None
