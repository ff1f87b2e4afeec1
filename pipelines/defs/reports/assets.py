import dagster as dg

from pipelines.defs.ingest.resources import WarehouseResource
from pipelines.lib.reports import finance_report

FINANCE_MARTS = ["rpt_usage_ledger_reconciliation", "rpt_reconciliation_summary", "rpt_ledger_non_usage_entries",
                 "rpt_runtime_reconciliation"]


@dg.asset(
    group_name="reports",
    deps=[dg.AssetKey(["marts", name]) for name in FINANCE_MARTS],
    kinds={"excel", "csv"},
    owners=["team:finance-data"],
    pool="warehouse_writer",
    description=(
        "The finance reconciliation pack in reports/<newest batch_id>/finance/: a workbook (summary of "
        "control totals per organization and currency, breaks, non-usage entries, runtime drift), the "
        "same tables as CSV, and an evidence manifest whose hash is recorded in ops.report_manifests."
    ),
)
def finance_reconciliation_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    con = warehouse.connect()
    try:
        out = finance_report(con, warehouse.settings())
    finally:
        con.close()
    if not out:
        return dg.MaterializeResult(metadata={"skipped": "no batch loaded yet"})
    return dg.MaterializeResult(metadata={
        "directory": dg.MetadataValue.path(str(out["directory"])),
        "files": dg.MetadataValue.json([f.name for f in out["files"]]),
        "evidence_manifest": dg.MetadataValue.path(str(out["manifest"])),
        "usage_ledger_breaks": out["breaks"],
        "runtime_drift": out["drift"],
        "as_of_batch_id": out["batch_id"],
    })
