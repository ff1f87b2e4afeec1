"""What `python -m pipelines run` shows: one line per stage, a progress bar while a long stage runs
(on a terminal only), and a summary at the end. The run's full Dagster and dbt output goes to a
log file under the data directory (`-v` shows it live instead).

The lines come from the run's own event log in the Dagster instance, read while it runs: the same
record the UI shows, so what is printed is what was recorded.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.lib.duck import first

# Dagster step -> stage (the bench reports its times by the same stages)
STAGES = {
    "ingest_batches": "ingest_and_lake", "ops__ingested_files_control_totals": "ingest_and_lake",
    "ops_configuration": "dbt", "warehouse_dbt_models": "dbt", "dbt_docs": "dbt",
    "finance_reconciliation_report": "reports", "ops_status_report": "reports", "focus_export": "reports",
    "published_warehouse": "publish",
}
STAGE_TITLES = {"ingest_and_lake": "ingest", "dbt": "dbt", "reports": "reports", "publish": "publish",
                "checks": "checks"}
# the steps that get a line of their own as they end (the others are counted in their stage's time)
STEP_TITLES = {"ingest_batches": "ingest", "warehouse_dbt_models": "dbt build", "dbt_docs": "dbt docs",
               "finance_reconciliation_report": "finance pack", "ops_status_report": "ops page",
               "focus_export": "FOCUS export",
               "published_warehouse": "publish"}
NOTHING_NEW = "nothing new since the last publish"
# what the ingestion asset logs before each batch (pipelines/defs/ingest/assets.py)
BATCH_PROGRESS = re.compile(r"batch (?P<k>\d+) of (?P<n>\d+): (?P<batch>\S+)")


def stage_of(step_key: str) -> str:
    return STAGES.get(step_key, "checks")


@dataclass
class Progress:
    """What the watcher has seen of a run so far."""

    started: dict[str, float] = field(default_factory=dict)  # step -> start
    running: set[str] = field(default_factory=set)  # steps started, not ended
    nothing_new: bool = False
    batches: tuple[int, int] = (0, 0)
    batch_started: float | None = None
    dbt_done: int = 0


class RunWatcher(threading.Thread):
    """Follows a run in the instance's event log and prints its stages to `out`."""

    def __init__(self, instance, tags: dict, out, tty: bool, dbt_total: int):
        super().__init__(daemon=True, name="run-watcher")
        self.instance, self.tags, self.out, self.tty, self.dbt_total = instance, tags, out, tty, dbt_total
        self.progress = Progress()
        self.stop = threading.Event()
        self.run_id: str | None = None
        self._cursor = None
        self._bar: str | bool = False

    def run(self) -> None:
        import dagster as dg

        while not self.stop.is_set():
            self.poll(dg)
            self.stop.wait(0.5)
        self.poll(dg)
        self._clear_bar()

    def poll(self, dg) -> None:
        if self.run_id is None:
            runs = self.instance.get_runs(dg.RunsFilter(tags=self.tags), limit=1)
            if not runs:
                return
            self.run_id = runs[0].run_id
        while True:
            conn = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, limit=500)
            for record in conn.records:
                self.handle(record.event_log_entry)
            self._cursor = conn.cursor
            if not conn.has_more:
                break
        self.draw()

    def handle(self, entry) -> None:
        p, event = self.progress, entry.dagster_event
        if event is None:  # a log message of an asset
            message = entry.user_message or ""
            m = BATCH_PROGRESS.match(message)
            if m:
                p.batches = (int(m["k"]), int(m["n"]))
                p.batch_started = p.batch_started or entry.timestamp
            elif message.startswith(NOTHING_NEW) and not p.nothing_new:
                p.nothing_new = True
                self.line(f"{NOTHING_NEW}: the build, the reports and the publish step skip")
            return
        step, kind = event.step_key, event.event_type_value
        if step is None:
            return
        title = STEP_TITLES.get(step)
        if kind == "STEP_START":
            p.started[step] = entry.timestamp
            p.running.add(step)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            p.running.discard(step)
            if title:
                status = "failed" if kind == "STEP_FAILURE" else (
                    "skipped" if p.nothing_new and step != "ingest_batches" else "done")
                self.line(f"{title:<13} {status:<7}{entry.timestamp - p.started.get(step, entry.timestamp):>7.1f} s")
        elif step == "warehouse_dbt_models" and kind in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION",
                                                         "ASSET_OBSERVATION"):
            p.dbt_done += 1

    def line(self, text: str) -> None:
        self._clear_bar()
        self.out.write(text + "\n")
        self.out.flush()

    def draw(self) -> None:
        """The bar of the stage running now: terminals only (CI and cron get the lines alone)."""
        if not self.tty:
            return
        p = self.progress
        if "ingest_batches" in p.running and p.batches[1]:
            k, n = p.batches
            elapsed = max(time.time() - (p.batch_started or time.time()), 1e-6)
            text = f"{_bar(k - 1, n)} batch {k} of {n}, {(k - 1) / elapsed:.2f} batches/s"
        elif "warehouse_dbt_models" in p.running and self.dbt_total:
            text = f"{_bar(p.dbt_done, self.dbt_total)} dbt nodes {min(p.dbt_done, self.dbt_total)} of {self.dbt_total}"
        else:
            return
        if self._bar == text:
            return
        self.out.write("\r" + text[:100].ljust(100))
        self.out.flush()
        self._bar = text

    def _clear_bar(self) -> None:
        if self._bar:
            self.out.write("\r" + " " * 100 + "\r")
            self._bar = False


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = int(width * min(done, total) / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def dbt_node_count(manifest_path: Path) -> int:
    """The nodes `dbt build` reports on: models and tests."""
    import json

    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    return sum(1 for n in nodes if n["resource_type"] in ("model", "test", "seed", "snapshot"))


# ---------------------------------------------------------------- the summary


def summary(instance, run_id: str, settings, log_path: Path | None) -> str:
    """The end of a run in words: batches, rows, findings, where things are, time per stage."""
    lines = []
    meta = _ingest_metadata(instance, run_id)
    stats = instance.get_run_step_stats(run_id)
    failed = [s.step_key for s in stats if s.status.value == "FAILURE"]
    if meta:
        lines += _batch_lines(meta.get("batches_loaded", 0), meta.get("rejected") or {}, meta.get("batches_skipped", 0),
                              meta.get("conflicting_redeliveries", 0))
        lines += _rows(settings, meta.get("loaded") or [])
    lines += _findings(settings)
    if not failed:
        lines += _where(settings)
    times = stage_seconds(stats)
    if times:
        lines.append("time       " + ", ".join(f"{STAGE_TITLES[k]} {v:.1f} s" for k, v in times.items()))
    if log_path:
        lines.append(f"log        {log_path}")
    return "\n".join(lines)


def nothing_new_summary(settings, skipped: int, rejected: dict[str, str], log_path: Path, seconds: float) -> str:
    """The summary of a run that found nothing new before starting anything (pipelines/lib/noop.py)."""
    lines = [f"{NOTHING_NEW} (same batches, code and configuration): no run started; "
             "`python -m pipelines run --rebuild` rebuilds anyway"]
    lines += _batch_lines(0, {}, skipped, 0)
    lines += [f"  still rejected {batch} (unchanged since): {reason}" for batch, reason in rejected.items()]
    lines += _findings(settings) + _where(settings)
    lines += [f"time       {seconds:.1f} s", f"log        {log_path}"]
    return "\n".join(lines)


def _batch_lines(loaded: int, rejected: dict[str, str], skipped: int, conflicts: int) -> list[str]:
    lines = [f"batches    {loaded} loaded, {len(rejected)} rejected, {skipped} skipped"
             + (f", {conflicts} conflicting re-deliveries" if conflicts else "")]
    return lines + [f"  rejected {batch}: {reason}" for batch, reason in rejected.items()]


def _where(settings) -> list[str]:
    if not settings.published_db.exists():
        return []
    lines = [f"published  {settings.published_db}"]
    folder = _report_folder(settings)
    return lines + ([f"reports    {folder}"] if folder else [])


def stage_seconds(step_stats) -> dict[str, float]:
    """Wall time per stage of a run's finished steps (DagsterInstance.get_run_step_stats)."""
    times: dict[str, float] = {}
    for s in step_stats:
        if s.status.value in ("SUCCESS", "FAILURE") and s.start_time is not None and s.end_time is not None:
            times[stage_of(s.step_key)] = times.get(stage_of(s.step_key), 0.0) + s.end_time - s.start_time
    return times


def _ingest_metadata(instance, run_id: str) -> dict:
    import dagster as dg

    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        mat = record.event_log_entry.dagster_event.event_specific_data.materialization
        if mat.asset_key == dg.AssetKey(["ops", "ingested_batches"]):
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return {}


def _read(path: Path):
    con = duckdb.connect(str(path), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    return con


def _rows(settings, loaded: list[str]) -> list[str]:
    """Rows of the batches this run loaded, from the ingestion record."""
    if not loaded or not settings.build_db.exists():
        return []
    con = _read(settings.build_db)
    try:
        n_in, n_loaded, n_quarantined, n_duplicate = first(con.execute(
            "select coalesce(sum(rows_in_file), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0), "
            "coalesce(sum(rows_duplicate), 0) from ops.ingested_files where list_contains(?, batch_id)",
            [loaded]))
        reasons = con.execute(
            "select reason, count(*) from ops.quarantine where released_at is null and list_contains(?, batch_id) "
            "group by 1 order by 2 desc, 1", [loaded]).fetchall()
    finally:
        con.close()
    out = [f"rows       {n_in:,} read: {n_loaded:,} loaded, {n_quarantined:,} quarantined, {n_duplicate:,} duplicate"]
    if reasons:
        out.append("  quarantined by reason: " + ", ".join(f"{r} {n:,}" for r, n in reasons))
    return out


def _findings(settings) -> list[str]:
    """Findings of the published warehouse: reported, never a reason to withhold it."""
    if not settings.published_db.exists():
        return []
    con = _read(settings.published_db)
    try:
        def rows(sql):
            try:
                return con.execute(sql).fetchall()
            except duckdb.CatalogException:
                return []

        breaks = rows("select status, count(*) from marts.rpt_usage_ledger_reconciliation "
                      "where status <> 'matched' group by 1 order by 2 desc, 1")
        alerts = rows("select alert, count(*) from marts.rpt_slo_status where alert <> 'none' group by 1 order by 1")
        stale = rows("select table_name, status from marts.rpt_source_freshness where status <> 'fresh' order by 1")
        creds = rows("select rotation_status, count(*) from marts.rpt_credential_rotation "
                     "where rotation_status in ('expired', 'overdue', 'due_soon') group by 1 order by 1")
        audit = rows("select verified, rows_checked, missing_seqs, hash_mismatches, chain_breaks from marts.rpt_audit_chain")
    finally:
        con.close()
    out = ["findings in the published warehouse"]
    out.append("  reconciliation breaks: " + (", ".join(f"{s} {n:,}" for s, n in breaks) or "none"))
    out.append("  SLO alerts: " + (", ".join(f"{a} {n}" for a, n in alerts) or "none"))
    out.append("  sources not fresh: " + (", ".join(f"{t} ({s})" for t, s in stale) or "none"))
    out.append("  credentials: " + (", ".join(f"{s} {n}" for s, n in creds) or "none expired, overdue or due soon"))
    if audit:
        verified, checked, missing, mismatches, chain_breaks = audit[0]
        out.append(f"  audit chain: {'verified' if verified else 'NOT verified'} ({checked:,} rows; {missing} missing, "
                   f"{mismatches} hash mismatches, {chain_breaks} chain breaks)")
    return out


def _report_folder(settings) -> str | None:
    con = _read(settings.published_db)
    try:
        row = first(con.execute("select directory from ops.report_manifests where kind = 'finance' "
                                "order by pack_seq desc nulls last, batch_id desc, revision desc limit 1"))
    except (duckdb.CatalogException, duckdb.BinderException):  # no record yet, or one from before periods
        row = None
    finally:
        con.close()
    return str(settings.data_dir / row[0]) if row else None


def failure_lines(instance, run_id: str) -> list[str]:
    """Why a run failed, step by step: the first lines of each failed step's error."""
    import dagster as dg

    out = []
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        event = record.event_log_entry.dagster_event
        error = event.step_failure_data.error
        message = (error.cause.message if error and error.cause else error.message if error else "").strip()
        message = message.splitlines()[0][:2000] if message else "failed"
        # "dagster._core.definitions.events.Failure: why" -> "why"; "pkg.mod.MachineFault: why" -> "MachineFault: why"
        message = re.sub(r"^(?:[\w]+\.)*Failure: ", "", message)
        message = re.sub(r"^(?:[\w]+\.)+(\w+): ", r"\1: ", message)
        out.append(f"FAILED     {event.step_key}: {message}")
    return out


class RedirectedOutput:
    """The process's stdout and stderr (dbt's, a child, included) into `path` for the block; what
    the screen prints goes to `self.screen`, the terminal as it was."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._saved = (os.dup(1), os.dup(2))
        self.screen = os.fdopen(os.dup(self._saved[0]), "w", buffering=1)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        return False
