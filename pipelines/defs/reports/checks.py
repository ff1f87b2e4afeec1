import dagster as dg

from pipelines.defs.common.resources import WarehouseResource
from pipelines.lib.config_files import load_config

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
        counts = dict(con.execute(
            "select status, count(*) from marts.rpt_usage_ledger_reconciliation group by 1").fetchall())
        for status, limit in thresholds.items():
            if counts.get(status, 0) > limit:
                over[status] = {"keys": counts[status], "threshold": limit}
                rows = con.sql(  # a sample to look at, not millions
                    "select * exclude (_watermark) from marts.rpt_usage_ledger_reconciliation "
                    "where status = ? order by all limit 20", params=[status]).pl()
                offending += [{k: str(v) for k, v in r.items()} for r in rows.to_dicts()]
    finally:
        con.close()
    return dg.AssetCheckResult(
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"over_threshold": dg.MetadataValue.json(over), "status_counts": dg.MetadataValue.json(counts),
                  "offending_rows": dg.MetadataValue.json(offending)},
    )


def _warn_on_rows(warehouse: WarehouseResource, sql: str, what: str) -> dg.AssetCheckResult:
    con = warehouse.connect()
    try:
        rows = con.sql(sql).pl()
    finally:
        con.close()
    return dg.AssetCheckResult(
        passed=rows.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={what: rows.height,
                  "offending_rows": dg.MetadataValue.json([{k: str(v) for k, v in r.items()}
                                                           for r in rows.head(50).to_dicts()])},
    )


@dg.asset_check(asset=dg.AssetKey(["marts", "rpt_audit_chain"]),
                description="The audit chain verifies: no missing seq, no hash mismatch, no broken link. Warns.")
def audit_chain_verified(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _warn_on_rows(
        warehouse,
        "select c.*, e.seq, e.audit_id, e.chain_status from marts.rpt_audit_chain c "
        "left join marts.fct_audit_events e on e.chain_status <> 'valid' where not c.verified order by e.seq",
        "unverified")


@dg.asset_check(asset=dg.AssetKey(["marts", "rpt_credential_rotation"]),
                description="No credential is past its expiry as of the newest export. Warns.")
def no_credential_expired(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _warn_on_rows(
        warehouse, "select * from marts.rpt_credential_rotation where rotation_status = 'expired' order by all",
        "expired_credentials")


@dg.asset_check(asset=dg.AssetKey(["marts", "rpt_source_freshness"]),
                description="No export table is stale or missing against pipelines/config/freshness.yml. Warns.")
def no_source_stale(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _warn_on_rows(
        warehouse, "select * from marts.rpt_source_freshness where status <> 'fresh' order by table_name",
        "stale_or_missing_tables")
