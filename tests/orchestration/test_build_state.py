"""The no-op shortcut: the build is current only for the exact inputs of the last publish."""

from __future__ import annotations

import pytest

from pipelines.lib import build_state
from pipelines.lib.ingest import ensure_schema
from tests.helpers import INSERT_BATCH


@pytest.fixture
def published(settings, con):
    ensure_schema(con)
    con.execute(f"{INSERT_BATCH} ('b1', now(), now(), 'loaded', null, 'aa', 3)")
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    settings.published_db.write_bytes(b"published")
    build_state.record(con, settings)
    return con


def test_the_inputs_of_the_last_publish_are_current(settings, published):
    assert build_state.is_current(published, settings)


@pytest.mark.parametrize("change", [
    f"{INSERT_BATCH} ('b2', now(), now(), 'loaded', null, 'bb', 3)",
    f"{INSERT_BATCH} ('b2', now(), now(), 'rejected', 'sha256 mismatch', 'bb', 0)",
    "update ops.ingested_batches set reason = 'conflicting re-delivery'",
    "insert into ops.quarantine (batch_id, table_name, path, row_number, reason, raw_record, quarantined_at) "
    "values ('b1', 'usage_events', 'u.csv', 7, 'unknown_project_id', '{}', now())",
    "insert into ops.batch_conflicts values ('b1', 'cc', now())",
])
def test_anything_new_in_the_ingestion_record_is_not(settings, published, change):
    published.execute(change)
    assert not build_state.is_current(published, settings)


def test_a_released_quarantine_row_is_not(settings, published):
    published.execute("insert into ops.quarantine (batch_id, table_name, path, row_number, reason, raw_record, "
                      "quarantined_at) values ('b1', 'usage_events', 'u.csv', 7, 'unknown_project_id', '{}', now())")
    build_state.record(published, settings)
    published.execute("update ops.quarantine set released_at = now()")
    assert not build_state.is_current(published, settings)


def test_a_changed_report_configuration_is_not(settings, published, tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.mkdir()
    (config / "finance.yml").write_text("break_threshold: 0.01\n")
    monkeypatch.setenv("ANALYTICS_CONFIG_DIR", str(config))
    build_state.record(published, settings)
    assert build_state.is_current(published, settings)
    (config / "finance.yml").write_text("break_threshold: 0.02\n")
    assert not build_state.is_current(published, settings)


def test_the_other_engine_is_not(settings, published):
    """The same code builds on Spark otherwise (ANALYTICS_ENGINE): switching engines rebuilds."""
    from dataclasses import replace

    assert not build_state.is_current(published, replace(settings, engine="spark"))
    assert build_state.is_current(published, replace(settings, engine="duckdb"))


def test_a_build_in_progress_or_a_missing_published_file_is_not(settings, published):
    build_state.invalidate(settings)  # what the dbt step does before it changes the build warehouse
    assert not build_state.is_current(published, settings)
    build_state.record(published, settings)
    settings.published_db.unlink()
    assert not build_state.is_current(published, settings)


def test_the_dev_tools_are_no_input_of_the_build():
    """tools/ (generator, bench) is never run by the warehouse: editing it rebuilds nothing."""
    from pipelines.lib.build_state import _code_files
    from pipelines.lib.config import PROJECT_ROOT, Settings

    parts = {p.relative_to(PROJECT_ROOT).parts[0] for p in _code_files(Settings.from_env())}
    assert "pipelines" in parts and "dbt_project" in parts and "tools" not in parts
