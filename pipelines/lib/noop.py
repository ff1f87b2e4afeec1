"""The run with nothing new, recognized before Dagster starts (`python -m pipelines run`).

Most hourly runs find nothing new. The Dagster path recognizes that too (build_state: its build
steps skip), but only after importing Dagster, building the definitions from the dbt manifest and
starting a run. The same decision is taken here from the exports and the build warehouse's
record, read-only and under the writer lock; when it holds, the command prints the published
warehouse's summary and writes nothing but its run log. Nothing new means all of:

- the published warehouse is built from exactly these inputs (build_state.is_current: the
  ingestion record, the code, the configuration);
- every complete batch folder is loaded under the same manifest, or was rejected and its folder
  is unchanged since (prepare.rejection_stamp; never for a verdict of the clock);
- no quarantine release is asked (ANALYTICS_RETRY_QUARANTINE);
- the lake matches its record (control.lake_breaks: existence, size and row count of every file).

Anything else, or a writer at work: the full run, which decides again and reports what it finds.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipelines.lib import build_state
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.ingest.control import lake_breaks
from pipelines.lib.ingest.failures import MachineFault
from pipelines.lib.ingest.manifest import discover, manifest_hash
from pipelines.lib.ingest.prepare import rejection_stamp
from pipelines.lib.publish import WarehouseBusy, writer_lock


@dataclass(frozen=True)
class NothingNew:
    skipped: list[str]  # loaded before, same manifest
    rejected: dict[str, str]  # rejected before and unchanged since: batch -> recorded reason


def nothing_new(settings: Settings) -> NothingNew | None:
    """NothingNew when a run would change nothing, else None (the full run decides)."""
    if settings.retry_quarantine or not settings.build_db.exists() or not settings.published_db.exists():
        return None
    try:
        with writer_lock(settings, note_holder=False):
            con = connect(settings.build_db, settings, read_only=True)
            try:
                return _decide(con, settings)
            finally:
                con.close()
    except (WarehouseBusy, MachineFault, duckdb.Error):
        return None  # a writer at work, an unreadable exports folder, an older warehouse: the full run


def _decide(con, settings: Settings) -> NothingNew | None:
    known = {b: rest for b, *rest in con.execute(
        "select batch_id, status, manifest_sha256, delivery_stamp, reason from ops.ingested_batches").fetchall()}
    skipped, rejected = [], {}
    for batch_dir in discover(settings.exports_dir):
        status, digest, stamp, reason = known.get(batch_dir.name, (None, None, None, None))
        if status == "loaded" and digest == manifest_hash(batch_dir):
            skipped.append(batch_dir.name)
        elif status == "rejected" and stamp is not None and stamp == rejection_stamp(batch_dir, settings):
            rejected[batch_dir.name] = reason
        else:
            return None
    if not build_state.is_current(con, settings) or lake_breaks(con, settings.lake_dir):
        return None
    return NothingNew(skipped, rejected)
