"""`make bench`: speed and memory of the pipeline against two plain-DuckDB baselines on the same
files: `baseline` (read, type, deduplicate into a Parquet lake, one daily rollup) and
`marts_baseline` (the contract's usage marts in plain SQL: marts_baseline_sql), the latter checked
against the generator's truth like every pipeline run.

Each measured step runs in its own child process, with the same DuckDB threads and memory limit;
the parent samples the resident memory of the child's whole process tree (dbt included) from
/proc. After every pipeline run a correctness guard checks the control totals and that the marts'
daily totals per organization and unit equal the generator's true totals: a fast wrong run fails.

    python -m tools.bench --events 1000000 [--days 30] [--out DIR] [--engine spark]

With --engine spark (`make bench ENGINE=spark`), the full and the one-day run on Spark too.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, date, datetime
from pathlib import Path

from pipelines.lib.config import Settings
from tools.bench.runs import bench, bench_one_file, bench_spark


def render(results: dict) -> str:
    base = results["baseline"]
    lines = [f"{'run':<12} {'wall s':>8} {'peak MB':>9} {'events/s':>10} {'x time':>7} {'x mem':>6}  stages (s)"]
    for name in [n for n in ("baseline", "marts_baseline", "full", "incremental", "noop", "hourly", "spark_full",
                             "spark_incremental") if n in results]:
        r = results[name]
        rate = r["events"] / r["seconds"] if r["seconds"] else 0
        stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r.get("stages", {}).items()))
        lines.append(f"{name:<12} {r['seconds']:>8.1f} {r['peak_bytes'] / 2**20:>9.0f} {rate:>10.0f} "
                     f"{r['seconds'] / base['seconds']:>7.2f} {r['peak_bytes'] / max(base['peak_bytes'], 1):>6.2f}  {stages}")
    ingest = results["full"].get("stages", {}).get("ingest_and_lake")
    if ingest:
        lines.append(f"ingest-and-lake stage alone: {ingest:.1f} s = {ingest / base['seconds']:.2f} x the baseline")
    if "marts_baseline" in results:
        lines.append(f"full / the usage marts in plain DuckDB SQL: "
                     f"{results['full']['seconds'] / results['marts_baseline']['seconds']:.2f}x")
    lines.append(f"incremental / full: {results['incremental']['seconds'] / results['full']['seconds']:.0%}")
    if "spark_full" in results:
        lines.append(f"Spark / DuckDB: full {results['spark_full']['seconds'] / results['full']['seconds']:.2f}x, "
                     f"one-day {results['spark_incremental']['seconds'] / results['incremental']['seconds']:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench")
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 1_000_000)))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="spark: also the full and one-day runs on Spark, next to DuckDB's")
    parser.add_argument("--one-file", action="store_true",
                        help="the full run and the baseline on the same events delivered as one usage file")
    parser.add_argument("--year", action="store_true",
                        help="the steady-state bench: a year of daily batches, one day and one hour added at "
                             "month 1 and at month 12 (tools/bench/year.py)")
    parser.add_argument("--events-per-day", type=int, default=int(os.environ.get("BENCH_EVENTS_PER_DAY", 5_555)),
                        help="--year: usage events a day")
    parser.add_argument("--start", type=date.fromisoformat, default=None,
                        help="--year: the first day of the year of batches (YYYY-MM-DD; it must lie in the past)")
    parser.add_argument("--months", type=int, nargs="+", choices=(1, 12), default=(1, 12),
                        help="--year: measure only these (the other's figures in results.json are kept)")
    parser.add_argument("--prepare", action="store_true",
                        help="--year: load the histories (kept as month<N>-base/ for later rounds) and stop")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    out = args.out or settings.data_dir / "bench"
    if args.year:
        from tools.bench.year import START, bench_year, render_year

        start = datetime.combine(args.start, datetime.min.time(), UTC) if args.start else START
        results = bench_year(args.events_per_day, args.days if args.days != 30 else 360, out / "year", settings,
                             start, tuple(args.months), args.prepare)
        print(render_year(results))
        print(f"\nwritten to {out / 'year' / 'results.json'}")
        return 0
    if args.one_file:
        results = bench_one_file(args.events, args.days, out, settings)
        base, full = results["baseline"], results["full"]
        print(f"one file, {results['events']:,} events: baseline {base['seconds']:.1f} s {base['peak_bytes'] / 2**20:,.0f} MB; "
              f"full {full['seconds']:.1f} s {full['peak_bytes'] / 2**20:,.0f} MB "
              f"({full['seconds'] / base['seconds']:.2f}x time, {full['peak_bytes'] / base['peak_bytes']:.2f}x memory); "
              f"stages {full.get('stages')}")
        print(f"\nwritten to {out / 'one-file' / 'results.json'}")
        return 0
    results = (bench_spark if args.engine == "spark" else bench)(args.events, args.days, out, settings)
    print(render(results))
    print(f"\nwritten to {out / 'results.json'}")
    return 0




