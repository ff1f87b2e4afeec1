"""Read and type, part one: one export file's bytes checked (sha256, gzip, UTF-8, bounded
inflation), then read whatever its format into text columns plus its data row numbers.

Everything becomes text in the contract's text forms first, so one set of pandera rules applies
to CSV, JSONL and Parquet alike. Values of the wrong native type (a JSON number where a decimal is
expected, a float column in Parquet) are kept behind a marker that fails the type's check, so
they are quarantined with that type's reason rather than silently converted.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from isal import igzip, isal_zlib

from models import Table
from models._contract import WRONG_NATIVE_TYPE, parse_json_object
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.ingest.failures import BatchRejected
from pipelines.lib.ingest.manifest import Batch, ManifestFile, open_listed

ROW = "_row_number"


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
    missing = [c for c in table.column_names if c not in delivered]
    if missing:
        raise BatchRejected("bad_header", f"{f.path} lacks contract column(s) {', '.join(missing)}")
    extra = [c[:128] for c in delivered if c not in table.column_names]
    # one chunk per column: adding a column to a frame whose columns are chunked differently
    # copies every column to align them (the parsed twins did: ~0.8 GB for a 3.5M-row file)
    frame = frame.select(table.column_names).rechunk().with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
    return FileRead(frame, unparseable, extra)


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


def _read_csv(path: Path, f: ManifestFile, table: Table, compression: str):
    header = _csv_header(path, f, compression)
    con = connect()
    # Every name is [A-Za-z0-9_] (checked above): safe inside the SQL text, and DuckDB reads the
    # byte order mark itself. Only the declared columns are selected.
    columns = "{" + ", ".join(f"'{h}': 'VARCHAR'" for h in header) + "}"
    wanted = ", ".join(f'"{c}"' for c in table.column_names if c in header) or "null as _none"
    # allow_quoted_nulls=false: the contract says "" is an empty string, an empty field is NULL.
    # One thread keeps file order, so valid rows can be numbered between the rejected ones.
    con.execute("SET threads = 1")
    rel = con.sql(
        f"""select {wanted} from read_csv('{_sql_str(str(path))}', header = true, auto_detect = false,
            columns = {columns}, delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false,
            compression = '{'gzip' if compression == 'gzip' else 'none'}', store_rejects = true,
            strict_mode = true, null_padding = false, max_line_size = 134217728, parallel = false)"""
    )
    frame = rel.pl()
    rejects = con.sql(
        "select line, any_value(csv_line) from reject_errors group by line order by line"
    ).fetchall()
    con.close()
    # reject_errors.line counts CSV records from 1 with the header, so data row = line - 1.
    bad = [(int(line) - 1, text) for line, text in rejects]
    total = frame.height + len(bad)
    bad_rows = {r for r, _ in bad}
    numbers = [r for r in range(1, total + 1) if r not in bad_rows]
    return frame, numbers, bad, header


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
    """Line by line (a line ends at "\n" only, a "\r" before it is dropped), as frames of
    JSONL_CHUNK_ROWS rows: the file's text is never held whole, nor all its rows as Python lists."""
    types = {c.name: c.type for c in table.columns}
    schema = {c: pl.String for c in table.column_names}
    frames: list[pl.DataFrame] = []
    records: list[list] = []
    numbers: list[int] = []
    bad: list[tuple[int, str]] = []
    delivered: dict[str, None] = {}
    raw = gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")
    with raw as fh:  # UTF-8 was checked whole by verify_file
        for n, data in enumerate(fh, start=1):
            if n == 1 and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8):]  # a leading byte order mark is ignored (v1.1)
                if not data:
                    break  # the mark alone: no line
            line = data.decode("utf-8").removesuffix("\n").removesuffix("\r")
            obj = parse_json_object(line)
            if obj is None:
                bad.append((n, line))
                continue
            delivered.update(dict.fromkeys(obj))
            records.append([_json_text(obj.get(c), types[c]) for c in table.column_names])
            numbers.append(n)
            if len(records) == JSONL_CHUNK_ROWS:
                frames.append(pl.DataFrame(records, schema=schema, orient="row"))
                records = []
    frames.append(pl.DataFrame(records, schema=schema, orient="row"))
    # In JSONL a missing key is NULL, so every contract column exists, if only as nulls.
    frame = pl.concat(frames, rechunk=True)
    return frame, numbers, bad, [*table.column_names, *(k for k in delivered if k not in types)]


def _arrow_to_text(col: pa.ChunkedArray, col_type: str | None) -> pl.Series:
    """A Parquet column in the contract's text forms."""
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
    return format(v, "f")


def _read_parquet(path: Path, f: ManifestFile, table: Table, compression: str):
    types = {c.name: c.type for c in table.columns}
    try:
        parquet = pq.ParquetFile(path)
        delivered = parquet.schema_arrow.names
        if len(set(delivered)) != len(delivered):
            raise BatchRejected("bad_header", f"{f.path} names a column twice")
        arrow = parquet.read(columns=[c for c in table.column_names if c in delivered])
    except BatchRejected:
        raise
    except OSError as exc:
        if exc.errno is not None:  # this machine's I/O, not the file's bytes (failures.classify)
            raise
        raise BatchRejected("unreadable_file", f"{f.path} is not a readable Parquet file: {exc}") from exc
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise BatchRejected("unreadable_file", f"{f.path} is not a readable Parquet file: {exc}") from exc
    cols = {name: _arrow_to_text(arrow.column(name), types[name]) for name in arrow.column_names}
    frame = pl.DataFrame(cols, schema={c: pl.String for c in cols}) if cols else pl.DataFrame()
    return frame, range(1, arrow.num_rows + 1), [], delivered


def _sql_str(text: str) -> str:
    return text.replace("'", "''")


BLOCK = 1 << 20
FREE_CHECK_EVERY = 64  # blocks inflated between two looks at the free space


def inflation_limit(settings: Settings, compressed_bytes: int) -> int:
    """The most a gzip file of `compressed_bytes` may inflate to (Settings: gzip_max_*)."""
    ratio_cap = max(settings.gzip_max_ratio * compressed_bytes, settings.gzip_ratio_floor_bytes)
    return min(settings.gzip_max_bytes, ratio_cap)


def verify_file(batch: Batch, f: ManifestFile, settings: Settings, scratch: Path | None = None) -> tuple[Path, str]:
    """A listed file's existence (a plain file, no symlink), sha256, and readability of its bytes
    (gzip stream whole and within the inflation limit, text is UTF-8).

    Returns the path to read the rows from and its compression. With `scratch` (a directory), a
    gzipped text file's bytes, inflated here to be checked anyway, are kept there uncompressed
    (`.inflated.<batch>.<file>.<pid>.tmp`, the caller removes it): the reader then does not
    inflate the stream a second time (DuckDB's gzip reading was a third of reading a CSV).
    OSErrors of this machine (disk full, permission denied) propagate as they are: the caller
    classifies them (failures.classify) as faults, never as the export's verdict."""
    path = batch.directory / f.path
    digest, tail = hashlib.sha256(), b""
    with open_listed(batch, f) as fh:
        compressed = os.fstat(fh.fileno()).st_size
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
            tail = (tail + block)[-4:]
    if digest.hexdigest() != f.sha256:
        raise BatchRejected("sha256_mismatch", f"sha256 of {f.path} does not match the manifest")
    if f.format == "parquet":
        return path, f.compression
    gzipped = f.compression == "gzip"
    keep = scratch is not None and gzipped
    limit = inflation_limit(settings, compressed) if gzipped else None
    inflated = scratch / f".inflated.{batch.batch_id}.{f.path}.{os.getpid()}.tmp" if keep else None
    if keep:
        # the trailer's ISIZE (the size modulo 2^32, the exporter's word only), capped at the limit
        _check_free_space(settings, scratch, min(int.from_bytes(tail, "little"), limit), f)
    decoder = _utf8_decoder()
    size = 0
    try:
        with open_listed(batch, f) as raw, (igzip.open(raw, "rb") if gzipped else contextlib.nullcontext(raw)) as src, \
                (open(inflated, "wb") if keep else contextlib.nullcontext()) as out:
            for n, block in enumerate(iter(lambda: _inflate_block(src, f), b"")):
                size += len(block)
                if limit is not None and size > limit:
                    raise BatchRejected("decompression_limit", f"{f.path} inflates past {limit:,} bytes "
                                        f"({compressed:,} compressed; the warehouse's limit: ANALYTICS_GZIP_MAX_BYTES, "
                                        f"ANALYTICS_GZIP_MAX_RATIO)")
                decoder.decode(block)
                if out:
                    if n % FREE_CHECK_EVERY == FREE_CHECK_EVERY - 1:
                        _check_free_space(settings, scratch, 0, f)
                    out.write(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        _remove(inflated)
        raise BatchRejected("unreadable_file", f"{f.path} is not UTF-8: {exc}") from exc
    except BaseException:
        _remove(inflated)
        raise
    return (inflated, "none") if keep else (path, f.compression)


def _inflate_block(src, f: ManifestFile) -> bytes:
    """The next block of a file's bytes, inflated; a damaged stream is the export's defect (an
    OSError without an errno: gzip's BadGzipFile), an OSError with one is this machine's."""
    try:
        return src.read(BLOCK)
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise BatchRejected("unreadable_file", f"{f.path} is not a readable gzip file: {exc}") from exc
    except (EOFError, zlib.error, isal_zlib.error) as exc:
        raise BatchRejected("unreadable_file", f"{f.path} is not a readable gzip file: {exc}") from exc


def _check_free_space(settings: Settings, directory: Path, needed: int, f: ManifestFile) -> None:
    free = shutil.disk_usage(directory).free
    if free - needed < settings.min_free_bytes:
        raise OSError(errno.ENOSPC, f"inflating {f.path} ({needed:,} bytes announced) would leave less than "
                      f"{settings.min_free_bytes:,} bytes free in {directory} ({free:,} free; "
                      "ANALYTICS_MIN_FREE_BYTES)")


def _remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _utf8_decoder():
    return codecs.getincrementaldecoder("utf-8")(errors="strict")
