"""Read one export file, whatever its format, into text columns plus its data row numbers.

Everything becomes text in the contract's text forms first, so one set of pandera rules applies
to CSV, JSONL and Parquet alike. Values of the wrong native type (a JSON number where a decimal is
expected, a float column in Parquet) are kept behind a marker that fails the type's check, so
they are quarantined with that type's reason rather than silently converted.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from models import Table
from models._contract import WRONG_NATIVE_TYPE
from pipelines.lib.batches import BatchRejected, ManifestFile
from pipelines.lib.duck import connect

ROW = "_row_number"


@dataclass
class FileRead:
    frame: pl.DataFrame  # contract columns as text (+ extra columns), and _row_number
    unparseable: list[tuple[int, str]] = field(default_factory=list)  # (row_number, raw text)
    extra_columns: list[str] = field(default_factory=list)

    @property
    def rows_in_file(self) -> int:
        return self.frame.height + len(self.unparseable)


def read_file(path: Path, f: ManifestFile, table: Table, compression: str | None = None) -> FileRead:
    """The rows of a manifest file, as text; `path` and `compression` say where its bytes are read
    (by default the manifest's: `verify_file` may hand over an inflated copy)."""
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[f.format]
    result = reader(path, f, table, compression or f.compression)
    # one chunk per column: adding a column to a frame whose columns are chunked differently
    # copies every column to align them (the parsed twins did: ~0.8 GB for a 3.5M-row file)
    result.frame = result.frame.rechunk()
    missing = [c for c in table.column_names if c not in result.frame.columns]
    if missing:
        raise BatchRejected(f"{f.path} lacks contract column(s) {', '.join(missing)}")
    result.extra_columns = [c for c in result.frame.columns if c not in table.column_names and c != ROW]
    return result


def _open_text(path: Path, compression: str):
    raw = gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _read_csv(path: Path, f: ManifestFile, table: Table, compression: str) -> FileRead:
    with _open_text(path, compression) as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise BatchRejected(f"{f.path} has no CSV header row")
    if len(set(header)) != len(header):
        raise BatchRejected(f"{f.path} names a column twice in its header")
    con = connect()
    columns = "{" + ", ".join(f"'{_sql_str(h)}': 'VARCHAR'" for h in header) + "}"
    # allow_quoted_nulls=false: the contract says "" is an empty string, an empty field is NULL.
    # One thread keeps file order, so valid rows can be numbered between the rejected ones.
    con.execute("SET threads = 1")
    rel = con.sql(
        f"""select * from read_csv('{_sql_str(str(path))}', header = true, auto_detect = false,
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
    frame = frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
    return FileRead(frame, bad)


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
    if isinstance(value, dict) and col_type in ("json", None):
        return json.dumps(value, ensure_ascii=False)
    return WRONG_NATIVE_TYPE + json.dumps(value, ensure_ascii=False)


def _read_jsonl(path: Path, f: ManifestFile, table: Table, compression: str) -> FileRead:
    types = {c.name: c.type for c in table.columns}
    records: list[dict] = []
    numbers: list[int] = []
    bad: list[tuple[int, str]] = []
    keys: dict[str, None] = {}
    with _open_text(path, compression) as fh:
        text = fh.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line is not a row
    for n, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            bad.append((n, line))
            continue
        rec = {k: _json_text(v, types.get(k)) for k, v in obj.items()}
        keys.update(dict.fromkeys(rec))
        records.append(rec)
        numbers.append(n)
    # In JSONL a missing key is NULL, so every contract column exists, if only as nulls.
    schema = {k: pl.String for k in [*table.column_names, *(k for k in keys if k not in types)]}
    frame = pl.DataFrame(records, schema=schema)
    frame = frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
    return FileRead(frame, bad)


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


def _read_parquet(path: Path, f: ManifestFile, table: Table, compression: str) -> FileRead:
    types = {c.name: c.type for c in table.columns}
    try:
        arrow = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise BatchRejected(f"{f.path} is not a readable Parquet file: {exc}") from exc
    cols = {name: _arrow_to_text(arrow.column(name), types.get(name)) for name in arrow.column_names}
    frame = pl.DataFrame(cols) if cols else pl.DataFrame()
    frame = frame.with_columns(pl.Series(ROW, range(1, arrow.num_rows + 1), dtype=pl.Int64))
    return FileRead(frame)


def _sql_str(text: str) -> str:
    return text.replace("'", "''")
