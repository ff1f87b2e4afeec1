"""Record: what a load writes to the build warehouse (the ingestion record in `ops`, the loaded
rows or keys in `raw`) and to the Parquet lake, inside the batch's transaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import polars as pl

from models import TABLES, Table
from pipelines.lib import lake
from pipelines.lib.config import Settings
from pipelines.lib.duck import first
from pipelines.lib.ingest.read import ROW

log = logging.getLogger(__name__)

OPS_TABLES = {
    "ingested_batches": "One row per batch id seen: loaded or rejected, and why.",
    "ingested_files": "One row per file of a loaded batch, with its control totals and schema drift.",
    "quarantine": "One row per rejected row: batch, file, row number, reason, raw record.",
    "duplicate_rows": "One row per input row that repeated a row already loaded (counted once).",
    "touched_dates": "The UTC days each load touched, per table: what the incremental marts rebuild.",
    "batch_conflicts": "Re-deliveries of a loaded batch id with other contents: recorded, never loaded.",
    "lake_files": "One row per Parquet file of the lake: its rows, size and sha256. The build reads these files only.",
    "load_sequence": "The last load sequence number handed out: the order of loads, which no clock decides.",
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
create table if not exists ops.lake_files (
    path varchar primary key, table_name varchar not null, batch_id varchar not null, day date,
    row_count bigint not null, size_bytes bigint not null, sha256 varchar not null, written_at timestamptz);
create table if not exists ops.touched_dates (
    batch_id varchar, table_name varchar, day date, recorded_at timestamptz);
alter table ops.ingested_batches add column if not exists delivery_stamp varchar;
-- each ingestion that loaded or released something: a replay tells a release made by the run that
-- loaded a batch from one made by a later run (pipelines/lib/replay.py)
create table if not exists ops.ingest_runs (
    started_at timestamptz primary key, finished_at timestamptz not null, batches_loaded integer, rows_released integer);
-- The load sequence: every transaction that changes what the build reads (a batch loaded, rows
-- released) takes the next number, recorded with what it wrote. What the incremental marts rebuild
-- and what a replay holds are decided by it, never by wall-clock times (a clock steps back, a
-- cluster has many). ops.load_sequence keeps the last number handed out, so a forgotten batch's
-- number is never handed out again.
create table if not exists ops.load_sequence (last_seq bigint not null);
alter table ops.ingested_batches add column if not exists load_seq bigint;
alter table ops.touched_dates add column if not exists load_seq bigint;
alter table ops.quarantine add column if not exists released_seq bigint;
alter table ops.ingest_runs add column if not exists first_seq bigint;
alter table ops.ingest_runs add column if not exists last_seq bigint;
"""


def ensure_schema(con) -> None:
    """ops.*, and per export table raw.<table>: its typed shape (staging reads it before the
    table's first lake file exists) holding a dimension's loaded rows; an event table's rows are
    in the lake only, and raw.<table>_keys holds their keys, content hashes and provenance."""
    con.execute(OPS_DDL)
    _number_old_loads(con)
    for name, table in TABLES.items():
        cols = ", ".join(f"{c.name} {_duck_type(c)}" for c in table.columns)
        con.execute(
            f"create table if not exists raw.{name} ({cols}, _batch_id varchar, _path varchar, "
            f"_row_number bigint, _content_hash varchar)"
        )
        if table.kind == "event" and not first(con.execute(
                "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = ?",
                [f"{name}_keys"]))[0]:
            # New, or a warehouse from when raw.<event table> held whole rows: they move to the
            # keys table (the lake holds the rows already), in one transaction.
            con.execute("begin transaction")
            con.execute(f"create table {_loaded_table(table)} as select {', '.join(table.key)}, "
                        f"_batch_id, _path, _row_number, _content_hash from raw.{name} order by _batch_id, _row_number")
            con.execute(f"delete from raw.{name}")
            con.execute("commit")


def _number_old_loads(con) -> None:
    """Once, for a warehouse from before the load sequence: its loads numbered in the order their
    times give (the best record there is of them), in one transaction. The incremental marts'
    record of what they reflect (ops.dbt_builds) was kept in times: dbt drops it, and the first
    build after the upgrade rebuilds every day (macros/engine/incremental.sql)."""
    if first(con.execute("select count(*) from ops.load_sequence"))[0]:
        return
    con.execute("begin transaction")
    con.execute("""
        create temp table _old_loads as
        select instant, cast(row_number() over (order by instant) as bigint) as seq from (
            select loaded_at as instant from ops.ingested_batches where status = 'loaded' and loaded_at is not null
            union select recorded_at from ops.touched_dates where recorded_at is not null
            union select released_at from ops.quarantine where released_at is not null)""")
    con.execute("""update ops.ingested_batches b set load_seq = o.seq from _old_loads o
                   where b.status = 'loaded' and o.instant = b.loaded_at""")
    con.execute("update ops.touched_dates t set load_seq = o.seq from _old_loads o where o.instant = t.recorded_at")
    con.execute("update ops.quarantine q set released_seq = o.seq from _old_loads o where o.instant = q.released_at")
    con.execute("""update ops.ingest_runs r set
                     first_seq = (select min(seq) from _old_loads where instant between r.started_at and r.finished_at),
                     last_seq = (select max(seq) from _old_loads where instant between r.started_at and r.finished_at)""")
    con.execute("insert into ops.load_sequence select coalesce(max(seq), 0) from _old_loads")
    con.execute("drop table _old_loads")
    con.execute("commit")


def next_load_seq(con) -> int:
    """The next number of the load sequence, taken inside the caller's transaction (a load that
    rolls back hands it out again; one that commits never)."""
    return first(con.execute("update ops.load_sequence set last_seq = last_seq + 1 returning last_seq"))[0]


def _loaded_table(table: Table) -> str:
    """What the warehouse keeps of the rows it loaded: a dimension's whole rows (the reference
    checks read them); an event's key, content hash and provenance (the duplicate checks and the
    control totals need no more, and writing millions of whole rows a second time, next to the
    lake, was the dearest step of a load)."""
    return f"raw.{table.name}" if table.kind == "dimension" else f"raw.{table.name}_keys"


def _duck_type(c) -> str:
    return {"timestamp": "timestamptz", "date": "date", "decimal": "decimal(38, 9)", "int": "bigint",
            "bool": "boolean"}.get(c.type, "varchar")


def _record_batch(con, batch_id, digest, exported_at, status, reason, files, now=None, stamp=None,
                  seq: int | None = None) -> None:
    """`stamp`: a rejected batch's folder as it was read (manifest.delivery_stamp), when reading
    it again unchanged would reject it again (not for a verdict of the clock). `seq`: a loaded
    batch's number in the load sequence (next_load_seq)."""
    con.execute(
        """insert or replace into ops.ingested_batches
           (batch_id, exported_at, loaded_at, status, reason, manifest_sha256, file_count, delivery_stamp, load_seq)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [batch_id, exported_at, now or datetime.now(UTC), status, reason, digest, files, stamp, seq])


def _record_conflict(con, batch_id: str, digest: str) -> None:
    now = datetime.now(UTC)
    inserted = con.execute(
        "insert into ops.batch_conflicts values (?, ?, ?) on conflict do nothing returning 1",
        [batch_id, digest, now]).fetchall()
    if inserted:
        log.warning("batch %s re-delivered with different contents: nothing of it loaded", batch_id)
        con.execute(
            """update ops.ingested_batches set reason = coalesce(reason || '; ', '')
               || 'conflicting_redelivery: manifest sha256 ' || ? || ' at '
               || strftime(?, '%Y-%m-%dT%H:%M:%SZ') || ': not loaded'
               where batch_id = ?""", [digest, now, batch_id])


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
    return con.sql(
        "select _row_number, outcome as reason from outcome where outcome not in ('loaded', 'duplicate')"
    ).pl().cast({ROW: pl.Int64})


def _count_outcomes(con, batch_id: str, table_name: str) -> None:
    """Each term of the control total counted from its own record, never derived from the others."""
    con.execute(
        f"""update ops.ingested_files set
              rows_loaded = (select count(*) from {_loaded_table(TABLES[table_name])} where _batch_id = $1),
              rows_quarantined = (select count(*) from ops.quarantine
                                  where batch_id = $1 and table_name = $2 and released_at is null),
              rows_duplicate = (select count(*) from ops.duplicate_rows where batch_id = $1 and table_name = $2)
            where batch_id = $1 and table_name = $2""", [batch_id, table_name])


def _lake_columns(table: Table) -> list[str]:
    return [*table.column_names, lake.BATCH, ROW]


def _write_lake_rows(settings: Settings, batch_id: str, table: Table, loaded: pl.DataFrame,
                     generation: str | None = None) -> list[lake.LakeFile]:
    """A file's loaded rows (typed, in row order) into the lake; returns the files written (for
    ops.lake_files: what the build reads, and what the control totals check). `generation` names
    a rewrite of a batch's files (a quarantine release) apart from the files it replaces."""
    rows = loaded.with_columns(_batch_id=pl.lit(batch_id, dtype=pl.String)).select(_lake_columns(table))
    if table.kind == "dimension":
        return [lake.write_parquet(rows, settings.lake_dir, lake.snapshot_file(table.name, batch_id, generation),
                                   table.name, batch_id, None)]
    day = pl.col(table.partition_time).dt.date()  # the column is UTC: its UTC day
    days = rows.select(day.unique().sort()).to_series().to_list()
    return [lake.write_parquet(rows.filter(day == d), settings.lake_dir,
                               lake.event_file(table.name, d, batch_id, generation), table.name, batch_id, d)
            for d in days]


def _record_lake_files(con, files: list[lake.LakeFile], now) -> None:
    """The lake files a load wrote, with their row counts, sizes and sha256: the build reads
    exactly these (dbt_project/macros/engine/lake.sql) and the control totals check them (control.py)."""
    if files:
        con.executemany("insert or replace into ops.lake_files values (?, ?, ?, ?, ?, ?, ?, ?)",
                        [[f.path, f.table, f.batch_id, f.day, f.rows, f.size, f.sha256, now] for f in files])


def _record_touched(con, batch_id: str, table: Table, files: list[lake.LakeFile], now, seq: int) -> None:
    """The days a load (or release) wrote, with its number in the load sequence: what the
    incremental marts rebuild is decided by that number, `now` is for people."""
    days = sorted({f.day for f in files if f.day is not None})
    insert = "insert into ops.touched_dates (batch_id, table_name, day, recorded_at, load_seq) values (?, ?, ?, ?, ?)"
    if table.kind == "dimension":
        con.execute(insert, [batch_id, table.name, None, now, seq])
    elif days:
        con.executemany(insert, [[batch_id, table.name, d, now, seq] for d in days])
