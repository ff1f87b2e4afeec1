"""The publish step: the file analysts open, replaced whole at the end of a good run, and the dbt
docs site, generated after it (never holding it back)."""

import os
import shutil

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.defs.common.resources import WarehouseResource
from pipelines.defs.reports.assets import finance_reconciliation_report, focus_export, ops_status_report
from pipelines.defs.warehouse.assets import warehouse_dbt_models
from pipelines.defs.warehouse.project import dbt_project
from pipelines.lib import build_state
from pipelines.lib.duck import first
from pipelines.lib.ingest import control_total_breaks, lake_breaks
from pipelines.lib.publish import publish


@dg.asset(
    group_name="warehouse",
    # after every report file: the published warehouse never shows marts the files were not written from
    deps=[dg.AssetKey(["ops", "ingested_files"]), warehouse_dbt_models, finance_reconciliation_report,
          ops_status_report, focus_export],
    kinds={"duckdb"},
    owners=["team:data-platform"],
    description=(
        "warehouse/analytics.duckdb, the file analysts open: the build warehouse copied and renamed "
        "over it atomically at the end of a run whose ingestion control totals hold. Skipped when "
        "it is already built from the same batches, code and configuration."
    ),
    output_required=False,
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    if warehouse.build_is_current(context):
        return
    settings = warehouse.settings()
    con = warehouse.connect()
    try:
        breaks = control_total_breaks(con) + lake_breaks(con, settings.lake_dir)
        newest = first(con.execute(
            "select max(batch_id), max(exported_at) from ops.ingested_batches where status = 'loaded'"))
    finally:
        con.close()
    if breaks:
        # Findings never withhold the warehouse; a broken ingestion invariant does.
        raise dg.Failure("control totals do not hold: not publishing",
                         metadata={"breaks": dg.MetadataValue.json(breaks[:50])})
    path = publish(settings)
    con = warehouse.connect()
    try:
        build_state.record(con, settings)
    finally:
        con.close()
    yield dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "newest_batch_id": newest[0] or "",
        "as_of": str(newest[1]) if newest[1] else "",
        "size_bytes": path.stat().st_size,
    })


@dg.asset(
    group_name="warehouse",
    # after the publish step: the docs never hold back (or, failing, withhold) the analysts' file
    deps=[warehouse_dbt_models, published_warehouse],
    kinds={"dbt"},
    owners=["team:analytics-engineering"],
    description=(
        "The dbt docs site as one static page (dbt docs generate --static), under docs/dbt/ in the data "
        "directory. The page describes models, columns and tests, never data (DuckDB's catalog has no "
        "statistics), so it is regenerated only when the code or configuration changed. It runs after the "
        "publish step, which it never holds back."
    ),
    output_required=False,
)
def dbt_docs(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    # No "nothing new" check of its own: it follows the publish step, which records the build as
    # current (and, skipping, skips this step too); the code fingerprint below decides the rest.
    settings = warehouse.settings()
    target = settings.data_dir / "docs" / "dbt" / "index.html"
    stamp = target.with_name(".code_fingerprint")
    code = build_state.code_fingerprint(settings)
    regenerate = not (target.exists() and stamp.exists() and stamp.read_text() == code)
    if regenerate:
        stamp.unlink(missing_ok=True)
        # --no-compile: the build just compiled every node into this target directory (compiling
        # them again was two thirds of the step)
        invocation = dbt.cli(["docs", "generate", "--static", "--no-compile"], manifest=dbt_project.manifest_path,
                             target_path=settings.dbt_target_dir).wait()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(invocation.target_path / "static_index.html", tmp)
        os.replace(tmp, target)
        stamp.write_text(code)
    yield dg.MaterializeResult(data_version=dg.DataVersion(code[:16]), metadata={
        "path": dg.MetadataValue.path(str(target)), "size_bytes": target.stat().st_size,
        "regenerated": regenerate})
