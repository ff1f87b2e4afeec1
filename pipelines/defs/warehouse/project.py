"""The dbt project, in its own module: the manifest is built at build time (`make` runs
`dagster-dbt project prepare-and-package --file pipelines/defs/warehouse/project.py`),
never by parsing at import."""

from pathlib import Path

from dagster_dbt import DbtProject

DBT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
