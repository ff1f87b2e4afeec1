"""The copy of a Spark build into the DuckDB build file (pipelines/lib/engine_import.py), on a
Spark-shaped build written here: Spark's folder layout (day partitions as `name=value` folders,
`_SUCCESS` and `.crc` markers, a half-written `_temporary` attempt), its record of the tables
(<data>/spark/relation_columns/), partition columns last, and its stand-ins for open validity
ends. The real Spark build's copy is checked end to end in test_spark_parity.py."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.config import Settings
from pipelines.lib.engine_import import SparkImportError, duckdb_type, import_spark_build

DAILY = [("organization_id", "string"), ("amount", "decimal(38,18)"), ("events", "bigint"),
         ("tags", "array<string>"), ("usage_date", "date")]  # Spark: the partition column last
WINDOWS = [("key", "string"), ("valid_from", "timestamp"), ("valid_to", "timestamp")]


@pytest.mark.parametrize("spark, duck", [
    ("string", "VARCHAR"), ("bigint", "BIGINT"), ("int", "INTEGER"), ("date", "DATE"), ("boolean", "BOOLEAN"),
    ("timestamp", "TIMESTAMPTZ"), ("decimal(38,18)", "DECIMAL(38,18)"), ("decimal(18,2)", "DECIMAL(18,2)"),
    ("array<string>", "VARCHAR[]"), ("array<decimal(38,9)>", "DECIMAL(38,9)[]"), ("double", "DOUBLE"),
])
def test_spark_types_map_to_duckdb_one_to_one(spark, duck):
    assert duckdb_type(spark, "t.c") == duck


@pytest.mark.parametrize("spark", ["map<string,int>", "struct<a:int>", "interval", "decimal(38)"])
def test_a_type_without_a_counterpart_fails_naming_the_column(spark):
    with pytest.raises(SparkImportError, match="t.c"):
        duckdb_type(spark, "t.c")


def manifest(path: Path, daily_columns: list[str]) -> Path:
    nodes = {
        "model.p.fct_daily": {"resource_type": "model", "unique_id": "model.p.fct_daily", "schema": "marts",
                              "alias": "fct_daily", "config": {"materialized": "incremental"},
                              "description": "Usage per day, as finance's 'daily' sheet.",
                              "columns": {c: {"description": f"The {c}." if c != "tags" else ""}
                                          for c in daily_columns}},
        "model.p.int_windows": {"resource_type": "model", "unique_id": "model.p.int_windows", "schema": "intermediate",
                                "alias": "int_windows", "config": {"materialized": "table"}, "columns": {}},
        "model.p.stg_view": {"resource_type": "model", "unique_id": "model.p.stg_view", "schema": "staging",
                             "alias": "stg_view", "config": {"materialized": "view"}, "columns": {}},
        "model.p.fct_empty": {"resource_type": "model", "unique_id": "model.p.fct_empty", "schema": "marts",
                              "alias": "fct_empty", "config": {"materialized": "incremental"}, "columns": {}},
    }
    path.write_text(json.dumps({"nodes": nodes, "sources": {}}))
    return path


@pytest.fixture
def spark_build(tmp_path):
    """A Spark-shaped build: fct_daily with two day partitions, int_windows with open ends,
    fct_empty partitioned and empty (no data file at all)."""
    settings = Settings(exports_dir=tmp_path / "exports", data_dir=tmp_path / "data")
    warehouse = tmp_path / "data" / "spark" / "warehouse"
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    daily = warehouse / "marts.db" / "fct_daily"
    for day, rows in (("2026-11-01", "('o1', 1.000000000000000005, 3, ['a']), ('o2', 0.5, 1, [])"),
                      ("2026-11-02", "('o1', 2.25, 2, null)")):
        (daily / f"usage_date={day}").mkdir(parents=True)
        con.execute(f"copy (select col0::varchar as organization_id, col1::decimal(38,18) as amount, "
                    f"col2::bigint as events, col3::varchar[] as tags from (values {rows})) "
                    f"to '{daily}/usage_date={day}/part-00000.snappy.parquet' (format parquet)")
        (daily / f"usage_date={day}" / ".part-00000.snappy.parquet.crc").write_bytes(b"crc")
    (daily / "_SUCCESS").touch()
    attempt = daily / "_temporary" / "0" / "usage_date=2026-11-03"
    attempt.mkdir(parents=True)
    con.execute(f"copy (select 'half' as organization_id, 9.9::decimal(38,18) as amount, 9::bigint as events, "
                f"[]::varchar[] as tags) to '{attempt}/part-00009.parquet' (format parquet)")
    windows = warehouse / "intermediate.db" / "int_windows"
    windows.mkdir(parents=True)
    con.execute(f"copy (select * from (values ('k1', timestamptz '0001-01-01 00:00:00+00', "
                f"timestamptz '2026-11-01 12:00:00+00'), ('k1', timestamptz '2026-11-01 12:00:00+00', "
                f"timestamptz '9999-12-31 23:59:59.999999+00')) as t(key, valid_from, valid_to)) "
                f"to '{windows}/part-00000.parquet' (format parquet)")
    (warehouse / "marts.db" / "fct_empty").mkdir(parents=True)
    record = settings.spark_relation_columns_dir
    record.mkdir(parents=True)
    rows = [("marts", "fct_daily", i, c, t, f"file:{daily}") for i, (c, t) in enumerate(DAILY, 1)]
    rows += [("intermediate", "int_windows", i, c, t, f"file:{windows}") for i, (c, t) in enumerate(WINDOWS, 1)]
    rows += [("marts", "fct_empty", i, c, t, f"file:{warehouse}/marts.db/fct_empty")
             for i, (c, t) in enumerate([("n", "bigint"), ("day", "date")], 1)]
    con.execute("create table r (schema_name varchar, table_name varchar, position int, column_name varchar, "
                "data_type varchar, location varchar)")
    con.executemany("insert into r values (?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"copy r to '{record}/part-00000.parquet' (format parquet)")
    (record / "_SUCCESS").touch()
    con.close()
    return settings, tmp_path


def build_file(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    con.execute("set TimeZone = 'UTC'")
    return con


def test_a_spark_build_lands_with_the_documented_order_duckdb_types_and_open_ends(spark_build):
    settings, tmp_path = spark_build
    documented = ["usage_date", "organization_id", "amount", "events", "tags"]  # the contract's order
    con = build_file(tmp_path)
    copied = import_spark_build(con, settings, manifest(tmp_path / "manifest.json", documented))
    assert copied == {"marts.fct_daily": 3, "intermediate.int_windows": 2, "marts.fct_empty": 0}
    assert con.execute("select column_name, data_type from duckdb_columns() where table_name = 'fct_daily' "
                       "order by column_index").fetchall() == [
        ("usage_date", "DATE"), ("organization_id", "VARCHAR"), ("amount", "DECIMAL(38,18)"),
        ("events", "BIGINT"), ("tags", "VARCHAR[]")]
    assert con.execute("select usage_date::varchar, organization_id, amount::varchar, events, tags "
                       "from marts.fct_daily order by all").fetchall() == [
        ("2026-11-01", "o1", "1.000000000000000005", 3, ["a"]), ("2026-11-01", "o2", "0.500000000000000000", 1, []),
        ("2026-11-02", "o1", "2.250000000000000000", 2, None)]  # never the _temporary attempt's row
    assert con.execute("select valid_from::varchar, valid_to::varchar from intermediate.int_windows order by 1"
                       ).fetchall() == [("-infinity", "2026-11-01 12:00:00+00"), ("2026-11-01 12:00:00+00", "infinity")]
    # an empty partitioned table has no file: its columns come from Spark's record
    assert con.execute("select column_name, data_type from duckdb_columns() where table_name = 'fct_empty' "
                       "order by column_index").fetchall() == [("n", "BIGINT"), ("day", "DATE")]
    # views are not tables: never copied
    assert con.execute("select count(*) from duckdb_tables() where table_name = 'stg_view'").fetchall() == [(0,)]
    # the descriptions dbt's persist_docs writes on DuckDB, from the manifest (a quote kept whole)
    assert con.execute("select comment from duckdb_tables() where table_name = 'fct_daily'").fetchall() == [
        ("Usage per day, as finance's 'daily' sheet.",)]
    assert con.execute("select column_name, comment from duckdb_columns() where table_name = 'fct_daily' "
                       "order by column_index").fetchall() == [
        ("usage_date", "The usage_date."), ("organization_id", "The organization_id."), ("amount", "The amount."),
        ("events", "The events."), ("tags", None)]


def test_documented_names_keep_their_spelling_when_spark_keeps_another_case(spark_build):
    """A Hive metastore may keep column names lower case (FOCUS's are CamelCase): the copy matches
    them without regard to case and writes the property file's spelling and order."""
    settings, tmp_path = spark_build
    documented = ["Usage_Date", "Organization_Id", "Amount", "Events", "Tags"]
    con = build_file(tmp_path)
    import_spark_build(con, settings, manifest(tmp_path / "manifest.json", documented))
    assert con.execute("select column_name, data_type from duckdb_columns() where table_name = 'fct_daily' "
                       "order by column_index").fetchall() == [
        ("Usage_Date", "DATE"), ("Organization_Id", "VARCHAR"), ("Amount", "DECIMAL(38,18)"),
        ("Events", "BIGINT"), ("Tags", "VARCHAR[]")]
    assert con.execute('select "Usage_Date"::varchar, "Organization_Id", "Events" from marts.fct_daily '
                       "order by all").fetchall() == [("2026-11-01", "o1", 3), ("2026-11-01", "o2", 1),
                                                      ("2026-11-02", "o1", 2)]


def test_undocumented_columns_keep_sparks_order(spark_build):
    settings, tmp_path = spark_build
    con = build_file(tmp_path)
    import_spark_build(con, settings, manifest(tmp_path / "manifest.json", ["organization_id", "amount"]))
    assert [c for (c,) in con.execute("select column_name from duckdb_columns() where table_name = 'fct_daily' "
                                      "order by column_index").fetchall()] == [c for c, _ in DAILY]


def test_a_table_spark_did_not_build_fails_the_copy_and_changes_nothing(spark_build):
    settings, tmp_path = spark_build
    con = build_file(tmp_path)
    con.execute("create schema marts")
    con.execute("create table marts.fct_daily as select 42 as before")
    path = manifest(tmp_path / "manifest.json", [])
    doc = json.loads(path.read_text())
    doc["nodes"]["model.p.fct_new"] = dict(doc["nodes"]["model.p.fct_empty"], unique_id="model.p.fct_new",
                                           alias="fct_new")
    path.write_text(json.dumps(doc))
    with pytest.raises(SparkImportError, match=r"marts\.fct_new"):
        import_spark_build(con, settings, path)
    assert con.execute("select * from marts.fct_daily").fetchall() == [(42,)]


def test_a_half_written_copy_rolls_back_whole(spark_build):
    """A data file that cannot be read (here, cut short) fails the copy after other tables were
    replaced: the transaction leaves every table as it was."""
    settings, tmp_path = spark_build
    con = build_file(tmp_path)
    con.execute("create schema marts")
    con.execute("create table marts.fct_daily as select 42 as before")
    part = next((tmp_path / "data" / "spark" / "warehouse" / "intermediate.db" / "int_windows").glob("*.parquet"))
    part.write_bytes(part.read_bytes()[:40])
    with pytest.raises(duckdb.Error):
        import_spark_build(con, settings, manifest(tmp_path / "manifest.json", []))
    assert con.execute("select * from marts.fct_daily").fetchall() == [(42,)]


def test_without_the_build_record_or_off_this_machine_the_copy_says_why(spark_build):
    settings, tmp_path = spark_build
    con = build_file(tmp_path)
    path = manifest(tmp_path / "manifest.json", [])
    (settings.spark_relation_columns_dir / "_SUCCESS").unlink()
    with pytest.raises(SparkImportError, match="did dbt's on-run-end run"):
        import_spark_build(con, settings, path)
    (settings.spark_relation_columns_dir / "_SUCCESS").touch()
    record = next(settings.spark_relation_columns_dir.glob("*.parquet"))
    duckdb.execute(f"copy (select * replace ('s3a://bucket/' || table_name as location) from '{record}') "
                   f"to '{record}.new' (format parquet)")
    Path(f"{record}.new").replace(record)
    with pytest.raises(SparkImportError, match="s3a://bucket/.*query the Spark marts directly"):
        import_spark_build(con, settings, path)
