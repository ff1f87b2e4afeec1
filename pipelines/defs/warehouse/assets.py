import dagster as dg

from pipelines.defs.ingest.resources import WarehouseResource
from pipelines.lib.ingest import control_total_breaks
from pipelines.lib.publish import publish


@dg.asset(
    group_name="publish",
    deps=["ingested_batches"],
    kinds={"duckdb"},
    owners=["team:data-platform"],
    description=(
        "warehouse/analytics.duckdb, the file analysts open: the build warehouse copied and renamed "
        "over it atomically at the end of a run whose ingestion control totals hold."
    ),
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    con = warehouse.connect()
    try:
        breaks = control_total_breaks(con)
        newest = con.execute(
            "select max(batch_id), max(exported_at) from ops.ingested_batches where status = 'loaded'").fetchone()
    finally:
        con.close()
    if breaks:
        # Findings never withhold the warehouse; a broken ingestion invariant does.
        raise dg.Failure("control totals do not hold: not publishing", metadata={"breaks": dg.MetadataValue.json(breaks[:50])})
    path = publish(settings)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "newest_batch_id": newest[0] or "",
        "as_of": str(newest[1]) if newest[1] else "",
        "size_bytes": path.stat().st_size,
    })
