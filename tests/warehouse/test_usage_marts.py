"""Usage marts on the hand-built scenario of conftest.py: every number below is worked by hand."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import duckdb

from pipelines.lib.duck import first
from tests.warehouse.conftest import DBT_DIR, build, dbt, marts


def rows(scenario, table, stage="incremental"):
    return scenario[stage][table]


def fact(scenario, stage="incremental"):
    con = duckdb.connect(str(scenario["settings"].build_db), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    got = {r[0]: r[1:] for r in con.execute(
        "select event_id, usage_date, department_id, quantity, unit_price, rated_amount, currency, is_rated, plan_id "
        "from marts.fct_usage_events").fetchall()}
    con.close()
    return got


def test_effective_usage_is_attributed_and_rated_by_hand(scenario):
    nov = lambda d: date(2026, 11, d)  # noqa: E731
    assert fact(scenario) == {
        # event: usage_date, department, quantity, unit_price, rated_amount, currency, is_rated, plan
        "e1": (nov(9), "d_a", D("1.5"), D("2"), D("3.0"), "USD", True, "plan_a"),  # 1.5 x 2.00
        "e2": (nov(9), "d_a", D("1000"), D("0.000003"), D("0.003"), "USD", True, "plan_a"),  # model-specific price wins
        "e3": (nov(9), "d_a", D("1000"), D("0.000001"), D("0.001"), "USD", True, "plan_a"),  # m_small: the generic price
        "e4": (nov(9), "d_a", D("2"), None, None, None, False, "plan_a"),  # gpu_hour.b200 has no price: unrated, kept
        "e5": (nov(9), "d2", D("1"), D("3"), D("3"), "EUR", True, "plan_eu"),  # the conflicting copy (7) is excluded
        "e6": (nov(10), "d_a", D("1"), D("2"), D("2"), "USD", True, "plan_a"),  # 11:59:59, before the move
        "e7": (nov(10), "d_b", D("1"), D("2"), D("2"), "USD", True, "plan_a"),  # 12:00:00, the move's updated_at
        "e8": (nov(12), "d_b", D("1"), D("2.5"), D("2.5"), "USD", True, "plan_a"),  # the new price from Nov 12
        "e9": (nov(9), "d_a", D("2"), D("2"), D("4"), "USD", True, "plan_a"),  # corrected to 3 then 2: seq 60 wins
        "e11": (nov(15), "d_b", D("1"), D("1.8"), D("1.8"), "USD", True, "plan_b"),  # o1 on plan_b from Nov 15 00:00
        "e12": (nov(14), "d_b", D("1"), D("2.5"), D("2.5"), "USD", True, "plan_a"),  # a second before: plan_a
        "e13": (nov(9), "d_a", D("1"), D("2"), D("2"), "USD", True, "plan_a"),  # a late event for Nov 9
        "e20": (nov(9), "d_a", D("0.5"), D("2"), D("1"), "USD", True, "plan_a"),  # its early correction applied
    }  # e10 was voided; c20, c9a, c9b, c10 are corrections, never events of their own


def test_a_department_move_splits_the_day_exactly_at_updated_at(scenario):
    got = [r for r in rows(scenario, "usage_by_department_daily") if r[0] == date(2026, 11, 10)]
    # (usage_date, organization, department, product, unit, currency, quantity, rated_amount, events, unrated)
    assert got == [
        (date(2026, 11, 10), "o1", "d_a", "gpuaas", "gpu_hour.h100", "USD", D("1"), D("2"), 1, 0),
        (date(2026, 11, 10), "o1", "d_b", "gpuaas", "gpu_hour.h100", "USD", D("1"), D("2"), 1, 0),
    ]


def test_a_late_event_and_corrections_reach_a_past_day(scenario):
    def nov9_h100(stage):
        return [r[6:9] for r in rows(scenario, "usage_by_department_daily", stage)
                if r[0] == date(2026, 11, 9) and r[2] == "d_a" and r[4] == "gpu_hour.h100"]
    # after batch 1: e1 1.5 + e9 1 + e10 4 = 6.5 GPU-hours, 3 + 2 + 8 = 13.00, 3 events (c20 waits)
    assert nov9_h100("after_first") == [(D("6.5"), D("13"), 3)]
    # after batch 2: e1 1.5 + e9 2 + e20 0.5 + e13 1 = 5.0; 3 + 4 + 1 + 2 = 10.00; 4 events (e10 voided)
    assert nov9_h100("incremental") == [(D("5.0"), D("10"), 4)]


def test_rollups_by_model_keep_unrated_usage_and_currencies_apart(scenario):
    got = {(r[0], r[1], r[3], r[4]): r[5:] for r in rows(scenario, "usage_by_model_daily")}
    nov9 = date(2026, 11, 9)
    assert got[(nov9, "m_big", "input_token", "USD")] == (D("1000"), D("0.003"), 1, 0)
    assert got[(nov9, "m_small", "input_token", "USD")] == (D("1000"), D("0.001"), 1, 0)
    assert got[(nov9, None, "gpu_hour.b200", None)] == (D("2"), None, 1, 1)
    assert got[(nov9, None, "gpu_hour.h100", "EUR")] == (D("1"), D("3"), 1, 0)
    # USD h100 on Nov 9: e1 3 + e9 4 + e13 2 + e20 1 = 10.00 over 5.0 hours
    assert got[(nov9, None, "gpu_hour.h100", "USD")] == (D("5.0"), D("10"), 4, 0)


def test_a_redelivered_event_counts_once_and_a_conflicting_copy_is_quarantined(scenario):
    con = duckdb.connect(str(scenario["settings"].build_db), read_only=True)
    assert first(con.execute("select count(*) from ops.duplicate_rows")) == (1,)
    assert con.execute("select raw_record::json->>'event_id', reason from ops.quarantine").fetchall() == [
        ("e5", "duplicate_conflict")]
    con.close()


def test_a_correction_before_its_original_waits_then_applies(scenario):
    first = {r[0] for r in scenario["after_first"]["fct_usage_events"]}
    assert "e20" not in first and "c20" not in first
    assert ("e20" in {r[0] for r in scenario["incremental"]["fct_usage_events"]})


def test_incremental_equals_a_full_rebuild_from_the_lake_and_a_rerun_changes_nothing(scenario):
    assert scenario["incremental"].keys() == scenario["rebuilt"].keys()
    for table in scenario["rebuilt"]:
        assert scenario["incremental"][table] == scenario["rebuilt"][table], table
    assert scenario["rerun"] == scenario["incremental"]


def test_money_and_quantities_are_decimal_in_every_usage_mart(scenario):
    con = duckdb.connect(str(scenario["settings"].build_db), read_only=True)
    types = con.execute("""select table_name, column_name, data_type from duckdb_columns()
                           where schema_name = 'marts' and column_name in ('quantity', 'rated_amount', 'unit_price')
                           """).fetchall()
    con.close()
    assert len(types) >= 15
    assert all(t.startswith("DECIMAL") for _, _, t in types), types


def test_the_rollup_test_catches_a_rollup_off_by_the_last_decimal(scenario, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(scenario["settings"].data_dir, data)
    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"))
    con.execute("update marts.usage_by_model_daily set quantity = quantity + 0.000000001 "
                "where model_id = 'm_big'")
    con.close()
    result = dbt(data, "test", "--select", "usage_by_model_daily", "--vars", "{test_all_days: true}")
    assert result.returncode != 0
    assert "usage_rollup_matches_events_usage_by_model_daily" in result.stdout


def test_a_mart_column_whose_type_changes_fails_the_build_on_its_contract(scenario, tmp_path):
    """The marts' column types are enforced contracts: a model edited to produce a DOUBLE quantity
    (in a scratch copy of the project) fails before anything is written, with dbt's own message."""
    data, project = tmp_path / "data", tmp_path / "dbt_project"
    shutil.copytree(scenario["settings"].data_dir, data)
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "marts" / "usage" / "usage_by_model_daily.sql"
    sql = model.read_text()
    assert "usage_rollup_measures()" in sql  # quantity is summed there
    model.write_text(f"select * replace (cast(quantity as double) as quantity) from (\n{sql}\n) as edited")
    before = marts(data / "warehouse" / "build" / "analytics.duckdb")["usage_by_model_daily"]
    result = dbt(data, "build", "--select", "usage_by_model_daily", project=project)
    assert result.returncode != 0
    assert "This model has an enforced contract that failed" in result.stdout
    assert re.search(r"\|\s*quantity\s*\|\s*DOUBLE\s*\|\s*DECIMAL\(38,9\)\s*\|\s*data type mismatch", result.stdout)
    assert marts(data / "warehouse" / "build" / "analytics.duckdb")["usage_by_model_daily"] == before


def test_a_run_tests_the_days_it_rebuilt(scenario, tmp_path):
    """The usage marts' tests check the days the last run rebuilt (int_usage_affected_dates); a
    full audit (`--vars '{test_all_days: true}'`) checks every day."""
    data = tmp_path / "data"
    shutil.copytree(scenario["settings"].data_dir, data)
    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"))
    days = sorted(d for (d,) in con.execute("select distinct usage_date from marts.usage_by_model_daily").fetchall())
    # as if a new batch had touched the last day only
    con.execute("insert into ops.touched_dates select 'b-test', 'usage_events', ?, now(), last_seq + 1 "
                "from ops.load_sequence", [days[-1]])
    con.execute("update ops.load_sequence set last_seq = last_seq + 1")
    con.close()
    build(data)
    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"))
    rebuilt = {d for (d,) in con.execute("select usage_date from intermediate.int_usage_affected_dates").fetchall()}
    assert rebuilt == {days[-1]}
    untouched = days[0]
    con.execute("update marts.usage_by_model_daily set event_count = event_count + 1 where usage_date = ?",
                [untouched])
    con.close()
    assert dbt(data, "test", "--select", "usage_by_model_daily").returncode == 0
    assert dbt(data, "test", "--select", "usage_by_model_daily", "--vars", "{test_all_days: true}").returncode != 0
    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"))
    con.execute("update marts.usage_by_model_daily set event_count = event_count + 1 where usage_date = ?",
                [days[-1]])
    con.close()
    assert dbt(data, "test", "--select", "usage_by_model_daily").returncode != 0


def test_a_day_range_rebuild_rebuilds_those_days_and_changes_nothing(scenario, tmp_path):
    """RebuildConfig's rebuild_from/rebuild_to (the UI's launch config, `run --rebuild-days`) reach
    dbt as vars: the incremental marts rebuild those days although nothing changed; the result
    equals what was there. A var that is not a day fails the build before any model runs."""
    data = tmp_path / "data"
    shutil.copytree(scenario["settings"].data_dir, data)
    db = data / "warehouse" / "build" / "analytics.duckdb"
    build(data, "--vars", json.dumps({"rebuild_from": "2026-11-09", "rebuild_to": "2026-11-10"}))
    con = duckdb.connect(str(db), read_only=True)
    rebuilt = {d for (d,) in con.execute("select usage_date from intermediate.int_usage_affected_dates").fetchall()}
    recon = {d for (d,) in con.execute("select charge_date from intermediate.int_reconciliation_affected_dates"
                                       ).fetchall()}
    con.close()
    assert rebuilt == recon == {date(2026, 11, 9), date(2026, 11, 10)}  # the days with usage: 9, 10, 12, 14, 15
    assert marts(db) == scenario["rerun"]
    bad = dbt(data, "build", "--exclude-resource-type", "unit_test", "--vars", "{rebuild_from: '9 Nov', rebuild_to: x}")
    assert bad.returncode != 0 and "rebuild_from and rebuild_to must both be days as YYYY-MM-DD" in bad.stdout


def test_the_lake_id_test_counts_the_rebuilt_days_ids_over_every_day(scenario, tmp_path):
    """unique_in_lake (dbt_project/tests/generic): a run counts the ids of the days it rebuilt
    over the whole lake; ids of days it did not rebuild wait for a full audit."""
    data = tmp_path / "data"
    shutil.copytree(scenario["settings"].data_dir, data)
    lake = data / "lake" / "usage_events"
    days = sorted(p.name.removeprefix("event_date=") for p in lake.iterdir())
    first = sorted((lake / f"event_date={days[0]}").glob("*.parquet"))[0]
    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"))
    # as if a new batch had touched the last day only
    con.execute("insert into ops.touched_dates select 'b-test', 'usage_events', ?, now(), last_seq + 1 "
                "from ops.load_sequence", [days[-1]])
    con.execute("update ops.load_sequence set last_seq = last_seq + 1")
    con.close()
    assert dbt(data, "run").returncode == 0
    check = "unique_in_lake_stg_oltp__usage_events_event_id__event_date"
    assert dbt(data, "test", "--select", check).returncode == 0

    def record(day: str, name: str, present: bool) -> None:
        """The build reads the files ops.lake_files records: a planted file is recorded (or forgotten)."""
        rel = f"usage_events/event_date={day}/{name}"
        con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"))
        con.execute("delete from ops.lake_files where path = ?", [rel])
        if present:
            con.execute("insert into ops.lake_files values (?, 'usage_events', 'b-test', ?, 1, ?, 'x', now())",
                        [rel, day, (lake / f"event_date={day}" / name).stat().st_size])
        con.close()
        assert dbt(data, "run", "--select", "stg_oltp__usage_events").returncode == 0

    def plant(source: Path, day: str, name: str) -> None:  # the first event of `source` again, filed under `day`
        target = lake / f"event_date={day}" / name
        duckdb.execute(f"copy (select * from read_parquet('{source}') limit 1) to '{target}' (format parquet)")
        record(day, name, True)

    plant(first, days[0], "again.parquet")  # repeated within a day no run rebuilds
    assert dbt(data, "test", "--select", check).returncode == 0
    audit = dbt(data, "test", "--select", check, "--vars", "{test_all_days: true}")
    assert audit.returncode != 0 and check in audit.stdout
    (lake / f"event_date={days[0]}" / "again.parquet").unlink()
    record(days[0], "again.parquet", False)
    plant(first, days[-1], "again.parquet")  # the rebuilt day repeats an id of another day
    result = dbt(data, "test", "--select", check)
    assert result.returncode != 0 and check in result.stdout


def test_a_filter_on_the_rebuilt_days_reaches_the_lake_scan(scenario, tmp_path):
    """fct_usage_events rebuilds its days by filtering int_usage_events_rated on the originals' lake
    partition (event_date, literal days): through both views the filter reaches the lake scan, so
    the originals' scan reads only that day's files; the corrections' scan reads every file (a
    correction of any day may apply to it). Counted by DuckDB's profiler, files per scan."""
    con = duckdb.connect(str(scenario["settings"].build_db), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    per_day = dict(con.execute(
        "select regexp_extract(path, 'event_date=([0-9-]+)/', 1) as day, count(*) from ops.lake_files "
        "where table_name = 'usage_events' group by all").fetchall())
    day = max(per_day, key=lambda d: (-per_day[d], d))  # a day with the fewest files, not every file
    assert len(per_day) > 1 and per_day[day] < sum(per_day.values())
    profile = tmp_path / "profile.json"
    con.execute("pragma enable_profiling = 'json'")
    con.execute(f"pragma profiling_output = '{profile}'")
    filtered = first(con.execute("select count(*) from intermediate.int_usage_events_rated "
                                 f"where event_date in ('{day}'::date)"))[0]
    con.execute("pragma disable_profiling")
    expected = first(con.execute("select count(*) from intermediate.int_usage_events_rated "
                                 f"where usage_date = '{day}'::date"))[0]
    con.close()

    def scans(node):
        info = node.get("extra_info", {})
        found = [(info["Filters"], int(info["Total Files Read"]))] if "Total Files Read" in info else []
        return found + [s for child in node.get("children", []) for s in scans(child)]

    read = sorted(s for op in json.loads(profile.read_text())["operator"] for s in scans(op))
    assert filtered == expected > 0
    assert read == [("(correction_of IS NOT NULL)", sum(per_day.values())), ("(correction_of IS NULL)", per_day[day])]
