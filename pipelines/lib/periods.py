"""Report packs by billing period (warehouse-v1, "Reports by billing period (v1.2)").

A pack covers one kind (finance, focus) and one billing period, a UTC calendar month:

    reports/<kind>/<YYYY-MM>/draft/   while the period is open, replaced by each run that changes it
    reports/<kind>/<YYYY-MM>/r1/      once it is closed (the draft is renamed, or r1 written)
    reports/<kind>/<YYYY-MM>/r2/, …   a later change to a closed period, with changes.csv

A period closes `period_close_days` whole days after its last day, counted from the newest loaded
batch's time (exported_at), never the wall clock: a replay closes periods as the run did.

What a run writes follows what changed. Per kind and period the warehouse keeps, in
ops.report_periods, a fingerprint of the period's rows (count and hash sum, one aggregate in DuckDB)
and the code and configuration that wrote its latest pack. Hashing every row of every period would
cost a run all history, so a kind also has a probe: per period, its row count and the newest
`_watermark` of its incremental marts (the load each row reflects: a day rebuilt gets a newer one,
a day emptied lowers the count). A period whose probe, code and configuration are unchanged is not
looked at further; the others are fingerprinted, in one aggregate over their days only. A period
whose fingerprint is unchanged is not written at all; any other is written to a staging folder and
compared with its latest pack, file by file (the evidence manifest's sha256): the same bytes write
nothing. So a run that changes no day of a period writes nothing for it, and a period reached by a
change that does not move its content (a new batch of other days) costs one staging write.

Every pack folder is written beside its place and renamed into it whole; a revision is never
rewritten or removed. ops.report_manifests has a row per pack written; the row of a pack written
by a run that died before recording it is added by the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines.lib.build_state import code_fingerprint
from pipelines.lib.config import Settings
from pipelines.lib.config_files import config_sha256
from pipelines.lib.duck import first
from pipelines.lib.period_changes import CHANGES, save_totals, write_changes
from pipelines.lib.reports import newest_batch, replace_folder, sha256_file, write_evidence

PERIOD_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
REVISION_RE = re.compile(r"^r([1-9][0-9]*)$")

MANIFESTS_DDL = """
create table if not exists ops.report_manifests (
    report varchar, kind varchar, period varchar, pack varchar, batch_id varchar, revision integer,
    directory varchar, manifest_path varchar,  -- under the data directory
    evidence_sha256 varchar, file_count integer, written_at timestamptz,
    code_fingerprint varchar, config_sha256 varchar, pack_seq bigint, content_sha256 varchar)
"""
PERIODS_DDL = """
create table if not exists ops.report_periods (
    kind varchar, period varchar, pack varchar, directory varchar,
    row_count bigint, content_hash hugeint, code_fingerprint varchar, config_sha256 varchar,
    batch_id varchar, load_seq bigint, probe varchar, primary key (kind, period))
"""
TOTALS_DDL = """
create table if not exists ops.report_period_totals (
    kind varchar, period varchar, organization_id varchar, charge_date date, usage_unit varchar,
    currency varchar, quantity decimal(38, 9), rated_amount decimal(38, 2), ledger_amount decimal(38, 9))
"""


def ensure_record(con) -> None:
    """ops.report_manifests (one row per pack written), ops.report_periods (each period's latest
    pack and fingerprint) and ops.report_period_totals (its totals, for the next changes.csv).

    A report_manifests of the per-batch layout (v1.1: a key of report, batch and revision) keeps its
    rows, period null: it is rebuilt once without that key, which a draft has no revision for."""
    con.execute("create schema if not exists ops")
    columns = {r[0] for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = 'ops' and table_name = 'report_manifests'"
    ).fetchall()}
    if columns and "pack_seq" not in columns:
        _upgrade_manifests(con, columns)
    con.execute(MANIFESTS_DDL)
    con.execute(PERIODS_DDL)
    # a record from before the probe: every period is fingerprinted once, then probed
    con.execute("alter table ops.report_periods add column if not exists probe varchar")
    con.execute(TOTALS_DDL)
    con.execute("create sequence if not exists ops.report_pack_seq")


def _upgrade_manifests(con, columns: set[str]) -> None:
    """The v1.1 record (and the one before revisions) as rows of the period layout's table."""
    con.execute("begin transaction")
    con.execute("alter table ops.report_manifests rename to report_manifests_v11")
    con.execute(MANIFESTS_DDL)
    if "manifest_sha256" in columns:  # before revisions: one row per report and batch
        con.execute("""insert into ops.report_manifests by name
            select report, case report when 'finance_reconciliation' then 'finance' else 'ops' end as kind,
                   batch_id, 1 as revision, parse_dirpath(manifest_path) as directory, manifest_path,
                   manifest_sha256 as evidence_sha256, file_count, recorded_at as written_at
            from ops.report_manifests_v11""")
    else:
        con.execute("insert into ops.report_manifests by name select * from ops.report_manifests_v11")
    con.execute("drop table ops.report_manifests_v11")
    con.execute("commit")


def period_bounds(period: str) -> tuple[date, date]:
    """The first day of a period and the first day after it."""
    start = date(int(period[:4]), int(period[5:7]), 1)
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, end


def closes_at(period: str, close_days: int) -> datetime:
    """When a period closes: `close_days` whole days after its last day."""
    return datetime.combine(period_bounds(period)[1] + timedelta(days=close_days), datetime.min.time(), UTC)


@dataclass(frozen=True)
class Kind:
    """A kind of period pack: how to fingerprint a period's rows and how to write its files."""

    name: str  # the folder under reports/: finance, focus
    report: str  # the evidence manifest's name: <report>.evidence.json
    # select period ('YYYY-MM'), row_count, content_hash: one row per period that has rows among the
    # days [$first, $end)
    fingerprint_sql: str
    write: Callable  # write(con, period, directory) -> the files written under directory
    # per organization_id, charge_date, usage_unit, currency of the period [$start, $end): quantity,
    # rated_amount (usage), ledger_amount (the ledger's): what changes.csv compares
    totals_sql: str
    # select period, probe (varchar): a cheap summary of each period's rows that changes whenever
    # their content may have (module docstring); None: every period is fingerprinted on every run
    probe_sql: str | None = None


@dataclass(frozen=True)
class PeriodPack:
    period: str
    pack: str  # draft, r1, r2, ...
    directory: Path
    manifest: Path
    files: list[Path]
    action: str  # draft (written or replaced), closed (r1), revision (r2, ...)


@dataclass
class PeriodRun:
    """What a run did for one kind: the packs it wrote, the periods it left unchanged, those it closed."""

    kind: str
    batch_id: str
    written: list[PeriodPack] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)


def kind_dir(settings: Settings, kind: str) -> Path:
    return settings.reports_dir / kind


def latest_pack(folder: Path) -> str | None:
    """The period folder's newest pack: its highest revision, else its draft, else None."""
    if not folder.is_dir():
        return None
    revisions = [int(m.group(1)) for p in folder.iterdir() if (m := REVISION_RE.match(p.name)) and p.is_dir()]
    if revisions:
        return f"r{max(revisions)}"
    return "draft" if (folder / "draft").is_dir() else None


def content_files(manifest: Path) -> dict[str, str]:
    """A pack's content, its files but a revision's changes.csv, path to sha256 (its evidence manifest)."""
    return _files(manifest, content_only=True)


def content_sha256(manifest: Path) -> str:
    """One hash of a pack's content (content_files): what a replay compares with the record, whatever
    newest batch or revision the evidence manifest names, and after a draft was replaced."""
    lines = "".join(f"{path}\t{sha}\n" for path, sha in sorted(content_files(manifest).items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _files(manifest: Path, content_only: bool = False) -> dict[str, str]:
    """A pack's files, path to sha256, as its evidence manifest lists them; with `content_only`, not
    the changes.csv of a revision (what a revision changed is not the period's content)."""
    try:
        files = {f["path"]: f["sha256"] for f in json.loads(manifest.read_text())["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {p: h for p, h in files.items() if not (content_only and p == CHANGES)}


def _clear_staging(folder: Path) -> None:
    """Folders a run that died left beside the packs (they start with a dot)."""
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith("."):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def write_periods(con, settings: Settings, kind: Kind) -> PeriodRun | None:
    """The packs of `kind` for every period whose content, code or configuration changed, and the
    closing of periods whose time came; None when no batch is loaded yet."""
    batch_id, as_of = newest_batch(con)
    if batch_id is None:
        return None
    ensure_record(con)
    load_seq = first(con.execute("select load_seq from ops.ingested_batches where batch_id = ?", [batch_id]))[0]
    code, config = code_fingerprint(settings, engine=False), config_sha256()
    state = {r[0]: r[1:] for r in con.execute(
        "select period, pack, row_count, content_hash, code_fingerprint, config_sha256, probe from ops.report_periods "
        "where kind = ?", [kind.name]).fetchall()}
    if kind.probe_sql:
        probes = dict(con.execute(kind.probe_sql).fetchall())
        periods = probes.keys() | state.keys()
    else:
        probes, now = {}, fingerprints(con, kind, None)
        periods = now.keys() | state.keys()
    latest = {p: latest_pack(kind_dir(settings, kind.name) / p) for p in periods}

    def probed_same(period: str) -> bool:
        seen = state.get(period)
        return bool(kind.probe_sql and seen and latest[period] == seen[0] and seen[5] is not None
                    and (seen[3], seen[4], seen[5]) == (code, config, probes.get(period, "")))

    looked_at = sorted(p for p in periods if not probed_same(p))
    if kind.probe_sql:
        now = fingerprints(con, kind, looked_at) if looked_at else {}
    run = PeriodRun(kind.name, batch_id)
    for period in sorted(periods):
        folder, pack_now = kind_dir(settings, kind.name) / period, latest[period]
        _clear_staging(folder)
        # a period with a revision stays closed (a longer ANALYTICS_PERIOD_CLOSE_DAYS set later
        # never makes a draft beside a signed pack)
        closed = as_of >= closes_at(period, settings.period_close_days) or pack_now not in (None, "draft")
        seen = state.get(period)
        probe = probes.get(period, "") if kind.probe_sql else None
        if period not in looked_at:
            _close_or_keep(con, settings, kind, run, period, folder, pack_now, closed, batch_id, load_seq, code, config)
            continue
        rows, content = now.get(period, (0, 0))
        if seen and pack_now == seen[0] and (seen[1], seen[2], seen[3], seen[4]) == (rows, content, code, config):
            con.execute("update ops.report_periods set probe = ? where kind = ? and period = ?",
                        [probe, kind.name, period])
            _close_or_keep(con, settings, kind, run, period, folder, pack_now, closed, batch_id, load_seq, code, config)
            continue
        staging = folder / f".staging.{os.getpid()}.tmp"
        staging.mkdir(parents=True)
        try:
            files = kind.write(con, period, staging)
            manifest = write_evidence(con, staging, kind.report, files, batch_id, as_of, period)
            if pack_now and _files(manifest) == _files(folder / pack_now / manifest.name, content_only=True):
                shutil.rmtree(staging)
                _remember(con, settings, kind, period, pack_now, folder / pack_now, rows, content, code, config, batch_id,
                          load_seq, probe)
                _record_if_missing(con, settings, kind, period, pack_now, folder / pack_now, batch_id, code, config)
                _close_or_keep(con, settings, kind, run, period, folder, pack_now, closed, batch_id, load_seq, code,
                               config)
                continue
            if not closed:
                pack, action = "draft", "draft"
            elif pack_now in (None, "draft"):
                pack, action = "r1", "closed"
            else:
                pack, action = f"r{int(pack_now[1:]) + 1}", "revision"
                files.append(write_changes(con, kind, period_bounds(period), staging))
                manifest = write_evidence(con, staging, kind.report, files, batch_id, as_of, period)
            put_in_place(staging, folder / pack)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if action == "closed" and pack_now == "draft":
            shutil.rmtree(folder / "draft", ignore_errors=True)
        directory = folder / pack
        save_totals(con, kind, period, period_bounds(period))
        _remember(con, settings, kind, period, pack, directory, rows, content, code, config, batch_id, load_seq,
                  probe)
        _record(con, settings, kind, period, pack, directory, batch_id, code, config)
        run.written.append(PeriodPack(period, pack, directory, directory / manifest.name,
                                      [directory / f.relative_to(staging) for f in files], action))
        if action == "closed":
            run.closed.append(period)
    return run


def fingerprints(con, kind: Kind, periods: list[str] | None) -> dict[str, tuple[int, int]]:
    """Per period of `periods` (None: every period) that has rows: its row count and hash sum, one
    aggregate over the days from the first period's to the last's (DuckDB skips the row groups
    outside them)."""
    first_day, end = (period_bounds(periods[0])[0], period_bounds(periods[-1])[1]) if periods else \
        (date(1, 1, 1), date(9999, 12, 31))
    rows = con.execute(kind.fingerprint_sql, {"first": first_day, "end": end}).fetchall()
    return {p: (n, h) for p, n, h in rows if periods is None or p in periods}


def put_in_place(staging: Path, target: Path) -> None:
    """The staging folder as `target`, renamed whole: a draft is replaced, a revision never."""
    if target.exists() and target.name != "draft":
        raise FileExistsError(f"{target} exists: a revision is never rewritten")
    replace_folder(staging, target)


def _close_or_keep(con, settings, kind, run, period, folder, latest, closed, batch_id, load_seq, code, config):
    """An unchanged period: its draft becomes r1 when the period has closed, renamed (the same bytes)."""
    if not (closed and latest == "draft"):
        run.unchanged.append(period)
        return
    os.rename(folder / "draft", folder / "r1")
    directory = folder / "r1"
    # r1 is current from this load on: what moves the period later is counted from here
    con.execute("update ops.report_periods set pack = 'r1', directory = ?, batch_id = ?, load_seq = ? "
                "where kind = ? and period = ?",
                [str(directory.relative_to(settings.data_dir)), batch_id, load_seq, kind.name, period])
    _record(con, settings, kind, period, "r1", directory, batch_id, code, config)
    files = [directory / p for p in _files(directory / f"{kind.report}.evidence.json")]
    run.written.append(PeriodPack(period, "r1", directory, directory / f"{kind.report}.evidence.json", files,
                                  "closed"))
    run.closed.append(period)


def _pack_batch(directory: Path, kind: Kind, default: str) -> str:
    """The newest batch a pack reflects, as its evidence manifest says."""
    try:
        return json.loads((directory / f"{kind.report}.evidence.json").read_text())["newest_batch_id"]
    except (OSError, ValueError, KeyError):
        return default


def _remember(con, settings, kind, period, pack, directory, rows, content, code, config, batch_id, load_seq,
              probe) -> None:
    """The period's latest pack (its directory under the data directory) and what it was made from:
    the next run compares with these."""
    con.execute("insert or replace into ops.report_periods by name select ? as kind, ? as period, ? as pack, "
                "? as directory, ? as row_count, ? as content_hash, ? as code_fingerprint, ? as config_sha256, "
                "? as batch_id, ? as load_seq, ? as probe",
                [kind.name, period, pack, str(directory.relative_to(settings.data_dir)), rows, content, code,
                 config, batch_id, load_seq, probe])


def _record(con, settings, kind, period, pack, directory: Path, batch_id, code, config) -> None:
    manifest = directory / f"{kind.report}.evidence.json"
    revision = int(pack[1:]) if pack != "draft" else None
    con.execute(
        "insert into ops.report_manifests by name select ? as report, ? as kind, ? as period, ? as pack, "
        "? as batch_id, ? as revision, ? as directory, ? as manifest_path, ? as evidence_sha256, "
        "? as file_count, ? as written_at, ? as code_fingerprint, ? as config_sha256, "
        "nextval('ops.report_pack_seq') as pack_seq, ? as content_sha256",
        [kind.report, kind.name, period, pack, batch_id, revision, str(directory.relative_to(settings.data_dir)),
         str(manifest.relative_to(settings.data_dir)), sha256_file(manifest),
         len(_files(manifest)), datetime.now(UTC), code, config, content_sha256(manifest)])


def _record_if_missing(con, settings, kind, period, pack, directory: Path, batch_id, code, config) -> None:
    """A pack on disk that the record lacks (its run died between the rename and the record)."""
    manifest = directory / f"{kind.report}.evidence.json"
    if not manifest.is_file():
        return
    known = first(con.execute(
        "select count(*) from ops.report_manifests where kind = ? and period = ? and pack = ? "
        "and evidence_sha256 = ?", [kind.name, period, pack, sha256_file(manifest)]))[0]
    if not known:
        _record(con, settings, kind, period, pack, directory, _pack_batch(directory, kind, batch_id), code, config)


def periods_metadata(run: PeriodRun) -> dict:
    """What a Dagster report asset shows: the periods written (and as what), unchanged and closed."""
    return {
        "as_of_batch_id": run.batch_id,
        "periods_written": [f"{p.period} {p.pack}" for p in run.written],
        "periods_unchanged": run.unchanged,
        "periods_closed": run.closed,
        "directories": [str(p.directory) for p in run.written],
    }
