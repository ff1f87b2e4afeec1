"""The FOCUS export streams (issue 32): a mart of many more rows than fit in the connection's
memory limit is written per billing period and organization, one batch at a time, with every row
and cent in its files (reports/focus/<YYYY-MM>/<draft|r1>/<organization>.parquet and .csv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import duckdb
import pyarrow.parquet as pq

from pipelines.lib.config import PROJECT_ROOT, Settings
from pipelines.lib.duck import connect
from pipelines.lib.focus import _pieces, write_focus_pack

ROWS = 2_000_000
# The child's peak resident memory may not exceed this. Measured here: 410 MiB streaming (Python
# with polars, pyarrow and DuckDB loaded, DuckDB's 96 MB limit, its sort's buffers, a batch);
# 1,092 MiB for the writer that read the whole mart into Python before it streamed.
PEAK_BYTES = 640 << 20
EXPORT = ("import json, resource, sys; from pipelines.lib.config import Settings; from pipelines.lib.duck import connect; "
          "from pipelines.lib.focus import FOCUS; from pipelines.lib.periods import write_periods; "
          "s = Settings.from_env(); c = connect(s.build_db, s); w = write_periods(c, s, FOCUS); c.close(); "
          "print(json.dumps({'packs': [f'{p.period} {p.pack}' for p in w.written], "
          "'peak': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))")


def test_a_focus_export_larger_than_the_memory_limit_completes_with_every_row(tmp_path):
    settings = Settings(exports_dir=tmp_path / "exports", data_dir=tmp_path / "data", duckdb_memory_limit="96MB",
                        duckdb_threads=1)
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    con = connect(settings.build_db, settings)
    try:
        con.execute("create schema ops; create schema marts")
        con.execute("""create table ops.ingested_batches as select '20261201T000500Z-000001' as batch_id,
                       timestamptz '2026-12-01 00:05:00+00' as exported_at, 'loaded' as status, 'x' as manifest_sha256,
                       1 as load_seq""")
        con.execute("create table ops.touched_dates (batch_id varchar, table_name varchar, day date, load_seq bigint)")
        # ~1.5M charges over 7 organizations and 3 periods, each row ~200 bytes of text: about
        # 300 MB, three times the memory limit, unsorted (the export sorts it)
        con.execute(f"""create table marts.rpt_focus_charges as
            select * exclude (days), "ChargePeriodStart"::date as charge_date, 1::bigint as _watermark from (
            select 'org_' || (hash(i) % 7)::varchar as "BillingAccountId",
                   timestamptz '2026-09-01 00:00:00+00' + to_months((hash(i * 3) % 3)::int) as "BillingPeriodStart",
                   (hash(i * 5) % 28)::int as days,
                   "BillingPeriodStart" + to_days(days) as "ChargePeriodStart",
                   'Usage' as "ChargeCategory",
                   ((hash(i * 7) % 100000)::decimal(38, 2) / 100)::decimal(38, 2) as "BilledCost",
                   'resource-' || i::varchar || '-' || repeat('x', 120) as "ResourceId",
                   'USD' as "BillingCurrency", 'gpu_hour.h100' as "x_UsageUnit", 1.5 as "ConsumedQuantity",
                   i as n
            from range({ROWS}) t(i))""")
        expected = {k: (n, total) for k, n, total in con.execute(
            'select "BillingAccountId" || \'/\' || strftime("BillingPeriodStart", \'%Y-%m\'), count(*), '
            'sum("BilledCost") from marts.rpt_focus_charges group by 1').fetchall()}
    finally:
        con.close()
    env = dict(os.environ, ANALYTICS_DATA_DIR=str(settings.data_dir), ANALYTICS_EXPORTS_DIR=str(settings.exports_dir),
               ANALYTICS_DUCKDB_MEMORY_LIMIT="96MB", ANALYTICS_DUCKDB_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
    child = subprocess.run([sys.executable, "-c", EXPORT], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                           timeout=900)
    assert child.returncode == 0, child.stderr[-3000:]
    written = json.loads(child.stdout[child.stdout.rindex('{"packs"'):])  # after DuckDB's progress bar
    # as of Dec 1: September and October closed five days after their last day, November open
    assert written["packs"] == ["2026-09 r1", "2026-10 r1", "2026-11 draft"]
    assert written["peak"] < PEAK_BYTES, f"peak {written['peak'] >> 20} MiB"
    directory = settings.reports_dir / "focus"
    parquets = sorted(directory.rglob("*.parquet"))
    assert len(parquets) == len(expected) == 21
    got = {}
    for p in parquets:
        table = pq.read_table(p)
        key = f"{p.stem}/{p.parent.parent.name}"
        got[key] = (table.num_rows, sum((v.as_py() for v in table.column("BilledCost")), Decimal(0)))
        # its rows all of its organization and period
        assert set(table.column("BillingAccountId").to_pylist()) == {p.stem}
    assert got == expected
    assert sum(n for n, _ in got.values()) == ROWS
    # the CSV of a partition holds the same rows, its header once
    first_csv = parquets[0].with_suffix(".csv")
    [(n, total)] = duckdb.sql(f"select count(*), sum(\"BilledCost\"::decimal(38, 2)) from read_csv('{first_csv}', "
                              "all_varchar = true)").fetchall()
    assert (n, total) == got[f"{parquets[0].stem}/{parquets[0].parent.parent.name}"]
    # each period's evidence manifest lists its 7 organizations' two files
    for period in ("2026-09/r1", "2026-10/r1", "2026-11/draft"):
        evidence = json.loads((directory / period / "focus_charges.evidence.json").read_text())
        assert len(evidence["files"]) == 14


def test_pieces_are_runs_of_whole_keys_in_key_order():
    keys = [("a", 1, 2), ("a", 2, 2), ("a", 3, 5), ("b", 1, 1), ("c", 1, 1), ("c", 2, 1)]
    # at most 4 rows a piece: a key of 5 rows is a piece of its own
    assert _pieces(keys, 4) == [(("a", 1), ("a", 2)), (("a", 3), ("a", 3)), (("b", 1), ("c", 2))]
    assert _pieces(keys, 1) == [(k[:2], k[:2]) for k in keys]
    assert _pieces(keys, 100) == [(("a", 1), ("c", 2))]
    assert _pieces([], 4) == []


def test_a_period_written_in_pieces_is_the_period_written_whole(tmp_path):
    """Pieces cut inside an organization (between its days) and between organizations give the same
    rows in the same order, and the same CSV bytes, as one sort of the whole period; the rows of
    other periods stay out."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'; create schema marts")
    con.execute("""create table marts.rpt_focus_charges as
        select *, "ChargePeriodStart"::date as charge_date, 1::bigint as _watermark from (
        select 'org_' || (i % 3)::varchar as "BillingAccountId",
               timestamptz '2026-10-29 00:00:00+00' + to_days((i % 7)::int) as "ChargePeriodStart",
               date_trunc('month', "ChargePeriodStart") as "BillingPeriodStart",
               case when i % 4 = 0 then 'Credit' else 'Usage' end as "ChargeCategory",
               (i % 5)::decimal(18, 2) as "BilledCost", 'r' || (i % 2)::varchar as "ResourceId"
        from range(200) t(i))""")
    november = con.execute("""select count(*) from marts.rpt_focus_charges
                              where charge_date >= date '2026-11-01' and charge_date < date '2026-12-01'""").fetchall()
    whole = write_focus_pack(con, "2026-11", tmp_path / "whole", chunk_rows=10**9)
    assert [p.name for p in whole] == ["org_0.parquet", "org_0.csv", "org_1.parquet", "org_1.csv",
                                       "org_2.parquet", "org_2.csv"]
    for chunk_rows in (1, 7, 30):
        pieces = write_focus_pack(con, "2026-11", tmp_path / str(chunk_rows), chunk_rows=chunk_rows, batch_rows=4)
        assert [p.name for p in pieces] == [p.name for p in whole]
        for a, b in zip(whole, pieces, strict=True):
            if a.suffix == ".csv":
                assert a.read_bytes() == b.read_bytes(), (chunk_rows, a.name)
            else:
                assert pq.read_table(a).equals(pq.read_table(b)), (chunk_rows, a.name)
    assert sum(pq.read_table(p).num_rows for p in whole if p.suffix == ".parquet") == november[0][0] > 0
