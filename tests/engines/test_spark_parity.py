"""The main job on Apache Spark (local PySpark, ANALYTICS_ENGINE=spark) and on DuckDB, over the
same ingestion: the published analyst file holds the same schemas, tables, columns (names, order,
types) and rows, decimals to the last digit, and the report files are byte for byte the same,
after a first build and after an incremental one (which also voids a day); Spark's incremental
build also equals DuckDB's full rebuild.

Both data directories see one ingestion: each step runs `python -m pipelines run` on DuckDB,
then copies its ingestion record and lake to the Spark directory (whose own warehouse, marts and
incremental record stay) with the DuckDB-built tables removed, and runs the main job there on
Spark: its ingestion finds nothing new, dbt builds and tests on Spark, and the copy into DuckDB
(pipelines/lib/engine_import.py) has to supply every table. (Two separate ingestions would differ
in their load times, which the marts carry.)

The scenario: the committed sample (duplicates, corrections, a void, late events, a department
move, a plan change mid-period, quarantined rows, a rejected batch) in steps: every batch but the
last; then, in one incremental run, the last and a generated batch voiding every event of one day
and adding half-even ties (rated amounts of exactly half a cent), the largest quantity and three
audit links after the held-back batch's (the trail, in blocks of 20 links, rebuilds from the block
of the first new link)."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.config import PROJECT_ROOT, SAMPLE_EXPORTS, Settings
from tests.helpers import write_batch
from tools.generator import audit_row_hash, ts

DBT_DIR = PROJECT_ROOT / "dbt_project"
# Columns that hold the wall clock of the run that wrote them, never the data (a rejected batch is
# examined again by every run, the DuckDB side's and the Spark side's)
WALL_CLOCK = {("ops", "dbt_builds"): {"built_at"}, ("ops", "report_manifests"): {"written_at"},
              ("ops", "ingested_batches"): {"loaded_at"}, ("ops", "ingest_runs"): {"started_at", "finished_at"}}
# The record of which report pack each run wrote: the DuckDB side's runs and the Spark side's (whose
# build file starts as a copy of the DuckDB side's) write packs at other times. The packs themselves
# are compared byte for byte (report_differences).
PACK_RECORD = {("ops", "report_manifests"), ("ops", "report_periods"), ("ops", "report_period_totals")}

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java: make test installs it")


# The audit trail in blocks of 20 links (the sample's 80 are 5 blocks): the incremental run's new
# links rebuild from the block of the first of them, the link before it read from the blocks kept
AUDIT_BLOCKS = {"ANALYTICS_AUDIT_CHAIN_BLOCK_SEQS": "20"}


def run(data: Path, exports: Path, engine: str) -> None:
    env = dict(os.environ, ANALYTICS_DATA_DIR=str(data), ANALYTICS_EXPORTS_DIR=str(exports),
               ANALYTICS_ENGINE=engine, DO_NOT_TRACK="1", ANALYTICS_SPARK_SHUFFLE_PARTITIONS="2", **AUDIT_BLOCKS)
    env.pop("ANALYTICS_BUILD_DB", None)
    result = subprocess.run([sys.executable, "-m", "pipelines", "run"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def mirror_ingestion(duck: Settings, spark: Settings) -> None:
    """The DuckDB directory's ingestion record (its build file, minus every table and view dbt
    made) and lake, into the Spark directory."""
    spark.build_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(duck.build_db, spark.build_db)
    con = duckdb.connect(str(spark.build_db))
    try:
        for schema in ("staging", "intermediate", "marts"):
            con.execute(f"drop schema if exists {schema} cascade")
        con.execute("drop table if exists ops.dbt_builds")
        # the report record belongs to the directory's own report files (PACK_RECORD)
        for table in ("report_manifests", "report_periods", "report_period_totals"):
            con.execute(f"drop table if exists ops.{table}")
    finally:
        con.close()
    shutil.rmtree(spark.lake_dir, ignore_errors=True)
    shutil.copytree(duck.lake_dir, spark.lake_dir)


def tables(con, db: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    out: dict = {}
    for schema, table, column, data_type in con.execute(
            "select schema_name, table_name, column_name, data_type from duckdb_columns() "
            "where database_name = ? and not internal order by schema_name, table_name, column_index", [db]).fetchall():
        out.setdefault((schema, table), []).append((column, data_type))
    return out


def differences(duck_file: Path, spark_file: Path, schemas=None, history=False) -> dict[str, str]:
    """Per table of the DuckDB-built file: '' when the Spark-built file holds it with the same
    columns in the same order with the same types and the same rows (EXCEPT ALL both ways).
    history: the two builds got there by different runs, so `_watermark` (the newest change a
    row's day reflected when that day was last rebuilt) is not compared."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{duck_file}' as duck (read_only)")
    con.execute(f"attach '{spark_file}' as spark (read_only)")
    out = {}
    try:
        ours, theirs = tables(con, "duck"), tables(con, "spark")
        for (schema, table), columns in ours.items():
            if (schemas and schema not in schemas) or (schema, table) in PACK_RECORD:
                continue
            name = f"{schema}.{table}"
            if theirs.get((schema, table)) != columns:
                out[name] = f"columns: {columns} vs {theirs.get((schema, table))}"
                continue
            keep = ", ".join(f'"{c}"' for c, _ in columns if c not in WALL_CLOCK.get((schema, table), ())
                             and not (history and c == "_watermark"))
            a, b = (con.execute(f"select count(*) from (select {keep} from {x}.{name} except all "
                                f"select {keep} from {y}.{name})").fetchall()[0][0]
                    for x, y in (("duck", "spark"), ("spark", "duck")))
            out[name] = f"{a} rows only built by DuckDB, {b} only by Spark" if a or b else ""
        if not schemas:
            out.update({f"{s}.{t}": "only built by Spark" for s, t in theirs if (s, t) not in ours})
    finally:
        con.close()
    return out


def report_differences(duck: Settings, spark: Settings) -> list[str]:
    """Report files of the Spark side that are not byte for byte the DuckDB side's file of the same
    path (or are on the Spark side only). DuckDB may hold more: it ran once per batch (an ops page
    copy per day)."""
    files = sorted(p.relative_to(spark.reports_dir) for p in spark.reports_dir.rglob("*") if p.is_file())
    assert files, "the Spark side wrote no report file"
    return [str(f) for f in files
            if not (duck.reports_dir / f).is_file()
            or not filecmp.cmp(duck.reports_dir / f, spark.reports_dir / f, shallow=False)]


VOID_BATCH = "20261106T000500Z-000006"
# Output tokens at 0.0000005 a token (the sample's enterprise price): 10,000 rate at exactly half a
# cent, rounded half-even to 0.00 (half away from zero would make it 0.01); 30,000 rate at 0.015,
# to 0.02. Each on a day of its own, so each is a reconciliation line of its own.
TIES = {"2026-11-05": ("10000", Decimal("0.00")), "2026-11-06": ("30000", Decimal("0.02"))}
# The largest quantity the contract allows (below 10^12, 9 decimals) at the enterprise input-token
# price, 0.00000012: its rated amount has 23 significant digits, 17 after the point, which Spark
# would cut to 6 decimals in a decimal(38,9) x decimal(38,9) product (macros/engine/money.sql).
LARGEST = ("999999999999.999999999", Decimal("119999.99999999999999988"))
# Ledger amounts at the contract's cap, 18 digits before the point (oltp-export-v1 v1.2): a credit,
# and an adjustment that rounds half-even to 10^18, in FOCUS on both engines.
CAP_LEDGER = {"cap_credit": ("credit", "-999999999999999999.99", Decimal("-999999999999999999.99")),
              "cap_adjustment": ("adjustment", "999999999999999999.999999999", Decimal("1000000000000000000.00"))}


def usage_days(batch: Path) -> list[str]:
    """The UTC days of the usage events a batch folder holds (its manifest names the file)."""
    entry = next(f for f in json.loads((batch / "manifest.json").read_text())["files"] if f["table"] == "usage_events")
    reader = {"parquet": "read_parquet(?)", "csv": "read_csv(?, all_varchar = true)",
              "jsonl": "read_json(?, format = 'newline_delimited')"}[entry["format"]]
    return [d for (d,) in duckdb.execute(f"select distinct left(cast(occurred_at as varchar), 10) from {reader}",
                                         [str(batch / entry["path"])]).fetchall()]


def void_one_day_and_add_ties(published: Path, exports: Path, avoid: list[str], audit_before: Path) -> tuple[str, dict]:
    """A batch of corrections with quantity 0 for every effective event of the day with the fewest
    that no batch still to load touches (`avoid`), which leaves that day without usage, two new
    events rating at half-even ties, and one of the largest quantity. Returns the day, and the
    ties' reconciliation key per day."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        day = con.execute("select usage_date from marts.fct_usage_events where not list_contains(?::varchar[], usage_date::varchar) "
                          "group by 1 order by count(*), 1 limit 1", [avoid]).fetchone()[0]
        events = con.execute(
            "select event_id, strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ'), organization_id, project_id, "
            "api_key_id, model_id, resource_id, usage_unit from marts.fct_usage_events "
            "where usage_date = ? order by 1", [day]).fetchall()
        tie = con.execute(
            "select organization_id, project_id, api_key_id, model_id from marts.fct_usage_events "
            "where price_id = 'price_enterprise_output_token' order by event_id limit 1").fetchone()
    finally:
        con.close()
    voids = [dict(event_id=f"void_{i}", outbox_seq=str(10**9 + i), occurred_at=at, recorded_at="2026-11-06T00:00:00Z",
                  organization_id=o, project_id=p, api_key_id=k, model_id=m, resource_id=r, usage_unit=u, quantity="0",
                  correction_of=eid, attributes=None)
             for i, (eid, at, o, p, k, m, r, u) in enumerate(events)]
    org, project, key, model = tie
    ties = [dict(event_id=f"tie_{d}", outbox_seq=str(2 * 10**9 + i), occurred_at=f"{d}T00:01:00Z",
                 recorded_at=f"{d}T00:02:00Z", organization_id=org, project_id=project, api_key_id=key,
                 model_id=model, resource_id=None, usage_unit="output_token", quantity=q, correction_of=None,
                 attributes=None)
            for i, (d, (q, _)) in enumerate(TIES.items())]
    largest = dict(ties[0], event_id="largest", outbox_seq=str(3 * 10**9), occurred_at="2026-11-05T00:03:00Z",
                   recorded_at="2026-11-05T00:04:00Z", usage_unit="input_token", quantity=LARGEST[0])
    caps = [dict(entry_id=e, organization_id=org, project_id=None, usage_unit=None, model_id=None,
                 charge_date="2026-11-05", quantity=None, amount=amount, currency="USD", entry_type=kind,
                 posted_at="2026-11-05T00:05:00Z", reverses_entry_id=None)
            for e, (kind, amount, _) in CAP_LEDGER.items()]
    write_batch(exports, VOID_BATCH, {"usage_events": voids + ties + [largest], "ledger_entries": caps,
                                      "audit_events": more_links(audit_before, 3)})
    return str(day), {d: (org, project, model) for d in TIES}


def more_links(before: Path, n: int) -> list[dict]:
    """n audit links after the newest of an export's audit file, each chained to the one before."""
    con = duckdb.connect()
    try:
        seq, prev = con.execute("select seq::bigint, row_hash from read_csv(?, all_varchar = true) "
                                "order by seq::bigint desc limit 1", [str(before)]).fetchone()
    finally:
        con.close()
    rows = []
    for i in range(1, n + 1):
        r = dict(audit_id=f"parity_audit_{i}", seq=str(seq + i), occurred_at=ts(datetime(2026, 11, 5, 1, i, tzinfo=UTC)),
                 actor_type="user", actor_id="u_parity", action="iam.role.grant", resource_type="role",
                 resource_id=f"r{i}", organization_id=None, outcome="success", privileged="true", scope=None,
                 correlation_id=f"parity_{i}", source_ip=None, prev_hash=prev)
        r["row_hash"] = prev = audit_row_hash(r)
        rows.append(r)
    return rows


def scalar(path: Path, sql: str, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    exports = root / "exports"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    duck, spark = (Settings(exports_dir=exports, data_dir=root / name) for name in ("duckdb", "spark"))
    batches = sorted(p for p in exports.iterdir() if (p / "manifest.json").exists())
    held = root / "held"
    held.mkdir()
    shutil.move(str(batches[-1]), held / batches[-1].name)

    def step():
        mirror_ingestion(duck, spark)
        run(spark.data_dir, exports, "spark")
        return (differences(duck.published_db, spark.published_db),
                report_differences(duck, spark),
                (scalar(spark.published_db, "select count(*) from intermediate.int_usage_affected_dates")[0][0],
                 scalar(spark.published_db, "select count(distinct day) from ops.touched_dates "
                                            "where table_name = 'usage_events'")[0][0],
                 scalar(spark.published_db, "select chain_block from intermediate.int_audit_affected_blocks "
                                            "order by 1")))

    run(duck.data_dir, exports, "duckdb")
    steps = {"first": step()}
    # Then the held-back batch and a batch voiding a day (one the held-back batch does not touch)
    # and adding ties: each engine loads and builds both in one incremental run.
    voided_day, tie_keys = void_one_day_and_add_ties(duck.published_db, exports, usage_days(held / batches[-1].name),
                                                     held / batches[-1].name / "audit_events.csv.gz")
    shutil.move(str(held / batches[-1].name), exports / batches[-1].name)
    run(duck.data_dir, exports, "duckdb")
    steps["incremental"] = step()
    facts = {"voided_day": voided_day}
    for name, settings in (("duckdb", duck), ("spark", spark)):
        facts[f"voided_rows_{name}"] = scalar(settings.published_db, "select count(*) from marts.fct_usage_daily "
                                              "where usage_date = ?", [voided_day])[0][0]
        facts[f"ties_{name}"] = {d: scalar(settings.published_db, "select rated_amount from "
                                           "marts.rpt_usage_ledger_reconciliation where charge_date = ? and "
                                           "organization_id = ? and project_id = ? and model_id = ? "
                                           "and usage_unit = 'output_token'",
                                           [d, *tie_keys[d]]) for d in TIES}
        facts[f"largest_{name}"] = scalar(settings.published_db, "select quantity, rated_amount from "
                                          "marts.fct_usage_events where event_id = 'largest'")
        facts[f"audit_{name}"] = scalar(settings.published_db, "select rows_checked, last_seq, verified "
                                        "from marts.rpt_audit_chain")
        facts[f"caps_{name}"] = scalar(settings.published_db, 'select "BilledCost" from marts.rpt_focus_charges '
                                       'where "x_LedgerEntryId" like \'cap_%\' order by "x_LedgerEntryId"')
    # DuckDB's marts rebuilt whole, against Spark's incremental ones
    env = dict(os.environ, ANALYTICS_DATA_DIR=str(duck.data_dir), ANALYTICS_ENGINE="duckdb", DO_NOT_TRACK="1",
               **AUDIT_BLOCKS)
    result = subprocess.run([str(Path(sys.executable).with_name("dbt")), "run", "--full-refresh",
                             "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
                             "--target-path", str(root / "dbt-full-refresh"), "--log-path", str(root / "dbt-logs")],
                            env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:]
    steps["full_refresh"] = (differences(duck.build_db, spark.published_db, schemas={"marts"}, history=True), [], None)
    return steps, facts


@pytest.mark.parametrize("step", ["first", "incremental", "full_refresh"])
def test_both_engines_publish_the_same_warehouse_and_reports(two_engines, step):
    tables_differing, reports_differing, _ = two_engines[0][step]
    assert len([t for t in tables_differing if t.startswith("marts.")]) >= 25, sorted(tables_differing)
    assert {t: d for t, d in tables_differing.items() if d} == {}
    assert reports_differing == []


def test_the_incremental_run_rebuilt_only_the_changed_days(two_engines):
    """The second Spark build was incremental: the days the two new batches changed (the
    held-back batch's 2026-11-03 and -04, the voided day, the ties' two new days), not all."""
    steps, facts = two_engines
    affected, days, blocks = steps["first"][2]
    assert affected == days  # a first build: every day
    assert blocks == [(0,), (1,), (2,), (3,)]  # and every block of the audit chain (seqs 1-60)
    affected, days, blocks = steps["incremental"][2]
    assert 0 < affected < days
    # the audit chain from the block of the first new link (61, the held-back batch's) on: 60-79 and
    # 80-83 (three generated links after 80); 59, the link before, read from the blocks kept
    assert blocks == [(3,), (4,)]
    assert facts["audit_duckdb"] == facts["audit_spark"] == [(83, 83, True)]


def test_a_day_whose_every_event_is_voided_is_emptied_on_both_engines(two_engines):
    """Its new rows are none, so neither delete+insert on the day nor a dynamic partition
    overwrite would touch it: the affected days are emptied first (macros/engine/incremental.sql)."""
    _, facts = two_engines
    assert (facts["voided_rows_duckdb"], facts["voided_rows_spark"]) == (0, 0), facts["voided_day"]


def test_half_cent_ties_round_to_even_on_both_engines(two_engines):
    _, facts = two_engines
    expected = {d: [(cents,)] for d, (_, cents) in TIES.items()}
    assert facts["ties_duckdb"] == expected
    assert facts["ties_spark"] == expected


def test_the_largest_quantity_rates_to_the_last_digit_on_both_engines(two_engines):
    """Every digit of quantity x unit price, 18 decimals (and the marts compared above hold it
    in every rollup)."""
    _, facts = two_engines
    expected = [(Decimal(LARGEST[0]), LARGEST[1])]
    assert facts["largest_duckdb"] == expected
    assert facts["largest_spark"] == expected


def test_ledger_amounts_at_the_contracts_cap_reach_focus_on_both_engines(two_engines):
    """18 digits before the point build on both engines (a DECIMAL(18,2) column refused them)."""
    _, facts = two_engines
    expected = [(CAP_LEDGER["cap_adjustment"][2],), (CAP_LEDGER["cap_credit"][2],)]
    assert facts["caps_duckdb"] == expected
    assert facts["caps_spark"] == expected
