"""The steady-state bench (`make bench-year`): a year of daily batches, then what one more day and
one more hour cost at month 1 and at month 12 of the same daily volume, in one sitting.

The generator writes `days` daily batches starting at `start` (by default a year before the sample,
so the whole year lies in the past). Two data directories are built from hard links to them:
month 1 holds the first 29 days, month 12 the first days-1. Each then gets one more day (day 30,
day `days`), measured, and an hourly batch after it, measured: wall time, the peak resident memory
of the run's process tree, the report stage's time, and the bytes written under reports/ (files
whose inode is new: a draft renamed r1 writes nothing). Every run is checked: control totals, the
marts against the generator's truth (the day runs), and exactly what the hourly batch added.

Loading the history is most of the bench's time (half an hour for month 12) and is not what it
measures: the data directory it leaves is kept as month<N>-base/, stamped with the exports' and the
code's fingerprints, and a later round with both unchanged starts from a copy of it. `--prepare`
loads the histories and stops, so they can be built while the machine is busy and the measured runs
made later on a quiet one.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from pipelines.lib.build_state import code_fingerprint
from pipelines.lib.config import Settings
from tools import generator
from tools.bench.checks import check_added, check_control_totals, check_correctness, hourly_batch, usage_totals
from tools.bench.measure import run_pipeline
from tools.bench.runs import generator_fingerprint

START = datetime(2025, 11, 1, tzinfo=UTC)
MONTH_1 = 30  # the day added at month 1


def scenario(per_day: int, days: int, start: datetime) -> generator.Scenario:
    return generator.Scenario(organizations=50, projects_per_org=50, keys_per_project=2, models=20, days=days,
                              events_per_day=per_day, duplicate_rate=0.03, late_rate=0.03, correction_rate=0.01,
                              seed=20261101, faults=False, usage_encoding=("csv", "gzip"), start=start)


def _files(root: Path) -> dict[int, int]:
    """Every file under root: inode to size."""
    return {p.stat().st_ino: p.stat().st_size for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def bytes_written(before: dict, after: dict) -> int:
    """Bytes of the files written between two listings: an inode that was not there (a folder renamed
    into place, a draft renamed r1, writes nothing new)."""
    return sum(size for inode, size in after.items() if inode not in before)


def _link_batches(source: Path, target: Path, batches: list[str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for b in batches:
        if not (target / b).exists():
            shutil.copytree(source / b, target / b, copy_function=os.link)


def _history(exports: Path, month_dir: Path, batches: list[str], params: dict, settings: Settings,
             record) -> tuple[Path, bool]:
    """The month's data directory holding `batches` loaded, and whether it is a copy of the kept
    base (its stamp matches); else it is loaded (recorded as month<N>_history) and kept as the base."""
    data, base = month_dir / "data", month_dir.with_name(f"{month_dir.name}-base")
    stamp = {**params, "batches": len(batches), "code": code_fingerprint(settings)}
    shutil.rmtree(month_dir, ignore_errors=True)
    _link_batches(exports, month_dir / "exports", batches)
    if (base / "stamp.json").exists() and json.loads((base / "stamp.json").read_text()) == stamp:
        shutil.copytree(base / "data", data, symlinks=True)
        return data, True
    record(f"{month_dir.name}_history", run_pipeline(month_dir / "exports", data, settings))
    check_control_totals(data)
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(data, base / "data", symlinks=True)
    (base / "stamp.json").write_text(json.dumps(stamp))
    return data, False


def bench_year(per_day: int, days: int, out: Path, settings: Settings, start: datetime = START,
               months: tuple[int, ...] = (1, 12), prepare: bool = False) -> dict:
    """The year bench; `months`: which of month 1 and month 12 to measure (the other's figures, when
    results.json holds them, are kept); `prepare`: load the histories (or find them kept) and stop."""
    if start.date().toordinal() + days + 2 > datetime.now(UTC).date().toordinal():
        raise SystemExit(f"a year starting {start:%Y-%m-%d} does not lie in the past: choose an earlier --start")
    exports = out / "exports"
    params = {"per_day": per_day, "days": days, "start": start.isoformat(), "generator": generator_fingerprint()}
    stamp = out / "exports.json"
    if not (stamp.exists() and json.loads(stamp.read_text()) == params):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        generator.generate(exports, scenario(per_day, days, start))
        generator.generate(out / "truth-month1", scenario(per_day, MONTH_1, start))
        stamp.write_text(json.dumps(params))
    batches = sorted(p.name for p in exports.iterdir() if (p / "manifest.json").exists())
    earlier = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    results = {"per_day": per_day, "days": days, "start": start.isoformat(),
               "duckdb_memory_limit": settings.duckdb_memory_limit, "duckdb_threads": settings.duckdb_threads,
               **{k: v for k, v in earlier.items() if k.startswith("month") and int(k[5:].split("_")[0]) not in months}}

    def record(name: str, result: dict) -> None:
        result.pop("output", None)
        results[name] = result
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    for month, day, truth in ((1, MONTH_1, out / "truth-month1" / "expected_totals.json"),
                              (12, days, exports / "expected_totals.json")):
        if month not in months:
            continue
        month_exports = out / f"month{month}" / "exports"
        data, kept = _history(exports, out / f"month{month}", batches[:day - 1], params, settings, record)
        if kept and f"month{month}_history" in earlier:  # the figures of the load that made the base
            record(f"month{month}_history", earlier[f"month{month}_history"])
        if prepare:
            continue
        _link_batches(exports, month_exports, batches[day - 1:day])
        before = _files(data / "reports")
        result = run_pipeline(month_exports, data, settings)
        result["report_bytes"] = bytes_written(before, _files(data / "reports"))
        record(f"month{month}_day", result)
        check_correctness(data, truth)
        totals = usage_totals(data)
        _, added = hourly_batch(month_exports, max(1, per_day // 24))
        before = _files(data / "reports")
        result = run_pipeline(month_exports, data, settings)
        result["report_bytes"] = bytes_written(before, _files(data / "reports"))
        result["events"] = max(1, per_day // 24)
        record(f"month{month}_hour", result)
        check_control_totals(data)
        check_added(totals, usage_totals(data), added)
    return results


REPORTS = ("reports",)  # the stage of the three report assets (pipelines/lib/screen.py STAGES)


def _report(result: dict) -> tuple[float, int]:
    """The report stage's time and the highest memory sampled while it ran."""
    seconds = sum(v for k, v in result.get("stages", {}).items() if k in REPORTS)
    peak = max((v for k, v in result.get("stage_peak_bytes", {}).items() if k in REPORTS), default=0)
    return seconds, peak


def render_year(results: dict) -> str:
    lines = [f"{'run':<16} {'wall s':>8} {'peak MB':>8} {'reports s':>9} {'reports MB':>10} {'written MB':>10}"
             "  stages (s)"]
    for name in ("month1_history", "month1_day", "month1_hour", "month12_history", "month12_day", "month12_hour"):
        if name not in results:
            continue
        r = results[name]
        report_s, report_peak = _report(r)
        written = r.get("report_bytes")
        lines.append(f"{name:<16} {r['seconds']:>8.1f} {r['peak_bytes'] / 2**20:>8.0f} {report_s:>9.1f} "
                     f"{report_peak / 2**20 if report_peak else float('nan'):>10.0f} "
                     f"{'' if written is None else f'{written / 2**20:.1f}':>10}  "
                     + ", ".join(f"{k} {v:.1f}" for k, v in sorted(r.get("stages", {}).items())))
    for run in ("day", "hour"):
        a, b = results.get(f"month1_{run}"), results.get(f"month12_{run}")
        if a and b:
            (sa, pa), (sb, pb) = _report(a), _report(b)
            lines.append(f"one {run}, month 12 / month 1: wall {b['seconds'] / a['seconds']:.2f}x, peak "
                         f"{b['peak_bytes'] / a['peak_bytes']:.2f}x, report stage {sb / sa if sa else 0:.2f}x time, "
                         f"{pb / pa if pa else 0:.2f}x memory")
    return "\n".join(lines)
