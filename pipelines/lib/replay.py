"""As-of replay: the warehouse and report packs as a run built them when a given batch was the newest
loaded, rebuilt from the lake alone into a folder of their own.

The lake keeps every loaded row of every batch (pipelines/lib/lake.py) and, under lake/_sources/ops/,
the ingestion record as of the last build (pipelines/lib/engine_sources.py): in which order the
batches loaded (ops.ingested_batches.load_seq, the load sequence, never a clock), which rows were
quarantined and by which load released, which files hold what. The state as of batch B:
- the batches loaded up to and including B, in the order they loaded: a batch delivered late under
  an older id counts from when it loaded, not from its id;
- their lake files, less the rows released from quarantine after B loaded (a release rewrites its
  batch's files with the released rows added: they are taken out again), the quarantine as it
  stood then (a row released later is still quarantined), the touched days recorded by then;
- the configuration in force now (pipelines/config) and the code of this checkout.
From it the replay runs what the main job runs after ingestion (the operations configuration, dbt
build, the report packs, the publish copy) with DIR as its data directory: DIR/warehouse/
analytics.duckdb, DIR/reports/<kind>/<YYYY-MM>/… (every period once, open or closed as the run
of that load saw it). The source's lake, warehouse and reports are only read.

Each period pack is compared with the source's pack of the same kind and period that was current
then (the latest the record shows written by a run whose newest batch had loaded by then): the same
files (sha256), or the reasons they differ.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

import polars as pl

from models import TABLES
from pipelines.lib import lake
from pipelines.lib.build_state import code_fingerprint
from pipelines.lib.config import PROJECT_ROOT, Settings
from pipelines.lib.duck import connect, first
from pipelines.lib.ingest.manifest import BATCH_ID_RE
from pipelines.lib.publish import writer_lock
from pipelines.lib.replay_record import RUNS, PackCheck, ReplayError, compare_pack, record_views

MARKER = "replay.json"
DBT_DIR = PROJECT_ROOT / "dbt_project"


@dataclass
class Replay:
    as_of: str
    cutoff: int  # the batch's number in the load sequence
    release_cutoff: int  # loads up to here are in the state: the last of its run if it loaded last in it
    batches: list[str]  # loaded by then, in load order
    loaded_at: str  # when the batch loaded, by the loading machine's clock: for people
    code_fingerprint: str
    data_dir: str
    reports: bool = True
    complete: bool = True
    packs: list[PackCheck] = field(default_factory=list)

    def settings(self, source: Settings) -> Settings:
        """The replay's folder as a data directory, with the source's limits (memory, threads)."""
        return replace(source, exports_dir=Path(self.data_dir) / "exports", data_dir=Path(self.data_dir))


def state_as_of(con, batch_id: str) -> tuple[int, int, list[str], datetime]:
    """(`batch_id`'s number in the load sequence, the last load whose releases count, the batches
    loaded by then in load order, when it loaded), from the src_ views. A run releases quarantined
    rows after it has loaded its batches: the state a run left with `batch_id` its last load holds
    its releases; a release by a later run, or by the same run after a later batch, does not. The
    order is the load sequence's, never the loading machines' clocks."""
    row = first(con.execute("select load_seq, loaded_at from src_ingested_batches "
                            "where batch_id = ? and status = 'loaded'", [batch_id]))
    if row is None:
        loaded = [b for (b,) in con.execute(
            "select batch_id from src_ingested_batches where status = 'loaded' order by load_seq, batch_id").fetchall()]
        raise ReplayError(f"batch {batch_id!r} was never loaded; loaded batches, in load order: "
                          + (", ".join(loaded) or "none"))
    seq, loaded_at = row
    batches = [b for (b,) in con.execute(
        "select batch_id from src_ingested_batches where status = 'loaded' and load_seq <= ? "
        "order by load_seq, batch_id", [seq]).fetchall()]
    run_end = first(con.execute(
        f"""select r.last_seq from src_{RUNS} r
            where r.first_seq <= $1 and r.last_seq >= $1 and not exists (
                select 1 from src_ingested_batches b where b.status = 'loaded'
                and b.load_seq > $1 and b.load_seq <= r.last_seq)""", [seq]))
    return seq, run_end[0] if run_end else seq, batches, loaded_at


def default_out(source: Settings, batch_id: str) -> Path:
    """Where a replay goes when no folder is named: <data>/replays/as-of-<batch id>."""
    return source.data_dir / "replays" / f"as-of-{_checked_batch_id(batch_id)}"


def _checked_batch_id(batch_id: str) -> str:
    if not BATCH_ID_RE.match(batch_id or ""):
        raise ReplayError(f"{batch_id!r} is not a batch id (YYYYMMDDTHHMMSSZ-NNNNNN)")
    return batch_id


def checked_folder(out: Path, source: Settings, what: str, reusable) -> Path:
    """A folder a replay or a diff (`what`) may write: never the data directory, a folder holding
    it, or one inside its lake, warehouse, reports or exports; not a file; empty, or one whose
    contents `reusable(folder)` recognises as its own earlier output."""
    out = out.resolve()
    src = source.data_dir.resolve()
    if out == src or src.is_relative_to(out):
        raise ReplayError(f"{out}: the {what} would write into the data directory it reads")
    for inside in (source.lake_dir, source.warehouse_dir, source.reports_dir, source.exports_dir):
        if out.is_relative_to(inside.resolve()):
            raise ReplayError(f"{out} is inside {inside}: choose a folder of its own")
    if out.exists() and not out.is_dir():
        raise ReplayError(f"{out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not reusable(out):
        raise ReplayError(f"{out} is not empty and holds no earlier {what}: choose an empty folder")
    return out


def _checked_out_dir(out: Path, source: Settings) -> Path:
    return checked_folder(out, source, "replay", _holds_a_replay)


# What a replay writes into its folder: an earlier replay's folder holds these and nothing else
REPLAY_ENTRIES = {MARKER, "dbt-target", "exports", "lake", "logs", "warehouse", "reports", "spark", ".writer.lock"}


def _holds_a_replay(out: Path) -> bool:
    """Whether `out` is an earlier replay's folder (then a replay may empty it): its marker names a
    batch, and it holds nothing a replay does not write. A file merely named replay.json is not."""
    try:
        marker = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or not BATCH_ID_RE.match(str(marker.get("as_of", ""))):
        return False
    return all(p.name in REPLAY_ENTRIES or (p.name.startswith(".") and p.name.endswith(".tmp")) for p in out.iterdir())


def _copy_ops_record(con, cutoff: int, release_cutoff: int) -> None:
    """The source's record as it stood: the batches loaded by load `cutoff`, what the runs recorded up
    to load `release_cutoff` (releases, the days they touched); a row released later is quarantined
    again."""
    con.execute("create temp table asof_batches as select batch_id from src_ingested_batches "
                "where status = 'loaded' and load_seq <= ?", [cutoff])
    con.execute("create temp table released_later as select batch_id, table_name, row_number from src_quarantine "
                "where released_seq > ? and batch_id in (select batch_id from asof_batches)", [release_cutoff])
    con.execute(f"insert into ops.{RUNS} by name select * from src_{RUNS} where last_seq <= ?", [release_cutoff])
    mine = "where batch_id in (select batch_id from asof_batches)"
    con.execute(f"insert into ops.ingested_batches by name select * from src_ingested_batches {mine}")
    con.execute(f"insert into ops.duplicate_rows by name select * from src_duplicate_rows {mine}")
    con.execute(f"insert into ops.ingested_files by name select * from src_ingested_files {mine}")
    con.execute(f"insert into ops.touched_dates by name select * from src_touched_dates {mine} and load_seq <= ?",
                [release_cutoff])
    con.execute(f"""insert into ops.quarantine by name
        select * replace (case when released_seq <= $1 then released_at end as released_at,
                          case when released_seq <= $1 then released_seq end as released_seq)
        from src_quarantine {mine}""", [release_cutoff])
    con.execute("""update ops.ingested_files f set
        rows_loaded = rows_loaded - (select count(*) from released_later r
                                     where r.batch_id = f.batch_id and r.table_name = f.table_name),
        rows_quarantined = (select count(*) from ops.quarantine q where q.batch_id = f.batch_id
                            and q.table_name = f.table_name and q.released_at is null)""")


def _copy_lake(con, source: Settings, target: Settings) -> int:
    """The batches' lake files into the replay's lake, each checked against its record; rows released
    after the cutoff taken out. Returns the number of files."""
    files = con.execute("""select path, table_name, batch_id, day, row_count, size_bytes, sha256, written_at
                           from src_lake_files where batch_id in (select batch_id from asof_batches)
                           order by path""").fetchall()
    later: dict[tuple[str, str], list[int]] = {}
    for b, t, n in con.execute("select batch_id, table_name, row_number from released_later").fetchall():
        later.setdefault((b, t), []).append(n)
    for path, table, batch_id, day, rows, size, sha, written in files:
        src = source.lake_dir / path
        if Path(path).is_absolute() or ".." in Path(path).parts or not src.is_file():
            raise ReplayError(f"lake file {path} of batch {batch_id} is missing: either the lake's record "
                              "(lake/_sources/ops, written before each build) is older than the lake, when a run "
                              "ended before its build (`make run` brings it up to date), or the lake is damaged "
                              "(`python -m pipelines verify`)")
        if lake.sha256_file(src) != sha:
            raise ReplayError(f"lake file {path} does not match its record (sha256): `python -m pipelines verify`")
        taken_out = later.get((batch_id, table))
        if not taken_out:
            lake.copy_file(src, target.lake_dir / path)
            record = (path, table, batch_id, day, rows, size, sha, written)
        else:
            frame = pl.read_parquet(src).filter(~pl.col(lake.ROW).is_in(taken_out))
            if frame.height == 0 and TABLES[table].kind == "event":
                continue  # a file of released rows only: it did not exist then
            f = lake.write_parquet(frame, target.lake_dir, path, table, batch_id, day)
            record = (f.path, table, batch_id, day, f.rows, f.size, f.sha256, written)
        con.execute("insert into ops.lake_files values (?, ?, ?, ?, ?, ?, ?, ?)", list(record))
    return len(files)


def _dbt_build(target: Settings) -> None:
    env = dict(os.environ, ANALYTICS_DATA_DIR=str(target.data_dir), ANALYTICS_BUILD_DB=str(target.build_db),
               ANALYTICS_ENGINE="duckdb", DO_NOT_TRACK="1")
    log_dir = target.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "build", "--exclude-resource-type", "unit_test",
         "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target-path", str(target.dbt_target_dir),
         "--log-path", str(log_dir)], env=env, capture_output=True, text=True)
    (log_dir / "dbt-build.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise ReplayError(f"dbt build failed in the replay (log: {log_dir / 'dbt-build.log'}):\n{result.stdout[-3000:]}")


def build_as_of(source: Settings, batch_id: str, out: Path, reports: bool = True) -> Replay:
    """The warehouse (and, with `reports`, the packs) as of `batch_id` in `out`; see the module."""
    from pipelines.lib.finance import FINANCE
    from pipelines.lib.focus import FOCUS
    from pipelines.lib.ingest import ensure_schema
    from pipelines.lib.ops_config import write_config_tables
    from pipelines.lib.ops_report import ops_report
    from pipelines.lib.periods import write_periods
    from pipelines.lib.publish import publish

    _checked_batch_id(batch_id)
    out = _checked_out_dir(Path(out), source)
    con = connect(settings=source)
    try:  # an unknown batch is refused before the folder is touched
        record_views(con, source)
        state_as_of(con, batch_id)
    finally:
        con.close()
    shutil.rmtree(out, ignore_errors=True)
    target = Settings(exports_dir=out / "exports", data_dir=out, duckdb_memory_limit=source.duckdb_memory_limit,
                      duckdb_threads=source.duckdb_threads, period_close_days=source.period_close_days)
    target.exports_dir.mkdir(parents=True)
    # marked from the start: a replay that fails half-way may be made again into the same folder
    (out / MARKER).write_text(json.dumps({"as_of": batch_id, "complete": False}) + "\n")
    con = connect(target.build_db, target)
    try:
        ensure_schema(con)
        with writer_lock(source, wait_seconds=600, note_holder=False):  # no run rewrites the lake meanwhile
            record_views(con, source)
            cutoff, release_cutoff, batches, loaded_at = state_as_of(con, batch_id)
            con.execute("begin transaction")
            _copy_ops_record(con, cutoff, release_cutoff)
            _copy_lake(con, source, target)
            con.execute("commit")
        write_config_tables(con)
    finally:
        con.close()
    _dbt_build(target)
    replay = Replay(batch_id, cutoff, release_cutoff, batches, loaded_at.isoformat(),
                    code_fingerprint(target, engine=False), str(out), reports)
    if reports:
        con = connect(target.build_db, target)
        try:
            runs = [(kind, write_periods(con, target, kind)) for kind in (FINANCE, FOCUS)]
            page = ops_report(con, target)
        finally:
            con.close()
        replay.packs = [compare_pack(source, kind.name, kind.report, pack.period, pack.directory, run.batch_id,
                                     cutoff, release_cutoff) for kind, run in runs if run for pack in run.written]
        if page:
            replay.packs.append(compare_pack(source, "ops", "ops_status", None, page.current, page.batch_id,
                                             cutoff, release_cutoff))
    publish(target)
    (out / MARKER).write_text(json.dumps(asdict(replay), indent=2) + "\n")
    return replay


def replay_as_of(source: Settings, batch_id: str, out: Path, reports: bool = True) -> tuple[Replay, bool]:
    """build_as_of, or the replay `out` already holds when it was made from the same inputs (the same
    batches, cutoff and code, and reports if asked): (the replay, whether it was reused)."""
    _checked_batch_id(batch_id)
    marker = Path(out) / MARKER
    try:
        done = json.loads(marker.read_text()) if marker.is_file() else {}
    except ValueError:
        done = {}
    if done.get("complete") and done.get("as_of") == batch_id and (done.get("reports") or not reports) \
            and done.get("code_fingerprint") == code_fingerprint(source, engine=False):
        con = connect(settings=source)
        try:
            record_views(con, source)
            cutoff, release_cutoff, batches, _ = state_as_of(con, batch_id)
        finally:
            con.close()
        if (done["cutoff"], done.get("release_cutoff"), done["batches"]) == (cutoff, release_cutoff, batches):
            packs = [PackCheck(**p) for p in done.pop("packs", [])]
            return Replay(**done, packs=packs), True
    return build_as_of(source, batch_id, out, reports), False


def summary(replay: Replay, reused: bool = False) -> str:
    """What a person reads after a replay: the state, the files, each pack's verdict."""
    out = Path(replay.data_dir)
    lines = [f"replay     as of {replay.as_of} (loaded {replay.loaded_at[:19].replace('T', ' ')} UTC, load {replay.cutoff}): "
             f"{len(replay.batches)} batch(es), in load order: {', '.join(replay.batches)}"
             + (" (the replay already here, made from the same inputs)" if reused else ""),
             f"warehouse  {out / 'warehouse' / 'analytics.duckdb'}"]
    for p in replay.packs:
        if p.identical:
            verdict = f"identical to {p.on_disk} (content sha256 equal)"
        elif p.identical is None:
            verdict = p.reasons[0]
        else:
            verdict = f"differs from {p.on_disk}" + (f" (equal to its revision {p.same_as_revision})"
                                                     if p.same_as_revision else "")
        lines.append(f"{p.kind:<10} {p.period or ''} {p.directory}: {verdict}")
        if p.identical is False:
            lines += [f"           - {r}" for r in p.reasons]
    return "\n".join(lines)
