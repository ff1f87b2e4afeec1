import json
import re
import shutil
from collections.abc import Mapping
from datetime import date
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from pydantic import Field

from pipelines.defs.common.resources import WarehouseResource
from pipelines.defs.warehouse.project import dbt_project
from pipelines.lib import build_state
from pipelines.lib.engine_import import import_spark_build
from pipelines.lib.engine_sources import write_engine_sources
from pipelines.lib.faults import kill_point
from pipelines.lib.ingest import rebuilt_input_breaks
from pipelines.lib.ops_config import write_config_tables


class WarehouseTranslator(DagsterDbtTranslator):
    """dbt sources are what ingestion wrote: `raw.<table>` reads lake/<table>, `ops.<table>` is the
    ingestion record (but ops.dbt_builds, which dbt writes: `dbt_builds` below). Models go to the
    `warehouse` group, rpt_ models to `reports`."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["sources"].get(unique_id) or manifest["nodes"].get(unique_id) or {}
        if node.get("resource_type") == "source":
            prefix = "lake" if node["source_name"] == "raw" else node["source_name"]  # ops, config
            return spec.replace_attributes(key=dg.AssetKey([prefix, node["name"]]))
        group = "reports" if node.get("name", "").startswith("rpt_") else "warehouse"
        return spec.replace_attributes(group_name=group, owners=["team:analytics-engineering"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["config", "slo_definitions"], group_name="warehouse", kinds={"yaml", "duckdb"},
                     owners=["team:sre"], description="SLOs of pipelines/config/slos.yml (OpenSLO-shaped), as a table."),
        dg.AssetSpec(["config", "freshness_thresholds"], group_name="warehouse", kinds={"yaml", "duckdb"},
                     owners=["team:sre"], description="Freshness limits of pipelines/config/freshness.yml, per table."),
    ],
)
def ops_configuration(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Operations configuration into the build warehouse, where dbt reads it."""
    con = warehouse.connect()
    try:
        counts = write_config_tables(con)
    finally:
        con.close()
    for name, rows in counts.items():
        yield dg.MaterializeResult(asset_key=["config", name], metadata={"row_count": rows})


# The record dbt keeps of what each incremental model reflects (dbt_project/macros/engine/incremental.sql):
# a source of the models that list the days to rebuild, written by the dbt build itself.
dbt_builds = dg.AssetSpec(
    ["ops", "dbt_builds"], group_name="warehouse", kinds={"dbt", "duckdb"}, owners=["team:analytics-engineering"],
    description="Per incremental model, the newest change it reflects and when it was built, recorded by dbt at the "
                "end of a run; the next run rebuilds the days changed after it.")

# What dbt logs for a table as it finishes it (dbt_project/macros/row_count.sql).
ROW_COUNT = re.compile(r"row count: (?P<unique_id>\S+) (?P<rows>\d+)")

translator = WarehouseTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def exposure_deps(asset_name: str) -> list[dg.AssetKey]:
    """The asset keys of the models a dbt exposure reads: the exposure whose meta.dagster_asset names
    this asset (dbt_project/models/reports/_exposures.yml), one place for who reads which mart."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    found = [e for e in manifest["exposures"].values() if e.get("meta", {}).get("dagster_asset") == asset_name]
    if len(found) != 1:
        raise ValueError(f"{len(found)} dbt exposures name the asset {asset_name!r} (meta.dagster_asset): one expected")
    return [translator.get_asset_spec(manifest, unique_id, dbt_project).key
            for unique_id in found[0]["depends_on"]["nodes"]]


class RebuildConfig(dg.Config):
    """What the dbt step rebuilds beyond what changed since the last build: the main job's launch
    config in the UI (ops: warehouse_dbt_models: config), or `python -m pipelines run
    --full-refresh | --rebuild-days FROM:TO`. Either runs under the writer lock like any run."""

    full_refresh: bool = Field(
        default=False,
        description="Rebuild every table from the lake (dbt --full-refresh), every day of every mart; "
                    "also the upgrade step after a release that changes a mart's stored columns.")
    rebuild_from: str | None = Field(
        default=None, description="First UTC day (YYYY-MM-DD) the incremental marts rebuild, with rebuild_to, "
                                  "on top of the days that changed.")
    rebuild_to: str | None = Field(default=None, description="Last UTC day (YYYY-MM-DD) of that range, inclusive.")

    def dbt_args(self) -> list[str]:
        """The dbt build's extra arguments; a clear Failure on a bad range."""
        args = ["--full-refresh"] if self.full_refresh else []
        if (self.rebuild_from is None) != (self.rebuild_to is None):
            raise dg.Failure("rebuild_from and rebuild_to go together: give both days, or neither")
        if self.rebuild_from is not None:
            try:
                first_day, last_day = date.fromisoformat(self.rebuild_from), date.fromisoformat(self.rebuild_to)
            except ValueError as e:
                raise dg.Failure(f"rebuild_from / rebuild_to must be days as YYYY-MM-DD: {e}") from None
            if first_day > last_day:
                raise dg.Failure(f"rebuild_from {first_day} is after rebuild_to {last_day}")
            # read by affected_days_sql (dbt_project/macros/engine/incremental.sql)
            args += ["--vars", json.dumps({"rebuild_from": first_day.isoformat(), "rebuild_to": last_day.isoformat()})]
        return args


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=translator,
            )
def warehouse_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                         config: RebuildConfig):
    """Every dbt model (staging, intermediate, marts, reports) and its tests, with `dbt build`, on
    the engine ANALYTICS_ENGINE names; a Spark build is then copied into the DuckDB build file.
    Usage marts are incremental by affected day (dbt_project/macros/engine/incremental.sql).
    Skipped, with everything downstream, when nothing changed since the last publish, unless the
    run asks for a rebuild (RebuildConfig)."""
    extra = config.dbt_args()
    if not extra and warehouse.build_is_current(context):
        return
    if extra:
        context.log.info(f"rebuild asked: dbt build {' '.join(extra)}")
    settings = warehouse.settings()
    build_state.invalidate(settings)  # the build warehouse changes from here on
    con = warehouse.connect()
    try:  # the ops and config sources as Parquet, for an engine that cannot read the build file
        write_engine_sources(con, settings)
    finally:
        con.close()
    if settings.engine != "duckdb":  # the build's own record of its tables, never an earlier one's
        shutil.rmtree(settings.spark_relation_columns_dir, ignore_errors=True)
    # Each event goes to Dagster as dbt reports it (the UI follows the build node by node), a
    # table's materialization with the row count dbt logged for it (macros/row_count.sql).
    # dbt's unit tests check the models' logic on fixed inputs, not the data: `make test` runs them
    # (tests/warehouse/test_dbt_unit_tests.py), the build leaves them out
    invocation = dbt.cli(["build", "--exclude-resource-type", "unit_test", *extra], context=context,
                         target_path=settings.dbt_target_dir)
    rows: dict[str, int] = {}
    for n, raw in enumerate(invocation.stream_raw_events(), start=1):
        if n == 20:
            kill_point("mid_dbt")  # dbt is still building: some models done, others not
        if counted := ROW_COUNT.fullmatch(raw.raw_event["info"].get("msg") or ""):
            rows[counted["unique_id"]] = int(counted["rows"])
            continue
        for event in raw.to_default_asset_events(manifest=invocation.manifest, dagster_dbt_translator=translator,
                                                 context=context, target_path=invocation.target_path,
                                                 project=dbt_project):
            if isinstance(event, dg.Output) and event.metadata.get("unique_id"):
                count = rows.get(event.metadata["unique_id"].value)
                if count is not None:
                    event = event.with_metadata({**event.metadata, "dagster/row_count": count})
            yield event
    if settings.engine != "duckdb":
        # Built and tested on Spark: the tables into the DuckDB build file the reports and the
        # publish step read, in one transaction (pipelines/lib/engine_import.py)
        con = warehouse.connect()
        try:
            copied = import_spark_build(con, settings, dbt_project.manifest_path)
        finally:
            con.close()
        context.log.info(f"copied {len(copied)} Spark tables ({sum(copied.values()):,} rows) into the DuckDB build")
    _check_what_the_build_read(settings, warehouse)


def _check_what_the_build_read(settings, warehouse: WarehouseResource) -> None:
    """The lake files the build read for the days it rebuilt, against their recorded sha256: a file
    changed behind the record (same size and rows, other bytes) fails the run before any report or
    publish. The build's record of what the incremental marts reflect is dropped then (DuckDB), so
    the next build reads and checks every day again until the lake is mended (`reingest`)."""
    con = warehouse.connect()
    try:
        breaks = rebuilt_input_breaks(con, settings.lake_dir)
        if breaks and settings.engine == "duckdb":
            con.execute("drop table if exists ops.dbt_builds")
    finally:
        con.close()
    if breaks:
        raise dg.Failure(
            f"{len(breaks)} lake file(s) the build read do not match the ingestion record, first: "
            + "; ".join(f"{b['file']}: {b['problem']}" for b in breaks[:5])
            + ". Nothing is reported or published; to recover, `python -m pipelines reingest "
            + " ".join(sorted({b["batch_id"] for b in breaks})) + "` (docs/reliability.md)",
            metadata={"breaks": dg.MetadataValue.json(breaks[:100])})
