"""Kill the main job at each named point (SIGKILL to its whole process group, dbt included), run it
again, and compare the warehouse with an uninterrupted run's: table by table, lake file by lake
file, report file by report file. ANALYTICS_SOAK=1 runs every kill point; by default the two
where a crash leaves the most half-done (a batch mid-load, dbt mid-build)."""

from __future__ import annotations

import os

import pytest

from pipelines.lib.config import Settings
from pipelines.lib.faults import KILL_POINTS
from tests.helpers import run_pipeline, warehouse_fingerprint

pytestmark = pytest.mark.e2e

DEFAULT = ("mid_file", "mid_dbt")
POINTS = KILL_POINTS if os.environ.get("ANALYTICS_SOAK") == "1" else DEFAULT


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_then_rerun_equals_an_uninterrupted_run(built, tmp_path, point):
    data = tmp_path / "data"
    killed = run_pipeline(data, ANALYTICS_KILL_AT=point)
    assert killed.returncode != 0, f"the run was not stopped at {point}"
    rerun = run_pipeline(data)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    recovered = Settings(exports_dir=built.exports_dir, data_dir=data)
    assert not list(data.rglob(".*.tmp"))  # no half-written file left behind
    got, want = warehouse_fingerprint(recovered), warehouse_fingerprint(built)
    assert got["lake"] == want["lake"]
    assert got["reports"] == want["reports"]
    for table in want["tables"]:
        assert got["tables"].get(table) == want["tables"][table], table
    assert got["tables"].keys() == want["tables"].keys()
