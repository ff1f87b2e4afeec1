"""Ingestion's entry point: plan the complete batches under the exports root, read the next one
ahead while one loads, load each in one transaction, then release quarantine when asked.

One batch is one DuckDB transaction: its rows, quarantine, duplicates and ops record commit
together or not at all. The lake files are written before the commit under deterministic names,
so a run that dies in between rewrites the same files on its rerun.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from models import LOAD_ORDER, TABLES, Table
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect, first
from pipelines.lib.faults import kill_point
from pipelines.lib.ingest.control import backfill_lake_files
from pipelines.lib.ingest.decide import _decide, _staged
from pipelines.lib.ingest.failures import BatchRejected, MachineFault, is_machine_fault
from pipelines.lib.ingest.manifest import Batch, discover, manifest_hash, read_manifest
from pipelines.lib.ingest.prepare import PreparedBatch, PreparedFile, check_and_type, close_reads, prepare_batch
from pipelines.lib.ingest.quarantine import (
    _quarantine,
    _record_file,
    _write_quarantine_file,
    release_quarantine,
    scrub_unparseable_text,
)
from pipelines.lib.ingest.read import ROW, ChunkedRead
from pipelines.lib.ingest.record import (
    _record,
    _record_batch,
    _record_conflict,
    _record_lake_files,
    _record_touched,
    _write_lake_rows,
    ensure_schema,
    next_load_seq,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Load:
    """One load's stamps: `at` when it happened, for people; `seq` its number in the load sequence,
    for deciding what changed (record.next_load_seq)."""
    at: datetime
    seq: int


@dataclass
class RunSummary:
    loaded: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    released: int = 0

    def as_metadata(self) -> dict:
        return {
            "batches_loaded": len(self.loaded), "batches_rejected": len(self.rejected),
            "batches_skipped": len(self.skipped), "conflicting_redeliveries": len(self.conflicts),
            "quarantine_released": self.released, "loaded": list(self.loaded), "rejected": dict(self.rejected),
        }


def ingest_all(con, settings: Settings, progress: Callable[[int, int, str], None] | None = None) -> RunSummary:
    """Ingest every complete batch under the exports root not loaded yet, in export order.

    While one batch loads, the next is read and checked against its value rules in a second
    thread (file checks, parsing and pandera need no warehouse, and release the GIL): the two
    cores work at once, and at most one batch is held ahead."""
    ensure_schema(con)
    backfill_lake_files(con, settings.lake_dir)  # once, for a warehouse from before ops.lake_files
    scrub_unparseable_text(con, settings)  # once, for a quarantine from before v1.2
    started = datetime.now(UTC)
    first_seq = first(con.execute("select last_seq + 1 from ops.load_sequence"))[0]
    summary = RunSummary()
    plan = _plan(con, settings)
    loads = [(d, digest) for d, digest, action in plan if action == "load"]
    to_load = iter(loads)

    def read_next():  # the next batch to load, being read in the second thread (or None)
        following = next(to_load, None)
        return following and (following, pool.submit(prepare_batch, *following, settings))

    def take(ahead):
        (batch_dir, digest), future = ahead
        try:
            return future.result()
        except MachineFault as fault:
            if not fault.disk_space:
                raise
            # Read ahead while the previous batch was loading, it stopped short of the space kept
            # free for that load: try once more, alone.
            log.warning("batch %s: read again after the previous load (%s)", batch_dir.name, fault)
            return prepare_batch(batch_dir, digest, settings)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        ahead = read_next()
        for batch_dir, digest, action in plan:
            if action == "skip":
                summary.skipped.append(batch_dir.name)  # cheap: no data file is read again
                continue
            if action == "conflict":
                _record_conflict(con, batch_dir.name, digest)
                summary.conflicts.append(batch_dir.name)
                continue
            if progress:
                progress(len(summary.loaded) + len(summary.rejected) + 1, len(loads), batch_dir.name)
            prepared, ahead = take(ahead), read_next()  # batches load in plan order
            outcome = ingest_batch(con, settings, batch_dir, prepared)
            if outcome is None:
                summary.loaded.append(batch_dir.name)
                kill_point("between_batches")
            else:
                summary.rejected[batch_dir.name] = outcome
    if settings.retry_quarantine:
        summary.released = release_quarantine(con, settings)
    if summary.loaded or summary.released:
        # the run's loads are the numbers it took; its times are for people
        con.execute("""insert into ops.ingest_runs (started_at, finished_at, batches_loaded, rows_released,
                                                    first_seq, last_seq)
                       select ?, ?, ?, ?, ?, last_seq from ops.load_sequence""",
                    [started, datetime.now(UTC), len(summary.loaded), summary.released, first_seq])
    return summary


def _plan(con, settings: Settings) -> list[tuple[Path, str, str]]:
    """(folder, manifest sha256, what to do) for every complete batch, in export order: `skip` a
    loaded one (or its re-delivery with the same files: content decides, not the manifest's
    bytes), `conflict` for a loaded id re-delivered with other files, else `load` (new, or
    rejected before: a corrected re-delivery under the same id loads)."""
    known = {r[0]: (r[1], r[2]) for r in con.execute(
        "select batch_id, status, manifest_sha256 from ops.ingested_batches").fetchall()}
    plan = []
    for batch_dir in discover(settings.exports_dir):
        digest = manifest_hash(batch_dir)
        status, seen_digest = known.get(batch_dir.name, (None, None))
        if status != "loaded":
            plan.append((batch_dir, digest, "load"))
        elif digest == seen_digest or _same_files(con, batch_dir):
            plan.append((batch_dir, digest, "skip"))  # cheap: no data file is read again
        else:
            plan.append((batch_dir, digest, "conflict"))
    return plan


def _same_files(con, batch_dir: Path) -> bool:
    """Whether a re-delivered manifest lists the files loaded under its id (tables and sha256)."""
    try:
        listed = read_manifest(batch_dir).content
    except BatchRejected:
        return False
    loaded = con.execute("select table_name, sha256 from ops.ingested_files where batch_id = ? order by all",
                         [batch_dir.name]).fetchall()
    return listed == sorted(loaded)


def ingest_batch(con, settings: Settings, batch_dir: Path, prepared: PreparedBatch | None = None) -> str | None:
    """Load one batch. Returns None when loaded, or the reason it was rejected."""
    prepared = prepared or prepare_batch(batch_dir, manifest_hash(batch_dir), settings)
    batch, digest = prepared.batch, prepared.digest
    if prepared.rejected is not None:
        _record_batch(con, batch_dir.name, digest, None, "rejected", prepared.rejected, 0, stamp=prepared.stamp)
        log.warning("batch %s rejected: %s", batch_dir.name, prepared.rejected)
        return prepared.rejected

    now = datetime.now(UTC)  # for people; what changed when is the load sequence's number
    current = None
    con.execute("begin transaction")
    try:
        load = Load(now, next_load_seq(con))
        for table_name in LOAD_ORDER:
            if table_name in prepared.files:
                file = prepared.files[table_name]
                current = file.file.path
                if isinstance(file.read, ChunkedRead):
                    load_chunked(con, settings, batch, TABLES[table_name], file.file, file.read, load)
                else:
                    load_file(con, settings, batch, TABLES[table_name], file, load)
        current = None
        _record_batch(con, batch.batch_id, digest, batch.exported_at, "loaded", None, len(batch.files), now,
                      seq=load.seq)
        con.execute("commit")
    except BatchRejected as exc:  # found reading a chunked file while it loads: nothing of the batch stays
        con.execute("rollback")
        _record_batch(con, batch_dir.name, digest, None, "rejected", str(exc), 0, stamp=prepared.stamp)
        log.warning("batch %s rejected: %s", batch_dir.name, exc)
        return str(exc)
    except BaseException as exc:
        con.execute("rollback")
        if isinstance(exc, Exception) and is_machine_fault(exc):
            raise MachineFault(batch.batch_id, current, exc) from exc
        if isinstance(exc, Exception):  # rows already checked: a failure here is ours, never a verdict
            raise RuntimeError(f"batch {batch.batch_id}" + (f", file {current}" if current else "")
                               + f": loading failed, nothing of it recorded: {type(exc).__name__}: {exc}") from exc
        raise
    finally:
        close_reads(prepared.files)
    log.info("batch %s loaded (%d files)", batch.batch_id, len(batch.files))
    return None


def load_file(con, settings: Settings, batch: Batch, table: Table, file: PreparedFile, load: Load) -> None:
    """One file of a batch inside its transaction: decide each row, record the loaded ones and
    their lake files, quarantine the rest."""
    files = _load_rows(con, settings, batch, table, file, load)
    _finish_file(con, settings, batch, table, file.file, file.read.rows_in_file, file.read.extra_columns, files, load)


def load_chunked(con, settings: Settings, batch: Batch, table: Table, f, read: ChunkedRead, load: Load) -> None:
    """load_file for a file read chunk by chunk (Settings.ingest_chunk_rows): each chunk is checked,
    typed, decided (against what the earlier chunks loaded too) and recorded, with lake files of
    its own (`<batch>.partNNNNN.parquet` per day); only a chunk is ever in memory."""
    hasher = connect(settings=settings)  # in memory: the content hashes
    files, rows = [], 0
    try:
        for k, chunk in enumerate(read.chunks):
            rows += chunk.rows_in_file
            checked = PreparedFile(f, chunk, *check_and_type(table, chunk, batch.exported_at, hasher))
            files += _load_rows(con, settings, batch, table, checked, load, generation=f"part{k:05d}")
    except BaseException:
        for written in files:  # never recorded: the batch's transaction rolls back
            (settings.lake_dir / written.path).unlink(missing_ok=True)
        raise
    finally:
        hasher.close()
    if rows != read.rows_in_file:  # the chunks are the rows counted before loading: never a silent gap
        raise RuntimeError(f"{f.path}: {rows} rows read in chunks, {read.rows_in_file} counted before")
    _finish_file(con, settings, batch, table, f, read.rows_in_file, read.extra_columns, files, load)


def _load_rows(con, settings: Settings, batch: Batch, table: Table, file: PreparedFile, load: Load,
               generation: str | None = None):
    """Decide the rows of a file (or a chunk of one), record and write the loaded ones to the lake,
    quarantine the rest; returns the lake files written."""
    f, read, value_failures, typed = file.file, file.read, file.value_failures, file.typed
    with _staged(con, typed):
        _decide(con, table, batch.batch_id)
        # The loaded rows go to the lake from this process's typed copy, in a second thread, while
        # the warehouse takes its own copy: both are written before the batch commits.
        not_loaded = con.sql("select _row_number from outcome where outcome <> 'loaded'").pl()[ROW]
        loaded = typed.filter(~pl.col(ROW).is_in(not_loaded.implode())).sort(ROW)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-writer") as writer:
            lake_files = writer.submit(_write_lake_rows, settings, batch.batch_id, table, loaded, generation)
            failing = pl.concat([value_failures, _record(con, table, batch.batch_id, f.path)])
            files = lake_files.result()
    _quarantine(con, batch, table, f, read, failing, load.at)
    _record_lake_files(con, files, load.at)
    return files


def _finish_file(con, settings: Settings, batch: Batch, table: Table, f, rows_in_file: int,
                 extra_columns: list[str], files, load: Load) -> None:
    _record_file(con, batch, table, f, rows_in_file, extra_columns)
    _record_touched(con, batch.batch_id, table, files, load.at, load.seq)
    _write_quarantine_file(con, settings, batch.batch_id, table)
    if table.name == "usage_events":
        kill_point("mid_file")  # the lake has this file's Parquet; the batch is not committed
