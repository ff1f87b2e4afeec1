"""Command line: `python -m pipelines run|dev|verify|reingest|replay|diff|sql`.

`run` is what `make run` calls: it prepares DAGSTER_HOME (telemetry off) and launches the main job
through Dagster, so the run is recorded in the instance and shows in the UI later.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from pipelines.lib.config import PROJECT_ROOT, Settings
from pipelines.lib.duck import first

DAGSTER_YAML = """\
# Written by `python -m pipelines run`. Telemetry off; one run writes the warehouse at a time.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
# a run whose worker died (killed, out of memory) is marked failed instead of "started" forever
run_monitoring:
  enabled: true
  start_timeout_seconds: 300
"""


def prepare_dagster_home(settings: Settings) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(prepare_dagster_home(settings)),
        ANALYTICS_DATA_DIR=str(settings.data_dir),
        ANALYTICS_EXPORTS_DIR=str(settings.exports_dir),
        ANALYTICS_BUILD_DB=str(settings.build_db),  # dbt's profile: the same file, by a path DuckDB can open
        DO_NOT_TRACK="1",
        DAGSTER_DISABLE_TELEMETRY="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
    )
    return env


LAUNCHER_TAG = "pipelines/launcher_pid"


def fail_abandoned_runs(instance) -> int:
    """Runs started by this command whose process is gone (killed) stay "started" in the instance:
    mark them failed, so the UI tells the truth. Runs of living processes are left alone."""
    import dagster as dg

    count = 0
    active = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    for run in instance.get_runs(active):
        pid = int(run.tags.get(LAUNCHER_TAG, "0") or 0)
        if pid and not _alive(pid):
            instance.report_run_failed(run, f"its process ({pid}) ended without finishing it: killed")
            count += 1
    return count


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_main_job(settings: Settings, rebuild: bool = False, verbose: bool = False,
                 rebuild_config: dict | None = None) -> int:
    """The main job, in this process (its executor is in-process anyway): one Python start-up and
    one load of the definitions, recorded in the instance under DAGSTER_HOME like any run.

    The screen gets a line per stage, a progress bar on a terminal, and a summary
    (pipelines/lib/screen.py); Dagster's and dbt's full output goes to logs/run-<time>.log under
    the data directory, or, with `verbose`, to the screen as it comes.

    `rebuild_config` is the dbt step's RebuildConfig (a full refresh, a day range), as the UI's
    launchpad takes it.

    First, unless `rebuild` or a rebuild config: when nothing is new (pipelines/lib/noop.py), no
    run starts at all."""
    if (full := disk_full(settings)) is not None:
        print(full, file=sys.stderr)
        return 1
    try:
        if not rebuild and not rebuild_config and report_nothing_new(settings):
            return 0
        return launch_main_job(settings, rebuild, verbose, rebuild_config)
    except Exception as exc:
        if (full := disk_full(settings, exc)) is not None:  # SQLite says "disk I/O error", never why
            print(full, file=sys.stderr)
            return 1
        raise


# what SQLite (Dagster's run storage) and DuckDB say when the disk fills, without saying so
DISK_FULL_WORDS = ("disk i/o error", "database or disk is full", "no space left on device", "could not write")


def disk_full(settings: Settings, exc: BaseException | None = None) -> str | None:
    """A message that says the disk is full, when it is: before a run (less than
    ANALYTICS_MIN_FREE_BYTES free where the data directory lives), or after an error that a full
    disk explains (ENOSPC, or the words SQLite and DuckDB use for it, with the disk then short)."""
    import errno
    import shutil

    where = settings.data_dir if settings.data_dir.exists() else settings.data_dir.parent
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    short = free < settings.min_free_bytes
    if exc is None and not short:
        return None
    if exc is not None:
        text = f"{type(exc).__name__}: {exc}".lower()
        nospace = any(getattr(e, "errno", None) == errno.ENOSPC for e in (exc, exc.__cause__, exc.__context__))
        if not (nospace or (short and any(w in text for w in DISK_FULL_WORDS))):
            return None
    return (f"the disk holding {settings.data_dir} is full: {free:,} bytes free, the warehouse keeps "
            f"{settings.min_free_bytes:,} free (ANALYTICS_MIN_FREE_BYTES). Nothing was recorded for what did not "
            "finish; free space, then run again" + (f" (the error: {exc})" if exc is not None else ""))


def launch_main_job(settings: Settings, rebuild: bool = False, verbose: bool = False,
                    rebuild_config: dict | None = None) -> int:
    """The main job through Dagster (run_main_job, past its no-op shortcut)."""
    os.environ.update(child_env(settings))
    import dagster as dg

    from pipelines.defs.warehouse.project import dbt_project
    from pipelines.lib import screen

    tags = {LAUNCHER_TAG: str(os.getpid())}
    if rebuild:  # rebuild and republish even when nothing changed (see pipelines/lib/build_state.py)
        tags["analytics/rebuild"] = "true"
    log_path = None if verbose else _log_path(settings)
    with dg.DagsterInstance.get() as instance, (
            screen.RedirectedOutput(log_path) if log_path else contextlib.nullcontext()) as redirected:
        fail_abandoned_runs(instance)
        out = redirected.screen if redirected else sys.stdout
        if log_path:
            out.write(f"run log    {log_path}\n")
        from pipelines.definitions import main_job_def

        watcher = None
        if not verbose:
            watcher = screen.RunWatcher(instance, tags, out, out.isatty(), screen.dbt_node_count(dbt_project.manifest_path))
            watcher.start()
        try:
            run_config = {"ops": {"warehouse_dbt_models": {"config": rebuild_config}}} if rebuild_config else None
            result = dg.execute_job(dg.reconstructable(main_job_def), instance=instance, tags=tags,
                                    run_config=run_config, raise_on_error=False)
        finally:
            if watcher:
                watcher.stop.set()
                watcher.join()
        lines = screen.failure_lines(instance, result.run_id) if not result.success else []
        out.write("\n".join([*lines, screen.summary(instance, result.run_id, settings, log_path)]) + "\n")
        out.flush()
        if redirected:
            out.close()
    return 0 if result.success else 1


def report_nothing_new(settings: Settings) -> bool:
    """When nothing is new: print the published warehouse's summary, write it as this run's log
    (the one file written), and return True."""
    started = time.monotonic()
    from pipelines.lib.noop import nothing_new

    verdict = nothing_new(settings)
    if verdict is None:
        return False
    from pipelines.lib import screen

    log_path = _log_path(settings)
    text = screen.nothing_new_summary(settings, len(verdict.skipped), verdict.rejected, log_path,
                                      time.monotonic() - started) + "\n"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(text)
    sys.stdout.write(text)
    return True


def _log_path(settings: Settings) -> Path:
    return settings.data_dir / "logs" / f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"


def run_dev(settings: Settings, host: str, port: int) -> None:
    """The Dagster UI (webserver and daemon) for this project; Ctrl-C stops both.

    The process becomes `dg dev` itself (exec), with SIGINT and SIGTERM back at their defaults: a
    shell that starts it in the background leaves them ignored, and dg dev would not stop."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    dg = str(Path(sys.executable).with_name("dg"))
    env = child_env(settings)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    os.chdir(PROJECT_ROOT)
    os.execve(dg, [dg, "dev", "--host", host, "--port", str(port)], env)


def verify(settings: Settings) -> int:
    """`python -m pipelines verify`: the lake against the ingestion record, content hashes included
    (every run checks sizes and row counts only), and the control totals of the build warehouse."""
    from pipelines.lib.duck import connect
    from pipelines.lib.ingest import control_total_breaks, ensure_schema, lake_breaks
    from pipelines.lib.publish import writer_lock

    if not settings.build_db.exists():
        print(f"no warehouse under {settings.data_dir} yet: nothing to verify")
        return 0
    with writer_lock(settings, wait_seconds=600):  # the build file has one process at a time
        con = connect(settings.build_db, settings)
        try:
            ensure_schema(con)
            files = first(con.execute("select count(*), coalesce(sum(size_bytes), 0) from ops.lake_files"))
            breaks = lake_breaks(con, settings.lake_dir, content=True) + control_total_breaks(con)
        finally:
            con.close()
    for b in breaks:
        print(json.dumps(b, default=str))
    print(f"{files[0]} lake files ({files[1]:,} bytes) checked against the record: "
          + (f"{len(breaks)} break(s); recover with `python -m pipelines reingest "
             + " ".join(sorted({b["batch_id"] for b in breaks})) + "`" if breaks else "no break"))
    return 1 if breaks else 0


def reingest_batches(settings: Settings, batch_ids: list[str]) -> int:
    """`python -m pipelines reingest BATCH_ID ...`: see pipelines/lib/ingest/recover.py."""
    from pipelines.lib.duck import connect
    from pipelines.lib.ingest.recover import CannotReingest, forget_batches
    from pipelines.lib.publish import writer_lock

    with writer_lock(settings, wait_seconds=600):
        con = connect(settings.build_db, settings)
        try:
            removed = forget_batches(con, settings, batch_ids)
        except CannotReingest as exc:
            print(f"nothing forgotten: {exc}", file=sys.stderr)
            return 1
        finally:
            con.close()
    print(f"forgot {len(batch_ids)} batch(es) and removed {len(removed)} lake file(s); "
          "the next run (make run) loads them again from the exports")
    return 0


def replay_command(settings: Settings, batch_id: str, out: Path | None) -> int:
    """`python -m pipelines replay --as-of BATCH [--out DIR]`: see pipelines/lib/replay.py."""
    from pipelines.lib.replay import ReplayError, build_as_of, default_out, summary

    try:
        replay = build_as_of(settings, batch_id, out or default_out(settings, batch_id))
    except ReplayError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    print(summary(replay))
    return 0


def diff_command(settings: Settings, from_id: str, to_id: str, out: Path | None) -> int:
    """`python -m pipelines diff --from A --to B [--out DIR]`: see pipelines/lib/asof_diff.py."""
    from pipelines.lib.asof_diff import diff_as_of, summary
    from pipelines.lib.replay import ReplayError

    try:
        diff = diff_as_of(settings, from_id, to_id, out)
    except ReplayError as exc:
        print(f"diff: {exc}", file=sys.stderr)
        return 1
    print(summary(diff, from_id, to_id))
    return 0


# What a run creates inside the data directory (Settings): `clean` removes these and nothing else.
GENERATED = ("lake", "warehouse", "reports", "dagster", "dbt-target", "dbt-logs", "logs", "docs", "spark",
             "replays", ".writer.lock")


def clean(settings: Settings) -> int:
    """Remove what runs created inside the data directory (GENERATED) and, when its path breaks URLs,
    the warehouse and DAGSTER_HOME where they really live (config.url_safe), holding the writer
    lock; never the directory itself, the sample, or anything else. A link is removed, never
    followed (but url_safe's own)."""
    import hashlib
    import shutil

    from pipelines.lib.publish import WarehouseBusy, writer_lock

    data = settings.data_dir
    if not data.is_dir():
        print(f"clean: {data} does not exist: nothing to remove")
        return 0
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    removed = []
    try:
        with writer_lock(settings, note_holder=False):
            for name in GENERATED[:-1]:
                path = data / name
                real = state / "platform-warehouse" / hashlib.sha256(str(data).encode()).hexdigest()[:16] / name
                if path.is_symlink() and os.readlink(path) == str(real) and real.is_dir():
                    shutil.rmtree(real)  # url_safe's: the link names the very place it made
                    removed.append(str(real))
                if path.is_symlink() or path.is_file():
                    path.unlink()
                elif path.is_dir():
                    shutil.rmtree(path)
                else:
                    continue
                removed.append(str(path))
    except WarehouseBusy as exc:
        print(f"clean: {exc}", file=sys.stderr)
        return 1
    settings.lock_file.unlink(missing_ok=True)
    print("clean: removed " + (", ".join(removed) if removed else "nothing (no run has written here)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="ingest every new complete batch, rebuild, publish (through Dagster)")
    run.add_argument("--rebuild", action="store_true",
                     help="rebuild and publish even when nothing changed since the last publish")
    run.add_argument("--full-refresh", action="store_true",
                     help="rebuild every table from the lake (dbt --full-refresh): the upgrade step a release may ask for")
    run.add_argument("--rebuild-days", metavar="FROM:TO",
                     help="also rebuild these UTC days (YYYY-MM-DD:YYYY-MM-DD) of the incremental marts")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="show Dagster's and dbt's full output as it comes (by default it goes to a log file)")
    sub.add_parser("verify", help="check the lake against the ingestion record, every file's sha256 included, "
                                  "and the control totals (exit 1 on any break)")
    reingest = sub.add_parser("reingest", help="forget loaded batches (after checking the exports still hold them) "
                                               "so the next run loads them again: the recovery from a damaged lake")
    reingest.add_argument("batch_ids", nargs="+", metavar="BATCH_ID")
    replay = sub.add_parser("replay", help="rebuild, from the lake only, the warehouse and report packs as a run "
                                           "built them when a batch was the newest loaded, into a folder of its own")
    replay.add_argument("--as-of", required=True, metavar="BATCH_ID")
    replay.add_argument("--out", type=Path, metavar="DIR",
                        help="an empty folder (or an earlier replay's): DIR/warehouse/analytics.duckdb, DIR/reports/; "
                             "default <data>/replays/as-of-BATCH_ID")
    diff = sub.add_parser("diff", help="per organization and day, what changed between two as-of states and which "
                                       "late events, corrections and releases moved it (CSV and workbook)")
    diff.add_argument("--from", dest="from_id", required=True, metavar="BATCH_ID")
    diff.add_argument("--to", dest="to_id", required=True, metavar="BATCH_ID")
    diff.add_argument("--out", type=Path, metavar="DIR",
                      help="where the replays and the diff go (default <data>/replays/diff-<from>-<to>)")
    sub.add_parser("clean", help="remove what runs created inside the data directory (lake, warehouse, reports, "
                                 "Dagster's home, logs): nothing else")
    sql = sub.add_parser("sql", help="run a query on the published warehouse, read-only")
    sql.add_argument("query")
    dev = sub.add_parser("dev", help="the Dagster UI and daemon (Ctrl-C stops them)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "run":
        rebuild_config = {"full_refresh": True} if args.full_refresh else {}
        if args.rebuild_days:
            first_day, sep, last_day = args.rebuild_days.partition(":")
            if not sep:
                parser.error("--rebuild-days takes FROM:TO, e.g. 2026-11-01:2026-11-07")
            rebuild_config |= {"rebuild_from": first_day, "rebuild_to": last_day}
        return run_main_job(settings, rebuild=args.rebuild, verbose=args.verbose, rebuild_config=rebuild_config)
    if args.command == "verify":
        return verify(settings)
    if args.command == "reingest":
        return reingest_batches(settings, args.batch_ids)
    if args.command == "replay":
        return replay_command(settings, args.as_of, args.out)
    if args.command == "diff":
        return diff_command(settings, args.from_id, args.to_id, args.out)
    if args.command == "clean":
        return clean(settings)
    if args.command == "sql":
        from pipelines.lib.duck import connect

        con = connect(settings.published_db, settings, read_only=True)
        con.sql(args.query).show(max_rows=200, max_width=200)
        return 0
    if args.command == "dev":
        run_dev(settings, args.host, args.port)
    return 2


if __name__ == "__main__":
    sys.exit(main())
