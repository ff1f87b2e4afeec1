"""The dbt resource tells dagster-dbt the version of the dbt it runs without asking dbt."""

import re
import subprocess

from packaging import version

from pipelines.defs.common.resources import DBT_EXECUTABLE, WarehouseDbtCliResource
from pipelines.defs.warehouse.project import dbt_project


def test_the_version_given_to_dagster_dbt_is_the_version_of_the_dbt_it_runs():
    out = subprocess.run([DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True).stdout
    installed = re.search(r"installed:\s+(\d+\.\d+\.\d+)", out).group(1)
    resource = WarehouseDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
    assert resource._cli_version == version.parse(installed)
