"""Read and type, part two: a whole batch read and checked without the warehouse, in the contract's
types, each row's content hashed. Runs in the read-ahead thread while the previous batch loads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from models import TABLES, Table
from models._contract import parsed
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.ingest.failures import BatchRejected, classify
from pipelines.lib.ingest.manifest import Batch, ManifestFile, delivery_stamp, read_manifest
from pipelines.lib.ingest.read import ROW, ChunkedRead, FileRead, read_file, read_file_chunks
from pipelines.lib.ingest.validate import first_reasons
from pipelines.lib.ingest.verify import verify_file


@dataclass
class PreparedFile:
    """One file of a batch, read and checked: the rows failing a value rule and the other rows
    typed; or, for a file too big to hold (a ChunkedRead), neither: its chunks are checked and
    typed as it loads (run.load_chunked)."""

    file: ManifestFile
    read: FileRead | ChunkedRead
    value_failures: pl.DataFrame | None = None
    typed: pl.DataFrame | None = None


@dataclass
class PreparedBatch:
    """A batch read and checked without the warehouse: its manifest, every file's rows as text
    and the rows failing a value rule, or the reason the whole batch is rejected."""

    digest: str
    batch: Batch | None = None
    files: dict[str, PreparedFile] = field(default_factory=dict)  # by table
    rejected: str | None = None
    stamp: str | None = None  # the folder as it was before it was read (manifest.delivery_stamp)


def prepare_batch(batch_dir: Path, digest: str, settings: Settings) -> PreparedBatch:
    """Read and check a batch without the warehouse; its gzipped text files are inflated once, into
    the data directory. An input defect comes back as `rejected`; a fault of the machine is raised
    as MachineFault (failures.py), naming the batch and the file."""
    hasher = connect(settings=settings)
    current = None  # the file being read, for the message of whatever goes wrong
    files: dict[str, PreparedFile] = {}
    try:
        stamp = rejection_stamp(batch_dir, settings)
        batch = read_manifest(batch_dir)
        for f in batch.files:
            current = f.path
            files[f.table] = _prepare_file(batch, f, settings, hasher)
    except Exception as exc:  # classified: a rejection, a machine fault, or unreadable_file
        close_reads(files)
        verdict = classify(exc, batch_dir.name, current)
        if isinstance(verdict, BatchRejected):
            # a verdict of the clock may change by itself: such a batch is read again every run
            return PreparedBatch(digest, rejected=str(verdict),
                                 stamp=None if verdict.reason in CLOCK_VERDICTS else stamp)
        raise verdict from exc
    finally:
        hasher.close()
    return PreparedBatch(digest, batch, files)


def close_reads(files: dict[str, PreparedFile]) -> None:
    """Remove the inflated copies chunked reads keep until they are loaded."""
    for prepared in files.values():
        if isinstance(prepared.read, ChunkedRead):
            prepared.read.close()


CLOCK_VERDICTS = ("exported_in_future",)


def rejection_stamp(batch_dir: Path, settings: Settings) -> str:
    """What a rejection depends on besides the code: the folder as it is (manifest.delivery_stamp)
    and the limits a verdict may come from (decompression_limit)."""
    limits = (settings.gzip_max_bytes, settings.gzip_max_ratio, settings.gzip_ratio_floor_bytes)
    return hashlib.sha256(f"{delivery_stamp(batch_dir)} {limits}".encode()).hexdigest()


# A file is read whole unless it holds more rows than Settings.ingest_chunk_rows, or more bytes
# than this many per such row (whatever its manifest says: a manifest may understate its rows).
CHUNK_BYTES_PER_ROW = 256


def _prepare_file(batch: Batch, f: ManifestFile, settings: Settings, hasher) -> PreparedFile:
    """The file read and checked; a file too big to hold (ingest_chunk_rows) only opened for its
    chunks."""
    path, compression = verify_file(batch, f, settings, settings.data_dir)
    scratch = path if path != batch.directory / f.path else None
    table = TABLES[f.table]
    chunk = settings.ingest_chunk_rows
    try:
        if f.row_count > chunk or path.stat().st_size > chunk * CHUNK_BYTES_PER_ROW:
            read = read_file_chunks(path, f, table, compression, chunk)
            _check_row_count(f, read.rows_in_file)
            read.scratch, scratch = scratch, None  # removed once loaded (ChunkedRead.close)
            return PreparedFile(f, read)
        read = read_file(path, f, table, compression)
    finally:
        if scratch is not None:
            scratch.unlink(missing_ok=True)
    _check_row_count(f, read.rows_in_file)
    return PreparedFile(f, read, *check_and_type(table, read, batch.exported_at, hasher))


def _check_row_count(f: ManifestFile, rows: int) -> None:
    if rows != f.row_count:
        raise BatchRejected("row_count_mismatch", f"{f.path} holds {rows} data rows, the manifest says {f.row_count}")


def check_and_type(table: Table, read: FileRead, exported_at, hasher) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows failing a value rule with the first reason, the other rows typed and hashed)."""
    text = table.with_parsed(read.frame)  # each timestamp, date, decimal and JSON value parsed once, here
    failures = first_reasons(table, text, exported_at)
    passing = text if failures.is_empty() else text.join(failures, on=ROW, how="anti")
    return failures, _typed(table, passing, hasher)


def _canonical(table: Table) -> pl.Expr:
    """The row's content as values, over typed rows with their parsed twins: the same instant in
    another zone, the same decimal, the same JSON object (its canonical twin) give the same text,
    whatever the file format."""
    parts = []
    for c in table.columns:
        e = parsed(c.name) if c.type == "json" else pl.col(c.name)
        if c.type in TEXT_TYPES:
            # v1.2, NULL is not a value: a text holding the NULL mark (or the separator) is escaped,
            # so NULL and the text "\u2400" differ. A text without these marks hashes as it always did.
            e = (e.str.replace_all(ESCAPE, ESCAPE * 2, literal=True).str.replace_all(NULL_MARK, ESCAPE + "0", literal=True)
                 .str.replace_all(SEPARATOR, ESCAPE + "f", literal=True))
        parts.append(e.cast(pl.String).fill_null(NULL_MARK))
    return pl.concat_str(parts, separator=SEPARATOR)


# The canonical text's marks (control pictures): NULL, the separator between values, the escape.
NULL_MARK, SEPARATOR, ESCAPE = "\u2400", "\u241f", "\u241b"
# the types whose values are text as delivered (the others' text is generated: digits, signs, T, Z)
TEXT_TYPES = {"id", "string", "enum", "currency", "hex64", "ip", "json"}


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
        hashes.append(hasher.sql("select md5(content) as _content_hash from content").pl()["_content_hash"])
        hasher.unregister("content")
    key = pl.col(table.key[0]) if len(table.key) == 1 else pl.struct(table.key)
    return typed.drop(table.parsed_names).with_columns(pl.concat(hashes), key.is_duplicated().alias("_repeated"))
