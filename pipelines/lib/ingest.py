"""Load complete export batches into the build warehouse and the Parquet lake.

One batch is one DuckDB transaction: its rows, quarantine, duplicates and ops record commit
together or not at all. The lake files are written before the commit under deterministic names,
so a run that dies in between rewrites the same files on its rerun.

Value rules run in pandera (models/); rules that need other rows or batches (references,
duplicates) run here as DuckDB joins against what is loaded.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from models import LOAD_ORDER, TABLES, Table
from models._contract import parsed
from pipelines.lib import lake
from pipelines.lib.batches import Batch, BatchRejected, discover, manifest_hash, read_manifest, verify_file
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.faults import kill_point
from pipelines.lib.readers import ROW, FileRead, read_file
from pipelines.lib.validate import first_reasons

log = logging.getLogger(__name__)

OPS_TABLES = {
    "ingested_batches": "One row per batch id seen: loaded or rejected, and why.",
    "ingested_files": "One row per file of a loaded batch, with its control totals and schema drift.",
    "quarantine": "One row per rejected row: batch, file, row number, reason, raw record.",
    "duplicate_rows": "One row per input row that repeated a row already loaded (counted once).",
    "touched_dates": "The UTC days each load touched, per table: what the incremental marts rebuild.",
    "batch_conflicts": "Re-deliveries of a loaded batch id with other contents: recorded, never loaded.",
}

OPS_DDL = """
create schema if not exists ops;
create schema if not exists raw;
create table if not exists ops.ingested_batches (
    batch_id varchar primary key, exported_at timestamptz, loaded_at timestamptz,
    status varchar not null, reason varchar, manifest_sha256 varchar not null, file_count integer);
create table if not exists ops.ingested_files (
    batch_id varchar, table_name varchar, path varchar, format varchar, compression varchar,
    sha256 varchar, rows_in_file bigint, rows_loaded bigint, rows_quarantined bigint,
    rows_duplicate bigint, schema_drift varchar[], primary key (batch_id, table_name));
create table if not exists ops.quarantine (
    batch_id varchar, table_name varchar, path varchar, row_number bigint, reason varchar,
    raw_record varchar, quarantined_at timestamptz, released_at timestamptz,
    primary key (batch_id, table_name, row_number));
create table if not exists ops.duplicate_rows (
    batch_id varchar, table_name varchar, path varchar, row_number bigint, duplicate_of_batch_id varchar,
    primary key (batch_id, table_name, row_number));
create table if not exists ops.batch_conflicts (
    batch_id varchar, manifest_sha256 varchar, seen_at timestamptz, primary key (batch_id, manifest_sha256));
create table if not exists ops.touched_dates (
    batch_id varchar, table_name varchar, day date, recorded_at timestamptz);
"""


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
            "quarantine_released": self.released,
        }


def ensure_schema(con) -> None:
    """ops.*, and per export table raw.<table>: its typed shape (staging reads it before the
    table's first lake file exists) holding a dimension's loaded rows; an event table's rows are
    in the lake only, and raw.<table>_keys holds their keys, content hashes and provenance."""
    con.execute(OPS_DDL)
    for name, table in TABLES.items():
        cols = ", ".join(f"{c.name} {_duck_type(c)}" for c in table.columns)
        con.execute(
            f"create table if not exists raw.{name} ({cols}, _batch_id varchar, _path varchar, "
            f"_row_number bigint, _content_hash varchar)"
        )
        if table.kind == "event" and not con.execute(
                "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = ?",
                [f"{name}_keys"]).fetchone()[0]:
            # New, or a warehouse from when raw.<event table> held whole rows: they move to the
            # keys table (the lake holds the rows already), in one transaction.
            con.execute("begin transaction")
            con.execute(f"create table {_loaded_table(table)} as select {', '.join(table.key)}, "
                        f"_batch_id, _path, _row_number, _content_hash from raw.{name} order by _batch_id, _row_number")
            con.execute(f"delete from raw.{name}")
            con.execute("commit")


def _loaded_table(table: Table) -> str:
    """What the warehouse keeps of the rows it loaded: a dimension's whole rows (the reference
    checks read them); an event's key, content hash and provenance (the duplicate checks and the
    control totals need no more, and writing millions of whole rows a second time, next to the
    lake, was the dearest step of a load)."""
    return f"raw.{table.name}" if table.kind == "dimension" else f"raw.{table.name}_keys"


def _duck_type(c) -> str:
    return {"timestamp": "timestamptz", "date": "date", "decimal": "decimal(38, 9)", "int": "bigint",
            "bool": "boolean"}.get(c.type, "varchar")


def ingest_all(con, settings: Settings) -> RunSummary:
    """Ingest every complete batch under the exports root not loaded yet, in export order.

    While one batch loads, the next is read and checked against its value rules in a second
    thread (file checks, parsing and pandera need no warehouse, and release the GIL): the two
    cores work at once, and at most one batch is held ahead."""
    ensure_schema(con)
    summary = RunSummary()
    known = {r[0]: (r[1], r[2]) for r in con.execute(
        "select batch_id, status, manifest_sha256 from ops.ingested_batches").fetchall()}
    plan: list[tuple[Path, str, str]] = []  # (folder, manifest hash, what to do)
    for batch_dir in discover(settings.exports_dir):
        digest = manifest_hash(batch_dir)
        status, seen_digest = known.get(batch_dir.name, (None, None))
        if status == "loaded":
            plan.append((batch_dir, digest, "skip" if digest == seen_digest else "conflict"))
        else:  # new, or rejected before: a corrected re-delivery under the same id loads
            plan.append((batch_dir, digest, "load"))
    to_load = iter([(d, digest) for d, digest, action in plan if action == "load"])

    def read_next():  # the next batch to load, being read in the second thread (or None)
        following = next(to_load, None)
        return following and pool.submit(prepare_batch, *following, settings.data_dir)

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
            prepared, ahead = ahead.result(), read_next()  # batches load in plan order
            outcome = ingest_batch(con, settings, batch_dir, prepared)
            if outcome is None:
                summary.loaded.append(batch_dir.name)
                kill_point("between_batches")
            else:
                summary.rejected[batch_dir.name] = outcome
    if settings.retry_quarantine:
        summary.released = release_quarantine(con, settings)
    return summary


def _record_conflict(con, batch_id: str, digest: str) -> None:
    now = datetime.now(timezone.utc)
    inserted = con.execute(
        "insert into ops.batch_conflicts values (?, ?, ?) on conflict do nothing returning 1",
        [batch_id, digest, now]).fetchall()
    if inserted:
        log.warning("batch %s re-delivered with different contents: nothing of it loaded", batch_id)
        con.execute(
            """update ops.ingested_batches set reason = coalesce(reason || '; ', '')
               || 'conflicting re-delivery (manifest sha256 ' || ? || ') at ' || strftime(?, '%Y-%m-%dT%H:%M:%SZ') || ': not loaded'
               where batch_id = ?""", [digest, now, batch_id])


@dataclass
class PreparedBatch:
    """A batch read and checked without the warehouse: its manifest, every file's rows as text
    and the rows failing a value rule, or the reason the whole batch is rejected."""

    digest: str
    batch: Batch | None = None
    # table -> (manifest file, text read, rows failing a value rule, the other rows typed)
    files: dict[str, tuple] = field(default_factory=dict)
    rejected: str | None = None


def prepare_batch(batch_dir: Path, digest: str, scratch: Path) -> PreparedBatch:
    """Read and check a batch; `scratch` is where its gzipped text files are inflated, once."""
    hasher = connect()
    try:
        batch = read_manifest(batch_dir)
        files: dict[str, tuple] = {}
        for f in batch.files:
            path, compression = verify_file(batch, f, scratch)
            try:
                read = read_file(path, f, TABLES[f.table], compression)
            finally:
                if path != batch.directory / f.path:
                    path.unlink()
            if read.rows_in_file != f.row_count:
                raise BatchRejected(
                    f"{f.path} holds {read.rows_in_file} data rows, the manifest says {f.row_count}")
            table = TABLES[f.table]
            text = table.with_parsed(read.frame)  # each timestamp, date, decimal and JSON value parsed once, here
            failures = first_reasons(table, text, batch.exported_at)
            passing = text if failures.is_empty() else text.join(failures, on=ROW, how="anti")
            typed = _typed(table, passing, hasher)
            files[f.table] = (f, read, failures, typed)
    except BatchRejected as exc:
        return PreparedBatch(digest, rejected=str(exc))
    finally:
        hasher.close()
    return PreparedBatch(digest, batch, files)


def ingest_batch(con, settings: Settings, batch_dir: Path, prepared: PreparedBatch | None = None) -> str | None:
    """Load one batch. Returns None when loaded, or the reason it was rejected."""
    prepared = prepared or prepare_batch(batch_dir, manifest_hash(batch_dir), settings.data_dir)
    batch, digest = prepared.batch, prepared.digest
    if prepared.rejected is not None:
        _record_batch(con, batch_dir.name, digest, None, "rejected", prepared.rejected, 0)
        log.warning("batch %s rejected: %s", batch_dir.name, prepared.rejected)
        return prepared.rejected

    now = datetime.now(timezone.utc)
    con.execute("begin transaction")
    try:
        for table_name in LOAD_ORDER:
            if table_name in prepared.files:
                f, read, value_failures, typed = prepared.files[table_name]
                _load_file(con, settings, batch, TABLES[table_name], f, read, value_failures, typed, now)
        _record_batch(con, batch.batch_id, digest, batch.exported_at, "loaded", None, len(batch.files), now)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    log.info("batch %s loaded (%d files)", batch.batch_id, len(batch.files))
    return None


def _record_batch(con, batch_id, digest, exported_at, status, reason, files, now=None) -> None:
    con.execute(
        """insert or replace into ops.ingested_batches
           (batch_id, exported_at, loaded_at, status, reason, manifest_sha256, file_count)
           values (?, ?, ?, ?, ?, ?, ?)""",
        [batch_id, exported_at, now or datetime.now(timezone.utc), status, reason, digest, files])


def _canonical(table: Table) -> pl.Expr:
    """The row's content as values, over typed rows with their parsed twins: the same instant in
    another zone, the same decimal, the same JSON object (its canonical twin) give the same text,
    whatever the file format."""
    parts = []
    for c in table.columns:
        e = parsed(c.name) if c.type == "json" else pl.col(c.name)
        parts.append(e.cast(pl.String).fill_null("\u2400"))
    return pl.concat_str(parts, separator="\u241f")


HASH_ROWS = 500_000  # rows whose canonical text is built and hashed at once (~180 bytes a usage event)


def _typed(table: Table, text: pl.DataFrame, hasher) -> pl.DataFrame:
    """Rows that passed the value rules, in the contract's types, with the md5 of their canonical
    content, hashed by the DuckDB connection `hasher` (for a batch, the reading thread's in-memory
    one: the loading thread then only compares hashes), and `_repeated`: whether the file has
    another of these rows with the same key (the duplicate rule ranks only those)."""
    columns = [*table.column_names, *(c for c in table.parsed_names if c in text.columns), ROW]
    typed = table.cast(text.select(columns), keep_parsed=True)
    hashes = [pl.Series("_content_hash", [], pl.String)]
    for offset in range(0, typed.height, HASH_ROWS):  # the canonical text of a slice at a time
        hasher.register("content", typed.slice(offset, HASH_ROWS).select(_canonical(table).alias("content")))
        # a projection keeps the rows' order
        hashes.append(hasher.execute("select md5(content) as _content_hash from content").pl()["_content_hash"])
        hasher.unregister("content")
    key = pl.col(table.key[0]) if len(table.key) == 1 else pl.struct(table.key)
    return typed.drop(table.parsed_names).with_columns(pl.concat(hashes), key.is_duplicated().alias("_repeated"))


@contextmanager
def _staged(con, typed: pl.DataFrame):
    """Typed rows (`_typed`) readable by SQL as `incoming` while the block runs (no copy)."""
    con.register("incoming", typed)
    try:
        yield
    finally:
        con.unregister("incoming")


def _decide(con, table: Table) -> None:
    """Rules that need other rows (references, then duplicates, the contract's order) on
    `incoming`: the temp table `outcome` says, per row, loaded, duplicate or the reason (for usage
    events, after the temp table `reference_failures`: see _checked_sql)."""
    if table.name == "usage_events":
        con.execute(f"create or replace temp table reference_failures as {_reference_failures_sql()}")
    con.execute(f"create or replace temp table outcome as {_outcome_sql(table)}")


def _record(con, table: Table, batch_id: str, path: str) -> pl.DataFrame:
    """Record the rows `outcome` passes as loaded (`_loaded_table`) and its duplicates; returns
    the failing rows."""
    cols = ", ".join(table.column_names if table.kind == "dimension" else table.key)
    con.execute(
        f"""insert into {_loaded_table(table)} ({cols}, _batch_id, _path, _row_number, _content_hash)
            select {cols}, ?, ?, _row_number, _content_hash from incoming
            semi join (select _row_number from outcome where outcome = 'loaded') using (_row_number)
            order by _row_number""", [batch_id, path])
    con.execute(
        """insert into ops.duplicate_rows select ?, ?, ?, _row_number, duplicate_of from outcome
           where outcome = 'duplicate'""", [batch_id, table.name, path])
    return con.execute(
        "select _row_number, outcome as reason from outcome where outcome not in ('loaded', 'duplicate')"
    ).pl().cast({ROW: pl.Int64})


def _raw_records(frame: pl.DataFrame) -> pl.DataFrame:
    """The raw record of each row as JSON text, every column as delivered (extras included)."""
    return frame.select(ROW, pl.struct(pl.exclude(ROW)).map_elements(
        lambda r: json.dumps(r, ensure_ascii=False), return_dtype=pl.String).alias("raw_record"))


def _load_file(con, settings: Settings, batch: Batch, table: Table, f, read: FileRead,
               value_failures: pl.DataFrame, typed: pl.DataFrame, now) -> None:
    with _staged(con, typed):
        _decide(con, table)
        # The loaded rows go to the lake from this process's typed copy, in a second thread, while
        # the warehouse takes its own copy: both are written before the batch commits.
        not_loaded = con.execute("select _row_number from outcome where outcome <> 'loaded'").pl()[ROW]
        loaded = typed.filter(~pl.col(ROW).is_in(not_loaded.implode())).sort(ROW)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-writer") as writer:
            lake_days = writer.submit(_write_lake_rows, settings, batch.batch_id, table, loaded)
            failing = pl.concat([value_failures, _record(con, table, batch.batch_id, f.path)])
            days = lake_days.result()
    _quarantine(con, batch, table, f, read, failing, now)
    _record_touched(con, batch.batch_id, table, days, now)
    _write_quarantine_file(con, settings, batch.batch_id, table)
    if table.name == "usage_events":
        kill_point("mid_file")  # the lake has this file's Parquet; the batch is not committed


def _quarantine(con, batch: Batch, table: Table, f, read: FileRead, failing: pl.DataFrame, now) -> None:
    """Quarantine the failing and unparseable rows, with their raw records; record the file."""
    unparseable = pl.DataFrame(
        {ROW: [r for r, _ in read.unparseable], "reason": "unparseable",
         "raw_record": [json.dumps({"raw_text": t}, ensure_ascii=False) for _, t in read.unparseable]},
        schema={ROW: pl.Int64, "reason": pl.String, "raw_record": pl.String})
    records = _raw_records(read.frame.join(failing, on=ROW, how="semi"))
    quarantine = pl.concat([failing.join(records, on=ROW, how="left"), unparseable]).sort(ROW)
    con.register("quarantine_rows", quarantine)
    con.execute(
        """insert into ops.quarantine select ?, ?, ?, _row_number, reason, raw_record, ?, null
           from quarantine_rows""", [batch.batch_id, table.name, f.path, now])
    con.unregister("quarantine_rows")
    con.execute(
        "insert or replace into ops.ingested_files values (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?)",
        [batch.batch_id, table.name, f.path, f.format, f.compression, f.sha256, read.rows_in_file,
         read.extra_columns])
    _count_outcomes(con, batch.batch_id, table.name)


def _count_outcomes(con, batch_id: str, table_name: str) -> None:
    """Each term of the control total counted from its own record, never derived from the others."""
    con.execute(
        f"""update ops.ingested_files set
              rows_loaded = (select count(*) from {_loaded_table(TABLES[table_name])} where _batch_id = $1),
              rows_quarantined = (select count(*) from ops.quarantine
                                  where batch_id = $1 and table_name = $2 and released_at is null),
              rows_duplicate = (select count(*) from ops.duplicate_rows where batch_id = $1 and table_name = $2)
            where batch_id = $1 and table_name = $2""", [batch_id, table_name])


def _outcome_sql(table: Table) -> str:
    """One row per staged row: 'loaded', 'duplicate' or a quarantine reason."""
    keys = ", ".join(table.key)
    if table.kind == "event":
        key_join = " and ".join(f"l.{k} = r.{k}" for k in table.key)
        loaded = f"left join (select {keys}, _content_hash, _batch_id from {_loaded_table(table)}) l on {key_join}"
        prior, prior_batch = "l._content_hash", "l._batch_id"
    else:  # a full snapshot: duplicates only within the file
        loaded, prior, prior_batch = "", "null", "null::varchar"
    # A key's rows are ranked only where the file repeats it (`_repeated`, see _typed): usually
    # no row, where a window over every row was half of the decision's time.
    return f"""
        with {_checked_sql(table)}, ranked as (
            select c.*, 1 as nth, null as first_hash from checked c where ref_reason is null and not _repeated
            union all
            select c.*, row_number() over (partition by {keys} order by _row_number) as nth,
                   first_value(_content_hash) over (partition by {keys} order by _row_number) as first_hash
            from checked c where ref_reason is null and _repeated
        )
        select r._row_number,
               case when {prior} is not null then
                        case when {prior} = r._content_hash then 'duplicate' else 'duplicate_conflict' end
                    when r.nth > 1 then
                        case when r.first_hash = r._content_hash then 'duplicate' else 'duplicate_conflict' end
                    else 'loaded' end as outcome,
               {prior_batch} as duplicate_of
        from ranked r {loaded}
        union all
        select _row_number, ref_reason, null from checked where ref_reason is not null
    """


def _decision_columns(table: Table) -> str:
    """What the decision reads of a staged row: its key, row number, content hash and whether the
    file repeats its key (a row's other columns would only be carried, and held in memory, through
    the whole query)."""
    return ", ".join(f"i.{c}" for c in (*table.key, ROW, "_content_hash", "_repeated"))


# The columns of a usage event that name other rows. A batch's events share far fewer
# combinations of them than they have rows (~100k of 357k in the benchmark): each combination is
# checked once, and the rows of the failing ones (usually none) get their verdict.
USAGE_REFERENCES = ("organization_id", "project_id", "api_key_id", "model_id", "usage_unit")


def _reference_failures_sql() -> str:
    """The combinations of references of `incoming` usage events failing a reference rule, with the
    first rule each fails. Against every version loaded so far, this batch's snapshots included: a
    key that ever existed is known (usage before a deletion stays attributable)."""
    refs = ", ".join(USAGE_REFERENCES)
    return f"""
        select * from (
            select {refs}, case
            when i.model_id is null and (select any_value(product order by updated_at desc)
                  from raw.usage_units u where u.usage_unit = i.usage_unit) = 'token_factory' then 'model_required'
            when not exists (select 1 from raw.organizations o where o.organization_id = i.organization_id) then 'unknown_organization_id'
            when not exists (select 1 from raw.projects p where p.project_id = i.project_id) then 'unknown_project_id'
            when i.api_key_id is not null and not exists (select 1 from raw.api_keys k where k.api_key_id = i.api_key_id) then 'unknown_api_key_id'
            when i.model_id is not null and not exists (select 1 from raw.models m where m.model_id = i.model_id) then 'unknown_model_id'
            when not exists (select 1 from raw.usage_units u where u.usage_unit = i.usage_unit) then 'unknown_usage_unit'
            when not exists (select 1 from raw.projects p where p.project_id = i.project_id and p.organization_id = i.organization_id) then 'reference_mismatch'
            when i.api_key_id is not null and not exists (select 1 from raw.api_keys k where k.api_key_id = i.api_key_id and k.project_id = i.project_id) then 'reference_mismatch'
            end as ref_reason
            from (select distinct {refs} from incoming) i
        ) where ref_reason is not null"""


def _checked_sql(table: Table) -> str:
    """CTE `checked`: the staged rows with `ref_reason`, the first reference rule each fails (or
    null); for usage events, from the temp table `reference_failures` (_decide). Kept apart, the
    few failing combinations are what the join builds on, not the batch's rows."""
    if table.name != "usage_events":
        return f"checked as (select {_decision_columns(table)}, null::varchar as ref_reason from incoming i)"
    same = " and ".join(f"i.{c} is not distinct from f.{c}" for c in USAGE_REFERENCES)
    return f"""checked as (
            select {_decision_columns(table)}, f.ref_reason from incoming i left join reference_failures f on {same}
        )"""


def _lake_columns(table: Table) -> list[str]:
    return [*table.column_names, "_batch_id", "_row_number"]


def _write_lake_rows(settings: Settings, batch_id: str, table: Table, loaded: pl.DataFrame) -> list:
    """A file's loaded rows (typed, in row order) into the lake; returns the event days written."""
    rows = loaded.with_columns(_batch_id=pl.lit(batch_id, dtype=pl.String)).select(_lake_columns(table))
    if table.kind == "dimension":
        lake.write_parquet(rows, lake.snapshot_file(settings.lake_dir, table.name, batch_id))
        return []
    day = pl.col(table.partition_time).dt.date()  # the column is UTC: its UTC day
    days = rows.select(day.unique().sort()).to_series().to_list()
    for d in days:
        lake.write_parquet(rows.filter(day == d), lake.event_file(settings.lake_dir, table.name, d, batch_id))
    return days


def _record_touched(con, batch_id: str, table: Table, days: list, now) -> None:
    if table.kind == "dimension":
        con.execute("insert into ops.touched_dates values (?, ?, null, ?)", [batch_id, table.name, now])
    elif days:
        con.executemany("insert into ops.touched_dates values (?, ?, ?, ?)",
                        [[batch_id, table.name, d, now] for d in days])


def _write_quarantine_file(con, settings: Settings, batch_id: str, table: Table) -> None:
    lake.copy_to_parquet(
        con, "select * from ops.quarantine where batch_id = ? and table_name = ? order by row_number",
        lake.quarantine_file(settings.lake_dir, table.name, batch_id), [batch_id, table.name])


def _merge_into_lake(settings: Settings, batch_id: str, table: Table, released: pl.DataFrame) -> list:
    """Rows released from quarantine join their batch's lake files, rewritten whole in row order;
    returns the event days written. Idempotent: a rerun after a crash before the commit finds
    the rows in the files already and keeps one copy of each row number."""
    if table.kind == "dimension":
        files = [f for f in [lake.snapshot_file(settings.lake_dir, table.name, batch_id)] if f.exists()]
    else:
        files = sorted((settings.lake_dir / table.name).glob(f"*/{batch_id}.parquet"))
    rows = released.select([*table.column_names, ROW])
    if files:
        kept = pl.read_parquet(files).filter(~pl.col(ROW).is_in(rows[ROW].implode()))
        rows = pl.concat([kept.select(rows.columns), rows])
    return _write_lake_rows(settings, batch_id, table, rows.sort(ROW))


def release_quarantine(con, settings: Settings) -> int:
    """ANALYTICS_RETRY_QUARANTINE=1: re-check quarantined unknown_<column> rows and load those whose
    reference has arrived since, under their original batch, file and row number. They passed
    every value rule when first read, so only the rules that need other rows run again."""
    pending = con.execute(
        """select batch_id, table_name, path, row_number, raw_record from ops.quarantine
           where released_at is null and starts_with(reason, 'unknown_')
           order by batch_id, table_name, row_number""").fetchall()
    released = 0
    now = datetime.now(timezone.utc)
    groups: dict[tuple, list] = {}
    for b, t, p, n, raw in pending:
        groups.setdefault((b, t, p), []).append((n, json.loads(raw)))
    for (batch_id, table_name, path), rows in groups.items():
        table = TABLES[table_name]
        text = pl.DataFrame([{c: r.get(c) for c in table.column_names} for _, r in rows],
                            schema={c: pl.String for c in table.column_names}
                            ).with_columns(pl.Series(ROW, [n for n, _ in rows], dtype=pl.Int64))
        con.execute("begin transaction")
        try:
            typed = _typed(table, text, con)  # few rows: the warehouse hashes them
            with _staged(con, typed):
                _decide(con, table)
                still_failing = _record(con, table, batch_id, path)
                loaded = con.execute("select _row_number from outcome where outcome = 'loaded'").pl()[ROW]
                con.register("still_failing", still_failing)
                n = con.execute(
                    """update ops.quarantine q set released_at = $now
                       where batch_id = $b and table_name = $t and released_at is null
                         and row_number in (select _row_number from incoming)
                         and row_number not in (select _row_number from still_failing)
                       returning 1""", {"now": now, "b": batch_id, "t": table_name}).fetchall()
            # A row still failing says why now (its reference may have arrived, of another project).
            con.execute(
                """update ops.quarantine q set reason = f.reason from still_failing f
                   where q.batch_id = ? and q.table_name = ? and q.row_number = f._row_number""",
                [batch_id, table_name])
            con.unregister("still_failing")
            _count_outcomes(con, batch_id, table_name)
            days = _merge_into_lake(settings, batch_id, table, typed.filter(pl.col(ROW).is_in(loaded.implode())))
            _record_touched(con, batch_id, table, days, now)
            _write_quarantine_file(con, settings, batch_id, table)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        released += len(n)
    log.info("released %d quarantined row(s) whose reference has arrived", released)
    return released


def control_total_breaks(con) -> list[dict]:
    """Files of loaded batches where rows in file != loaded + quarantined + duplicate, each term
    recounted here from its own record (loaded rows or keys, quarantine rows, duplicate rows)."""
    parts = " union all ".join(
        f"select _batch_id as batch_id, '{t}' as table_name, count(*) as n from {_loaded_table(table)} group by 1"
        for t, table in TABLES.items())
    return con.execute(f"""
        with loaded as ({parts}),
        quarantined as (select batch_id, table_name, count(*) as n from ops.quarantine
                        where released_at is null group by all),
        duplicates as (select batch_id, table_name, count(*) as n from ops.duplicate_rows group by all)
        select f.batch_id, f.table_name, f.path, f.rows_in_file,
               coalesce(l.n, 0) as rows_loaded, coalesce(q.n, 0) as rows_quarantined,
               coalesce(d.n, 0) as rows_duplicate
        from ops.ingested_files f
        semi join (select batch_id from ops.ingested_batches where status = 'loaded') b on b.batch_id = f.batch_id
        left join loaded l on l.batch_id = f.batch_id and l.table_name = f.table_name
        left join quarantined q on q.batch_id = f.batch_id and q.table_name = f.table_name
        left join duplicates d on d.batch_id = f.batch_id and d.table_name = f.table_name
        where f.rows_in_file <> coalesce(l.n, 0) + coalesce(q.n, 0) + coalesce(d.n, 0)
           or f.rows_loaded <> coalesce(l.n, 0) or f.rows_quarantined <> coalesce(q.n, 0)
           or f.rows_duplicate <> coalesce(d.n, 0)
        order by all""").pl().to_dicts()
