import dagster as dg

from pipelines.defs.ingest.resources import WarehouseResource
from pipelines.defs.warehouse.assets import exposure_deps
from pipelines.lib.ops_report import ops_report
from pipelines.lib.reports import finance_report


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
    if warehouse.build_is_current(context):
        return
    con = warehouse.connect()
    try:
        out = finance_report(con, warehouse.settings())
    finally:
        con.close()
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
    if warehouse.build_is_current(context):
        return
    con = warehouse.connect()
    try:
        out = ops_report(con, warehouse.settings())
    finally:
        con.close()
    if not out:
        yield dg.MaterializeResult(metadata={"skipped": "no batch loaded yet"})
        return
    yield dg.MaterializeResult(metadata={
        "page": dg.MetadataValue.path(str(out["page"])),
        "evidence_manifest": dg.MetadataValue.path(str(out["manifest"])),
        "components": out["components"], "slo_alerts": out["alerts"], "audit_verified": out["audit_verified"],
        "as_of_batch_id": out["batch_id"], "revision": out["revision"], "new_revision_written": out["written"],
    })
