"""A clock that steps back (issue 31): what the incremental marts rebuild is decided by the load
sequence ingestion assigns, never by the loading machine's wall clock.

Batches 1-3 of the sample load and build at the real time; batch 5 then loads and builds with the
clock ten minutes behind (libfaketime, an NTP step or a restored VM). Every mart must hold batch 5,
exactly as a full rebuild from the same lake does."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from pipelines.lib.config import PROJECT_ROOT, SAMPLE_EXPORTS
from tests.helpers import effective_totals_from_lake, project_dirs

BATCHES_FIRST = ("20261102T000500Z-000001", "20261103T000500Z-000002", "20261104T000500Z-000003")
LATE = "20261105T000500Z-000005"
DBT_DIR = PROJECT_ROOT / "dbt_project"
INCREMENTAL = ("fct_usage_events", "fct_usage_hourly", "fct_usage_daily", "usage_by_department_daily",
               "usage_by_project_daily", "usage_by_api_key_daily", "usage_by_model_daily",
               "rpt_usage_ledger_reconciliation", "rpt_focus_charges", "fct_audit_events")
# ingestion and the operations configuration, as the main job runs them before dbt
INGEST = ("from pipelines.lib.config import Settings; from pipelines.lib.duck import connect; "
          "from pipelines.lib.ingest import ingest_all; from pipelines.lib.ops_config import write_config_tables; "
          "s = Settings.from_env(); c = connect(s.build_db, s); ingest_all(c, s); write_config_tables(c); c.close()")


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        pytest.fail("libfaketime is missing: `make test` installs it (Debian's faketime)")
    return found[0]


def _env(settings, clock: str | None) -> dict:
    env = dict(os.environ, ANALYTICS_DATA_DIR=str(settings.data_dir), ANALYTICS_EXPORTS_DIR=str(settings.exports_dir),
               DO_NOT_TRACK="1", PYTHONPATH=str(PROJECT_ROOT))
    if clock:
        env.update(LD_PRELOAD=libfaketime(), FAKETIME=clock, FAKETIME_DONT_FAKE_MONOTONIC="1")
    return env


def _run(settings, clock: str | None, *dbt_args: str) -> None:
    env = _env(settings, clock)
    ingested = subprocess.run([sys.executable, "-c", INGEST], cwd=PROJECT_ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
    assert ingested.returncode == 0, ingested.stderr[-4000:]
    built = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "dbt") if (PROJECT_ROOT / ".venv" / "bin" / "dbt").exists()
         else shutil.which("dbt"), "build", "--exclude-resource-type", "unit_test", *dbt_args,
         "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target-path", str(settings.data_dir / "dbt-target"), "--log-path", str(settings.data_dir / "dbt-logs")],
        env=env, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout[-5000:]


def _tables(db) -> dict[str, list]:
    con = duckdb.connect(str(db), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    out = {}
    for t in INCREMENTAL:
        cols = [c for (c,) in con.execute("select column_name from duckdb_columns() where schema_name = 'marts' "
                                         "and table_name = ? and column_name <> '_watermark'", [t]).fetchall()]
        out[t] = con.execute(f"select {', '.join(cols)} from marts.{t} order by all").fetchall()
    con.close()
    return out


def test_a_batch_loaded_with_the_clock_behind_reaches_every_mart(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    for b in BATCHES_FIRST:
        shutil.copytree(SAMPLE_EXPORTS / b, exports / b)
    with project_dirs(tmp_path) as settings:
        _run(settings, None)
        shutil.copytree(SAMPLE_EXPORTS / LATE, exports / LATE)
        _run(settings, "-10m")

        con = duckdb.connect(str(settings.build_db), read_only=True)
        times = dict(con.execute("select batch_id, loaded_at from ops.ingested_batches").fetchall())
        late_days = {d for (d,) in con.execute(
            "select distinct day from ops.touched_dates where batch_id = ? and table_name = 'usage_events'",
            [LATE]).fetchall()}
        rebuilt = {d for (d,) in con.execute("select usage_date from intermediate.int_usage_affected_dates").fetchall()}
        daily = {(str(d), o, u): (q, n) for d, o, u, q, n in con.execute(
            "select usage_date, organization_id, usage_unit, sum(quantity), sum(event_count) "
            "from marts.usage_by_department_daily group by all").fetchall()}
        # the fault happened: batch 5 was loaded "before" batch 3 by the clock
        assert times[LATE] < times[BATCHES_FIRST[-1]]
        assert late_days and late_days <= rebuilt
        # an independent path to the truth: the lake's effective usage, in polars
        assert daily == effective_totals_from_lake(settings.lake_dir)
        # and after it in the load sequence
        seqs = dict(con.execute("select batch_id, load_seq from ops.ingested_batches").fetchall())
        assert seqs[LATE] > seqs[BATCHES_FIRST[-1]]
        con.close()

        incremental = _tables(settings.build_db)
        _run(settings, None, "--full-refresh")
        assert _tables(settings.build_db) == incremental
