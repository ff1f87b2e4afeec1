import dagster as dg

from models import TABLES
from pipelines.defs.common.resources import WarehouseResource
from pipelines.lib.duck import first
from pipelines.lib.ingest import OPS_TABLES, ingest_all, lake_breaks
from pipelines.lib.render import markdown_table


def _lake_specs() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            ["lake", name], group_name="ingest", kinds={"parquet"}, owners=["team:data-platform"],
            description=f"Export table `{name}` in the Parquet lake: "
            + ("event rows by UTC date of event time." if t.kind == "event" else "one full snapshot per batch."),
        )
    for name, t in TABLES.items()
    ]


def _ops_specs() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(["ops", name], group_name="ingest", kinds={"duckdb"}, owners=["team:data-platform"],
                     description=text)
        for name, text in OPS_TABLES.items()
    ]


@dg.multi_asset(specs=_lake_specs() + _ops_specs(), name="ingest_batches", can_subset=False)
def ingest_batches(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Every complete export batch under ANALYTICS_EXPORTS_DIR not loaded yet, checked against its
    manifest and the pandera contracts (models/): valid rows to the Parquet lake and the build
    warehouse, bad rows to ops.quarantine with a reason, the ingestion record in the ops schema.

    Then the lake is checked against its record (every recorded file present, of its size and row
    count; every batch's files holding the rows recorded as loaded): a break fails the run here,
    before dbt builds from a damaged lake, naming the files (docs/reliability.md: recovery)."""
    settings = warehouse.settings()
    con = warehouse.connect()
    try:
        summary = ingest_all(con, settings, progress=lambda k, n, batch_id: context.log.info(
            f"batch {k} of {n}: {batch_id}"))  # the screen's progress (pipelines/lib/screen.py)
        breaks = lake_breaks(con, settings.lake_dir)
        if breaks:
            raise dg.Failure(
                f"the lake does not match the ingestion record ({len(breaks)} break(s)), first: "
                + "; ".join(f"{b['file'] or b['table_name'] + ' of ' + b['batch_id']}: {b['problem']}"
                            for b in breaks[:5])
                + ". Nothing is built or published; to recover, `python -m pipelines reingest "
                + " ".join(sorted({b["batch_id"] for b in breaks})) + "` (docs/reliability.md)",
                metadata={"breaks": dg.MetadataValue.json(breaks[:100])})
        per_table = dict(con.execute(
            "select table_name, coalesce(sum(rows_loaded), 0) from ops.ingested_files group by 1").fetchall())
        by_reason = con.execute(
            "select reason, count(*) from ops.quarantine where released_at is null group by 1 order by 2 desc"
        ).fetchall()
        batches = con.sql(
            "select batch_id, status, exported_at, reason from ops.ingested_batches order by batch_id desc").pl()
        ops_counts = {name: first(con.execute(f"select count(*) from ops.{name}"))[0] for name in OPS_TABLES}
    finally:
        con.close()
    for batch_id, reason in summary.rejected.items():
        context.log.warning(f"batch {batch_id} rejected: {reason}")
    for name in TABLES:
        yield dg.MaterializeResult(asset_key=["lake", name], metadata={
            "rows_loaded_total": int(per_table.get(name, 0)),
            "path": dg.MetadataValue.path(str(settings.lake_dir / name)),
        })
    for name in OPS_TABLES:
        meta = {"row_count": int(ops_counts[name])}
        if name == "ingested_batches":
            facts = summary.as_metadata()
            meta |= {**facts, "loaded": dg.MetadataValue.json(facts["loaded"]),
                     "rejected": dg.MetadataValue.json(facts["rejected"]),
                     "batches": dg.MetadataValue.md(markdown_table(batches)),
                     "exports": dg.MetadataValue.path(str(settings.exports_dir))}
        if name == "quarantine":
            meta["by_reason"] = dg.MetadataValue.json({r: n for r, n in by_reason})
        yield dg.MaterializeResult(asset_key=["ops", name], metadata=meta)
