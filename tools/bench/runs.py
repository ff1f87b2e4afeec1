"""The benchmark's runs: full, incremental, no-op and hourly on DuckDB (and Spark), one file."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pipelines.lib.config import Settings
from tools import generator
from tools.bench.baseline import run_baseline, run_marts_baseline
from tools.bench.checks import (
    HOURLY_SEQ,
    check_added,
    check_control_totals,
    check_correctness,
    check_marts,
    hourly_batch,
    usage_totals,
)
from tools.bench.measure import run_pipeline


def generator_fingerprint() -> str:
    """The generator's code: exports made by the same code, scenario and seed are the same bytes."""
    digest = hashlib.sha256()
    for path in sorted(Path(generator.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def scenario(per_day: int, days: int, seed: int) -> generator.Scenario:
    return generator.Scenario(organizations=50, projects_per_org=50, keys_per_project=2, models=20, days=days,
                    events_per_day=per_day, duplicate_rate=0.03, late_rate=0.03, correction_rate=0.01,
                    seed=seed, faults=False, usage_encoding=("csv", "gzip"))


# What `make bench` writes under its folder (the bench, --one-file, --engine spark); nothing else
# there is its to remove: the year bench keeps out/year/
OWN_FILES = ("exports", "stash", "data", "first", "baseline", "marts_baseline", "one-file", "spark-data",
             "exports.json", "truth_full.json", "results.json")


def reset(out: Path) -> None:
    """Remove what this bench wrote under `out`, and only that: out/year/ (the year bench's exports
    and kept histories, half an hour to load again) stays."""
    for own in OWN_FILES:
        path = out / own
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def bench(events: int, days: int, out: Path, settings: Settings, seed: int = 20261101, noop: bool = True) -> dict:
    exports, stash, data = out / "exports", out / "stash", out / "data"
    params = {"events": events, "days": days, "seed": seed,
              "generator": generator_fingerprint()}
    stamp = out / "exports.json"  # what the exports there were generated from
    reuse = stamp.exists() and json.loads(stamp.read_text()) == params and (out / "truth_full.json").exists()
    if reuse:  # the same generator, scenario and seed write the same bytes: keep them
        for held in stash.glob("*") if stash.exists() else []:  # a batch held back by a run cut short
            shutil.move(str(held), exports / held.name)
        for leftover in (stash, data, out / "baseline", out / "marts_baseline",
                         *exports.glob(f"*-{HOURLY_SEQ:06d}")):  # a bench cut short
            shutil.rmtree(leftover, ignore_errors=True)
    else:
        reset(out)
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
        result["events"] = full_events if name in ("baseline", "marts_baseline", "full") else events // days
        results[name] = result
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    record("baseline", run_baseline(exports, out / "baseline", settings))
    record("marts_baseline", run_marts_baseline(exports, out / "marts_baseline", settings))
    check_marts(out / "marts_baseline" / "marts.duckdb", "usage_by_department_daily", out / "truth_full.json")
    record("full", run_pipeline(exports, data, settings))
    check_correctness(data, out / "truth_full.json")
    shutil.move(str(stash / last.name), exports / last.name)
    record("incremental", run_pipeline(exports, data, settings))
    check_correctness(data, exports / "expected_totals.json")
    if noop:
        record("noop", run_pipeline(exports, data, settings))
        check_correctness(data, exports / "expected_totals.json")
    hourly_events = max(1, events // days // 24)
    before = usage_totals(data)
    hourly, added = hourly_batch(exports, hourly_events)
    try:
        record("hourly", run_pipeline(exports, data, settings))
        results["hourly"]["events"] = hourly_events
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        check_control_totals(data)
        check_added(before, usage_totals(data), added)
    finally:
        shutil.rmtree(hourly)  # the exports stay the generator's, for the next bench
    return results


def bench_spark(events: int, days: int, out: Path, settings: Settings) -> dict:
    """`bench` (the baselines and the DuckDB runs), then the full and the one-day run on Spark
    (local PySpark, ANALYTICS_ENGINE=spark) over the same exports in a data directory of its own,
    each checked against the generator's truth like the DuckDB runs."""
    results = bench(events, days, out, settings, noop=False)
    exports, stash, data = out / "exports", out / "stash", out / "spark-data"
    shutil.rmtree(data, ignore_errors=True)
    last = sorted(p for p in exports.iterdir() if p.is_dir())[-1]
    stash.mkdir(exist_ok=True)
    shutil.move(str(last), stash / last.name)
    try:
        results["spark_full"] = run_pipeline(exports, data, settings, engine="spark")
        check_correctness(data, out / "truth_full.json")
    finally:
        shutil.move(str(stash / last.name), exports / last.name)
    results["spark_incremental"] = run_pipeline(exports, data, settings, engine="spark")
    check_correctness(data, exports / "expected_totals.json")
    for name in ("spark_full", "spark_incremental"):
        results[name].pop("output", None)
        results[name]["events"] = results["full" if name == "spark_full" else "incremental"]["events"]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def one_file(exports: Path, target: Path) -> Path:
    """The first days-1 batches of `exports` with all their usage delivered as one gzipped CSV file
    in the last of them (an exporter may deliver a day, or a backfill, that way); every other
    table stays in its batch, so the dimensions' history, and with it attribution and rating, is
    the same. Returns the exports root holding them."""
    import gzip

    from isal import igzip

    batches = sorted(p for p in exports.iterdir() if (p / "manifest.json").exists())[:-1]
    root = target / "exports"
    shutil.rmtree(target, ignore_errors=True)
    (root / batches[-1].name).mkdir(parents=True)
    rows = 0
    for n, batch in enumerate(batches):
        (root / batch.name).mkdir(parents=True, exist_ok=True)
        doc = json.loads((batch / "manifest.json").read_text())
        files = [f for f in doc["files"] if f["table"] != "usage_events"]
        for f in files:
            shutil.copy(batch / f["path"], root / batch.name / f["path"])
        with gzip.open(batch / "usage_events.csv.gz", "rb") as fh, \
                igzip.open(root / batches[-1].name / "usage_events.csv.gz", "ab", compresslevel=1) as out:
            header = fh.readline()
            if n == 0:
                out.write(header)
            for block in iter(lambda: fh.read(1 << 20), b""):
                out.write(block)
                rows += block.count(b"\n")
        if batch == batches[-1]:
            path = root / batch.name / "usage_events.csv.gz"
            files.append({"table": "usage_events", "path": path.name, "format": "csv", "compression": "gzip",
                          "row_count": rows, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
        (root / batch.name / "manifest.json").write_text(json.dumps({**doc, "files": files}, indent=2))
    return root


def bench_one_file(events: int, days: int, out: Path, settings: Settings) -> dict:
    """The full run and the baseline on `bench`'s exports delivered as one file (one_file)."""
    if not (out / "truth_full.json").exists():
        bench(events, days, out, settings)  # generates the exports (and measures the usual runs)
    # a bench cut short holds the last batch back: one_file takes all but the last of the whole set
    for held in (out / "stash").glob("*"):
        shutil.move(str(held), out / "exports" / held.name)
    exports = one_file(out / "exports", out / "one-file")
    results = {"events": events // days * (days - 1), "one_file": True,
               "duckdb_memory_limit": settings.duckdb_memory_limit, "duckdb_threads": settings.duckdb_threads,
               "ingest_chunk_rows": settings.ingest_chunk_rows}
    for name, run in (("baseline", lambda: run_baseline(exports, out / "one-file" / "baseline", settings)),
                      ("full", lambda: run_pipeline(exports, out / "one-file" / "data", settings))):
        result = run()
        result.pop("output", None)
        result["events"] = results["events"]
        results[name] = result
    check_correctness(out / "one-file" / "data", out / "truth_full.json")
    (out / "one-file" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


