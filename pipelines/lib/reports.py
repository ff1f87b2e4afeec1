"""Report files people open, and the evidence that proves them unchanged later.

Every report goes to reports/<newest batch_id>/ under the data directory and is reproducible: its
"as of" is the newest exported_at loaded, never the wall clock, so the same inputs give the same
bytes (and the same evidence hash).

A pack, once written, is never rewritten (warehouse-v1, Integrity v1.1): a later run that would
produce other bytes for the same newest batch (a late batch delivered out of order, a quarantine
release) writes a new revision beside it, reports/<batch_id>/r2/<kind>/, r3/, ...; a rerun that
would produce the same bytes writes nothing. ops.report_manifests keeps every revision.

Text cells are written so a spreadsheet never evaluates them (`spreadsheet_safe`).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.lib.build_state import code_fingerprint
from pipelines.lib.config import Settings
from pipelines.lib.config_files import config_sha256
from pipelines.lib.duck import first
from pipelines.lib.faults import kill_point

OPS_REPORTS_DDL = """
create table if not exists ops.report_manifests (
    report varchar, kind varchar, batch_id varchar, revision integer,
    directory varchar, manifest_path varchar,  -- under the data directory
    evidence_sha256 varchar, file_count integer, written_at timestamptz,
    primary key (report, batch_id, revision))
"""


def ensure_report_manifests(con) -> None:
    """ops.report_manifests, one row per revision; a table from before revisions (one row per
    report and batch, overwritten) becomes revision 1 of each."""
    con.execute("create schema if not exists ops")
    old = first(con.execute("select count(*) from duckdb_columns() where schema_name = 'ops' "
                      "and table_name = 'report_manifests' and column_name = 'manifest_sha256'"))[0]
    if old:
        con.execute("alter table ops.report_manifests rename to report_manifests_before_revisions")
    con.execute(OPS_REPORTS_DDL)
    if old:
        con.execute("""insert into ops.report_manifests
            select report, case report when 'finance_reconciliation' then 'finance' else 'ops' end, batch_id, 1,
                   parse_dirpath(manifest_path), manifest_path, manifest_sha256, file_count, recorded_at
            from ops.report_manifests_before_revisions""")
        con.execute("drop table ops.report_manifests_before_revisions")
    # what wrote each revision: the code and the configuration (a replay says which changed since)
    con.execute("alter table ops.report_manifests add column if not exists code_fingerprint varchar")
    con.execute("alter table ops.report_manifests add column if not exists config_sha256 varchar")


def newest_batch(con) -> tuple[str, datetime] | tuple[None, None]:
    row = first(con.execute("select batch_id, exported_at from ops.ingested_batches where status = 'loaded' "
                      "order by exported_at desc, batch_id desc limit 1"))
    return (row[0], row[1]) if row else (None, None)


def report_dir(settings: Settings, batch_id: str) -> Path:
    return settings.reports_dir / batch_id


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


def write_evidence(con, directory: Path, report: str, files: list[Path], batch_id: str, as_of: datetime) -> Path:
    """evidence_manifest.json: the input batches and the sha256 of every file written. Its own hash
    goes to ops.report_manifests (write_pack), so a signed-off report can be proven unchanged later."""
    batches = con.execute(
        "select batch_id, manifest_sha256, exported_at from ops.ingested_batches where status = 'loaded' "
        "and exported_at <= ? order by batch_id", [as_of]).fetchall()
    doc = {
        "report": report,
        "as_of": as_of.isoformat(),
        "newest_batch_id": batch_id,
        "input_batches": [{"batch_id": b, "manifest_sha256": h, "exported_at": e.isoformat()} for b, h, e in batches],
        "files": [{"path": f.relative_to(directory).as_posix(), "sha256": sha256_file(f), "bytes": f.stat().st_size}
                  for f in sorted(files)],
    }
    path = directory / f"{report}.evidence.json"
    atomic_write(path, lambda p: p.write_text(json.dumps(doc, indent=2) + "\n"))
    return path


@dataclass(frozen=True)
class Pack:
    directory: Path
    files: list[Path]
    manifest: Path
    revision: int
    written: bool  # False: the newest revision already held these bytes


@dataclass(frozen=True)
class Written:
    """A report as of the newest batch: its pack (written, or found unchanged) and what it found,
    the counts its Dagster asset shows."""

    pack: Pack
    batch_id: str
    facts: dict[str, int | bool]


def revision_dir(settings: Settings, batch_id: str, kind: str, revision: int) -> Path:
    """reports/<batch_id>/<kind>/ for the first revision, reports/<batch_id>/r<N>/<kind>/ after."""
    base = report_dir(settings, batch_id)
    return base / kind if revision == 1 else base / f"r{revision}" / kind


def pack_files(directory: Path) -> list[str]:
    """A pack's files, by path relative to its folder (a pack may hold folders: focus/<org>/)."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def _same_pack(a: Path, b: Path) -> bool:
    names = pack_files(a)
    return names == pack_files(b) and all(sha256_file(a / n) == sha256_file(b / n) for n in names)


def write_pack(con, settings: Settings, report: str, kind: str, batch_id: str, as_of: datetime,
               write: Callable[[Path], list[Path]]) -> Pack:
    """Write a report pack: `write(directory)` writes its files (in folders below it, if it likes),
    then the evidence manifest is added. The pack is built in a temporary folder; if the newest revision for this batch holds
    the same bytes nothing changes, else the folder becomes the next revision, renamed whole (a
    reader never sees half a pack, and an earlier revision is never touched)."""
    revision = 0
    while revision_dir(settings, batch_id, kind, revision + 1).exists():
        revision += 1
    staging = report_dir(settings, batch_id) / f".{kind}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        files = write(staging)
        write_evidence(con, staging, report, files, batch_id, as_of)
        if revision and _same_pack(staging, revision_dir(settings, batch_id, kind, revision)):
            shutil.rmtree(staging)
            written = False
        else:
            revision += 1
            target = revision_dir(settings, batch_id, kind, revision)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, target)
            written = True
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    directory = revision_dir(settings, batch_id, kind, revision)
    manifest = directory / f"{report}.evidence.json"
    ensure_report_manifests(con)
    # the row of a revision written by a run that died before recording it is added by the next
    con.execute(
        "insert into ops.report_manifests by name select ? as report, ? as kind, ? as batch_id, ? as revision, "
        "? as directory, ? as manifest_path, ? as evidence_sha256, ? as file_count, ? as written_at, "
        "? as code_fingerprint, ? as config_sha256 on conflict do nothing",
        [report, kind, batch_id, revision, str(directory.relative_to(settings.data_dir)),
         str(manifest.relative_to(settings.data_dir)), sha256_file(manifest),
         len(pack_files(directory)) - 1, datetime.now(UTC), code_fingerprint(settings, engine=False),
         config_sha256()])
    return Pack(directory, [directory / f.relative_to(staging) for f in files], manifest, revision, written)


SHEET_ROWS = 10_000


def finance_report(con, settings: Settings) -> Written | None:
    """The finance reconciliation pack: workbook, CSVs and evidence manifest.

    The reconciliation has a row per key and day, millions on a large platform: its CSVs (and the
    ledger's other entries, which grow with history too) are written batch by batch, and only
    SHEET_ROWS rows of each come into memory at once, for the workbook (the biggest breaks; the
    first entries)."""
    batch_id, as_of = newest_batch(con)
    if batch_id is None:
        return None
    summary = con.sql("select * from marts.rpt_reconciliation_summary "
                          "order by organization_id, currency nulls last").pl()
    reconciliation = "select * exclude (_watermark) from marts.rpt_usage_ledger_reconciliation"
    breaks = f"{reconciliation} where status <> 'matched'"
    # A sheet is for reading: the biggest breaks first, at most SHEET_ROWS of them. The CSV has all.
    sheet_breaks = con.sql(
        f"{breaks} order by abs(amount_diff) desc nulls last, abs(rated_amount) desc nulls last, "
        f"charge_date, organization_id, project_id, usage_unit, model_id "
        f"limit {SHEET_ROWS}").pl()
    non_usage_sql = "select * from marts.rpt_ledger_non_usage_entries order by entry_id"
    # credits, refunds and adjustments grow with history: the sheet holds the first SHEET_ROWS, the CSV all
    non_usage = con.sql(f"{non_usage_sql} limit {SHEET_ROWS}").pl()
    drift = con.sql("select * from marts.rpt_runtime_reconciliation order by all").pl()
    drift_breaks = drift.filter(pl.col("drift_class") != "in_sync")

    def write(directory: Path) -> list[Path]:
        files = [
            write_workbook(directory / "reconciliation.xlsx",
                           {"Summary": summary, "Breaks": sheet_breaks, "Non-usage entries": non_usage,
                            "Runtime drift": drift_breaks}, as_of, f"Usage and ledger reconciliation as of {as_of}"),
        ]
        kill_point("mid_report")
        return files + [
            write_csv(summary, directory / "reconciliation_summary.csv"),
            *stream_csvs(con, f"{reconciliation} order by all", {
                directory / "usage_ledger_reconciliation.csv": None,
                directory / "usage_ledger_breaks.csv": pl.col("status") != "matched"}),
            *stream_csvs(con, non_usage_sql, {directory / "ledger_non_usage_entries.csv": None}),
            write_csv(drift, directory / "runtime_reconciliation.csv"),
        ]

    pack = write_pack(con, settings, "finance_reconciliation", "finance", batch_id, as_of, write)
    n_breaks = first(con.execute(f"select count(*) from ({breaks})"))[0]
    return Written(pack, batch_id, {"usage_ledger_breaks": n_breaks, "runtime_drift": drift_breaks.height})
