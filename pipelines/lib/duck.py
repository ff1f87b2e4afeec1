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
    return con
