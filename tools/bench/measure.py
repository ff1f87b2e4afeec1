"""Measuring a child process: wall time and the peak resident memory of its whole process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.lib.config import PROJECT_ROOT, Settings

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
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak, out = 0, []
    import threading

    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.2)
    reader.join()
    return {"seconds": time.monotonic() - start, "peak_bytes": peak, "returncode": proc.returncode,
            "output": "".join(out)}


def step_seconds(data: Path) -> dict[str, float]:
    """Per-stage wall time of the newest run recorded under the data directory's Dagster home, from
    its step statistics (the event log): the run's printed lines interleave dbt's and Dagster's
    output, so parsing them lost a step now and then."""
    import dagster as dg

    from pipelines.__main__ import prepare_dagster_home
    from pipelines.lib.screen import stage_seconds

    home = prepare_dagster_home(Settings(exports_dir=data, data_dir=data))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return stage_seconds(instance.get_run_step_stats(instance.get_runs(limit=1)[0].run_id))


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
    # a run with nothing new starts no Dagster run at all (pipelines/lib/noop.py): no stages
    result["stages"] = {} if "no run started" in result["output"] else step_seconds(data)
    return result


