"""The dbt unit tests (unit_tests: in dbt_project/models/**/_*__unit_tests.yml) pass, each on its
hand-computed expectations; the main job's build leaves them out (they test logic, not data), so
they run here. dbt reads the column types of each input from the warehouse: they run over a copy
of the hand-built scenario's."""

from __future__ import annotations

import json
import shutil

from tests.warehouse.conftest import DBT_DIR, dbt


def unit_results(data, *extra, project=DBT_DIR):
    result = dbt(data, "test", "--select", "test_type:unit", *extra, project=project)
    run = json.loads((data / "dbt-target" / "run_results.json").read_text())
    return result, {r["unique_id"].split(".")[-1]: r["status"] for r in run["results"]
                    if r["unique_id"].startswith("unit_test.")}


def test_every_unit_test_passes(scenario, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(scenario["settings"].data_dir, data)
    result, statuses = unit_results(data)
    assert result.returncode == 0, result.stdout[-4000:]
    manifest = json.loads((data / "dbt-target" / "manifest.json").read_text())
    declared = {u["name"] for u in manifest["unit_tests"].values()}
    assert len(declared) >= 8 and set(statuses) == declared and set(statuses.values()) == {"pass"}


def test_a_rounding_half_away_from_zero_fails_the_half_even_unit_test(scenario, tmp_path):
    """A mutation: DuckDB's ROUND in place of the exact half-even expression."""
    data, project = tmp_path / "data", tmp_path / "dbt_project"
    shutil.copytree(scenario["settings"].data_dir, data)
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "reports" / "rpt_usage_ledger_reconciliation.sql"
    sql = model.read_text()
    assert "{{ round_half_even('u.rated_amount_exact', 2) }}" in sql
    model.write_text(sql.replace("{{ round_half_even('u.rated_amount_exact', 2) }}", "round(u.rated_amount_exact, 2)"))
    result, statuses = unit_results(data, project=project)
    assert result.returncode != 0
    assert statuses.pop("reconciliation_rounds_half_even_and_tolerates_one_cent") == "fail"
    assert set(statuses.values()) == {"pass"}  # only the test of that logic notices
