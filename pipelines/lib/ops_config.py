"""Operations configuration (SLOs, freshness thresholds) from pipelines/config/*.yml into tables
of the build warehouse's `config` schema, where dbt reads them. Changing a file changes the marts
on the next run: no code, no dbt change."""

from __future__ import annotations

import re
from decimal import Decimal

import polars as pl

from models import TABLES
from pipelines.lib.config_files import load_config

_UNITS = {"m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+)\s*([mhd])\s*", str(duration))
    if not m:
        raise ValueError(f"duration {duration!r} is not <n>m, <n>h or <n>d")
    return int(m.group(1)) * _UNITS[m.group(2)]


def slo_definitions(doc: dict | None = None) -> pl.DataFrame:
    doc = doc if doc is not None else load_config("slos.yml")
    rows = []
    for slo in doc.get("slos", []):
        name, spec = slo["metadata"]["name"], slo["spec"]
        indicator = spec["indicator"]["spec"]
        window = seconds(spec["timeWindow"][0]["duration"])
        if window % 86400:
            raise ValueError(f"SLO {name}: the rolling window must be whole days")
        target = Decimal(str(spec["objectives"][0]["target"]))
        if not Decimal(0) < target < Decimal(1):
            raise ValueError(f"SLO {name}: target {target} must be between 0 and 1")
        metric = indicator.get("thresholdMetric")
        if metric not in (None, "latency_ms", "dlq_depth", "outbox_lag_seconds"):
            raise ValueError(f"SLO {name}: unknown thresholdMetric {metric!r}")
        rows.append(dict(
            slo_name=name, display_name=slo["metadata"].get("displayName", name), component=spec["service"],
            check_name=indicator.get("check"), good_statuses=indicator.get("goodStatuses"),
            threshold_metric=metric, threshold_lte=None if metric is None else Decimal(str(indicator["lte"])),
            target=target, window_days=window // 86400,
        ))
    return pl.DataFrame(rows, schema={
        "slo_name": pl.String, "display_name": pl.String, "component": pl.String, "check_name": pl.String,
        "good_statuses": pl.List(pl.String), "threshold_metric": pl.String, "threshold_lte": pl.Decimal(38, 9),
        "target": pl.Decimal(38, 9), "window_days": pl.Int64})


def freshness_thresholds(doc: dict | None = None) -> pl.DataFrame:
    doc = doc if doc is not None else load_config("freshness.yml")
    per_table = doc.get("tables", {})
    rows = []
    for name, table in TABLES.items():
        fallback = doc.get("dimensions", doc.get("default", "1d")) if table.kind == "dimension" else doc.get("default", "1d")
        rows.append(dict(table_name=name, max_lag_seconds=seconds(per_table.get(name, fallback))))
    return pl.DataFrame(rows, schema={"table_name": pl.String, "max_lag_seconds": pl.Int64})


def write_config_tables(con) -> dict[str, int]:
    con.execute("create schema if not exists config")
    out = {}
    for name, frame in (("slo_definitions", slo_definitions()), ("freshness_thresholds", freshness_thresholds())):
        con.register("frame", frame)
        con.execute(f"create or replace table config.{name} as select * from frame")
        con.unregister("frame")
        out[name] = frame.height
    return out
