import dagster as dg

from pipelines.defs.common.resources import WarehouseResource
from pipelines.defs.warehouse.assets import exposure_deps
from pipelines.lib.focus import focus_report
from pipelines.lib.ops_report import ops_report
from pipelines.lib.reports import Written, finance_report


def _write_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource, write):
    """`write(con, settings)` on the build warehouse, and the pack's metadata; nothing when the
    build is current (the run rebuilds nothing), a note when no batch is loaded yet."""
    if warehouse.build_is_current(context):
        return
    con = warehouse.connect()
    try:
        out: Written | None = write(con, warehouse.settings())
    finally:
        con.close()
    if out is None:
        yield dg.MaterializeResult(metadata={"skipped": "no batch loaded yet"})
        return
    pack = out.pack
    yield dg.MaterializeResult(metadata={
        "directory": dg.MetadataValue.path(str(pack.directory)),
        "files": dg.MetadataValue.json([f.relative_to(pack.directory).as_posix() for f in pack.files]),
        "evidence_manifest": dg.MetadataValue.path(str(pack.manifest)),
        "as_of_batch_id": out.batch_id, "revision": pack.revision, "new_revision_written": pack.written,
        **out.facts,
    })


@dg.asset(
    group_name="reports",
    deps=exposure_deps("finance_reconciliation_report"),  # the dbt exposure finance_reconciliation_pack
    kinds={"excel", "csv"},
    owners=["team:finance-data"],
    description=(
        "The finance reconciliation pack in reports/<newest batch_id>/finance/: a workbook (summary of "
        "control totals per organization and currency, breaks, non-usage entries, runtime drift), the "
        "same tables as CSV, and an evidence manifest whose hash is recorded in ops.report_manifests. A pack "
        "is never rewritten: other content for the same batch goes to a new revision, reports/<batch_id>/r2/finance/."
    ),
    output_required=False,
)
def finance_reconciliation_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    yield from _write_report(context, warehouse, finance_report)


@dg.asset(
    group_name="reports",
    deps=exposure_deps("ops_status_report"),  # the dbt exposure ops_status_page
    kinds={"html", "plotly"},
    owners=["team:sre", "team:security"],
    description=(
        "The page ops reads, reports/<newest batch_id>/ops/ops_status.html: per component the SLI and error "
        "budget over time, burn rates and alert; source freshness, credential rotation and audit integrity."
    ),
    output_required=False,
)
def ops_status_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    yield from _write_report(context, warehouse, ops_report)


@dg.asset(
    group_name="reports",
    deps=exposure_deps("focus_export"),  # the dbt exposure focus_cost_and_usage_export
    kinds={"parquet", "csv"},
    owners=["team:finance-data"],
    description=(
        "The FOCUS 1.2 export in reports/<newest batch_id>/focus/: per organization and billing period (UTC "
        "month) <organization_id>/<YYYY-MM>.parquet and .csv of marts.rpt_focus_charges (usage, credits, "
        "adjustments), and an evidence manifest recorded in ops.report_manifests; revisions as the finance pack."
    ),
    output_required=False,
)
def focus_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    yield from _write_report(context, warehouse, focus_report)
