"""The dbt project, in its own module: the manifest is built at build time (`make` runs
`dagster-dbt project prepare-and-package --file pipelines/defs/warehouse/project.py`),
never by parsing at import."""

from pathlib import Path

from dagster_dbt import DbtProject

from pipelines.lib.config import engine_from_env

DBT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
ENGINE = engine_from_env()

# Parsed with the target it runs on (dbt resolves dispatched macros and configs at parse time): one
# manifest per engine, dbt_project/target/<engine>/manifest.json.
dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target=ENGINE, target_path=Path("target") / ENGINE)
