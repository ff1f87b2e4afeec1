"""Property-based tests: exports mixing valid and invalid rows, duplicates, conflicts and corrections,
in every format. The expectations are computed here, by the contract's rules written afresh in
plain Python and polars: no code and no SQL shared with the pipeline."""

from __future__ import annotations

import os
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.ingest import control_total_breaks, ingest_all
from tests.helpers import DIMENSIONS, project_dirs, write_batch
from tests.warehouse.conftest import build
from tests.warehouse.conftest import ingest as ingest_with_config
from tools.generator import ENCODINGS

UNITS = DIMENSIONS["usage_units"] + [dict(DIMENSIONS["usage_units"][0], usage_unit="gpu_hour.b200")]
PRICES = [dict(price_id="h100", plan_id="plan_a", usage_unit="gpu_hour.h100", model_id=None, unit_price="2.5",
               currency="USD", effective_from="2026-01-01T00:00:00Z", effective_to=None,
               updated_at="2026-01-01T00:00:00Z")]
PRICE = {"gpu_hour.h100": Decimal("2.5")}  # gpu_hour.b200 has none: unrated
PROJECT_ORG = {"p1": "o1", "p2": "o2"}

# one mutation per reason, each breaking exactly one rule of a valid row
MUTATIONS = {
    "missing_value": lambda r: dict(r, usage_unit=None),
    "bad_id": lambda r: dict(r, event_id=r["event_id"] + " !"),
    "bad_timestamp": lambda r: dict(r, occurred_at=r["occurred_at"].rstrip("Z")),
    "bad_decimal": lambda r: dict(r, quantity=r["quantity"].replace(".", ",")),
    "negative_quantity": lambda r: dict(r, quantity="-1.5"),
    "recorded_before_occurred": lambda r: dict(r, recorded_at="2026-10-31T00:00:00Z"),
    "unknown_project_id": lambda r: dict(r, project_id="p_unknown"),
    "reference_mismatch": lambda r: dict(r, organization_id="o2" if r["organization_id"] == "o1" else "o1"),
}

row_spec = st.fixed_dictionaries({
    "id": st.integers(0, 5), "correction": st.booleans(), "cents": st.integers(0, 400),
    "zeros": st.booleans(), "minute": st.integers(0, 1439), "project": st.sampled_from(["p1", "p2"]),
    "unit": st.sampled_from(["gpu_hour.h100", "gpu_hour.b200"]),
    "mutation": st.one_of(st.none(), st.none(), st.sampled_from(sorted(MUTATIONS))),
})
export = st.lists(st.tuples(st.lists(row_spec, max_size=12), st.sampled_from(ENCODINGS)), min_size=1, max_size=3)


def make_rows(batches):
    """Text rows in the contract's forms, and the outcome each must have."""
    seq, loaded, out = 0, {}, []
    for specs, encoding in batches:
        rows = []
        for s in specs:
            seq += 1
            q = Decimal(s["cents"]) / 100
            row = dict(event_id=("c" if s["correction"] else "e") + f"{s['id']}", outbox_seq=str(seq),
                       occurred_at=f"2026-11-01T{s['minute'] // 60:02d}:{s['minute'] % 60:02d}:00Z",
                       recorded_at=f"2026-11-01T{s['minute'] // 60:02d}:{s['minute'] % 60:02d}:01Z",
                       organization_id=PROJECT_ORG[s["project"]], project_id=s["project"], api_key_id=None,
                       model_id=None, resource_id=None, usage_unit=s["unit"],
                       quantity=f"{q:.2f}" + ("0000" if s["zeros"] else ""),  # same value, other text
                       correction_of=f"e{(s['id'] + 1) % 6}" if s["correction"] else None, attributes=None)
            if s["correction"]:
                row["event_id"] = f"c{seq}"  # corrections carry their own id
            if s["mutation"]:
                rows.append((MUTATIONS[s["mutation"]](row), s["mutation"]))
                continue
            content = {k: v for k, v in row.items() if k != "quantity"} | {"quantity": q}
            if row["event_id"] in loaded:
                rows.append((row, "duplicate" if loaded[row["event_id"]] == content else "duplicate_conflict"))
            else:
                loaded[row["event_id"]] = content
                rows.append((row, "loaded"))
        out.append((rows, encoding))
    return out, loaded


def write_export(root, batches):
    for n, (rows, encoding) in enumerate(batches, start=1):
        tables = {"usage_events": [r for r, _ in rows]}
        if n == 1:
            tables |= {**DIMENSIONS, "usage_units": UNITS, "prices": PRICES}
        write_batch(root, f"202611{n + 1:02d}T000500Z-{n:06d}", tables, encoding)


def reference_daily(loaded: dict) -> dict:
    """Effective usage by day, project and unit, from the valid first copies, in plain polars."""
    rows = list(loaded.values())
    if not rows:
        return {}
    df = pl.DataFrame(rows, schema_overrides={"quantity": pl.Decimal(38, 9), "correction_of": pl.String},
                      infer_schema_length=None)  # a column of only nulls would be typed Null
    originals = df.filter(pl.col("correction_of").is_null())
    latest = (df.filter(pl.col("correction_of").is_not_null())
              .with_columns(pl.col("outbox_seq").cast(pl.Int64)).sort("outbox_seq")
              .group_by("correction_of").agg(pl.col("quantity").last().alias("corrected"),
                                             pl.col("project_id").last().alias("c_project"),
                                             pl.col("usage_unit").last().alias("c_unit")))
    eff = (originals.join(latest, left_on="event_id", right_on="correction_of", how="left")
           .with_columns(pl.coalesce("corrected", "quantity").alias("q"), pl.coalesce("c_project", "project_id").alias("p"),
                         pl.coalesce("c_unit", "usage_unit").alias("u"))
           .filter(pl.col("corrected").is_null() | (pl.col("corrected") != 0)))  # a correction to 0 voids;
    # an original of quantity 0 is usage of nothing, still an event
    out = {}
    for r in eff.iter_rows(named=True):
        k = ("2026-11-01", r["p"], r["u"])
        q, n, amount = out.get(k, (Decimal(0), 0, None))
        price = PRICE.get(r["u"])
        out[k] = (q + r["q"], n + 1, None if price is None else (amount or Decimal(0)) + r["q"] * price)
    return out


SOAK = os.environ.get("ANALYTICS_SOAK") == "1"  # the longer soak: many more examples


@hsettings(max_examples=500 if SOAK else 25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=export)
def test_every_row_is_loaded_quarantined_with_its_reason_or_a_duplicate(tmp_path_factory, batches):
    root = tmp_path_factory.mktemp("prop")
    settings = Settings(exports_dir=root / "exports", data_dir=root / "data")
    expected, loaded = make_rows(batches)
    write_export(settings.exports_dir, expected)
    con = connect(settings.build_db, settings)
    summary = ingest_all(con, settings)
    assert len(summary.loaded) == len(batches) and not summary.rejected
    got = {}
    for b, n, reason in con.execute("select batch_id, row_number, reason from ops.quarantine").fetchall():
        got[(b, n)] = reason
    for b, n in con.execute("select batch_id, row_number from ops.duplicate_rows").fetchall():
        got[(b, n)] = "duplicate"
    for b, n in con.execute("select _batch_id, _row_number from raw.usage_events_keys").fetchall():
        got[(b, n)] = "loaded"
    want = {(f"202611{i + 1:02d}T000500Z-{i:06d}", n): outcome
            for i, (rows, _) in enumerate(expected, start=1) for n, (_, outcome) in enumerate(rows, start=1)}
    assert got == want
    assert control_total_breaks(con) == []
    con.close()


@pytest.mark.e2e
@hsettings(max_examples=30 if SOAK else 3, deadline=None, phases=[Phase.generate],  # each example is a dbt build: no shrinking
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=export.filter(lambda b: sum(len(s) for s, _ in b) >= 4))
def test_the_usage_marts_equal_an_independent_reference(tmp_path_factory, batches):
    with project_dirs(tmp_path_factory.mktemp("marts")) as settings:
        expected, loaded = make_rows(batches)
        write_export(settings.exports_dir, expected)
        ingest_with_config(settings)
        build(settings.data_dir, "--select", "+fct_usage_daily", "--indirect-selection", "cautious")
    con = connect(settings.build_db, settings)
    got = {(str(d), p, u): (q, n, a) for d, p, u, q, n, a in con.execute(
        "select usage_date, project_id, usage_unit, sum(quantity), sum(event_count), sum(rated_amount) "
        "from marts.fct_usage_daily group by all").fetchall()}
    con.close()
    assert got == reference_daily(loaded)
