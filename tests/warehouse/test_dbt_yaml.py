"""The dbt property files hold only keys dbt knows: dbt 1.11 ignores an unknown key silently, so a
description cut at a comma in a flow mapping (`{name: x, description: A, b.}` is the key `b.`)
went unnoticed and analysts read half a sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.lib.config import PROJECT_ROOT

TOP = {"version", "models", "sources", "seeds", "macros", "exposures", "unit_tests", "data_tests", "semantic_models",
       "metrics", "saved_queries", "snapshots", "analyses", "groups"}
MODEL = {"name", "description", "config", "columns", "data_tests", "tests", "docs", "meta", "tags", "constraints",
         "latest_version", "versions", "deprecation_date", "access", "group", "time_spine"}
COLUMN = {"name", "description", "data_tests", "tests", "data_type", "constraints", "meta", "tags", "quote", "config",
          "docs", "granularity"}
SOURCE = {"name", "description", "schema", "database", "loader", "meta", "tags", "config", "tables", "freshness",
          "loaded_at_field", "quoting", "overrides"}
SOURCE_TABLE = {"name", "description", "identifier", "meta", "tags", "config", "columns", "data_tests", "tests",
                "freshness", "loaded_at_field", "external", "quoting"}

EXPOSURE = {"name", "label", "type", "maturity", "description", "owner", "depends_on", "meta", "tags", "url",
            "config"}
UNIT_TEST = {"name", "model", "description", "given", "expect", "overrides", "config", "versions"}
UNIT_INPUT = {"input", "rows", "format", "fixture"}

PROPERTY_FILES = sorted(p for p in (PROJECT_ROOT / "dbt_project" / "models").rglob("*.yml"))


def unknown_keys(doc: dict) -> list[str]:
    found = [f"top: {k}" for k in set(doc) - TOP]
    for model in doc.get("models") or []:
        found += [f"{model.get('name')}: {k}" for k in set(model) - MODEL]
        for column in model.get("columns") or []:
            found += [f"{model.get('name')}.{column.get('name')}: {k!r}" for k in set(column) - COLUMN]
    for source in doc.get("sources") or []:
        found += [f"source {source.get('name')}: {k}" for k in set(source) - SOURCE]
        for table in source.get("tables") or []:
            found += [f"source table {table.get('name')}: {k}" for k in set(table) - SOURCE_TABLE]
            for column in table.get("columns") or []:
                found += [f"{table.get('name')}.{column.get('name')}: {k!r}" for k in set(column) - COLUMN]
    for exposure in doc.get("exposures") or []:
        found += [f"exposure {exposure.get('name')}: {k}" for k in set(exposure) - EXPOSURE]
    for unit in doc.get("unit_tests") or []:
        found += [f"unit test {unit.get('name')}: {k}" for k in set(unit) - UNIT_TEST]
        for given in unit.get("given") or []:
            found += [f"unit test {unit.get('name')} input: {k}" for k in set(given) - UNIT_INPUT]
    return found


def test_a_description_cut_at_a_comma_is_caught():
    doc = yaml.safe_load("models:\n  - name: m\n    columns:\n      - {name: model_id, description: The model, or null.}\n")
    assert unknown_keys(doc) == ["m.model_id: 'or null.'"]


@pytest.mark.parametrize("path", PROPERTY_FILES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_key_of_a_property_file_is_one_dbt_reads(path: Path):
    assert unknown_keys(yaml.safe_load(path.read_text())) == []
