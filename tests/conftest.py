from __future__ import annotations

import pytest

from pipelines.lib.config import SAMPLE_EXPORTS, Settings
from pipelines.lib.duck import connect
from tests.helpers import run_pipeline


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    exports, data = tmp_path / "exports", tmp_path / "data"
    exports.mkdir()
    monkeypatch.setenv("ANALYTICS_EXPORTS_DIR", str(exports))
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(data))
    monkeypatch.delenv("ANALYTICS_RETRY_QUARANTINE", raising=False)
    return Settings.from_env()


@pytest.fixture
def con(settings):
    c = connect(settings.build_db, settings)
    yield c
    c.close()


@pytest.fixture(scope="session")
def built_run(tmp_path_factory):
    """One warehouse built from the committed sample through the real entry point (`python -m
    pipelines run`, which launches the Dagster main job), shared by the end-to-end tests: its
    Settings and what the command printed."""
    data = tmp_path_factory.mktemp("warehouse") / "data"
    result = run_pipeline(data)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return Settings(exports_dir=SAMPLE_EXPORTS, data_dir=data), result


@pytest.fixture(scope="session")
def built(built_run) -> Settings:
    return built_run[0]
