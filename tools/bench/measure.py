"""Measuring a child process: wall time and the peak resident memory of its whole process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.lib.config import PROJECT_ROOT, Settings
from pipelines.lib.screen import stage_seconds

# ---------------------------------------------------------------- measuring a child process tree

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    tree, total, todo = _children(), 0, [pid]
    while todo:
        p = todo.pop()
        todo += tree.get(p, [])
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def measure(cmd: list[str], env: dict) -> dict:
    """Wall time, peak resident memory of the process tree, return code and output of `cmd`; and the
    tree's resident memory every 0.2 s, stamped with the epoch time (`samples`), to tell a stage's
    peak from the step windows Dagster records."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak, out, samples = 0, [], []
    import threading

    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        rss = tree_rss(proc.pid)
        samples.append((time.time(), rss))
        peak = max(peak, rss)
        time.sleep(0.2)
    reader.join()
    return {"seconds": time.monotonic() - start, "peak_bytes": peak, "returncode": proc.returncode,
            "output": "".join(out), "samples": samples}


def step_stats(data: Path) -> list:
    """The step statistics (the event log) of the newest run recorded under the data directory's
    Dagster home: the run's printed lines interleave dbt's and Dagster's output, so parsing them lost
    a step now and then."""
    import dagster as dg

    from pipelines.__main__ import prepare_dagster_home

    home = prepare_dagster_home(Settings(exports_dir=data, data_dir=data))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_run_step_stats(instance.get_runs(limit=1)[0].run_id)


def stage_peaks(stats, samples: list[tuple[float, int]]) -> dict[str, int]:
    """Per stage, the highest resident memory of the run's process tree sampled while one of its
    steps ran (the steps run one after another in the run's process: the in-process executor)."""
    from pipelines.lib.screen import stage_of

    peaks: dict[str, int] = {}
    for s in stats:
        if s.start_time is None or s.end_time is None:
            continue
        during = [rss for t, rss in samples if s.start_time <= t <= s.end_time]
        if during:
            stage = stage_of(s.step_key)
            peaks[stage] = max(peaks.get(stage, 0), *during)
    return peaks


# ---------------------------------------------------------------- the runs

def pipeline_env(exports: Path, data: Path, settings: Settings, engine: str = "duckdb") -> dict:
    env = dict(os.environ, ANALYTICS_EXPORTS_DIR=str(exports), ANALYTICS_DATA_DIR=str(data), ANALYTICS_ENGINE=engine,
               ANALYTICS_DUCKDB_MEMORY_LIMIT=settings.duckdb_memory_limit,
               ANALYTICS_DUCKDB_THREADS=str(settings.duckdb_threads),
               ANALYTICS_INGEST_CHUNK_ROWS=str(settings.ingest_chunk_rows))
    env.pop("DAGSTER_HOME", None)
    return env


def run_pipeline(exports: Path, data: Path, settings: Settings, engine: str = "duckdb") -> dict:
    result = measure([sys.executable, "-m", "pipelines", "run"], pipeline_env(exports, data, settings, engine))
    if result["returncode"] != 0:
        raise SystemExit(f"the pipeline failed:\n{result['output'][-4000:]}")
    samples = result.pop("samples")
    # a run with nothing new starts no Dagster run at all (pipelines/lib/noop.py): no stages
    stats = [] if "no run started" in result["output"] else step_stats(data)
    result["stages"] = stage_seconds(stats)
    result["stage_peak_bytes"] = stage_peaks(stats, samples)
    return result


