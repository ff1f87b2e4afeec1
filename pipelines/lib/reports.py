"""The files people open, written so they can be trusted: whole (renamed into place), the same bytes
for the same data (no clock in them), text a spreadsheet never evaluates (`spreadsheet_safe`), and
an evidence manifest with every file's sha256.

Where the packs go and when they are written is pipelines/lib/periods.py (finance and FOCUS, one
pack per billing period) and pipelines/lib/ops_report.py (the ops page).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.lib.duck import first


def newest_batch(con) -> tuple[str, datetime] | tuple[None, None]:
    row = first(con.execute("select batch_id, exported_at from ops.ingested_batches where status = 'loaded' "
                      "order by exported_at desc, batch_id desc limit 1"))
    return (row[0], row[1]) if row else (None, None)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write) -> Path:
    """write(tmp_path) then rename: a reader never opens half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)
    return path


# A text cell beginning with one of these is a formula (or a formula's start) to a spreadsheet
# (= + - @, and a tab or carriage return before one). In a CSV such a cell, and one beginning with
# the apostrophe itself, is written with one apostrophe before it: a spreadsheet shows the text,
# and reading a value back exactly is dropping one leading apostrophe from any text cell that
# begins with one (docs/warehouse.md, "Reading a report back"). Numbers and dates are never text cells.
FORMULA_START = r"^['=+\-@\t\r]"


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text cell a spreadsheet would evaluate prefixed by an apostrophe."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START)).then("'" + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text) if text else frame


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    # Decimals are written as exact text: a CSV never carries a binary float of money.
    return atomic_write(path, lambda p: spreadsheet_safe(frame).write_csv(p))


def stream_csvs(con, sql: str, targets: dict[Path, pl.Expr | None], batch_rows: int = 500_000) -> list[Path]:
    """A query's rows to several CSVs in one pass, batch by batch (a few hundred thousand rows in
    memory, whatever the total): each target gets the rows its filter keeps (None: every row).
    The same writer as write_csv, so the same bytes; each file appears whole, by rename. A batch
    is formatted once for all the targets keeping all its rows (every row a break: a new platform,
    a ledger not exported yet): formatting is most of writing a file."""
    reader = con.sql(sql).to_arrow_reader(batch_rows)
    tmps = {path: path.with_name(f".{path.name}.{os.getpid()}.tmp") for path in targets}
    handles = {}
    try:
        for path, tmp in tmps.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handles[path] = tmp.open("wb")
        batches = iter(reader)
        first = next(batches, None)
        if first is None:  # no rows at all: the header still
            first = reader.schema.empty_table()
        for n, batch in enumerate(itertools.chain([first], batches)):
            frame = spreadsheet_safe(pl.from_arrow(batch))
            whole = None  # the batch as CSV
            for path, keep in targets.items():
                rows = frame if keep is None else frame.filter(keep)
                if rows.height < frame.height:
                    rows.write_csv(handles[path], include_header=n == 0)
                    continue
                if whole is None:
                    whole = io.BytesIO()
                    frame.write_csv(whole, include_header=n == 0)
                handles[path].write(whole.getbuffer())
    finally:
        for fh in handles.values():
            fh.close()
    for path, tmp in tmps.items():
        os.replace(tmp, path)
    return list(targets)


def write_workbook(path: Path, sheets: dict[str, pl.DataFrame], as_of: datetime, title: str) -> Path:
    """An Excel workbook, one sheet per frame, with fixed document properties so the same data gives
    the same bytes."""
    import xlsxwriter

    def write(tmp: Path) -> None:
        # text stays text: never turned into a formula, a link or a number (Integrity v1.1)
        wb = xlsxwriter.Workbook(str(tmp), {"remove_timezone": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
        wb.set_properties({"title": title, "created": as_of.replace(tzinfo=None), "author": "platform-warehouse"})
        for name, frame in sheets.items():
            frame.write_excel(workbook=wb, worksheet=name, autofit=True, float_precision=9,
                              table_style="Table Style Light 9")
        wb.close()

    return atomic_write(path, write)


def write_evidence(con, directory: Path, report: str, files: list[Path], batch_id: str, as_of: datetime,
                   period: str | None = None) -> Path:
    """<report>.evidence.json: the newest batch loaded, the input batches (for a period's pack, those
    that brought rows of its days), and the sha256 of every file written. Its own hash goes to
    ops.report_manifests, so a signed-off pack can be proven unchanged later."""
    if period is None:
        batches = con.execute("select batch_id, manifest_sha256, exported_at from ops.ingested_batches "
                              "where batch_id = ?", [batch_id]).fetchall()
    else:
        start = datetime.strptime(period, "%Y-%m").date()
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        batches = con.execute(
            "select batch_id, manifest_sha256, exported_at from ops.ingested_batches where status = 'loaded' "
            "and batch_id in (select batch_id from ops.touched_dates where day >= ? and day < ?) "
            "and exported_at <= ? order by batch_id", [start, end, as_of]).fetchall()
    doc = {
        "report": report,
        **({"period": period} if period else {}),
        "as_of": as_of.isoformat(),
        "newest_batch_id": batch_id,
        "input_batches": [{"batch_id": b, "manifest_sha256": h, "exported_at": e.isoformat()} for b, h, e in batches],
        "files": [{"path": f.relative_to(directory).as_posix(), "sha256": sha256_file(f), "bytes": f.stat().st_size}
                  for f in sorted(files)],
    }
    path = directory / f"{report}.evidence.json"
    atomic_write(path, lambda p: p.write_text(json.dumps(doc, indent=2) + "\n"))
    return path


def replace_folder(staging: Path, target: Path) -> None:
    """`staging` renamed to `target`, whole; a folder already there is moved aside first and removed
    (a reader finds the old folder or the new one, or for an instant none, never half of one)."""
    aside = target.with_name(f".{target.name}.replaced.{os.getpid()}.tmp")
    if target.exists():
        os.rename(target, aside)
    os.rename(staging, target)
    shutil.rmtree(aside, ignore_errors=True)


def pack_files(directory: Path) -> list[str]:
    """A pack's files, by path relative to its folder."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
