import sys
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from pipelines.defs.warehouse.project import dbt_project

# DbtCliResource looks for `dbt` on PATH: point it at the one beside this interpreter.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


class WarehouseDbtCliResource(DbtCliResource):
    """DbtCliResource running this environment's dbt-core.

    dagster-dbt learns which dbt it drives by running `dbt --version` in a subprocess before every
    invocation: 2.6 s a run here (dbt's imports, and a request to the package index for the latest
    release). The executable is the one installed beside this interpreter, so its version is the
    installed dbt-core's (tests/orchestration/test_dbt_resource.py holds them equal)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={
        "dbt": WarehouseDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)})
