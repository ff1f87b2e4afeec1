"""Quarantine: the rows a load refuses, with their reasons and raw records (ops.quarantine and the
lake's quarantine Parquet), and their release once the reference they lacked has arrived."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime

import polars as pl

from models import TABLES, Table
from pipelines.lib import lake
from pipelines.lib.config import Settings
from pipelines.lib.ingest.decide import _decide, _staged
from pipelines.lib.ingest.manifest import Batch
from pipelines.lib.ingest.prepare import _typed
from pipelines.lib.ingest.read import ROW, FileRead
from pipelines.lib.ingest.record import (
    _count_outcomes,
    _record,
    _record_lake_files,
    _record_touched,
    _write_lake_rows,
    next_load_seq,
)

log = logging.getLogger(__name__)


def _raw_records(frame: pl.DataFrame) -> pl.DataFrame:
    """The raw record of each row as JSON text: the contract's columns as delivered (undeclared
    ones never reach here: read.read_file keeps their names only)."""
    return frame.select(ROW, pl.struct(pl.exclude(ROW)).map_elements(
        lambda r: json.dumps(r, ensure_ascii=False), return_dtype=pl.String).alias("raw_record"))


def unparseable_record(raw_text: str) -> str:
    """What quarantine keeps of a row that does not parse into the declared columns (v1.2): its byte
    length and the sha256 of its bytes (UTF-8, as the file held them), never its text, which may
    carry undeclared values (a ragged row's extra field, a JSONL line's repeated key)."""
    raw = raw_text.encode()
    return json.dumps({"raw_length_bytes": len(raw), "raw_sha256": hashlib.sha256(raw).hexdigest()},
                      separators=(",", ":"))  # as DuckDB's json_object writes it (scrub_unparseable_text)


def scrub_unparseable_text(con, settings: Settings) -> int:
    """Once, for a warehouse from before v1.2: the raw text of unparseable rows already quarantined
    becomes its byte length and sha256 (the same as unparseable_record), in ops.quarantine and in
    the lake's quarantine files of those batches. Returns the rows scrubbed."""
    where = "reason = 'unparseable' and json_exists(raw_record, '$.raw_text')"
    touched = con.execute(f"select distinct batch_id, table_name from ops.quarantine where {where}").fetchall()
    if not touched:
        return 0
    con.execute("begin transaction")
    try:
        n = len(con.execute(f"""update ops.quarantine set raw_record = json_object(
                'raw_length_bytes', octet_length(encode(raw_record ->> '$.raw_text')),
                'raw_sha256', sha256(raw_record ->> '$.raw_text'))::varchar
            where {where} returning 1""").fetchall())
        for batch_id, table_name in touched:
            _write_quarantine_file(con, settings, batch_id, TABLES[table_name])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    log.info("scrubbed the raw text of %d unparseable quarantined row(s) (v1.2)", n)
    return n


def _quarantine(con, batch: Batch, table: Table, f, read: FileRead, failing: pl.DataFrame, now) -> None:
    """Quarantine the failing and unparseable rows of `read` (a file, or a chunk of one), with
    their raw records (an unparseable row's as unparseable_record)."""
    unparseable = pl.DataFrame(
        {ROW: [r for r, _ in read.unparseable], "reason": "unparseable",
         "raw_record": [unparseable_record(t) for _, t in read.unparseable]},
        schema={ROW: pl.Int64, "reason": pl.String, "raw_record": pl.String})
    records = _raw_records(read.frame.join(failing, on=ROW, how="semi"))
    quarantine = pl.concat([failing.join(records, on=ROW, how="left"), unparseable]).sort(ROW)
    con.register("quarantine_rows", quarantine)
    con.execute(
        """insert into ops.quarantine (batch_id, table_name, path, row_number, reason, raw_record, quarantined_at)
           select ?, ?, ?, _row_number, reason, raw_record, ? from quarantine_rows""", [batch.batch_id, table.name, f.path, now])
    con.unregister("quarantine_rows")


def _record_file(con, batch: Batch, table: Table, f, rows_in_file: int, extra_columns: list[str]) -> None:
    """The file's row in ops.ingested_files, each term of its control total counted from its record."""
    con.execute(
        "insert or replace into ops.ingested_files values (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?)",
        [batch.batch_id, table.name, f.path, f.format, f.compression, f.sha256, rows_in_file, extra_columns])
    _count_outcomes(con, batch.batch_id, table.name)


def _write_quarantine_file(con, settings: Settings, batch_id: str, table: Table) -> None:
    lake.copy_to_parquet(
        con, "select * from ops.quarantine where batch_id = ? and table_name = ? order by row_number",
        lake.quarantine_file(settings.lake_dir, table.name, batch_id), [batch_id, table.name])


def _merge_into_lake(con, settings: Settings, batch_id: str, table: Table, released: pl.DataFrame,
                     seq: int) -> tuple[list[lake.LakeFile], list[str]]:
    """Rows released from quarantine join their batch's lake files: the recorded files of the batch
    are merged with them and written whole, in row order, under new names; the old files leave the
    record in the same transaction. Returns (the files written, the old paths to remove once
    committed). A crash before the commit leaves the record and its files as they were (the new
    files unrecorded, never read), so the rerun merges again from the same inputs."""
    old = [r[0] for r in con.execute(
        "select path from ops.lake_files where table_name = ? and batch_id = ? order by path",
        [table.name, batch_id]).fetchall()]
    rows = released.select([*table.column_names, ROW])
    if old:
        kept = pl.read_parquet([str(settings.lake_dir / p) for p in old], glob=False)
        rows = pl.concat([kept.filter(~pl.col(ROW).is_in(rows[ROW].implode())).select(rows.columns), rows])
    files = _write_lake_rows(settings, batch_id, table, rows.sort(ROW), generation=f"release{seq:09d}")
    if old:
        con.execute("delete from ops.lake_files where list_contains(?, path)", [old])
    return files, old


def release_quarantine(con, settings: Settings) -> int:
    """ANALYTICS_RETRY_QUARANTINE=1: re-check quarantined unknown_<column> rows and load those whose
    reference has arrived since, under their original batch, file and row number. They passed
    every value rule when first read, so only the rules that need other rows run again."""
    pending = con.execute(
        """select batch_id, table_name, path, row_number, raw_record from ops.quarantine
           where released_at is null and starts_with(reason, 'unknown_')
           order by batch_id, table_name, row_number""").fetchall()
    released = 0
    now = datetime.now(UTC)
    groups: dict[tuple, list] = {}
    for b, t, p, n, raw in pending:
        groups.setdefault((b, t, p), []).append((n, json.loads(raw)))
    for (batch_id, table_name, path), rows in groups.items():
        table = TABLES[table_name]
        files: list[lake.LakeFile] = []
        text = pl.DataFrame([{c: r.get(c) for c in table.column_names} for _, r in rows],
                            schema={c: pl.String for c in table.column_names}
                            ).with_columns(pl.Series(ROW, [n for n, _ in rows], dtype=pl.Int64))
        con.execute("begin transaction")
        try:
            seq = next_load_seq(con)
            typed = _typed(table, text, con)  # few rows: the warehouse hashes them
            with _staged(con, typed):
                _decide(con, table, batch_id)
                still_failing = _record(con, table, batch_id, path)
                loaded = con.sql("select _row_number from outcome where outcome = 'loaded'").pl()[ROW]
                con.register("still_failing", still_failing)
                n = con.execute(
                    """update ops.quarantine q set released_at = $now, released_seq = $seq
                       where batch_id = $b and table_name = $t and released_at is null
                         and row_number in (select _row_number from incoming)
                         and row_number not in (select _row_number from still_failing)
                       returning 1""", {"now": now, "seq": seq, "b": batch_id, "t": table_name}).fetchall()
            # A row still failing says why now (its reference may have arrived, of another project).
            con.execute(
                """update ops.quarantine q set reason = f.reason from still_failing f
                   where q.batch_id = ? and q.table_name = ? and q.row_number = f._row_number""",
                [batch_id, table_name])
            con.unregister("still_failing")
            _count_outcomes(con, batch_id, table_name)
            files, replaced = _merge_into_lake(con, settings, batch_id, table,
                                               typed.filter(pl.col(ROW).is_in(loaded.implode())), seq)
            _record_lake_files(con, files, now)
            _record_touched(con, batch_id, table, files, now, seq)
            _write_quarantine_file(con, settings, batch_id, table)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            for f in files:  # written under new names, never recorded: not read by anything
                (settings.lake_dir / f.path).unlink(missing_ok=True)
            raise
        for path in set(replaced) - {f.path for f in files}:
            (settings.lake_dir / path).unlink(missing_ok=True)
        released += len(n)
    log.info("released %d quarantined row(s) whose reference has arrived", released)
    return released
