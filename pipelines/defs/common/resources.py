"""The resources every domain uses, in one place (as dagster-open-platform's defs/common): the
data directory with its build warehouse and writer lock, and dbt. Their settings are fields the UI
shows under Deployment > Resources."""

import os
import sys
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version
from pydantic import Field

from pipelines.defs.warehouse.project import dbt_project
from pipelines.lib import build_state
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.publish import remove_stale_temporaries, writer_lock

REBUILD_TAG = "analytics/rebuild"


class WarehouseResource(dg.ConfigurableResource):
    """The data directory and its build warehouse. Holding this resource holds the writer lock
    for the whole run, whoever started it (UI, sensor, schedule, `make run`)."""

    data_dir: str = Field(default="", description="The data directory (ANALYTICS_DATA_DIR): lake, warehouse, "
                                                  "reports. Empty: the project's data/.")
    lock_wait_seconds: int = Field(default=600, description="How long a second writer (a UI run while `make run` "
                                                           "works, say) waits for the lock, then fails clearly "
                                                           "(ANALYTICS_LOCK_WAIT_SECONDS).")

    def settings(self) -> Settings:
        """The environment's settings (pipelines/lib/config.py), in this resource's data directory."""
        return Settings.from_env(data_dir=self.data_dir or None)

    def connect(self):
        s = self.settings()
        return connect(s.build_db, s)

    def build_is_current(self, context) -> bool:
        """True when the published warehouse is already built from exactly these inputs (see
        pipelines/lib/build_state.py): the build steps then skip. A run tagged
        `analytics/rebuild=true` (`python -m pipelines run --rebuild`) always rebuilds."""
        if context.run.tags.get(REBUILD_TAG, "").lower() == "true":
            return False
        con = self.connect()
        try:
            current = build_state.is_current(con, self.settings())
        finally:
            con.close()
        if current:
            context.log.info("nothing new since the last publish (same batches, code and configuration): "
                             "skipped; tag the run analytics/rebuild=true to rebuild anyway")
        return current

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        with writer_lock(self.settings(), self.lock_wait_seconds):
            stale = remove_stale_temporaries(self.settings())
            if stale:
                context.log.warning(f"removed {len(stale)} temporary file(s) left by a killed run")
            yield self


# DbtCliResource looks for `dbt` on PATH: point it at the one beside this interpreter.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


class WarehouseDbtCliResource(DbtCliResource):
    """DbtCliResource running this environment's dbt-core.

    dagster-dbt learns which dbt it drives by running `dbt --version` in a subprocess before every
    invocation (dbt's imports, and a request to the package index for the latest release: seconds a
    run, docs/benchmark.md). The executable is the one installed beside this interpreter, so its version is the
    installed dbt-core's (tests/orchestration/test_dbt_resource.py holds them equal)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))



def _from_env() -> dict:
    """The warehouse's fields from the environment, as dg.EnvVar (the UI shows where each value comes
    from); a variable not set leaves the field's default."""
    fields = {"data_dir": dg.EnvVar("ANALYTICS_DATA_DIR"),
              "lock_wait_seconds": dg.EnvVar.int("ANALYTICS_LOCK_WAIT_SECONDS")}
    return {name: var for name, var in fields.items() if var.env_var_name in os.environ}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={
        "warehouse": WarehouseResource(**_from_env()),
        "dbt": WarehouseDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    })
