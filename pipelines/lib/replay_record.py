"""What a replay compares (pipelines/lib/replay.py): the source's ingestion record read from its lake,
and each replayed pack against the pack the record shows current at the replayed load, with the
reasons they differ."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.lib.build_state import code_fingerprint
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect, first
from pipelines.lib.engine_sources import source_file

RECORD = ("ingested_batches", "ingested_files", "quarantine", "duplicate_rows", "touched_dates", "lake_files")
RUNS = "ingest_runs"  # not in a lake from before it was recorded: releases then count up to the batch's load


class ReplayError(Exception):
    """The replay cannot be made (an unknown batch, a damaged lake, an unsafe output folder)."""



@dataclass
class PackCheck:
    report: str
    kind: str
    batch_id: str
    directory: str  # the replay's pack
    on_disk: str | None  # the source's pack current then, if the record shows one
    identical: bool | None  # None: nothing on disk to compare with
    same_as_revision: int | None = None  # a later revision of the source's that holds the same files
    reasons: list[str] = field(default_factory=list)
    period: str | None = None



def quoted(text: str) -> str:
    return text.replace("'", "''")


def record_views(con, source: Settings) -> None:
    for table in RECORD:
        path = source_file(source, "ops", table)
        if not path.is_file():
            raise ReplayError(f"{source.lake_dir} holds no ingestion record ({path.relative_to(source.data_dir)}): "
                              "a run writes it; run the pipeline first")
        con.execute(f"create or replace temp view src_{table} as select * from read_parquet('{quoted(str(path))}')")
    if "load_seq" not in {c for (c,) in con.execute("select column_name from (describe src_ingested_batches)").fetchall()}:
        raise ReplayError(f"{source.lake_dir}'s ingestion record is from before the load sequence: a run "
                          "(`make run`) brings it up to date")
    runs = source_file(source, "ops", RUNS)
    con.execute(f"create or replace temp view src_{RUNS} as " + (
        f"select * from read_parquet('{quoted(str(runs))}')" if runs.is_file() else
        "select null::timestamptz as started_at, null::timestamptz as finished_at, null::bigint as first_seq, "
        "null::bigint as last_seq where false"))


def compare_pack(source: Settings, kind: str, report: str, period: str | None, directory: Path, batch_id: str,
                 cutoff: int, release_cutoff: int) -> PackCheck:
    """The replay's pack against the source's pack of that kind (and period) current as of the load
    `cutoff`: the last the record shows written by a run whose newest batch had loaded by then. Its
    content hash is in the record, so a draft replaced since is compared all the same."""
    from pipelines.lib.periods import content_files, content_sha256
    from pipelines.lib.reports import sha256_file

    manifest = directory / f"{report}.evidence.json"
    check = PackCheck(report, kind, batch_id, str(directory), None, None, period=period)
    then = _pack_then(source, kind, period, cutoff)
    if then is None:
        check.reasons.append(f"no {kind} pack{' of ' + period if period else ''} recorded by a run as of {batch_id}")
        return check
    name, folder, evidence_sha256, content, code, config = then
    theirs = source.data_dir / folder / manifest.name
    still = theirs.is_file() and sha256_file(theirs) == evidence_sha256
    check.on_disk = str(source.data_dir / folder) if still else f"the {kind} {name} of {folder} (replaced since)"
    if content is not None:
        check.identical = content_sha256(manifest) == content
    elif still:
        check.identical = content_files(manifest) == content_files(theirs)
    else:
        check.reasons.append(f"the {name} current then is no longer on disk and the record has no content hash")
        return check
    if check.identical:
        return check
    for later in sorted(theirs.parent.parent.glob("r*")) if period else []:
        number = later.name[1:]
        if number.isdigit() and content_files(later / manifest.name) == content_files(manifest):
            check.same_as_revision = int(number)
            break
    check.reasons = explain(source, batch_id, json.loads(manifest.read_text()),
                            json.loads(theirs.read_text()) if still else None, cutoff, release_cutoff, (code, config))
    return check


def _pack_then(source: Settings, kind: str, period: str | None, cutoff: int) -> tuple | None:
    """(pack, directory, evidence sha256, content sha256, code, configuration) of the source's pack of
    `kind` (and `period`) current at the load `cutoff`, from its published record."""
    if not source.published_db.exists():
        return None
    con = connect(settings=source)
    try:
        con.execute(f"attach '{quoted(str(source.published_db))}' as published (read_only)")
        has = first(con.execute("select count(*) from duckdb_columns() where database_name = 'published' and "
                                "table_name = 'report_manifests' and column_name = 'pack_seq'"))[0]
        if not has:
            return None
        return first(con.execute(
            "select m.pack, m.directory, m.evidence_sha256, m.content_sha256, m.code_fingerprint, m.config_sha256 "
            "from published.ops.report_manifests m join published.ops.ingested_batches b using (batch_id) "
            f"where m.kind = $kind {'and m.period = $period' if period else ''} and b.load_seq <= $cutoff "
            "order by m.pack_seq desc limit 1", {"kind": kind, "cutoff": cutoff, **({"period": period} if period else {})}))
    finally:
        con.close()


def explain(source: Settings, batch_id: str, mine: dict, theirs: dict | None, cutoff: int, release_cutoff: int,
            written: tuple | None) -> list[str]:
    """Why a replayed pack differs from the one written then: the inputs that differ, and what each is
    (`theirs`, its evidence manifest, None when that pack is no longer on disk)."""
    from pipelines.lib.config_files import config_sha256

    reasons = []
    if theirs is None:
        reasons.append("the pack written then was a draft, replaced since: its files cannot be compared one by one")
        theirs = {}
    in_mine = {b["batch_id"] for b in mine.get("input_batches", [])}
    in_theirs = {b["batch_id"] for b in theirs.get("input_batches", [])}
    if in_theirs - in_mine:
        reasons.append(f"the pack on disk also read {', '.join(sorted(in_theirs - in_mine))}, loaded after "
                       f"{batch_id} in the same run (a late batch counts from when it loaded)")
    if in_mine - in_theirs:
        reasons.append(f"the replay read {', '.join(sorted(in_mine - in_theirs))}, which the pack on disk did not")
    files_mine = {f["path"]: f["sha256"] for f in mine.get("files", [])}
    files_theirs = {f["path"]: f["sha256"] for f in theirs.get("files", [])}
    changed = sorted(p for p in files_mine.keys() | files_theirs.keys() if files_mine.get(p) != files_theirs.get(p))
    if changed:
        reasons.append(f"files that differ: {', '.join(changed)}")
    released = (0, None, None)
    con = connect(settings=source)
    try:
        record_views(con, source)
        released = con.execute(
            "select count(*), min(released_at), max(released_at) from src_quarantine where released_seq > ? "
            "and batch_id in (select batch_id from src_ingested_batches where status = 'loaded' and load_seq <= ?)",
            [release_cutoff, cutoff]).fetchall()[0]
    except Exception as exc:  # noqa: BLE001 - an explanation never fails the replay
        reasons.append(f"(the record could not be read: {exc})")
    finally:
        con.close()
    if released[0]:
        reasons.append(f"{released[0]} quarantined row(s) of these batches were released by a later run "
                       f"({released[1]:%Y-%m-%d %H:%M:%S} to {released[2]:%Y-%m-%d %H:%M:%S} UTC): the replay "
                       "keeps them quarantined, a pack written after the release holds them")
    if written is None or written[0] is None:
        reasons.append("the code and configuration that wrote the pack on disk are not recorded (a pack from "
                       "before records were kept): they may have changed since")
    else:
        if written[1] != config_sha256():
            reasons.append("the report configuration (pipelines/config) changed since the pack was written")
        if written[0] != code_fingerprint(source, engine=False):
            reasons.append("the code (dbt models, pipelines, configuration) changed since the pack was written")
    return reasons or ["no input differs that the record shows: the build is not reproducible here (a defect)"]
