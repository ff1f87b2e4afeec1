"""The year bench's arithmetic: a stage's peak memory from the step windows, and the month 12 /
month 1 ratios its table prints (docs/benchmark.md quotes them)."""

from __future__ import annotations

from types import SimpleNamespace

from tools.bench.measure import stage_peaks
from tools.bench.runs import reset
from tools.bench.year import render_year


def _step(key: str, start: float | None, end: float | None):
    return SimpleNamespace(step_key=key, start_time=start, end_time=end)


def test_a_stage_peak_is_the_highest_sample_inside_its_steps_windows():
    samples = [(0.0, 100), (1.0, 900), (2.0, 300), (3.0, 500), (4.0, 400), (5.0, 700), (6.0, 50)]
    stats = [_step("warehouse_dbt_models", 0.5, 1.5), _step("finance_reconciliation_report", 2.0, 3.0),
             _step("focus_export", 3.5, 4.5), _step("ops_status_report", 5.5, 5.9),  # no sample inside
             _step("published_warehouse", None, None)]  # never ran
    # 900 is dbt's; reports: 300 and 500 (finance), 400 (FOCUS); the ops step saw no sample
    assert stage_peaks(stats, samples) == {"dbt": 900, "reports": 500}


def test_the_year_table_divides_month_12_by_month_1():
    def run(seconds, peak, report_s, report_peak):
        return {"seconds": seconds, "peak_bytes": peak, "stages": {"reports": report_s, "dbt": 1.0},
                "stage_peak_bytes": {"reports": report_peak}, "report_bytes": 2**20}

    table = render_year({"month1_day": run(10.0, 100, 4.0, 80), "month12_day": run(25.0, 300, 5.0, 100),
                         "month1_hour": run(8.0, 100, 2.0, 50), "month12_hour": run(8.0, 100, 5.0, 50)})
    assert "one day, month 12 / month 1: wall 2.50x, peak 3.00x, report stage 1.25x time, 1.25x memory" in table
    assert "one hour, month 12 / month 1: wall 1.00x, peak 1.00x, report stage 2.50x time, 1.00x memory" in table


def test_a_new_bench_removes_its_own_files_and_leaves_the_year_bench_s(tmp_path):
    """`make bench` of another size starts afresh under data/bench/; the year bench's folder there
    (its exports and the histories it kept, half an hour to load again) is not the bench's."""
    for name in ("exports/b1/manifest.json", "data/warehouse/analytics.duckdb", "one-file/results.json",
                 "exports.json", "truth_full.json", "results.json", "year/exports/b1/manifest.json",
                 "year/month12-base/stamp.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    reset(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "year/exports/b1/manifest.json", "year/month12-base/stamp.json"]
