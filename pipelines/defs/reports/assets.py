import dagster as dg

from pipelines.defs.ingest.resources import WarehouseResource
from pipelines.defs.warehouse.assets import exposure_deps
from pipelines.lib.focus import focus_report
from pipelines.lib.ops_report import ops_report
from pipelines.lib.reports import finance_report


def _write_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource, write) -> dict | None:
    """`write(con, settings)` on the build warehouse; None when the build is current (nothing to do),
    {} when no batch is loaded yet."""
    if warehouse.build_is_current(context):
        return None
    con = warehouse.connect()
    try:
        return write(con, warehouse.settings())
    finally:
        con.close()


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
    out = _write_report(context, warehouse, finance_report)
    if out is None:
        return
    if not out:
        yield dg.MaterializeResult(metadata={"skipped": "no batch loaded yet"})
        return
    yield dg.MaterializeResult(metadata={
        "directory": dg.MetadataValue.path(str(out["directory"])),
        "files": dg.MetadataValue.json([f.name for f in out["files"]]),
        "evidence_manifest": dg.MetadataValue.path(str(out["manifest"])),
        "usage_ledger_breaks": out["breaks"],
        "runtime_drift": out["drift"],
        "as_of_batch_id": out["batch_id"],
        "revision": out["revision"],
        "new_revision_written": out["written"],
    })


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
    out = _write_report(context, warehouse, ops_report)
    if out is None:
        return
    if not out:
        yield dg.MaterializeResult(metadata={"skipped": "no batch loaded yet"})
        return
    yield dg.MaterializeResult(metadata={
        "page": dg.MetadataValue.path(str(out["page"])),
        "evidence_manifest": dg.MetadataValue.path(str(out["manifest"])),
        "components": out["components"], "slo_alerts": out["alerts"], "audit_verified": out["audit_verified"],
        "as_of_batch_id": out["batch_id"], "revision": out["revision"], "new_revision_written": out["written"],
    })


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
    out = _write_report(context, warehouse, focus_report)
    if out is None:
        return
    if not out:
        yield dg.MaterializeResult(metadata={"skipped": "no batch loaded yet"})
        return
    yield dg.MaterializeResult(metadata={
        "directory": dg.MetadataValue.path(str(out["directory"])),
        "evidence_manifest": dg.MetadataValue.path(str(out["manifest"])),
        "rows": out["rows"], "organizations": out["organizations"], "files": len(out["files"]),
        "as_of_batch_id": out["batch_id"], "revision": out["revision"], "new_revision_written": out["written"],
    })
