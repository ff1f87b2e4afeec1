"""rpt_usage_ledger_reconciliation rebuilds only the charge dates whose usage or ledger changed.

Batch A brings usage and ledger lines for Nov 7, 8 and 9; batch B brings ledger entries only: a
credit dated Nov 10 reversing a Nov 7 line, and a new line for Nov 8. The incremental build must
change Nov 7 (through the reversal alone) and Nov 8 (through the new line alone) exactly as a full
rebuild does, and leave Nov 9 as it was.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import duckdb
import pytest

from tests.helpers import project_dirs, write_batch
from tests.reports.conftest import DIMENSIONS, line
from tests.warehouse.conftest import build, dbt, ev, ingest

A, B = "20261110T000500Z-000001", "20261111T000500Z-000002"
NOV7, NOV8, NOV9 = "2026-11-07", "2026-11-08", "2026-11-09"
SELECT = ["--select", "+rpt_usage_ledger_reconciliation", "--indirect-selection", "cautious"]


def on(day, entry):
    return dict(entry, charge_date=day)


BATCH_A = {
    **DIMENSIONS,
    "usage_events": [ev("u_qty_7", 1, f"{NOV7}T01:00:00Z", "1", prj="qty"),
                     ev("u_tie_8", 2, f"{NOV8}T01:00:00Z", "1", prj="tie_down"),
                     ev("u_dup_9", 3, f"{NOV9}T01:00:00Z", "1", prj="dup")],
    "ledger_entries": [on(NOV7, line("l_qty_7", "qty", "1", "2.50")),
                       on(NOV8, line("l_tie_8", "tie_down", "1", "2.50")),
                       on(NOV9, line("l_dup_9", "dup", "1", "2.50"))],
}
BATCH_B = {
    "ledger_entries": [
        on("2026-11-10", line("c_qty_7", "qty", "-1", "-2.50", entry_type="credit", reverses="l_qty_7")),
        on(NOV8, line("l_only_8", "ledger_only", "1", "2.50")),
    ],
}


def rows(db) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    out = {(str(d), p): (s, w) for d, p, s, w in con.execute(
        "select charge_date, project_id, status, _watermark from marts.rpt_usage_ledger_reconciliation").fetchall()}
    con.close()
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("reconciliation")
    with project_dirs(root) as settings:
        write_batch(settings.exports_dir, A, BATCH_A, exported_at="2026-11-10T00:05:00Z")
        ingest(settings)
        build(settings.data_dir, *SELECT)
        first = rows(settings.build_db)
        older = replace(settings, data_dir=root / "older")  # as an older version left it, below
        shutil.copytree(settings.data_dir, older.data_dir)
        write_batch(settings.exports_dir, B, BATCH_B, exported_at="2026-11-11T00:05:00Z")
        ingest(settings)
        build(settings.data_dir, *SELECT)
        incremental = rows(settings.build_db)
        incremental_values = values(settings.build_db)
    full = root / "full"
    shutil.copytree(settings.data_dir, full)
    build(full, "--full-refresh", *SELECT)
    widened = widen(older.build_db)
    ingest(older)
    refused = dbt(older.data_dir, "build", *SELECT)
    build(older.data_dir, "--full-refresh", *SELECT)  # the upgrade step CHANGELOG.md documents
    return (first, incremental, rows(full / "warehouse" / "build" / "analytics.duckdb"), widened, refused,
            column_types(older.build_db), incremental_values, values(older.build_db))


# What a version before 0.2.0 stored wider: the column types the marts' contracts now pin narrower.
WIDER = {("fct_usage_daily", "event_count"): "HUGEINT", ("fct_usage_daily", "unrated_event_count"): "HUGEINT",
         ("rpt_usage_ledger_reconciliation", "usage_events"): "HUGEINT",
         ("rpt_usage_ledger_reconciliation", "unrated_events"): "HUGEINT"}


def values(db) -> list:
    con = duckdb.connect(str(db), read_only=True)
    out = con.execute("select * exclude (_watermark) from marts.rpt_usage_ledger_reconciliation order by all").fetchall()
    con.close()
    return out


def column_types(db) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    out = {(t, c): ty for t, c, ty in con.execute(
        "select table_name, column_name, data_type from information_schema.columns where table_schema = 'marts'"
    ).fetchall() if (t, c) in WIDER}
    con.close()
    return out


def widen(db) -> dict:
    """Give the narrowed columns their former, wider types; returns the types they had."""
    before = column_types(db)
    con = duckdb.connect(str(db))
    for (table, column), wider in WIDER.items():
        con.execute(f"alter table marts.{table} alter column {column} type {wider}")
    con.close()
    return before

def test_a_ledger_only_change_rebuilds_its_charge_date_like_a_full_rebuild(runs):
    first, incremental, rebuilt, *_ = runs
    assert {k: s for k, (s, _) in first.items()} == {
        (NOV7, "qty"): "matched", (NOV8, "tie_down"): "matched", (NOV9, "dup"): "matched"}
    assert {k: s for k, (s, _) in incremental.items()} == {
        (NOV7, "qty"): "missing_in_ledger",  # its line is reversed by a credit dated another day
        (NOV8, "tie_down"): "matched",
        (NOV8, "ledger_only"): "ledger_without_usage",
        (NOV9, "dup"): "matched"}
    assert {k: s for k, (s, _) in incremental.items()} == {k: s for k, (s, _) in rebuilt.items()}


def test_days_nothing_changed_are_left_as_they_were(runs):
    first, incremental, *_ = runs
    assert incremental[(NOV9, "dup")][1] == first[(NOV9, "dup")][1]  # not rebuilt: same watermark
    assert incremental[(NOV7, "qty")][1] > first[(NOV7, "qty")][1]
    assert incremental[(NOV8, "tie_down")][1] > first[(NOV8, "tie_down")][1]


def test_a_warehouse_with_the_former_wider_types_is_refused_and_a_full_refresh_upgrades_it(runs):
    *_, narrow, refused, types, incremental, upgraded = runs
    assert narrow == dict.fromkeys(WIDER, "BIGINT")
    # an incremental run does not write into a table whose stored types differ from the contract's
    assert refused.returncode != 0
    assert "The source and target schemas on this incremental model are out of sync" in refused.stdout
    assert types == narrow  # after `--full-refresh`
    assert len(upgraded) == 4 and upgraded == incremental  # every value, money to the cent
