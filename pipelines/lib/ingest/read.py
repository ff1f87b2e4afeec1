"""Read and type, part one: one export file, its bytes checked (verify.py), read whatever its
format into text columns plus its data row numbers, whole or a chunk at a time.

Everything becomes text in the contract's text forms first, so one set of pandera rules applies
to CSV, JSONL and Parquet alike. Values of the wrong native type (a JSON number where a decimal is
expected, a float column in Parquet) are kept behind a marker that fails the type's check, so
they are quarantined with that type's reason rather than silently converted.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from models import Table
from models._contract import WRONG_NATIVE_TYPE, parse_json_object
from pipelines.lib.duck import connect
from pipelines.lib.ingest.failures import BatchRejected
from pipelines.lib.ingest.manifest import ManifestFile
from pipelines.lib.lake import ROW


@dataclass
class FileRead:
    frame: pl.DataFrame  # the contract's columns as text, and _row_number
    unparseable: list[tuple[int, str]] = field(default_factory=list)  # (row_number, raw text)
    extra_columns: list[str] = field(default_factory=list)

    @property
    def rows_in_file(self) -> int:
        return self.frame.height + len(self.unparseable)


def read_file(path: Path, f: ManifestFile, table: Table, compression: str | None = None) -> FileRead:
    """The rows of a manifest file, as text; `path` and `compression` say where its bytes are read
    (by default the manifest's: `verify_file` may hand over an inflated copy).

    Only the contract's columns are kept: an undeclared column is recorded by name (schema drift)
    and its values dropped here, before anything else sees them (v1.1: never in the lake, the
    warehouse, a quarantine record or a report), so no delivered name can reach a working column
    of ours (`_row_number`, a parsed twin)."""
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[f.format]
    frame, numbers, unparseable, delivered = reader(path, f, table, compression or f.compression)
    _check_columns(f, table, delivered)
    read = _file_read(frame, numbers, unparseable, table)
    read.extra_columns = _extra(table, delivered)
    return read


@dataclass
class ChunkedRead:
    """A file too big to hold at once (Settings.ingest_chunk_rows): its row count, known before
    any row is loaded (the manifest's is checked against it), and its rows as FileReads of at most
    `chunk_rows` rows each, in file order, read as they are consumed. `extra_columns` is complete
    once the chunks are. `scratch`: an inflated copy to remove when done (verify_file)."""

    rows_in_file: int
    chunks: object  # Iterator[FileRead]
    extra_columns: list[str] = field(default_factory=list)
    scratch: Path | None = None

    def close(self) -> None:
        if self.scratch is not None:
            self.scratch.unlink(missing_ok=True)


def read_file_chunks(path: Path, f: ManifestFile, table: Table, compression: str, chunk_rows: int) -> ChunkedRead:
    """read_file, `chunk_rows` rows at a time: the same rows, row numbers, unparseable rows and
    undeclared columns, never more than a chunk in memory. CSV is parsed twice (its rejected lines,
    which the row numbers skip, are known only at the end of a parse), JSONL and Parquet once."""
    if f.format == "csv":
        header = _csv_header(path, f, compression)
        _check_columns(f, table, header)
        copy, originals = None, {}
        try:
            total, bad = _csv_count(path, header, table, compression)
        except duckdb.InvalidInputException as exc:
            if not _is_lone_cr_error(exc):
                raise
            copy, originals = _without_lone_crs(path, compression, len(header))  # see _read_csv
            path, compression = copy, "none"
            total, bad = _csv_count(path, header, table, compression)
            bad = [(n, originals.get(n, text)) for n, text in bad]
        read = ChunkedRead(total + len(bad), None, _extra(table, header))
        read.chunks = _removing(copy, _csv_chunks(path, header, table, compression, chunk_rows, bad))
        return read
    if f.format == "jsonl":
        rows = sum(1 for _ in _jsonl_lines(path, compression))
        read = ChunkedRead(rows, None)

        def chunks():
            for frame, numbers, bad, delivered in _jsonl_chunks(path, table, compression, chunk_rows):
                read.extra_columns = _extra(table, delivered)
                yield _file_read(frame, numbers, bad, table)
        read.chunks = chunks()
        return read
    parquet = _open_parquet(path, f)
    delivered = parquet.schema_arrow.names
    _check_columns(f, table, delivered)
    types = {c.name: c.type for c in table.columns}

    def parquet_chunks():
        start = 1
        batches = _parquet_errors(f, lambda: parquet.iter_batches(
            batch_size=chunk_rows, columns=[c for c in table.column_names if c in delivered]))
        while (batch := _parquet_errors(f, lambda: next(batches, None))) is not None:
            arrow = pa.Table.from_batches([batch])
            frame = pl.DataFrame({name: _arrow_to_text(arrow.column(name), types[name]) for name in arrow.column_names})
            yield _file_read(frame, range(start, start + arrow.num_rows), [], table)
            start += arrow.num_rows
    return ChunkedRead(parquet.metadata.num_rows, parquet_chunks(), _extra(table, delivered))


def _removing(scratch: Path | None, chunks):
    """The chunks, then `scratch` removed (when they are all read, or the reading stops)."""
    try:
        yield from chunks
    finally:
        if scratch is not None:
            scratch.unlink(missing_ok=True)


def _check_columns(f: ManifestFile, table: Table, delivered) -> None:
    missing = [c for c in table.column_names if c not in delivered]
    if missing:
        raise BatchRejected("bad_header", f"{f.path} lacks contract column(s) {', '.join(missing)}")


def _extra(table: Table, delivered) -> list[str]:
    return [c[:128] for c in delivered if c not in table.column_names]


def _file_read(frame: pl.DataFrame, numbers, bad, table: Table) -> FileRead:
    # one chunk per column: adding a column to a frame whose columns are chunked differently
    # copies every column to align them
    frame = frame.select(table.column_names).rechunk().with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
    return FileRead(frame, bad)


def _open_text(path: Path, compression: str):
    raw = gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")
    # utf-8-sig: a byte order mark at the very start is ignored (v1.1)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


HEADER_NAME = re.compile(r"[A-Za-z0-9_]+\Z")


def _csv_header(path: Path, f: ManifestFile, compression: str) -> list[str]:
    """The header row, checked (v1.1): every name non-empty and of `[A-Za-z0-9_]`, none twice."""
    with _open_text(path, compression) as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise BatchRejected("bad_header", f"{f.path} has no CSV header row")
    for name in header:
        if not HEADER_NAME.match(name):
            raise BatchRejected("bad_header", f"{f.path} has a header column name {name[:64]!r} that is empty "
                                "or not made of A-Z a-z 0-9 _")
    if len(set(header)) != len(header):
        raise BatchRejected("bad_header", f"{f.path} names a column twice in its header")
    return header


# The longest CSV line read (128 MiB). The read buffer is this size too: DuckDB's default, sixteen
# times the line limit, is read into memory before a chunked read's first rows come out.
MAX_LINE = 128 << 20


def _csv_select(path: Path, header: list[str], table: Table, compression: str) -> str:
    """The declared columns of a CSV file, as text. Every header name is [A-Za-z0-9_] (checked by
    _csv_header): safe inside the SQL text; DuckDB reads the byte order mark itself.
    allow_quoted_nulls=false: the contract says "" is an empty string, an empty field is NULL.
    Malformed lines go to reject_errors (store_rejects). The parallel scanner keeps the file's row
    order in the result (preserve_insertion_order) and numbers rejected lines exactly, as the
    single-threaded one does; unlike that one, it does not hold every buffer it has read until the
    scan ends (docs/benchmark.md: one-file memory)."""
    columns = "{" + ", ".join(f"'{h}': 'VARCHAR'" for h in header) + "}"
    wanted = ", ".join(f'"{c}"' for c in table.column_names if c in header) or "null as _none"
    return f"""select {wanted} from read_csv('{_sql_str(str(path))}', header = true, auto_detect = false,
            columns = {columns}, delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false,
            compression = '{'gzip' if compression == 'gzip' else 'none'}', store_rejects = true,
            strict_mode = true, null_padding = false, max_line_size = {MAX_LINE}, buffer_size = {MAX_LINE},
            parallel = true)"""


# DuckDB expands these in a path it is given (a glob): `usage_events[1].csv` would read `usage_events1.csv`
GLOB_CHARACTERS = set("[]*?{}")


@contextlib.contextmanager
def _exact_name(path: Path):
    """A name DuckDB reads as exactly this file (v1.2: a listed name is never a pattern). A path with
    a glob character is opened here and read through /dev/fd/N, which names the open file and holds
    none; any other path as it is."""
    if not GLOB_CHARACTERS & set(str(path)):
        yield path
        return
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        yield Path(f"/dev/fd/{fd}")
    finally:
        os.close(fd)


def _csv_connection():
    con = connect()
    # valid rows are numbered between the rejected ones: the result must come in file order
    con.execute("SET preserve_insertion_order = true")
    return con


def _rejected_lines(con) -> list[tuple[int, str]]:
    """(data row number, text) of the lines the last read rejected: reject_errors.line counts CSV
    records from 1 with the header, so data row = line - 1."""
    rejects = con.execute("select line, any_value(csv_line) from reject_errors group by line order by line").fetchall()
    return [(int(line) - 1, text) for line, text in rejects]


# DuckDB's strict CSV parser stops on a lone CR (one not followed by LF) outside quotes, for the
# whole file; RFC 4180 makes such a record malformed, so it is that row's `unparseable`, not the batch's.
LONE_CR_ERROR = "state machine reached an invalid state"


def _is_lone_cr_error(exc: Exception) -> bool:
    return isinstance(exc, duckdb.InvalidInputException) and LONE_CR_ERROR in str(exc)


def _without_lone_crs(path: Path, compression: str, fields: int) -> tuple[Path, dict[int, str]]:
    """A scratch copy of a CSV file in which every record holding a lone CR outside quotes is
    replaced by a line of `fields` + 1 fields (which DuckDB rejects as a row of too many
    columns, under the same record number), and {data row number: the record's original text}.
    Records are found by the parity of their quotes (RFC 4180: a record goes on while a quote is
    open). Only for a file DuckDB refused for such a CR: the common path never reads this way."""
    fd, name = tempfile.mkstemp(prefix=".lone-cr.", suffix=".csv.tmp")
    originals: dict[int, str] = {}
    raw = gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")
    with raw as src, os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        record, number = "", 0
        for n, data in enumerate(src):
            line = data.decode("utf-8")
            if n == 0:
                line = line.removeprefix("\ufeff")
            record += line
            if record.count('"') % 2:  # a quoted field goes on past this line's end
                continue
            body = record.removesuffix("\n").removesuffix("\r")
            if number > 0 and any("\r" in part for part in body.split('"')[::2]):
                originals[number] = body
                out.write(",".join(["-"] * (fields + 1)) + "\n")
            else:
                out.write(record if record.endswith("\n") else record + "\n")
            record, number = "", number + 1
        if record:
            out.write(record)
    return Path(name), originals


def _read_csv(path: Path, f: ManifestFile, table: Table, compression: str):
    try:
        return _read_csv_as_is(path, f, table, compression)
    except duckdb.InvalidInputException as exc:
        if not _is_lone_cr_error(exc):
            raise
    header = _csv_header(path, f, compression)
    copy, originals = _without_lone_crs(path, compression, len(header))
    try:
        frame, numbers, bad, delivered = _read_csv_as_is(copy, f, table, "none")
    finally:
        copy.unlink(missing_ok=True)
    return frame, numbers, [(n, originals.get(n, text)) for n, text in bad], delivered


def _read_csv_as_is(path: Path, f: ManifestFile, table: Table, compression: str):
    header = _csv_header(path, f, compression)
    con = _csv_connection()
    with _exact_name(path) as exact:
        frame = con.sql(_csv_select(exact, header, table, compression)).pl()
    bad = _rejected_lines(con)
    con.close()
    return frame, _valid_numbers(frame.height, bad, 1), bad, header


def _valid_numbers(count: int, bad: list[tuple[int, str]], first: int) -> list[int]:
    """The row numbers of `count` valid rows from row `first` on, skipping the rejected ones."""
    skip = {r for r, _ in bad}
    numbers, n = [], first
    while len(numbers) < count:
        if n not in skip:
            numbers.append(n)
        n += 1
    return numbers


def _csv_count(path: Path, header: list[str], table: Table, compression: str) -> tuple[int, list[tuple[int, str]]]:
    """(valid rows, rejected lines) of a CSV file, from one parse that keeps no row."""
    con = _csv_connection()
    with _exact_name(path) as exact:
        valid = con.execute(f"select count(*) from ({_csv_select(exact, header, table, compression)})").fetchall()[0][0]
    bad = _rejected_lines(con)
    con.close()
    return valid, bad


def _csv_chunks(path: Path, header: list[str], table: Table, compression: str, chunk_rows: int,
                bad: list[tuple[int, str]]):
    """FileReads of `chunk_rows` valid rows, numbered around the rejected lines (`bad`, from a
    first parse); each rejected line goes with the chunk it falls in (the last one after them)."""
    stack = contextlib.ExitStack()  # the file's exact name, held open while the chunks are read
    con = _csv_connection()
    try:
        exact = stack.enter_context(_exact_name(path))
        reader = con.sql(_csv_select(exact, header, table, compression)).to_arrow_reader(chunk_rows)
        pending, first = list(bad), 1
        for batch in reader:
            frame = pl.from_arrow(pa.Table.from_batches([batch]))
            numbers = _valid_numbers(frame.height, bad, first)
            last = numbers[-1] if numbers else first - 1
            mine = [b for b in pending if b[0] <= last]
            pending = pending[len(mine):]
            yield _file_read(frame, numbers, mine, table)
            first = last + 1
        if pending:
            yield _file_read(_empty_text(table), [], pending, table)
    finally:
        con.close()
        stack.close()


def _json_text(value, col_type: str | None) -> str | None:
    """A JSONL value in the contract's text form, or marked as the wrong native type."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ("true" if value else "false") if col_type == "bool" else WRONG_NATIVE_TYPE + json.dumps(value)
    if isinstance(value, int) and col_type == "int":
        return str(value)
    if isinstance(value, dict) and col_type == "json":
        return json.dumps(value, ensure_ascii=False)
    return WRONG_NATIVE_TYPE + json.dumps(value, ensure_ascii=False)


JSONL_CHUNK_ROWS = 100_000  # lines held as Python objects at once; the rest are Arrow columns


def _read_jsonl(path: Path, f: ManifestFile, table: Table, compression: str):
    """The whole file, from _jsonl_chunks."""
    frames, numbers, bad, delivered = [], [], [], []
    for frame, chunk_numbers, chunk_bad, chunk_delivered in _jsonl_chunks(path, table, compression, JSONL_CHUNK_ROWS):
        frames.append(frame)
        numbers += chunk_numbers
        bad += chunk_bad
        delivered = chunk_delivered  # the columns the file delivered, known once its keys are read
    frame = pl.concat(frames, rechunk=True) if frames else _empty_text(table)
    return frame, numbers, bad, delivered or list(table.column_names)


def _empty_text(table: Table) -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.String for c in table.column_names})


def _jsonl_lines(path: Path, compression: str):
    """(line number, text) of a JSONL file: a line ends at "\n" only, a "\r" before it is dropped,
    a byte order mark at the very start is ignored (v1.1). UTF-8 was checked whole by verify_file."""
    raw = gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")
    with raw as fh:
        for n, data in enumerate(fh, start=1):
            if n == 1 and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8):]
                if not data:
                    return  # the mark alone: no line
            yield n, data.decode("utf-8").removesuffix("\n").removesuffix("\r")


def _jsonl_chunks(path: Path, table: Table, compression: str, chunk_rows: int):
    """Frames of at most `chunk_rows` parsed lines: (text frame, their line numbers, the
    unparseable lines among them, the keys delivered so far, contract columns first). The file's
    text is never held whole, nor more than a chunk of rows as Python lists. In JSONL a missing key
    is NULL, so every contract column exists, if only as nulls."""
    types = {c.name: c.type for c in table.columns}
    schema = {c: pl.String for c in table.column_names}
    delivered: dict[str, None] = dict.fromkeys(table.column_names)
    records, numbers, bad = [], [], []
    for n, line in _jsonl_lines(path, compression):
        obj = parse_json_object(line)
        if obj is None:
            bad.append((n, line))
            continue
        delivered.update(dict.fromkeys(obj))
        records.append([_json_text(obj.get(c), types[c]) for c in table.column_names])
        numbers.append(n)
        if len(records) == chunk_rows:
            yield pl.DataFrame(records, schema=schema, orient="row"), numbers, bad, list(delivered)
            records, numbers, bad = [], [], []
    if records or bad:
        yield pl.DataFrame(records, schema=schema, orient="row"), numbers, bad, list(delivered)


def _as_written(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A Parquet column as any writer may write it (v1.2), in the plain Arrow type of its values:
    dictionary-encoded values decoded (pandas `category`), view strings as strings, a timestamp of
    any zone as the same instants in UTC (Arrow keeps zoned instants in UTC; polars takes no fixed
    offset such as +05:30)."""
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string_view(t):
        col = col.cast(pa.large_string())
    elif pa.types.is_timestamp(t) and t.tz is not None and t.tz not in ("UTC", "+00:00", "Z"):
        col = col.cast(pa.timestamp(t.unit, tz="UTC"))
    return col


def _arrow_to_text(col: pa.ChunkedArray, col_type: str | None) -> pl.Series:
    """A Parquet column in the contract's text forms."""
    col = _as_written(col)
    t = col.type
    s = pl.from_arrow(col)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return s
    if pa.types.is_decimal(t):
        return pl.Series([None if v is None else _plain_decimal(v) for v in col.to_pylist()], dtype=pl.String)
    if pa.types.is_timestamp(t):
        if t.tz is None:  # a timestamp without a zone is invalid: keep it zone-less so it fails
            return s.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f")
        return s.dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")
    if pa.types.is_date(t):
        return s.dt.to_string("%Y-%m-%d")
    if pa.types.is_boolean(t) and col_type == "bool":
        return s.cast(pl.String)
    if pa.types.is_integer(t) and col_type == "int":
        return s.cast(pl.String)
    if (pa.types.is_struct(t) or pa.types.is_map(t)) and col_type == "json":
        return pl.Series([None if v is None else json.dumps(dict(v) if not isinstance(v, dict) else v, default=str)
                          for v in col.to_pylist()], dtype=pl.String)
    return WRONG_NATIVE_TYPE + s.cast(pl.String, strict=False)


def _plain_decimal(v: Decimal) -> str:
    """A DECIMAL of any scale in the text form: a scale past 9 (DECIMAL(38, 18)) keeps its digits
    up to the last significant one, so a value that fits the contract passes and one with more than 9
    significant fractional digits is bad_decimal (v1.2)."""
    text = format(v, "f")
    whole, point, fraction = text.partition(".")
    if point and len(fraction) > 9:
        fraction = fraction.rstrip("0")
        return f"{whole}.{fraction}" if fraction else whole
    return text


def _open_parquet(path: Path, f: ManifestFile):
    parquet = _parquet_errors(f, lambda: pq.ParquetFile(path))
    delivered = parquet.schema_arrow.names
    if len(set(delivered)) != len(delivered):
        raise BatchRejected("bad_header", f"{f.path} names a column twice")
    return parquet


def _parquet_errors(f: ManifestFile, read):
    """read(), with pyarrow's errors on a file that is not (readable) Parquet as its verdict; an
    OSError with an errno is this machine's I/O, not the file's bytes (failures.classify)."""
    try:
        return read()
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise BatchRejected("unreadable_file", f"{f.path} is not a readable Parquet file: {exc}") from exc
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise BatchRejected("unreadable_file", f"{f.path} is not a readable Parquet file: {exc}") from exc


def _read_parquet(path: Path, f: ManifestFile, table: Table, compression: str):
    types = {c.name: c.type for c in table.columns}
    parquet = _open_parquet(path, f)
    delivered = parquet.schema_arrow.names
    arrow = _parquet_errors(f, lambda: parquet.read(columns=[c for c in table.column_names if c in delivered]))
    cols = {name: _arrow_to_text(arrow.column(name), types[name]) for name in arrow.column_names}
    frame = pl.DataFrame(cols, schema={c: pl.String for c in cols}) if cols else pl.DataFrame()
    return frame, range(1, arrow.num_rows + 1), [], delivered


def _sql_str(text: str) -> str:
    return text.replace("'", "''")
