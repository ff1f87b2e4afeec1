"""Bulk events at benchmark sizes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import polars as pl

from tools.generator.world import UNITS, World

# ---------------------------------------------------------------- bulk events (benchmark sizes)
#
# At benchmark sizes (tens of millions of events) a Python dict per event is far too slow: regular
# events are made column-wise in polars from a counter and a multiplicative hash, so a chunk of a
# million rows costs a fraction of a second and memory stays bounded by the chunk size. The truth
# (effective usage per day, organization and unit) is accumulated as signed deltas per chunk.

_MIX = [2654435761, 2246822519, 3266489917, 668265263, 374761393, 1103515245, 12345, 2147483647, 1597334677,
        3812015801]


def _h(i: pl.Expr, k: int, seed: int) -> pl.Expr:
    """A deterministic pseudo-random non-negative integer per row (no overflow: i < 2^31)."""
    return ((i * _MIX[k] + seed * 7919 + k * 104729) % 4294967291).abs()


def bulk_events(w: World, day: int, first_no: int, n: int, unit_pool: list[str]) -> pl.DataFrame:
    """n regular usage events occurring on `day`, numbered from first_no, in the contract's text forms."""
    seed = w.sc.seed
    i = pl.int_range(first_no, first_no + n, dtype=pl.Int64)
    orgs, ppo, kpp = w.orgs, w.sc.projects_per_org, w.sc.keys_per_project
    products = [UNITS.get(u, ("gpuaas",))[0] for u in unit_pool]
    frame = pl.select(i.alias("n")).with_columns(
        org=_h(pl.col("n"), 0, seed) % len(orgs),
        prj=_h(pl.col("n"), 1, seed) % ppo + 1,
        unit=_h(pl.col("n"), 2, seed) % len(unit_pool),
        model=_h(pl.col("n"), 3, seed) % len(w.model_ids),
        key=_h(pl.col("n"), 4, seed) % (kpp * 2),
        sec=_h(pl.col("n"), 5, seed) % 86400,
        ms=_h(pl.col("n"), 6, seed) % 1000,
        lag=_h(pl.col("n"), 7, seed) % 119 + 1,
        q=_h(pl.col("n"), 8, seed),
    ).with_columns(
        product=pl.col("unit").replace_strict(list(range(len(unit_pool))), products, return_dtype=pl.String),
        usage_unit=pl.col("unit").replace_strict(list(range(len(unit_pool))), unit_pool, return_dtype=pl.String),
        org_code=pl.col("org").replace_strict(list(range(len(orgs))), [o[4:] for o in orgs], return_dtype=pl.String),
    )
    day_start = w.sc.start + timedelta(days=day)
    occurred = pl.lit(day_start) + pl.duration(seconds=pl.col("sec"), milliseconds=pl.col("ms"))
    token = pl.col("product") == "token_factory"
    prj = pl.col("org_code") + "_" + pl.col("prj").cast(pl.String).str.zfill(2)
    micro = pl.when(token).then(pl.col("q") % 199999 + 1).otherwise(pl.col("q") % 3999999 + 1)
    qty = pl.when(token).then(micro.cast(pl.String) + ".000000").otherwise(
        (micro // 1_000_000).cast(pl.String) + "." + (micro % 1_000_000).cast(pl.String).str.zfill(6))
    fmt = "%Y-%m-%dT%H:%M:%S%.6fZ"
    return frame.select(
        event_id=pl.lit("evt_") + pl.col("n").cast(pl.String).str.zfill(10),
        outbox_seq=pl.col("n").cast(pl.String),
        occurred_at=occurred.dt.strftime(fmt),
        recorded_at=(occurred + pl.duration(seconds=pl.col("lag"))).dt.strftime(fmt),
        organization_id=pl.lit("org_") + pl.col("org_code"),
        project_id=pl.lit("prj_") + prj,
        api_key_id=pl.when(token | (pl.col("key") < kpp)).then(
            pl.lit("key_") + prj + "_" + (pl.col("key") % kpp + 1).cast(pl.String)),
        model_id=pl.when(token).then(pl.col("model").replace_strict(list(range(len(w.model_ids))), w.model_ids,
                                                                    return_dtype=pl.String)),
        resource_id=pl.lit("res_") + prj,
        usage_unit=pl.col("usage_unit"),
        quantity=qty,
        correction_of=pl.lit(None, dtype=pl.String),
        attributes=pl.lit(None, dtype=pl.String),
    )


def rate(w: World, events: pl.DataFrame) -> pl.DataFrame:
    """Adds unit_price (null when unpriced) to text events, by the World's price book: the plan in
    force at occurred_at, model-specific over generic, the window holding occurred_at."""
    t = events.with_row_index("_order").with_columns(
        at=pl.col("occurred_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC", time_unit="us"))
    plans = pl.DataFrame(
        [(o, since, plan) for o, hist in w.org_plan_history.items() for since, plan in hist],
        schema={"organization_id": pl.String, "since": pl.Datetime("us", "UTC"), "plan_id": pl.String}, orient="row",
    ).sort("since")
    t = t.sort("at").join_asof(plans, left_on="at", right_on="since", by="organization_id", strategy="backward",
                               check_sortedness=False)
    prices = pl.DataFrame([dict(p) for p in w.prices.values()]).with_columns(
        pl.col("effective_from").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC", time_unit="us"),
        pl.col("effective_to").cast(pl.String).str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC", time_unit="us"),
        pl.col("unit_price").str.to_decimal(scale=9),
    ).rename({"model_id": "price_model"})
    joined = t.with_row_index("_r").join(prices.select("plan_id", "usage_unit", "price_model", "unit_price",
                                                       "effective_from", "effective_to"),
                                         on=["plan_id", "usage_unit"], how="left")
    ok = ((pl.col("price_model").is_null() | (pl.col("price_model") == pl.col("model_id")))
          & (pl.col("at") >= pl.col("effective_from"))
          & (pl.col("effective_to").is_null() | (pl.col("at") < pl.col("effective_to"))))
    best = (joined.filter(ok).sort("_r", pl.col("price_model").is_null())
            .group_by("_r", maintain_order=True).first().select("_r", "unit_price"))
    rated = t.with_row_index("_r").join(best, on="_r", how="left")
    return rated.sort("_order").drop("_r", "_order", "at", "since")  # the input's row order


def truth_delta(rated: pl.DataFrame, sign: int = 1) -> pl.DataFrame:
    """Signed effective-usage deltas of rated text events, per (usage_date, organization_id,
    usage_unit, unit_price): quantities sum exactly in DECIMAL; amounts are priced at the end, in
    Python Decimal, since polars would cut the product's scale."""
    q = pl.col("quantity").str.to_decimal(scale=9)
    return rated.group_by(
        usage_date=pl.col("occurred_at").str.slice(0, 10), organization_id="organization_id", usage_unit="usage_unit",
        unit_price="unit_price",
    ).agg(quantity=(q * sign).sum(), event_count=pl.len().cast(pl.Int64) * sign)


def truth_totals(deltas: list[pl.DataFrame]) -> list[dict]:
    if not deltas:
        return []
    out: dict[tuple, dict] = {}
    for r in pl.concat(deltas).iter_rows(named=True):
        k = (r["usage_date"], r["organization_id"], r["usage_unit"])
        row = out.setdefault(k, dict(usage_date=k[0], organization_id=k[1], usage_unit=k[2], quantity=Decimal(0),
                                     rated_amount=Decimal(0), event_count=0, unrated_events=0))
        row["quantity"] += r["quantity"]
        row["event_count"] += r["event_count"]
        if r["unit_price"] is None:
            row["unrated_events"] += r["event_count"]
        else:
            row["rated_amount"] += r["quantity"] * r["unit_price"]
    return [dict(r, quantity=format(r["quantity"], "f"), rated_amount=format(r["rated_amount"], "f"))
            for _, r in sorted(out.items()) if r["event_count"]]


def bulk_usage_frames(w: World, day: int, unit_pool: list[str], state: dict):
    """Streams the usage file of one batch at benchmark sizes: the day's regular events, late events
    for the day before, re-deliveries and corrections of the day before's events. Appends the truth
    deltas to state["deltas"]; keeps in state["sample"] the few rows the next batch re-sends."""
    sc = w.sc

    def regular(target_day: int, n: int):
        while n > 0:
            size = min(n, sc.chunk_rows)
            frame = bulk_events(w, target_day, w.event_no + 1, size, unit_pool)
            w.event_no += size
            w.outbox_seq = w.event_no
            state["deltas"].append(truth_delta(rate(w, frame)))
            yield frame
            n -= size

    first = True
    for frame in regular(day, sc.events_per_day):
        if first:
            new_sample = frame.head(int(sc.events_per_day * (sc.duplicate_rate + sc.correction_rate)) + 2)
            first = False
        yield frame
    sample = state.get("sample")
    if day >= 1 and sample is not None:
        yield from regular(day - 1, int(sc.events_per_day * sc.late_rate))
        k = int(sc.events_per_day * sc.duplicate_rate)
        yield sample.head(k)  # re-delivered as is: counted once
        originals = sample.slice(k)
        n = originals.height
        fixed = originals.with_columns(
            event_id=pl.lit("evt_") + pl.int_range(w.event_no + 1, w.event_no + 1 + n).cast(pl.String).str.zfill(10),
            outbox_seq=pl.int_range(w.event_no + 1, w.event_no + 1 + n).cast(pl.String),
            correction_of=pl.col("event_id"),
            quantity=(pl.col("quantity").str.to_decimal(scale=9) * pl.lit(Decimal("0.5"))).cast(pl.String),
        )
        w.event_no += n
        w.outbox_seq = w.event_no
        rated = rate(w, originals)
        state["deltas"].append(truth_delta(rated, -1))
        state["deltas"].append(truth_delta(rated.with_columns(quantity=fixed["quantity"]), +1))
        yield fixed
    state["sample"] = new_sample
