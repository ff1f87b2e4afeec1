"""Source freshness by the wall clock: how long ago each export table last arrived in a loaded
batch, against its limit in pipelines/config/freshness.yml. The operational view (a stopped
exporter turns the check red); marts.rpt_source_freshness is the reproducible one, as of the
newest export.

Read from the published warehouse, read-only: the check never waits for, or holds back, a run.
Each source that turns stale is alerted once (pipelines/lib/alerts.py); the sources alerted are
remembered in <data>/alerts/stale_sources.json until they are fresh again."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from models import TABLES
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.ops_config import freshness_thresholds


@dataclass(frozen=True)
class SourceFreshness:
    table: str
    newest_exported_at: datetime | None  # the newest loaded batch that delivered this table
    limit_seconds: int
    lag_seconds: int | None  # None: never loaded

    @property
    def stale(self) -> bool:
        return self.lag_seconds is None or self.lag_seconds > self.limit_seconds


def newest_deliveries(settings: Settings) -> dict[str, datetime]:
    """Per table, the exported_at of the newest loaded batch holding a file of it; empty before the
    first publish."""
    if not settings.published_db.exists():
        return {}
    con = connect(settings.published_db, settings, read_only=True)
    try:
        return dict(con.execute(
            "select f.table_name, max(b.exported_at) from ops.ingested_files as f "
            "inner join ops.ingested_batches as b using (batch_id) where b.status = 'loaded' group by 1").fetchall())
    finally:
        con.close()


def source_freshness(settings: Settings, now: datetime | None = None) -> list[SourceFreshness]:
    now = now or datetime.now(UTC)
    newest = newest_deliveries(settings)
    limits = dict(freshness_thresholds().iter_rows())
    out = []
    for table in TABLES:
        at = newest.get(table)
        lag = None if at is None else int((now - at).total_seconds())
        out.append(SourceFreshness(table, at, int(limits[table]), lag))
    return out


def _state_path(settings: Settings) -> Path:
    return settings.data_dir / "alerts" / "stale_sources.json"


def alerted_sources(settings: Settings) -> set[str]:
    """The stale sources already alerted."""
    try:
        return set(json.loads(_state_path(settings).read_text()))
    except (FileNotFoundError, ValueError):
        return set()


def remember_alerted(settings: Settings, tables: set[str]) -> None:
    """Write the set of alerted stale sources (a source fresh again is left out: its next staleness
    alerts anew)."""
    path = _state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sorted(tables)))
    os.replace(tmp, path)
