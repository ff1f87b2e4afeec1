import dagster as dg

from pipelines.defs.ingest.resources import WarehouseResource
from pipelines.lib.reports import load_config

RECONCILIATION = dg.AssetKey(["marts", "rpt_usage_ledger_reconciliation"])


@dg.asset_check(
    asset=RECONCILIATION,
    description="Reconciliation break classes within their thresholds (pipelines/config/reconciliation.yml). "
                "Warns with the offending rows; never stops the warehouse from being published.",
)
def reconciliation_break_thresholds(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    thresholds = load_config("reconciliation.yml").get("break_thresholds", {})
    con = warehouse.connect()
    try:
        over, offending = {}, []
        for status, limit in thresholds.items():
            rows = con.execute("select * from marts.rpt_usage_ledger_reconciliation where status = ? order by all",
                               [status]).pl()
            if rows.height > limit:
                over[status] = {"keys": rows.height, "threshold": limit}
                offending += [{k: str(v) for k, v in r.items()} for r in rows.head(20).to_dicts()]
        counts = dict(con.execute(
            "select status, count(*) from marts.rpt_usage_ledger_reconciliation group by 1").fetchall())
    finally:
        con.close()
    return dg.AssetCheckResult(
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"over_threshold": dg.MetadataValue.json(over), "status_counts": dg.MetadataValue.json(counts),
                  "offending_rows": dg.MetadataValue.json(offending)},
    )
