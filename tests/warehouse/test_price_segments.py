"""The price lookup, against the rating rule written plainly in Python.

Rating picks, among the organization's plan's prices for the unit whose [effective_from,
effective_to) holds occurred_at, a model-specific one over a model-agnostic one, then the latest
effective_from, then the lowest price_id. int_price_segments cuts the price book so that one range
join per kind (model-specific, model-agnostic) finds that price: this runs the model's own SQL on
random price books with overlapping windows and compares every lookup with the rule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.lib.config import PROJECT_ROOT

MODEL = PROJECT_ROOT / "dbt_project" / "models" / "intermediate" / "usage" / "int_price_segments.sql"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
PLANS, UNITS, MODELS = ["plan_a", "plan_b"], ["gpu_hour.h100", "input_token"], [None, "m1", "m2"]


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


price_rows = st.lists(
    st.tuples(st.sampled_from(PLANS), st.sampled_from(UNITS), st.sampled_from(MODELS),
              st.integers(0, 8), st.one_of(st.none(), st.integers(1, 6))),
    min_size=1, max_size=8)


def rule(prices: list[dict], plan: str, unit: str, model: str | None, t: datetime) -> str | None:
    held = [p for p in prices if p["plan_id"] == plan and p["usage_unit"] == unit
            and (p["model_id"] is None or p["model_id"] == model)
            and p["effective_from"] <= t and (p["effective_to"] is None or t < p["effective_to"])]
    if not held:
        return None
    return min(held, key=lambda p: (p["model_id"] is None, -p["effective_from"].timestamp(), p["price_id"]))["price_id"]


def lookups(prices: list[dict], events: list[tuple]) -> list[str | None]:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("""create table prices_current (price_id varchar, plan_id varchar, usage_unit varchar,
                   model_id varchar, unit_price decimal(38, 9), currency varchar,
                   effective_from timestamptz, effective_to timestamptz)""")
    con.executemany("insert into prices_current values (?, ?, ?, ?, 1, 'USD', ?, ?)",
                    [[p["price_id"], p["plan_id"], p["usage_unit"], p["model_id"], p["effective_from"],
                      p["effective_to"]] for p in prices])
    con.execute("create table segments as "
                + MODEL.read_text().replace("{{ ref('int_prices_current') }}", "prices_current")
                # the open end as dbt renders it on DuckDB (macros/engine/dialect.sql)
                .replace("{{ instant_max() }}", "'infinity'::timestamptz"))
    con.execute("create table events (n integer, plan_id varchar, usage_unit varchar, model_id varchar, "
                "occurred_at timestamptz)")
    con.executemany("insert into events values (?, ?, ?, ?, ?)", [[i, *e] for i, e in enumerate(events)])
    # the joins of int_usage_events_rated
    return [r[0] for r in con.execute("""
        select coalesce(mp.price_id, pp.price_id)
        from events as a
        left join (select * from segments where model_id is not null) as mp
            on mp.plan_id = a.plan_id and mp.usage_unit = a.usage_unit and mp.model_id = a.model_id
            and a.occurred_at >= mp.segment_from and a.occurred_at < mp.segment_to
        left join (select * from segments where model_id is null) as pp
            on pp.plan_id = a.plan_id and pp.usage_unit = a.usage_unit
            and a.occurred_at >= pp.segment_from and a.occurred_at < pp.segment_to
        order by a.n""").fetchall()]


def test_overlapping_windows_by_hand():
    prices = [
        dict(price_id="base", plan_id="plan_a", usage_unit="input_token", model_id=None,
             effective_from=hours(0), effective_to=None),
        dict(price_id="promo", plan_id="plan_a", usage_unit="input_token", model_id=None,
             effective_from=hours(2), effective_to=hours(4)),  # overlaps base: the later start wins
        dict(price_id="a_twin", plan_id="plan_a", usage_unit="input_token", model_id=None,
             effective_from=hours(2), effective_to=hours(3)),  # same start as promo: lowest id wins
        dict(price_id="m1_only", plan_id="plan_a", usage_unit="input_token", model_id="m1",
             effective_from=hours(1), effective_to=hours(5)),  # model-specific beats every generic one
    ]
    at = [0.5, 1.5, 2.5, 3.5, 4.5, 6]
    assert lookups(prices, [("plan_a", "input_token", None, hours(h)) for h in at]) == \
        ["base", "base", "a_twin", "promo", "base", "base"]
    assert lookups(prices, [("plan_a", "input_token", "m1", hours(h)) for h in at]) == \
        ["base", "m1_only", "m1_only", "m1_only", "m1_only", "base"]
    assert lookups(prices, [("plan_b", "input_token", None, hours(1)), ("plan_a", "gpu_hour.h100", None, hours(1))]) \
        == [None, None]


@settings(max_examples=60, deadline=None)
@given(price_rows)
def test_segments_find_the_price_the_rule_picks(rows):
    prices = [dict(price_id=f"p{i}", plan_id=plan, usage_unit=unit, model_id=model, effective_from=hours(start),
                   effective_to=None if length is None else hours(start + length))
              for i, (plan, unit, model, start, length) in enumerate(rows)]
    events = [(plan, unit, model, hours(h / 2)) for plan in PLANS for unit in UNITS for model in MODELS
              for h in range(30)]
    assert lookups(prices, events) == [rule(prices, *e) for e in events]
