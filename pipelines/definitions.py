"""The one entry point of the Dagster code location: loads every pipelines/defs/<domain>/ module
and adds the jobs that span domains."""

from pathlib import Path

import dagster as dg

from pipelines.defs.ingest.checks import source_freshness_by_the_clock
from pipelines.lib.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The multiprocess executor re-imports this code for every step (seconds each: docs/benchmark.md), and
# the steps share one DuckDB writer anyway: the main job runs in process.
main_job = dg.define_asset_job(
    "main_job",
    # every asset and check, but the wall-clock freshness checks: they read the published warehouse on
    # their own schedule (source_freshness_job), never inside a run
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(source_freshness_by_the_clock),
    executor_def=dg.in_process_executor,
    description="Ingest every new complete batch, rebuild everything downstream, publish the warehouse.",
)
reports_job = dg.define_asset_job(
    "reports_job",
    selection=dg.AssetSelection.groups("reports") | dg.AssetSelection.assets("published_warehouse"),
    executor_def=dg.in_process_executor,
    description="Rebuild the report marts and files for the newest batch, then publish.",
)

source_freshness_job = dg.define_asset_job(
    "source_freshness_job",
    selection=dg.AssetSelection.checks(source_freshness_by_the_clock),
    executor_def=dg.in_process_executor,
    description="Each export table's lag by the wall clock against its limit, from the published warehouse; "
                "a source turning stale is alerted once.",
)


@dg.definitions
def defs() -> dg.Definitions:
    Settings.from_env()  # fail fast on a bad configuration, at load time
    return dg.Definitions.merge(
        dg.load_from_defs_folder(project_root=PROJECT_ROOT),
        dg.Definitions(jobs=[main_job, reports_job, source_freshness_job]),
    )


_resolved: dict[str, dg.JobDefinition] = {}


def main_job_def() -> dg.JobDefinition:
    """The resolved main job, for `python -m pipelines run` (dg.reconstructable needs a function
    at module level). Built once per process: executing a job reconstructs it several times."""
    if "main_job" not in _resolved:
        _resolved["main_job"] = defs().resolve_job_def("main_job")
    return _resolved["main_job"]
