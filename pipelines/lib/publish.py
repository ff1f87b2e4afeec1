"""Publishing the warehouse, and the one-writer lock on the data directory.

Analysts open `warehouse/analytics.duckdb`; the pipeline only ever writes the build copy. At the
end of a run whose ingestion invariants hold, the build copy is checkpointed, copied next to the
published file and renamed over it: a reader holding the old file keeps its consistent view (the
old inode lives until it closes), and the next connection sees the new one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.faults import kill_point


class WarehouseBusy(RuntimeError):
    pass


@contextmanager
def writer_lock(settings: Settings, wait_seconds: float = 0, note_holder: bool = True):
    """Hold the data directory's writer lock for the block (flock: released if the process dies).

    Waits up to `wait_seconds` for another writer, then raises WarehouseBusy with a clear message.
    The lock file names its holder, unless `note_holder` is false (a reader that must write nothing)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(settings.lock_file, "a+")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                fh.close()
                raise WarehouseBusy(
                    f"another run is writing {settings.data_dir} ({holder}); wait for it to finish") from None
            time.sleep(0.5)
    if note_holder:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
    try:
        yield
    finally:
        if note_holder:
            fh.seek(0)
            fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def remove_stale_temporaries(settings: Settings) -> list[Path]:
    """Every write goes to a `.<name>.<pid>.tmp` file (or, for a report pack, folder) first, then is
    renamed. Under the writer lock no other writer exists, so any such one left is from a run that
    was killed: remove it."""
    roots = [settings.data_dir]
    for linked in (settings.warehouse_dir, settings.dagster_home):  # elsewhere under a `?` path (config.url_safe)
        if not linked.is_relative_to(settings.data_dir):
            roots.append(linked)
    stale = [p for root in roots if root.exists() for p in root.rglob(".*.tmp")]
    for p in sorted(stale, key=lambda p: len(p.parts)):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return stale


# Schemas analysts never need: the build's internals. Views are dropped too: the published file
# holds tables only, never views over lake paths that would break when the lake moves.
INTERNAL_SCHEMAS = ("raw",)


def publish(settings: Settings) -> Path:
    """Copy the build warehouse over the published one atomically; returns the published path."""
    build, target = settings.build_db, settings.published_db
    con = connect(build, settings)
    con.execute("checkpoint")
    con.close()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(build, tmp)
    con = connect(tmp, settings)
    for schema in INTERNAL_SCHEMAS:
        con.execute(f"drop schema if exists {schema} cascade")
    views = con.execute(
        "select schema_name, view_name from duckdb_views() where not internal and database_name = current_database()"
    ).fetchall()
    for schema, view in views:
        con.execute(f'drop view "{schema}"."{view}"')
    con.execute("checkpoint")
    con.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    kill_point("mid_publish")
    os.replace(tmp, target)
    return target
