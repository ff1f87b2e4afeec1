"""dbt_project/macros/engine/utc.sql: the UTC day and hour of an instant by epoch arithmetic equal what
DuckDB's ICU casts give in a UTC session, for any instant, and stay UTC in a session of another
zone. The DuckDB macros' own text is rendered (plain Jinja: they call no dbt function)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import jinja2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

MACROS = jinja2.Environment().from_string(
    (Path(__file__).resolve().parents[2] / "dbt_project" / "macros" / "engine" / "utc.sql").read_text()).module
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_US = 3_600_000_000


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect()
    yield con
    con.close()


MACRO_SQL = (f"select {MACROS.duckdb__utc_date('ts')}, {MACROS.duckdb__utc_hour('ts')} "
             "from (select make_timestamptz(unnest($us)) as ts)")


def _icu_utc(con, micros: list[int]) -> list[tuple]:
    con.execute("set TimeZone = 'UTC'")
    return con.execute("select ts::date, date_trunc('hour', ts) from (select make_timestamptz(unnest($us)) as ts)",
                       {"us": micros}).fetchall()


# instants from 1900 to 2200, to the microsecond, and hour edges; the example adds the epoch's
# neighbours and a day's last microsecond
instants = st.integers(-2_208_988_800_000_000, 7_258_118_400_000_000)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(instants, instants.map(lambda us: us - us % HOUR_US),  # an hour's first and
                          instants.map(lambda us: us - us % HOUR_US - 1)),  # previous microsecond
                min_size=1, max_size=200))
@example([-1, 0, 1, -HOUR_US, -HOUR_US - 1, 86_400_000_000 - 1, 1_795_996_799_999_999])
def test_the_utc_macros_equal_the_icu_casts_in_any_session_zone(duck, micros):
    expected = _icu_utc(duck, micros)
    for zone in ("UTC", "America/St_Johns", "Asia/Kathmandu"):  # offsets of -3:30 (-2:30 in summer), +5:45
        duck.execute(f"set TimeZone = '{zone}'")
        got = duck.execute(MACRO_SQL, {"us": micros}).fetchall()
        assert got == expected, zone


def test_the_hand_checked_values():
    us = [int((datetime(2026, 11, 3, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) / timedelta(microseconds=1)),
          -1]
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Kathmandu'")
    got = con.execute(MACRO_SQL, {"us": us}).fetchall()
    assert [(str(d), h.astimezone(UTC).isoformat()) for d, h in got] == [
        ("2026-11-03", "2026-11-03T23:00:00+00:00"), ("1969-12-31", "1969-12-31T23:00:00+00:00")]
