import dagster as dg

from pipelines.defs.ingest.resources import WarehouseResource
from pipelines.lib.duck import first
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
