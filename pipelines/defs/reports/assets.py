import dagster as dg

from pipelines.defs.common.resources import WarehouseResource
from pipelines.defs.warehouse.assets import exposure_deps
from pipelines.lib.finance import FINANCE
from pipelines.lib.focus import FOCUS
from pipelines.lib.ops_report import ops_report
from pipelines.lib.periods import Kind, periods_metadata, write_periods


def _write_periods(context: dg.AssetExecutionContext, warehouse: WarehouseResource, kind: Kind, facts):
    """The kind's period packs on the build warehouse, and what the run did to each period; nothing
    when the build is current (the run rebuilds nothing), a note when no batch is loaded yet."""
    if warehouse.build_is_current(context):
        return
    con = warehouse.connect()
    try:
        run = write_periods(con, warehouse.settings(), kind)
        counts = facts(con) if run else {}
    finally:
        con.close()
    if run is None:
        yield dg.MaterializeResult(metadata={"skipped": "no batch loaded yet"})
        return
    context.log.info(f"{kind.name}: wrote {[f'{p.period} {p.pack}' for p in run.written] or 'nothing'}; "
                     f"unchanged {run.unchanged}; closed {run.closed}")
    yield dg.MaterializeResult(metadata={**periods_metadata(run), **counts})


def _finance_facts(con) -> dict:
    breaks = con.execute("select count(*) from marts.rpt_usage_ledger_reconciliation where status <> 'matched'")
    return {"usage_ledger_breaks": breaks.fetchone()[0]}


def _focus_facts(con) -> dict:
    rows, organizations = con.execute(
        'select count(*), count(distinct "BillingAccountId") from marts.rpt_focus_charges').fetchone()
    return {"rows": rows, "organizations": organizations}


@dg.asset(
    group_name="reports",
    deps=exposure_deps("finance_reconciliation_report"),  # the dbt exposure finance_reconciliation_pack
    kinds={"excel", "csv"},
    owners=["team:finance-data"],
    description=(
        "The finance reconciliation pack of each billing period (UTC month), reports/finance/<YYYY-MM>/: a "
        "workbook (control totals per organization and currency, breaks, non-usage entries), the same tables as "
        "CSV and an evidence manifest recorded in ops.report_manifests. draft/ while the period is open, r1/ "
        "once it closes, r2/, r3/ with a changes.csv for a later change; a run writes only the periods it changed."
    ),
    output_required=False,
)
def finance_reconciliation_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    yield from _write_periods(context, warehouse, FINANCE, _finance_facts)


@dg.asset(
    group_name="reports",
    deps=exposure_deps("ops_status_report"),  # the dbt exposure ops_status_page
    kinds={"html", "plotly"},
    owners=["team:sre", "team:security"],
    description=(
        "The page ops reads, reports/ops/current/ops_status.html (a copy per UTC day in reports/ops/<YYYY-MM-DD>/): "
        "per component the SLI and error budget over time, burn rates and alert; source freshness, credential "
        "rotation, audit integrity, and the provider inventory against the runtimes (runtime_reconciliation.csv)."
    ),
    output_required=False,
)
def ops_status_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    if warehouse.build_is_current(context):
        return
    con = warehouse.connect()
    try:
        page = ops_report(con, warehouse.settings())
    finally:
        con.close()
    if page is None:
        yield dg.MaterializeResult(metadata={"skipped": "no batch loaded yet"})
        return
    yield dg.MaterializeResult(metadata={
        "page": dg.MetadataValue.path(str(page.page)), "day_copy": dg.MetadataValue.path(str(page.day)),
        "as_of_batch_id": page.batch_id, "written": page.written, **page.facts})


@dg.asset(
    group_name="reports",
    deps=exposure_deps("focus_export"),  # the dbt exposure focus_cost_and_usage_export
    kinds={"parquet", "csv"},
    owners=["team:finance-data"],
    description=(
        "The FOCUS 1.2 export of each billing period (UTC month), reports/focus/<YYYY-MM>/<draft|rN>/: per "
        "organization <organization_id>.parquet and .csv of marts.rpt_focus_charges (usage, credits, adjustments) "
        "and an evidence manifest recorded in ops.report_manifests; the same lifecycle as the finance pack."
    ),
    output_required=False,
)
def focus_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    yield from _write_periods(context, warehouse, FOCUS, _focus_facts)
