"""ANALYTICS_ENGINE picks the dbt target the project is parsed and built with, and nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.lib.config import PROJECT_ROOT, Settings, engine_from_env


@pytest.mark.parametrize("value, engine", [(None, "duckdb"), ("", "duckdb"), ("duckdb", "duckdb"), ("spark", "spark")])
def test_the_engine_defaults_to_duckdb(monkeypatch, value, engine):
    if value is None:
        monkeypatch.delenv("ANALYTICS_ENGINE", raising=False)
    else:
        monkeypatch.setenv("ANALYTICS_ENGINE", value)
    assert engine_from_env() == engine
    assert Settings.from_env().engine == engine


@pytest.mark.parametrize("value", ["Spark", "trino", "duckdb "])
def test_an_unknown_engine_is_refused_naming_the_choices(monkeypatch, value):
    monkeypatch.setenv("ANALYTICS_ENGINE", value)
    if value.strip() == "duckdb":  # surrounding blanks are forgiven
        assert engine_from_env() == "duckdb"
        return
    with pytest.raises(ValueError, match="duckdb, spark"):
        engine_from_env()


def test_each_engine_has_its_own_manifest_parsed_with_its_target():
    """The code location's DbtProject follows the switch: its target, and a manifest path per
    engine (a manifest parsed for one engine resolves dispatched macros for that engine only)."""
    code = ("from pipelines.defs.warehouse.project import dbt_project as p; "
            "print(p.target, p.manifest_path.relative_to(p.project_dir))")
    for engine in ("duckdb", "spark"):
        out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "ANALYTICS_ENGINE": engine})
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [engine, f"target/{engine}/manifest.json"]


@pytest.mark.parametrize("name", ["odd [x]", "star*", "q?", "{a}"])
def test_spark_refuses_a_data_directory_its_path_patterns_would_misread(monkeypatch, tmp_path, name):
    """Spark globs the paths it reads (`[x]` matches `x`: the lake would read as missing);
    DuckDB, which reads the recorded files by name, takes the same directory."""
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / name))
    monkeypatch.setenv("ANALYTICS_ENGINE", "spark")
    with pytest.raises(ValueError, match="Spark reads paths as patterns"):
        Settings.from_env()
    monkeypatch.setenv("ANALYTICS_ENGINE", "duckdb")
    assert Settings.from_env().data_dir == tmp_path / name
