"""The main job end to end on the committed sample: real Dagster, real DuckDB files."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from models import REASON_ORDER
from pipelines.lib.config import PROJECT_ROOT, SAMPLE_EXPORTS
from pipelines.lib.duck import first
from tests.helpers import effective_totals_from_lake, expected_totals, run_log, run_pipeline, warehouse_fingerprint

pytestmark = pytest.mark.e2e


def published(settings):
    con = duckdb.connect(str(settings.published_db), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    return con


def manifests():
    for d in sorted(SAMPLE_EXPORTS.iterdir()):
        if (d / "manifest.json").exists():
            yield d.name, json.loads((d / "manifest.json").read_text())


def test_every_complete_batch_is_loaded_and_the_corrupt_one_rejected(built):
    con = published(built)
    rows = dict(con.execute("select batch_id, status from ops.ingested_batches").fetchall())
    complete = [name for name, _ in manifests()]
    assert sorted(rows) == complete  # the folder without a manifest is left alone
    assert [b for b, s in rows.items() if s == "rejected"] == ["20261104T120000Z-000004"]
    reason = first(con.execute("select reason from ops.ingested_batches where status = 'rejected'"))[0]
    assert "does not match the manifest" in reason


def test_every_quarantine_reason_of_the_contract_shows_in_the_sample(built):
    con = published(built)
    reasons = {r for (r,) in con.execute("select distinct reason from ops.quarantine").fetchall()}
    expected = {r for r in REASON_ORDER if r != "unknown_*"}
    assert expected <= reasons
    assert any(r.startswith("unknown_") for r in reasons)
    assert first(con.execute("select count(*) from ops.quarantine where reason is null or raw_record is null")) == (0,)


def test_nothing_lost_every_input_row_is_accounted_for(built):
    """rows in file (from the manifest, not from us) = loaded + quarantined + duplicate, every file."""
    con = published(built)
    files = {(b, f["table"]): f["row_count"] for b, m in manifests() for f in m["files"]}
    got = {(b, t): (n, loaded, q, d) for b, t, n, loaded, q, d in con.execute(
        "select batch_id, table_name, rows_in_file, rows_loaded, rows_quarantined, rows_duplicate "
        "from ops.ingested_files").fetchall()}
    loaded_batches = {b for (b,) in con.execute("select batch_id from ops.ingested_batches where status = 'loaded'").fetchall()}
    assert set(got) == {k for k in files if k[0] in loaded_batches}
    for key, (n, loaded, quarantined, dup) in got.items():
        assert n == files[key] == loaded + quarantined + dup, key


def test_loaded_usage_matches_the_generators_truth(built):
    """The lake, read by an independent polars path, holds exactly the generator's true usage."""
    assert effective_totals_from_lake(built.lake_dir) == expected_totals(SAMPLE_EXPORTS)


def test_the_usage_marts_match_the_generators_truth(built):
    """Quantities, event counts and rated amounts per day, organization and unit, to the last decimal."""
    con = published(built)
    got = {(str(d), o, u): (q, n, r) for d, o, u, q, n, r in con.execute(
        "select usage_date, organization_id, usage_unit, sum(quantity), sum(event_count), "
        "coalesce(sum(rated_amount), 0) from marts.usage_by_department_daily group by all").fetchall()}
    truth = json.loads((SAMPLE_EXPORTS / "expected_totals.json").read_text())["totals"]
    want = {(t["usage_date"], t["organization_id"], t["usage_unit"]):
            (Decimal(t["quantity"]), t["event_count"], Decimal(t["rated_amount"])) for t in truth}
    assert got == want


def test_the_published_file_holds_tables_only(built):
    con = published(built)
    views = first(con.execute("select count(*) from duckdb_views() where not internal"))[0]
    assert views == 0
    schemas = {s for (s,) in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
    assert "ops" in schemas and "raw" not in schemas
    cols = dict(con.execute("select column_name, data_type from duckdb_columns() where schema_name = 'ops' "
                            "and table_name = 'ingested_batches'").fetchall())
    assert cols["exported_at"] == "TIMESTAMP WITH TIME ZONE"


def test_focus_charges_add_up_to_the_reconciliation_and_the_ledger_to_the_cent(built):
    """rpt_focus_charges (FOCUS 1.2): BilledCost per organization and day equals the reconciliation's
    rated amounts (each key's rated amount rounded half-even), cent for cent, on the sample; and its
    Credit and Adjustment rows equal the ledger's credits, refunds and adjustments, read from the
    lake's files (not the warehouse), the reversals of usage charges left to the reconciliation."""
    con = published(built)
    focus = dict(((o, str(d)), s) for o, d, s in con.execute(
        "select BillingAccountId, ChargePeriodStart::date, sum(BilledCost) from marts.rpt_focus_charges "
        "where ChargeCategory = 'Usage' group by all").fetchall())
    recon = dict(((o, str(d)), s) for o, d, s in con.execute(
        "select organization_id, charge_date, sum(rated_amount) from marts.rpt_usage_ledger_reconciliation "
        "where rated_amount is not null group by all").fetchall())
    keys = con.execute("select count(*), count(distinct (BillingAccountId, SubAccountId, SkuId, x_ModelId, "
                       "ChargePeriodStart)) from marts.rpt_focus_charges where ChargeCategory = 'Usage'").fetchall()[0]
    credits = con.execute(
        "select BillingAccountId, ChargePeriodStart::date::varchar, ChargeCategory, sum(BilledCost) "
        "from marts.rpt_focus_charges where ChargeCategory <> 'Usage' group by all order by all").fetchall()
    con.close()
    assert focus == recon and len(focus) > 10
    assert keys[0] > keys[1]  # some keys hold several rows (prices, departments, resources): the cents were shared

    ledger = pl.read_parquet(str(built.lake_dir / "ledger_entries" / "**" / "*.parquet"))
    reversed_usage = ledger.filter(pl.col("entry_type") == "usage_charge")["entry_id"]
    entries = ledger.filter((pl.col("entry_type") != "usage_charge")
                            & ~pl.col("reverses_entry_id").fill_null("").is_in(reversed_usage.implode()))
    want = (entries.with_columns(
        category=pl.when(pl.col("entry_type") == "adjustment").then(pl.lit("Adjustment")).otherwise(pl.lit("Credit")),
        day=pl.col("charge_date").cast(pl.String))
        .group_by("organization_id", "day", "category").agg(pl.col("amount").sum()).sort(pl.all()))
    assert credits == [(o, d, c, a.quantize(Decimal("0.01"))) for o, d, c, a in want.iter_rows()]
    assert {c for _, _, c, _ in credits} == {"Credit", "Adjustment"}
    # the sample's reversal of a usage charge (-20.42) is not a credit here
    assert sum(a for *_, a in credits) == Decimal("-26.85")  # -25.00 - 3.10 + 1.25


def test_every_mart_and_column_carries_its_description(built):
    """persist_docs: what the property files say of each mart table and column is its COMMENT in
    the published file (the DuckDB CLI and DBeaver show it), doc blocks rendered."""
    manifest = json.loads((PROJECT_ROOT / "dbt_project" / "target" / "duckdb" / "manifest.json").read_text())
    want = {}
    for n in manifest["nodes"].values():
        if n["resource_type"] == "model" and n["schema"] == "marts":
            want[(n["alias"], None)] = n["description"]
            want |= {(n["alias"], c): v["description"] for c, v in n["columns"].items()}
    con = published(built)
    got = {(t, None): c for t, c in con.execute(
        "select table_name, comment from duckdb_tables() where schema_name = 'marts'").fetchall()}
    got |= {(t, c): m for t, c, m in con.execute(
        "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'").fetchall()}
    con.close()
    assert got == want and all(want.values())
    assert got[("fct_usage_daily", "organization_id")] == "The organization (tenant)."  # a doc block


def test_the_run_is_recorded_in_the_dagster_instance(built):
    home = built.data_dir / "dagster"
    assert "enabled: false" in (home / "dagster.yaml").read_text()
    from dagster import DagsterInstance, DagsterRunStatus

    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert runs and runs[0].job_name == "main_job" and runs[0].status == DagsterRunStatus.SUCCESS


def test_each_table_materialization_carries_its_row_count(built):
    """dbt logs a table's count as it finishes (macros/row_count.sql); the run attaches it to that
    model's materialization. Compared with a count of the published copy, table by table."""
    from dagster import AssetKey, DagsterInstance

    con = published(built)
    tables = con.execute("select schema_name, table_name from duckdb_tables() "
                         "where schema_name in ('intermediate', 'marts')").fetchall()
    assert len(tables) > 30
    counts = []
    with DagsterInstance.from_config(str(built.data_dir / "dagster")) as instance:
        for schema, table in tables:
            event = instance.get_latest_materialization_event(AssetKey([schema, table]))
            assert event is not None, (schema, table)
            metadata = event.asset_materialization.metadata
            counts.append(first(con.execute(f'select count(*) from "{schema}"."{table}"'))[0])
            assert metadata["dagster/row_count"].value == counts[-1], (schema, table)
    assert len(set(counts)) > 10  # counts that differ from table to table, not one number everywhere


def test_the_report_assets_say_which_periods_they_wrote(built):
    """The finance and FOCUS assets' materializations name the periods written (and as what), those
    unchanged and those closed: the sample's November, open as of its newest batch, is a draft."""
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(str(built.data_dir / "dagster")) as instance:
        for asset in ("finance_reconciliation_report", "focus_export"):
            metadata = instance.get_latest_materialization_event(AssetKey(asset)).asset_materialization.metadata
            assert metadata["periods_written"].value == ["2026-11 draft"], asset
            assert (metadata["periods_unchanged"].value, metadata["periods_closed"].value) == ([], []), asset
        ops = instance.get_latest_materialization_event(AssetKey("ops_status_report")).asset_materialization.metadata
        assert ops["page"].value == str(built.reports_dir / "ops" / "current" / "ops_status.html")


def test_a_rebuild_from_the_same_inputs_changes_nothing(built):
    before = warehouse_fingerprint(built)
    result = run_pipeline(built.data_dir, None, "--rebuild")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "STEP_SKIPPED" not in run_log(result)  # everything was rebuilt...
    assert warehouse_fingerprint(built) == before  # ...to the same tables, lake and report files


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root (links followed: the warehouse may live elsewhere): size, mtime."""
    out = {}
    for dirpath, _, names in os.walk(root, followlinks=True):
        for name in names:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def test_a_run_with_nothing_new_starts_nothing_and_writes_only_its_log(built):
    """Decided before Dagster starts (pipelines/lib/noop.py): no Dagster run is recorded (its
    storage is under the data directory) and no dbt process runs (every dbt invocation writes its
    log and run_results.json under dbt-target/): the one file written is the run's log."""
    before = _files(built.data_dir)
    result = run_pipeline(built.data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    after = _files(built.data_dir)
    written = {p for p in after if after[p] != before.get(p)}
    assert len(written) == 1 and next(iter(written)).startswith("logs/run-"), written
    assert set(before) <= set(after)
    assert (built.data_dir / next(iter(written))).read_text() == result.stdout
    assert "nothing new since the last publish" in result.stdout and "no run started" in result.stdout
    con = published(built)
    rejected = con.execute("select batch_id, reason from ops.ingested_batches where status = 'rejected'").fetchall()
    loaded = first(con.execute("select count(*) from ops.ingested_batches where status = 'loaded'"))[0]
    con.close()
    assert f"batches    0 loaded, 0 rejected, {loaded} skipped" in result.stdout
    for batch_id, reason in rejected:
        assert f"  still rejected {batch_id} (unchanged since): {reason}" in result.stdout
    assert f"published  {built.published_db}" in result.stdout


def test_a_run_through_dagster_with_nothing_new_skips_the_build(built):
    """The main job itself, as the UI, a schedule or the sensor launch it, finds the same inputs
    (build_state) and skips every build step."""
    published_file = built.published_db.stat()
    result = run_pipeline(built.data_dir, None, "--through-dagster")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "nothing new since the last publish: the build" in result.stdout
    log = run_log(result)
    for step in ("dbt_docs", "finance_reconciliation_report", "ops_status_report"):
        assert f'Skipped execution of step "{step}"' in log, (step, log[-6000:])
    assert built.published_db.stat().st_mtime_ns == published_file.st_mtime_ns  # not even republished


def test_the_sample_shows_every_reconciliation_status_and_drift_class(built):
    con = published(built)
    statuses = {s for (s,) in con.execute("select distinct status from marts.rpt_usage_ledger_reconciliation").fetchall()}
    assert statuses == {"matched", "amount_mismatch", "quantity_mismatch", "missing_in_ledger", "ledger_without_usage",
                        "duplicate_ledger_entry", "unrated_usage"}
    drift = {d for (d,) in con.execute("select distinct drift_class from marts.rpt_runtime_reconciliation").fetchall()}
    assert drift == {"in_sync", "orphan_at_provider", "missing_at_provider", "state_mismatch", "attribute_mismatch"}
    # the sample's November, open as of its newest batch: a draft, recorded
    finance = built.reports_dir / "finance" / "2026-11" / "draft"
    assert (finance / "reconciliation.xlsx").exists() and (finance / "finance_reconciliation.evidence.json").exists()
    assert sorted(p.name for p in (built.reports_dir / "finance").iterdir()) == ["2026-11"]
    assert con.execute("select kind, period, pack from ops.report_manifests where kind <> 'ops' order by all"
                       ).fetchall() == [("finance", "2026-11", "draft"), ("focus", "2026-11", "draft")]


def test_the_ops_page_and_its_marts_are_built(built):
    con = published(built)
    newest = first(con.execute("select max(exported_at) from ops.ingested_batches where status = 'loaded'"))[0]
    assert (built.reports_dir / "ops" / "current" / "ops_status.html").exists()
    assert (built.reports_dir / "ops" / f"{newest:%Y-%m-%d}" / "ops_status.html").exists()
    slos = {(c, s) for c, s in con.execute("select component, slo_name from marts.rpt_slo_status").fetchall()}
    assert {("billing.rating", "availability"), ("iam.facade", "availability"),
            ("notification.dispatch", "availability"), ("billing.rating", "latency_under_250ms"),
            ("notification.dispatch", "dlq_drained")} == slos
    assert first(con.execute("select verified from marts.rpt_audit_chain")) == (True,)
    statuses = {s for (s,) in con.execute("select rotation_status from marts.rpt_credential_rotation").fetchall()}
    assert statuses == {"ok", "due_soon", "overdue", "expired", "revoked"}


def test_the_screen_shows_stages_and_a_summary_and_the_log_file_the_rest(built_run):
    """What `make run` prints: a line per stage and a summary; no DEBUG line, no dbt node line.
    The log file it names holds Dagster's and dbt's full output."""
    settings, result = built_run
    screen = result.stdout + result.stderr
    import re

    assert "DEBUG" not in screen and not re.search(r"\d+ of \d+ (START|OK|PASS)", screen)
    assert "\r" not in screen  # not a terminal (CI, cron): plain lines, no bar animation
    for title in ("ingest", "dbt build", "finance pack", "ops page", "publish", "dbt docs"):
        assert re.search(f"^{title} +done ", screen, re.MULTILINE), title
    assert "nothing new" not in screen  # a first build builds everything, the docs after the publish included
    assert (settings.data_dir / "docs" / "dbt" / "index.html").stat().st_size > 10_000
    log = run_log(result)
    assert "DEBUG" in log and "STEP_SUCCESS" in log and "Completed successfully" in log  # dbt's own lines
    assert f"published  {settings.published_db}" in screen


def test_the_summary_counts_equal_the_ops_tables(built_run):
    import re

    settings, result = built_run
    con = published(settings)
    status = dict(con.execute("select status, count(*) from ops.ingested_batches group by 1").fetchall())
    files = first(con.execute("select sum(rows_in_file), sum(rows_loaded), sum(rows_quarantined), sum(rows_duplicate) "
                        "from ops.ingested_files"))
    reasons = dict(con.execute("select reason, count(*) from ops.quarantine where released_at is null group by 1"
                               ).fetchall())
    breaks = dict(con.execute("select status, count(*) from marts.rpt_usage_ledger_reconciliation "
                              "where status <> 'matched' group by 1").fetchall())
    rejected = con.execute("select batch_id, reason from ops.ingested_batches where status = 'rejected'").fetchall()
    con.close()
    out = result.stdout
    assert f"batches    {status['loaded']} loaded, {status['rejected']} rejected, 0 skipped" in out
    for batch_id, reason in rejected:
        assert f"  rejected {batch_id}: {reason}" in out
    n_in, loaded, quarantined, duplicate = files
    assert f"rows       {n_in:,} read: {loaded:,} loaded, {quarantined:,} quarantined, {duplicate:,} duplicate" in out
    shown = dict((r, int(n.replace(",", ""))) for r, n in re.findall(
        r"(\w+) ([\d,]+)", re.search(r"quarantined by reason: (.*)", out)[1]))
    assert shown == reasons
    shown_breaks = dict((s, int(n.replace(",", ""))) for s, n in re.findall(
        r"(\w+) ([\d,]+)", re.search(r"reconciliation breaks: (.*)", out)[1]))
    assert shown_breaks == breaks and sum(breaks.values()) > 0
