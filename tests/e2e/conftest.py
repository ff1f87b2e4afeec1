"""One warehouse built from the committed sample, through the real entry point (`python -m
pipelines run`, which launches the Dagster main job), shared by the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lib.config import PROJECT_ROOT, SAMPLE_EXPORTS, Settings


def run_pipeline(data_dir: Path, exports: Path = SAMPLE_EXPORTS, **env) -> subprocess.CompletedProcess:
    child = dict(os.environ, ANALYTICS_DATA_DIR=str(data_dir), ANALYTICS_EXPORTS_DIR=str(exports), **env)
    child.pop("DAGSTER_HOME", None)
    return subprocess.run([sys.executable, "-m", "pipelines", "run"], cwd=PROJECT_ROOT, env=child,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Settings:
    data = tmp_path_factory.mktemp("warehouse") / "data"
    result = run_pipeline(data)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return Settings(exports_dir=SAMPLE_EXPORTS, data_dir=data)
