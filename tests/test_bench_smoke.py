"""A small benchmark run as a smoke test: it asserts correctness (the bench's own guard: control
totals, and marts equal to the generator's truth after the full and incremental runs),
never time."""

from __future__ import annotations

import pytest

from pipelines.lib.config import Settings
from tools.bench import bench, bench_one_file, render

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """One 100k-event bench: its results, and its folder (exports and truth reused below)."""
    root = tmp_path_factory.mktemp("bench")
    settings = Settings(exports_dir=root / "unused", data_dir=root)
    return bench(100_000, 5, root / "bench", settings), root  # SystemExit on a wrong result


def test_a_100k_event_bench_run_is_correct(bench_run):
    results, root = bench_run
    assert results["full"]["events"] == 80_000 and results["incremental"]["events"] == 20_000
    for run in ("baseline", "marts_baseline", "full", "incremental", "noop", "hourly"):
        assert results[run]["returncode"] == 0 and results[run]["peak_bytes"] > 0
    assert {"ingest_and_lake", "dbt", "reports", "publish"} <= results["full"]["stages"].keys()
    assert {"dbt", "reports", "publish"} <= results["incremental"]["stages"].keys()
    # each stage's peak is one of the run's samples: at most the run's peak, and more than nothing
    for run in ("full", "incremental"):
        assert 0 < results[run]["stage_peak_bytes"]["reports"] <= results[run]["peak_bytes"]
    # nothing new: ingestion looks, the build steps skip (their stage times are ~0)
    assert "reports" not in results["noop"]["stages"] and "publish" not in results["noop"]["stages"]
    assert results["hourly"]["events"] == 100_000 // 5 // 24  # and check_added held the marts to them
    assert not list((root / "bench" / "exports").glob("*-900000"))  # the exports stay the generator's
    assert "incremental / full" in render(results) and "plain DuckDB SQL" in render(results)


def test_the_same_events_in_one_file_loaded_in_chunks_are_correct(bench_run):
    """`make bench`'s --one-file run, in chunks of 20,000 rows (~82,000 rows in one file): the
    generator's truth holds (bench_one_file's guard), through Dagster, end to end. The events are
    the bench's above, from its exports."""
    _, root = bench_run
    settings = Settings(exports_dir=root / "unused", data_dir=root, ingest_chunk_rows=20_000)
    results = bench_one_file(100_000, 5, root / "bench", settings)  # SystemExit on a wrong result
    assert results["full"]["returncode"] == 0 and results["baseline"]["returncode"] == 0
    import duckdb

    con = duckdb.connect(str(root / "bench" / "one-file" / "data" / "warehouse" / "build" / "analytics.duckdb"),
                         read_only=True)
    parts = con.execute("select count(distinct regexp_extract(path, 'part[0-9]+')) from ops.lake_files "
                        "where table_name = 'usage_events'").fetchall()[0][0]
    rows = con.execute("select rows_in_file from ops.ingested_files where table_name = 'usage_events'").fetchall()
    con.close()
    assert len(rows) == 1 and parts == -(-rows[0][0] // 20_000) > 1  # one file, one part per chunk
