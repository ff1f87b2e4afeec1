"""The same dbt project on Apache Spark (local PySpark, the `spark` target) and on DuckDB, from the
same lake: every mart in schema `marts` holds the same rows with the same column types, decimals
to the last digit, after a first build and after an incremental one (which also equals a full
rebuild). Spark's tables are read as the Parquet files it wrote (DuckDB over the mart Parquet,
as an analyst at scale would).

The scenario is the committed sample (duplicates, corrections, a void, late events, a department
move, a plan change, quarantined rows, a rejected batch) in steps: every batch but the last, then
the last, so the second build is incremental on both engines; then a batch voiding every event of
one day, which each engine's incremental strategy must empty (it holds no new row)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.config import SAMPLE_EXPORTS, Settings
from pipelines.lib.duck import connect
from pipelines.lib.engine_sources import write_engine_sources
from pipelines.lib.ingest import ingest_all
from pipelines.lib.ops_config import write_config_tables
from tests.helpers import write_batch

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))
# Spark has no infinite timestamp: the validity windows' open ends are its first and last
# microsecond there (dbt_project/macros/engine/dialect.sql, instant_min / instant_max)
SPARK_MIN, SPARK_MAX = "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00"

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java: make test installs it")


def dbt(data: Path, engine: str, *args: str) -> None:
    env = dict(os.environ, ANALYTICS_DATA_DIR=str(data), ANALYTICS_ENGINE=engine, DO_NOT_TRACK="1")
    result = subprocess.run(
        [DBT, *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target-path", str(data / f"dbt-target-{engine}"), "--log-path", str(data / f"dbt-logs-{engine}")],
        env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:]


def load(settings: Settings) -> None:
    """What the main job does before dbt: ingest, the configuration, the engine-neutral sources."""
    con = connect(settings.build_db, settings)
    try:
        ingest_all(con, settings)
        write_config_tables(con)
        write_engine_sources(con, settings)
    finally:
        con.close()


def mart_differences(duck_file: Path, spark_marts: Path) -> dict[str, str]:
    """Per mart: '' when Spark's Parquet holds the same rows (EXCEPT ALL both ways) with the same
    column types as the DuckDB table, else what differs."""
    con = duckdb.connect(str(duck_file), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    out = {}
    try:
        for (table,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1").fetchall():
            types = dict(con.execute(f"select column_name, data_type from duckdb_columns() "
                                     f"where schema_name = 'marts' and table_name = '{table}'").fetchall())
            files = sorted(str(p) for p in (spark_marts / table).rglob("*.parquet"))
            if not files:
                out[table] = "no Spark table"
                continue
            con.execute(f"create or replace temp view spark_rows as select * from read_parquet({files!r}, "
                        "hive_partitioning = true, union_by_name = true)")
            spark_types = dict(con.execute("select column_name, column_type from (describe spark_rows)").fetchall())
            wrong = {c: (t, spark_types.get(c)) for c, t in types.items()
                     if c != "_watermark" and spark_types.get(c) != t
                     and not (t == "TIMESTAMP WITH TIME ZONE" and spark_types.get(c) == t)}
            if wrong:
                out[table] = f"types (DuckDB, Spark): {wrong}"
                continue
            cols = [c for c in types if c != "_watermark"]
            duck = ", ".join(
                f"case when {c} = '-infinity' then '{SPARK_MIN}'::timestamptz when {c} = 'infinity' "
                f"then '{SPARK_MAX}'::timestamptz else {c} end as {c}" if types[c] == "TIMESTAMP WITH TIME ZONE" else c
                for c in cols)
            spark = ", ".join(cols)
            a = con.execute(f"select count(*) from (select {duck} from marts.{table} "
                            f"except all select {spark} from spark_rows)").fetchone()[0]
            b = con.execute(f"select count(*) from (select {spark} from spark_rows "
                            f"except all select {duck} from marts.{table})").fetchone()[0]
            out[table] = f"{a} rows only on DuckDB, {b} only on Spark" if a or b else ""
    finally:
        con.close()
    return out


def affected_days(duck_file: Path, spark_intermediate: Path) -> dict[str, tuple]:
    """The days the last build rebuilt (int_usage_affected_dates) on each engine, and every day."""
    con = duckdb.connect(str(duck_file), read_only=True)
    try:
        duck = sorted(r[0] for r in con.execute("select usage_date from intermediate.int_usage_affected_dates").fetchall())
        files = sorted(str(p) for p in (spark_intermediate / "int_usage_affected_dates").rglob("*.parquet"))
        spark = sorted(r[0] for r in con.execute(f"select usage_date from read_parquet({files!r})").fetchall())
        every = con.execute("select count(distinct usage_date) from marts.fct_usage_daily").fetchone()[0]
    finally:
        con.close()
    return {"duckdb": tuple(duck), "spark": tuple(spark), "days": every}


VOID_BATCH = "20261106T000500Z-000006"


def void_one_day(settings: Settings) -> str:
    """A batch of corrections with quantity 0 for every effective event of the day with the fewest
    (after the sample's batches): the day then has no usage at all. Returns the day."""
    con = duckdb.connect(str(settings.build_db), read_only=True)
    try:
        day = con.execute("select usage_date from marts.fct_usage_events group by 1 order by count(*), 1 limit 1"
                          ).fetchone()[0]
        events = con.execute(
            "select e.event_id, strftime(e.occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ'), s.organization_id, s.project_id, "
            "s.api_key_id, s.model_id, s.resource_id, s.usage_unit from marts.fct_usage_events as e "
            "join staging.stg_oltp__usage_events as s using (event_id) where e.usage_date = ? order by 1", [day]).fetchall()
    finally:
        con.close()
    rows = [dict(event_id=f"void_{i}", outbox_seq=str(10**9 + i), occurred_at=at, recorded_at="2026-11-06T00:00:00Z",
                 organization_id=o, project_id=p, api_key_id=k, model_id=m, resource_id=r, usage_unit=u, quantity="0",
                 correction_of=eid, attributes=None)
            for i, (eid, at, o, p, k, m, r, u) in enumerate(events)]
    write_batch(settings.exports_dir, VOID_BATCH, {"usage_events": rows})
    return str(day)


def days_rows(duck_file: Path, spark_marts: Path, day: str) -> dict[str, int]:
    """Rows of `day` in the daily usage mart, on each engine."""
    con = duckdb.connect(str(duck_file), read_only=True)
    try:
        files = sorted(str(p) for p in (spark_marts / "fct_usage_daily").rglob("*.parquet"))
        return {"duckdb": con.execute("select count(*) from marts.fct_usage_daily where usage_date = ?", [day]).fetchone()[0],
                "spark": con.execute(f"select count(*) from read_parquet({files!r}, hive_partitioning = true) "
                                     "where usage_date = ?", [day]).fetchone()[0]}
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    exports, data = root / "exports", root / "data"
    shutil.copytree(SAMPLE_EXPORTS, exports)
    batches = sorted(p for p in exports.iterdir() if (p / "manifest.json").exists())
    held = root / "held"
    held.mkdir()
    shutil.move(str(batches[-1]), held / batches[-1].name)
    settings = Settings(exports_dir=exports, data_dir=data)
    steps = []
    for step in ("first", "incremental"):
        if step == "incremental":
            shutil.move(str(held / batches[-1].name), exports / batches[-1].name)
        load(settings)
        dbt(data, "duckdb", "build")
        dbt(data, "spark", "run")
        steps.append(mart_differences(settings.build_db, data / "spark" / "warehouse" / "marts.db"))
    affected = affected_days(settings.build_db, data / "spark" / "warehouse" / "intermediate.db")
    voided_day = void_one_day(settings)
    load(settings)
    dbt(data, "duckdb", "build")
    dbt(data, "spark", "run")
    steps.append(mart_differences(settings.build_db, data / "spark" / "warehouse" / "marts.db"))
    affected["voided_day"] = voided_day
    affected["voided_day_rows"] = days_rows(settings.build_db, data / "spark" / "warehouse" / "marts.db", voided_day)
    # the DuckDB marts rebuilt whole, against Spark's incremental ones
    dbt(data, "duckdb", "run", "--full-refresh")
    steps.append(mart_differences(settings.build_db, data / "spark" / "warehouse" / "marts.db"))
    return dict(zip(("first", "incremental", "voided_day", "full_refresh"), steps)), affected


@pytest.mark.parametrize("step", ["first", "incremental", "voided_day", "full_refresh"])
def test_every_mart_is_the_same_on_both_engines(two_engines, step):
    differences, _ = two_engines
    marts = differences[step]
    assert len(marts) >= 25, sorted(marts)  # every contract mart and report, not an empty schema
    assert {t: d for t, d in marts.items() if d} == {}


def test_the_incremental_run_rebuilt_only_the_changed_days(two_engines):
    """The second build was incremental on both engines: the same days rebuilt, some but not all
    (what the held-back batch changed, from the record each engine kept of its first build)."""
    _, affected = two_engines
    assert affected["duckdb"] == affected["spark"]
    assert 0 < len(affected["duckdb"]) < affected["days"], affected


def test_a_day_whose_every_event_is_voided_is_emptied_on_both_engines(two_engines):
    """Its new rows are none, so neither delete+insert on the day nor a dynamic partition
    overwrite would touch it: the affected days are emptied first (macros/engine/incremental.sql)."""
    _, affected = two_engines
    assert affected["voided_day_rows"] == {"duckdb": 0, "spark": 0}, affected["voided_day"]
