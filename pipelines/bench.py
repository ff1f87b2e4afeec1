"""`make bench`: speed and memory of the pipeline against a plain-DuckDB baseline on the same files.

Each measured step runs in its own child process, with the same DuckDB threads and memory limit;
the parent samples the resident memory of the child's whole process tree (dbt included) from
/proc. After every pipeline run a correctness guard checks the control totals and that the marts'
daily totals per organization and unit equal the generator's true totals: a fast wrong run fails.

    python -m pipelines.bench --events 1000000 [--days 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from pathlib import Path

from pipelines.lib import generator
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

def pipeline_env(exports: Path, data: Path, settings: Settings) -> dict:
    env = dict(os.environ, ANALYTICS_EXPORTS_DIR=str(exports), ANALYTICS_DATA_DIR=str(data),
               ANALYTICS_DUCKDB_MEMORY_LIMIT=settings.duckdb_memory_limit,
               ANALYTICS_DUCKDB_THREADS=str(settings.duckdb_threads))
    env.pop("DAGSTER_HOME", None)
    return env


def run_pipeline(exports: Path, data: Path, settings: Settings) -> dict:
    result = measure([sys.executable, "-m", "pipelines", "run"], pipeline_env(exports, data, settings))
    if result["returncode"] != 0:
        raise SystemExit(f"the pipeline failed:\n{result['output'][-4000:]}")
    # a run with nothing new starts no Dagster run at all (pipelines/lib/noop.py): no stages
    result["stages"] = {} if "no run started" in result["output"] else step_seconds(data)
    return result


BASELINE = r"""
import sys, time, duckdb
exports, out, memory, threads = sys.argv[1:5]
con = duckdb.connect()
con.execute(f"set TimeZone = 'UTC'; set memory_limit = '{memory}'; set threads = {threads}")
con.execute(f'''
create table typed as
select event_id, try_cast(outbox_seq as bigint) as outbox_seq, try_cast(occurred_at as timestamptz) as occurred_at,
       organization_id, project_id, api_key_id, model_id, usage_unit, try_cast(quantity as decimal(38, 9)) as quantity
from read_csv('{exports}/*/usage_events.csv.gz', all_varchar = true, header = true)
where regexp_full_match(event_id, '[A-Za-z0-9_.:-]{{1,64}}')
  and regexp_full_match(quantity, '[0-9]{{1,18}}(\.[0-9]{{1,9}})?')
''')
con.execute(f'''
copy (select *, occurred_at::date as event_date from typed
      qualify row_number() over (partition by event_id order by outbox_seq) = 1)
to '{out}/lake' (format parquet, partition_by (event_date), overwrite_or_ignore)
''')
rows = con.execute(f'''
create table daily as
select occurred_at::date as usage_date, organization_id, project_id, api_key_id, model_id, usage_unit,
       sum(quantity) as quantity, count(*) as events
from read_parquet('{out}/lake/*/*.parquet') group by all
''').fetchall()
print(con.execute("select count(*) from daily").fetchone()[0])
"""


def run_baseline(exports: Path, out: Path, settings: Settings) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    result = measure([sys.executable, "-c", BASELINE, str(exports), str(out), settings.duckdb_memory_limit,
                      str(settings.duckdb_threads)], dict(os.environ))
    if result["returncode"] != 0:
        raise SystemExit(f"the baseline failed:\n{result['output'][-4000:]}")
    return result


# ---------------------------------------------------------------- the correctness guard

def check_correctness(data: Path, truth_file: Path) -> None:
    import duckdb

    from pipelines.lib.ingest import control_total_breaks

    build = data / "warehouse" / "build" / "analytics.duckdb"
    con = duckdb.connect(str(build), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    breaks = control_total_breaks(con)
    got = {(str(d), o, u): (q, n, a) for d, o, u, q, n, a in con.execute(
        "select usage_date, organization_id, usage_unit, sum(quantity), sum(event_count), "
        "coalesce(sum(rated_amount), 0) from marts.usage_by_department_daily group by all").fetchall()}
    con.close()
    if breaks:
        raise SystemExit(f"control totals broken: {breaks[:5]}")
    truth = json.loads(truth_file.read_text())["totals"]
    want = {(t["usage_date"], t["organization_id"], t["usage_unit"]):
            (Decimal(t["quantity"]), t["event_count"], Decimal(t["rated_amount"])) for t in truth}
    if got != want:
        diff = [k for k in set(got) | set(want) if got.get(k) != want.get(k)][:5]
        raise SystemExit(f"the marts disagree with the generator's truth, e.g. {[(k, got.get(k), want.get(k)) for k in diff]}")


# ---------------------------------------------------------------- the bench

def scenario(per_day: int, days: int, seed: int) -> generator.Scenario:
    return generator.Scenario(organizations=50, projects_per_org=50, keys_per_project=2, models=20, days=days,
                    events_per_day=per_day, duplicate_rate=0.03, late_rate=0.03, correction_rate=0.01,
                    seed=seed, faults=False, usage_encoding=("csv", "gzip"))


def bench(events: int, days: int, out: Path, settings: Settings, seed: int = 20261101, noop: bool = True) -> dict:
    exports, stash, data = out / "exports", out / "stash", out / "data"
    params = {"events": events, "days": days, "seed": seed,
              "generator": hashlib.sha256(Path(generator.__file__).read_bytes()).hexdigest()}
    stamp = out / "exports.json"  # what the exports there were generated from
    reuse = stamp.exists() and json.loads(stamp.read_text()) == params and (out / "truth_full.json").exists()
    if reuse:  # the same generator, scenario and seed write the same bytes: keep them
        for held in stash.glob("*") if stash.exists() else []:  # a batch held back by a run cut short
            shutil.move(str(held), exports / held.name)
        for leftover in (stash, data, out / "baseline"):
            shutil.rmtree(leftover, ignore_errors=True)
    else:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    need = events * (400 if reuse else 600)  # exports, lake, two warehouse copies: ~600 bytes an event, measured at 1M
    if free < need:
        raise SystemExit(f"not enough disk: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed")
    t = time.monotonic()
    if not reuse:
        per_day = max(1, events // days)
        # the first days-1 batches of a scenario do not depend on its length: their truth is the
        # truth of the same scenario one day shorter
        # two independent generator runs, one per core; spawned, not forked: a fork of a process
        # whose polars or DuckDB threads hold a lock deadlocks
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs = [pool.submit(generator.generate, out / "first", scenario(per_day, days - 1, seed)),
                    pool.submit(generator.generate, exports, scenario(per_day, days, seed))]
            for run in runs:
                run.result()
        shutil.copy(out / "first" / "expected_totals.json", out / "truth_full.json")
        shutil.rmtree(out / "first")
        stamp.write_text(json.dumps(params))
    generated = time.monotonic() - t
    last = sorted(p for p in exports.iterdir() if p.is_dir())[-1]
    stash.mkdir()
    shutil.move(str(last), stash / last.name)
    full_events = events // days * (days - 1)

    results = {"events": events, "days": days, "generation_seconds": round(generated, 1), "exports_reused": reuse,
               "duckdb_memory_limit": settings.duckdb_memory_limit, "duckdb_threads": settings.duckdb_threads}

    def record(name: str, result: dict) -> None:
        """Keep a run's figures, on disk at once: a long bench cut short still leaves them."""
        result.pop("output", None)
        result["events"] = full_events if name in ("baseline", "full") else events // days
        results[name] = result
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    record("baseline", run_baseline(exports, out / "baseline", settings))
    record("full", run_pipeline(exports, data, settings))
    check_correctness(data, out / "truth_full.json")
    shutil.move(str(stash / last.name), exports / last.name)
    record("incremental", run_pipeline(exports, data, settings))
    check_correctness(data, exports / "expected_totals.json")
    if noop:
        record("noop", run_pipeline(exports, data, settings))
        check_correctness(data, exports / "expected_totals.json")
    return results


def render(results: dict) -> str:
    base = results["baseline"]
    lines = [f"{'run':<12} {'wall s':>8} {'peak MB':>9} {'events/s':>10} {'x time':>7} {'x mem':>6}  stages (s)"]
    for name in [n for n in ("baseline", "full", "incremental", "noop") if n in results]:
        r = results[name]
        rate = r["events"] / r["seconds"] if r["seconds"] else 0
        stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r.get("stages", {}).items()))
        lines.append(f"{name:<12} {r['seconds']:>8.1f} {r['peak_bytes'] / 2**20:>9.0f} {rate:>10.0f} "
                     f"{r['seconds'] / base['seconds']:>7.2f} {r['peak_bytes'] / max(base['peak_bytes'], 1):>6.2f}  {stages}")
    ingest = results["full"].get("stages", {}).get("ingest_and_lake")
    if ingest:
        lines.append(f"ingest-and-lake stage alone: {ingest:.1f} s = {ingest / base['seconds']:.2f} x the baseline")
    lines.append(f"incremental / full: {results['incremental']['seconds'] / results['full']['seconds']:.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench")
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 1_000_000)))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    out = args.out or settings.data_dir / "bench"
    results = bench(args.events, args.days, out, settings)
    print(render(results))
    print(f"\nwritten to {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
