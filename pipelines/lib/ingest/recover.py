"""Recovery: re-ingest loaded batches from the exports, when the lake or the record of them broke.

`python -m pipelines reingest <batch_id> ...` forgets what the warehouse recorded of each batch (its
ops rows, its loaded rows or keys, its lake and quarantine files), after checking that the exports
still hold it byte for byte; the next run then loads it again like a new batch. The marts rebuild
the days it touches. docs/reliability.md says when to use it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from models import TABLES
from pipelines.lib import lake
from pipelines.lib.config import Settings
from pipelines.lib.duck import first
from pipelines.lib.ingest.failures import BatchRejected
from pipelines.lib.ingest.manifest import read_manifest
from pipelines.lib.ingest.record import _loaded_table, ensure_schema


class CannotReingest(RuntimeError):
    pass


def check_exports_hold(con, settings: Settings, batch_id: str) -> Path:
    """The batch's export folder, if it still holds the files loaded under its id (same tables,
    same sha256, bytes checked now); else CannotReingest says why."""
    status = first(con.execute("select status from ops.ingested_batches where batch_id = ?", [batch_id]))
    if status is None or status[0] != "loaded":
        raise CannotReingest(f"{batch_id} is not a loaded batch")
    folder = settings.exports_dir / batch_id
    try:
        batch = read_manifest(folder)
    except (BatchRejected, OSError) as exc:
        raise CannotReingest(f"{batch_id}: the exports no longer hold it as loaded ({exc})") from exc
    recorded = sorted(con.execute("select table_name, sha256 from ops.ingested_files where batch_id = ?",
                                  [batch_id]).fetchall())
    if batch.content != recorded:
        raise CannotReingest(f"{batch_id}: the exported files differ from the ones loaded under its id")
    for f in batch.files:
        if lake.sha256_file(folder / f.path) != f.sha256:
            raise CannotReingest(f"{batch_id}: {f.path} no longer has the sha256 its manifest lists")
    return folder


def forget_batches(con, settings: Settings, batch_ids: list[str]) -> list[str]:
    """Forget every trace of the loaded batches (checked first, all or none, one transaction), so
    the next run loads them again from the exports. Returns the lake files removed."""
    ensure_schema(con)
    for batch_id in batch_ids:
        check_exports_hold(con, settings, batch_id)
    files = [r[0] for r in con.execute(
        "select path from ops.lake_files where list_contains(?, batch_id) order by path", [batch_ids]).fetchall()]
    con.execute("begin transaction")
    try:
        for table in TABLES.values():
            con.execute(f"delete from {_loaded_table(table)} where list_contains(?, _batch_id)", [batch_ids])
        for name in ("lake_files", "ingested_files", "quarantine", "duplicate_rows", "touched_dates",
                     "batch_conflicts", "ingested_batches"):
            con.execute(f"delete from ops.{name} where list_contains(?, batch_id)", [batch_ids])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for path in files:
        (settings.lake_dir / path).unlink(missing_ok=True)
    for batch_id in batch_ids:
        for table in TABLES:
            shutil.rmtree(lake.quarantine_file(settings.lake_dir, table, batch_id).parent, ignore_errors=True)
    return files
