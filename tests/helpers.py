"""Builders of small, hand-written export batches for tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines.lib.config import Settings
from tools.generator import BatchWriter, text_frame

EXPORTED_AT = "2026-11-02T00:05:00Z"


@contextmanager
def project_dirs(root: Path) -> Iterator[Settings]:
    """The exports root and the data directory under `root` for the block (the environment the
    pipeline reads), as Settings."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ANALYTICS_EXPORTS_DIR", str(root / "exports"))
    mp.setenv("ANALYTICS_DATA_DIR", str(root / "data"))
    try:
        yield Settings.from_env()
    finally:
        mp.undo()

ORG = dict(organization_id="o1", name="Org One", plan_id="plan_a", billing_currency="USD",
           created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
ORG2 = dict(ORG, organization_id="o2", name="Org Two")
DEPT = dict(department_id="d1", organization_id="o1", parent_department_id=None, name="Root",
            updated_at="2026-01-01T00:00:00Z")
PROJECT = dict(project_id="p1", organization_id="o1", department_id="d1", name="P1",
               created_at="2026-01-01T00:00:00Z", archived_at=None, updated_at="2026-01-01T00:00:00Z")
PROJECT2 = dict(PROJECT, project_id="p2", organization_id="o2")
KEY = dict(api_key_id="k1", project_id="p1", service_account_id=None, label="key", created_at="2026-01-01T00:00:00Z",
           revoked_at=None, updated_at="2026-01-01T00:00:00Z")
KEY2 = dict(KEY, api_key_id="k2", project_id="p2")
MODEL = dict(model_id="m1", display_name="M1", family="m", updated_at="2026-01-01T00:00:00Z")
UNITS = [
    dict(usage_unit="gpu_hour.h100", product="gpuaas", unit_of_measure="gpu_hour", description="h100",
         registry_version="1", updated_at="2026-01-01T00:00:00Z"),
    dict(usage_unit="input_token", product="token_factory", unit_of_measure="token", description="in",
         registry_version="1", updated_at="2026-01-01T00:00:00Z"),
]
EVENT = dict(event_id="e1", outbox_seq="1", occurred_at="2026-11-01T10:00:00Z", recorded_at="2026-11-01T10:00:05Z",
             organization_id="o1", project_id="p1", api_key_id="k1", model_id=None, resource_id="r1",
             usage_unit="gpu_hour.h100", quantity="1.500000", correction_of=None, attributes='{"a": 1}')

DIMENSIONS = {
    "organizations": [ORG, ORG2], "departments": [DEPT], "projects": [PROJECT, PROJECT2],
    "api_keys": [KEY, KEY2], "models": [MODEL], "usage_units": UNITS,
}


def event(**overrides) -> dict:
    return dict(EVENT, **overrides)


def write_batch(root: Path, batch_id: str, tables: dict, encoding=("csv", "none"), exported_at=None,
                raw_lines: dict | None = None, encodings: dict | None = None) -> Path:
    """tables: {table: [row dicts in text form]}; written in `encoding` unless `encodings` names
    another for a table; raw_lines: {table: [text appended as is]}. exported_at: by default the
    time the batch id starts with (the contract wants them equal)."""
    from datetime import datetime

    from pipelines.lib.ingest.manifest import BATCH_ID_RE, batch_time

    if exported_at is None:
        exported_at = (batch_time(batch_id).strftime("%Y-%m-%dT%H:%M:%SZ") if BATCH_ID_RE.match(batch_id)
                       else EXPORTED_AT)

    bw = BatchWriter(root, batch_id, datetime.fromisoformat(exported_at.replace("Z", "+00:00")))
    for table, rows in tables.items():
        bw.write(table, [text_frame(table, rows)], (encodings or {}).get(table, encoding),
                 (raw_lines or {}).get(table, []))
    bw.close()
    return root / batch_id


def edit_manifest(batch_dir: Path, fn) -> None:
    path = batch_dir / "manifest.json"
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def rehash(batch_dir: Path, file_name: str) -> None:
    """After changing a data file on purpose, make the manifest agree with its bytes."""
    digest = hashlib.sha256((batch_dir / file_name).read_bytes()).hexdigest()

    def fix(doc):
        for f in doc["files"]:
            if f["path"] == file_name:
                f["sha256"] = digest

    edit_manifest(batch_dir, fix)


def lake_table(settings: Settings, table: str) -> str:
    """SQL reading an event table's loaded rows back from the lake (the warehouse keeps only
    their keys, in raw.<table>_keys)."""
    return f"read_parquet('{settings.lake_dir}/{table}/*/*.parquet', hive_partitioning = false)"


def effective_totals_from_lake(lake_dir: Path) -> dict:
    """An independent path to the truth, in plain polars over the lake: duplicates never reach it,
    the latest correction by outbox_seq wins, quantity 0 voids, the original keeps its occurred_at.
    {(usage_date, organization_id, usage_unit): (quantity, event_count)}"""
    from decimal import Decimal

    import polars as pl

    events = pl.read_parquet(str(lake_dir / "usage_events" / "*" / "*.parquet"), hive_partitioning=False)
    originals = events.filter(pl.col("correction_of").is_null())
    latest = (events.filter(pl.col("correction_of").is_not_null()).sort("outbox_seq")
              .group_by("correction_of").last().select(pl.col("correction_of").alias("event_id"),
                                                        pl.col("quantity").alias("corrected")))
    effective = (originals.join(latest, on="event_id", how="left")
                 .with_columns(pl.coalesce("corrected", "quantity").alias("q"))
                 .filter(pl.col("corrected").is_null() | (pl.col("corrected") != 0))  # only a correction voids
                 .with_columns(pl.col("occurred_at").dt.convert_time_zone("UTC").dt.date().cast(pl.String).alias("d")))
    return {(r["d"], r["organization_id"], r["usage_unit"]): (Decimal(str(r["q"])), r["n"]) for r in
            effective.group_by("d", "organization_id", "usage_unit").agg(pl.col("q").sum(), pl.len().alias("n")).to_dicts()}


def expected_totals(exports: Path) -> dict:
    from decimal import Decimal

    truth = json.loads((exports / "expected_totals.json").read_text())["totals"]
    return {(t["usage_date"], t["organization_id"], t["usage_unit"]): (Decimal(t["quantity"]), t["event_count"])
            for t in truth}


# Columns that record when something happened on this machine (load, quarantine, release times and
# the watermarks derived from them): two runs at different times differ there and nowhere else.
WALL_CLOCK = {"written_at", "loaded_at", "quarantined_at", "recorded_at", "seen_at", "released_at", "_watermark",
              "first_loaded_at", "deleted_loaded_at", "changed_at", "last_loaded_at", "probe"}


def warehouse_fingerprint(settings) -> dict:
    """A hash of every table of the build warehouse (wall-clock columns aside), every lake file and
    every report file: equal fingerprints mean the same warehouse."""
    import hashlib

    import duckdb

    con = duckdb.connect(str(settings.build_db), read_only=True)
    tables = {}
    for schema, table in con.execute("select schema_name, table_name from duckdb_tables() order by all").fetchall():
        if table in ("int_usage_affected_dates", "int_reconciliation_affected_dates", "int_focus_affected_dates",
                     "int_audit_affected_blocks",
                     "dbt_builds", "ingest_runs"):
            continue  # a run's own work lists (every day on a first run, none on a rerun), the logs of runs
        cols = [c for (c,) in con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ? order by column_index",
            [schema, table]).fetchall() if c not in WALL_CLOCK]
        rows = con.execute(f'select {", ".join(cols)} from "{schema}"."{table}" order by all').fetchall()
        tables[f"{schema}.{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    con.close()

    def files(root, pattern, skip=()):
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob(pattern)) if p.is_file() and not any(s in p.parts for s in skip)}

    return {"tables": tables,
            # lake/_sources/ is the ops tables above, written again before every build
            "lake": files(settings.lake_dir, "*.parquet", skip=("quarantine", "_sources")),
            "reports": files(settings.reports_dir, "*") if settings.reports_dir.exists() else {}}


def run_log(result) -> str:
    """The full Dagster and dbt output of a run of the main command: the log file it names."""
    import re

    match = re.search(r"^run log +(.+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout[-2000:]
    return Path(match[1]).read_text()


# The main job launched through Dagster, past the command's no-op shortcut (pipelines/lib/noop.py)
LAUNCH = ("import sys; from pipelines.__main__ import launch_main_job; from pipelines.lib.config import Settings; "
          "sys.exit(launch_main_job(Settings.from_env()))")


def run_pipeline(data_dir: Path, exports: Path | None = None, *args: str, **env):
    """The project's main command (`python -m pipelines run`, what `make run` calls) in a child;
    with the one argument "--through-dagster", the main job as that command launches it when
    something is new (the UI, a schedule or the sensor decide the same way: build_state)."""
    import os
    import subprocess
    import sys

    from pipelines.lib.config import PROJECT_ROOT, SAMPLE_EXPORTS

    child = dict(os.environ, ANALYTICS_DATA_DIR=str(data_dir), ANALYTICS_EXPORTS_DIR=str(exports or SAMPLE_EXPORTS),
                 **env)
    child.pop("DAGSTER_HOME", None)
    argv = ["-c", LAUNCH] if args == ("--through-dagster",) else ["-m", "pipelines", "run", *args]
    return subprocess.run([sys.executable, *argv], cwd=PROJECT_ROOT, env=child,
                          capture_output=True, text=True, timeout=600, start_new_session=True)


# a batch of the ingestion record, by column name (the record has more columns than a test sets)
INSERT_BATCH = ("insert into ops.ingested_batches (batch_id, exported_at, loaded_at, status, reason, manifest_sha256, "
                "file_count) values")
