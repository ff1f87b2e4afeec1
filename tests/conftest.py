from __future__ import annotations

import pytest

from pipelines.lib.config import Settings
from pipelines.lib.duck import connect


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
