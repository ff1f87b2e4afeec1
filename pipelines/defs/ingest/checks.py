import dagster as dg

from models import TABLES
from pipelines.defs.common.resources import WarehouseResource
from pipelines.lib import alerts
from pipelines.lib.config import Settings
from pipelines.lib.duck import first
from pipelines.lib.freshness import alerted_sources, remember_alerted, source_freshness
from pipelines.lib.ingest import control_total_breaks


@dg.asset_check(
    asset=dg.AssetKey(["ops", "ingested_files"]),
    blocking=True,
    description="For every file of a loaded batch: rows in file = loaded + quarantined + duplicate, "
                "each term recounted from its own record. A break stops the warehouse from being published.",
)
def control_totals(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    con = warehouse.connect()
    try:
        breaks = control_total_breaks(con)
        files = first(con.execute("select count(*) from ops.ingested_files"))[0]
    finally:
        con.close()
    return dg.AssetCheckResult(
        passed=not breaks,
        metadata={"files_checked": files, "breaks": dg.MetadataValue.json(breaks[:50])},
    )


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec("fresh_by_the_clock", asset=["lake", name], blocking=False,
                             description="The table arrived in a loaded batch within its limit "
                                         "(pipelines/config/freshness.yml), by the wall clock.")
           for name in TABLES],
    can_subset=False,
)
def source_freshness_by_the_clock(context: dg.AssetCheckExecutionContext):
    """Each export table's lag by the wall clock, from the published warehouse (read-only: never
    waits for a run). A source that turns stale is alerted once (ANALYTICS_ALERT_WEBHOOK, else the
    log); it is alerted again only after it was fresh in between."""
    settings = Settings.from_env()
    found = source_freshness(settings)
    alerted = alerted_sources(settings)
    delivered = set()
    outcome: dict[str, str] = {}
    for f in found:
        if f.stale and f.table not in alerted:
            outcome[f.table] = alerts.send(alerts.Alert(
                kind="stale_source",
                summary=(f"{f.table}: nothing exported since {f.newest_exported_at:%Y-%m-%d %H:%M} UTC "
                         f"(limit {f.limit_seconds // 60} min)" if f.newest_exported_at
                         else f"{f.table}: never loaded"),
                link=alerts.ui_link(f"assets/lake/{f.table}?view=checks"),
                details={"table": f.table, "lag_seconds": f.lag_seconds, "limit_seconds": f.limit_seconds,
                         "newest_exported_at": f.newest_exported_at.isoformat() if f.newest_exported_at else None}))
            if not outcome[f.table].startswith("failed"):
                delivered.add(f.table)
    remember_alerted(settings, {f.table for f in found if f.stale} & (alerted | delivered))
    for f in found:
        yield dg.AssetCheckResult(
            asset_key=["lake", f.table], check_name="fresh_by_the_clock", passed=not f.stale,
            metadata={"lag_seconds": f.lag_seconds if f.lag_seconds is not None else -1,
                      "limit_seconds": f.limit_seconds,
                      "newest_exported_at": str(f.newest_exported_at) if f.newest_exported_at else "never loaded",
                      **({"alert": outcome[f.table]} if f.table in outcome else {})})
