"""The main job's launch config for rebuilds (RebuildConfig) and the command line that fills it."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines import __main__ as cli
from pipelines.defs.warehouse.assets import RebuildConfig


def test_the_dbt_arguments_of_each_rebuild():
    assert RebuildConfig().dbt_args() == []
    assert RebuildConfig(full_refresh=True).dbt_args() == ["--full-refresh"]
    assert RebuildConfig(rebuild_from="2026-11-01", rebuild_to="2026-11-07").dbt_args() == [
        "--vars", '{"rebuild_from": "2026-11-01", "rebuild_to": "2026-11-07"}']


@pytest.mark.parametrize("config, message", [
    (dict(rebuild_from="2026-11-01"), "rebuild_from and rebuild_to go together"),
    (dict(rebuild_from="2026-11-07", rebuild_to="2026-11-01"), "is after rebuild_to"),
    (dict(rebuild_from="2026-11-01'; drop table x; --", rebuild_to="2026-11-02"), "must be days as YYYY-MM-DD"),
])
def test_a_bad_range_fails_clearly_before_dbt_runs(config, message):
    with pytest.raises(dg.Failure, match=message):
        RebuildConfig(**config).dbt_args()


def test_the_command_line_passes_the_rebuild_to_the_main_job(settings, monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "run_main_job", lambda settings, **kw: seen.update(kw) or 0)
    assert cli.main(["run", "--full-refresh"]) == 0
    assert seen["rebuild_config"] == {"full_refresh": True}
    assert cli.main(["run", "--rebuild-days", "2026-11-01:2026-11-07"]) == 0
    assert seen["rebuild_config"] == {"rebuild_from": "2026-11-01", "rebuild_to": "2026-11-07"}
    with pytest.raises(SystemExit):
        cli.main(["run", "--rebuild-days", "2026-11-01"])
