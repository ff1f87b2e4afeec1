import dagster as dg

from pipelines.defs.ingest.resources import WarehouseResource
from pipelines.lib.ingest import ingest_all
from pipelines.lib.render import markdown_table


@dg.asset(
    group_name="ingest",
    kinds={"duckdb", "parquet", "pandera"},
    owners=["team:data-platform"],
    description=(
        "Every complete export batch under ANALYTICS_EXPORTS_DIR not loaded yet, checked against its "
        "manifest and the pandera contracts (models/): valid rows to the Parquet lake and the build "
        "warehouse, bad rows to ops.quarantine with a reason, the ingestion record in the ops schema."
    ),
)
def ingested_batches(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    con = warehouse.connect()
    try:
        summary = ingest_all(con, settings)
        by_reason = con.execute(
            "select reason, count(*) from ops.quarantine where released_at is null group by 1 order by 2 desc"
        ).fetchall()
        totals = con.execute(
            "select coalesce(sum(rows_in_file), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0), "
            "coalesce(sum(rows_duplicate), 0) from ops.ingested_files").fetchone()
        preview = con.execute(
            "select batch_id, status, exported_at, reason from ops.ingested_batches order by batch_id desc limit 20"
        ).pl()
    finally:
        con.close()
    for batch_id, reason in summary.rejected.items():
        context.log.warning(f"batch {batch_id} rejected: {reason}")
    return dg.MaterializeResult(metadata={
        **summary.as_metadata(),
        "rows_in_files": int(totals[0]), "rows_loaded": int(totals[1]),
        "rows_quarantined": int(totals[2]), "rows_duplicate": int(totals[3]),
        "quarantine_by_reason": dg.MetadataValue.json({r: n for r, n in by_reason}),
        "batches": dg.MetadataValue.md(markdown_table(preview)),
        "lake": dg.MetadataValue.path(str(settings.lake_dir)),
        "exports": dg.MetadataValue.path(str(settings.exports_dir)),
    })

