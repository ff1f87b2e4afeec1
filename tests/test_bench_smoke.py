"""A small benchmark run as a smoke test: it asserts correctness (the bench's own guard: control
totals, and marts equal to the generator's truth after the full and incremental runs),
never time."""

from __future__ import annotations

import pytest

from pipelines.bench import bench, render
from pipelines.lib.config import Settings

pytestmark = pytest.mark.e2e


def test_a_100k_event_bench_run_is_correct(tmp_path):
    settings = Settings(exports_dir=tmp_path / "unused", data_dir=tmp_path)
    results = bench(100_000, 5, tmp_path / "bench", settings)  # SystemExit on a wrong result
    assert results["full"]["events"] == 80_000 and results["incremental"]["events"] == 20_000
    for run in ("baseline", "marts_baseline", "full", "incremental", "noop", "hourly"):
        assert results[run]["returncode"] == 0 and results[run]["peak_bytes"] > 0
    assert {"ingest_and_lake", "dbt", "reports", "publish"} <= results["full"]["stages"].keys()
    assert {"dbt", "reports", "publish"} <= results["incremental"]["stages"].keys()
    # nothing new: ingestion looks, the build steps skip (their stage times are ~0)
    assert "reports" not in results["noop"]["stages"] and "publish" not in results["noop"]["stages"]
    assert results["hourly"]["events"] == 100_000 // 5 // 24  # and check_added held the marts to them
    assert not list((tmp_path / "bench" / "exports").glob("*-900000"))  # the exports stay the generator's
    assert "incremental / full" in render(results) and "plain DuckDB SQL" in render(results)
