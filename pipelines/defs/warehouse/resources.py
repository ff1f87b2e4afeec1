import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.defs.warehouse.project import dbt_project

# DbtCliResource looks for `dbt` on PATH: point it at the one beside this interpreter.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)})
