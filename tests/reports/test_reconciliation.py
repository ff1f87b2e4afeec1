"""Finance reconciliation marts on a hand-built ledger: every status, drift class and edge."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from decimal import Decimal as D

import duckdb
import openpyxl
import polars as pl
import pytest

from pipelines.lib.duck import connect, first
from pipelines.lib.finance import FINANCE
from pipelines.lib.periods import write_periods
from pipelines.lib.reports import sha256_file, stream_csvs


def query(settings, sql):
    con = duckdb.connect(str(settings.build_db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_status_and_the_precedence_between_them(finance):
    got = {p: (s, q, r, lq, la, d, c) for p, s, q, r, lq, la, d, c in query(finance, """
        select coalesce(project_id, '-'), status, usage_quantity, rated_amount, ledger_quantity, ledger_amount,
               amount_diff, currency
        from marts.rpt_usage_ledger_reconciliation""")}
    assert got == {
        # project: status, usage qty, rated (half-even cents), ledger qty, ledger amount, diff, currency
        "tie_down": ("matched", D("0.05"), D("0.12"), D("0.05"), D("0.12"), D("0"), "USD"),  # 0.125 -> 0.12
        "tie_up": ("matched", D("0.054"), D("0.14"), D("0.054"), D("0.14"), D("0"), "USD"),  # 0.135 -> 0.14
        "diff_001": ("matched", D("1"), D("2.50"), D("1"), D("2.51"), D("0.01"), "USD"),  # exactly 0.01: within
        "diff_0011": ("amount_mismatch", D("1"), D("2.50"), D("1"), D("2.511"), D("0.011"), "USD"),
        "qty": ("quantity_mismatch", D("1"), D("2.50"), D("2"), D("2.50"), D("0"), "USD"),
        "missing": ("missing_in_ledger", D("1"), D("2.50"), None, None, None, "USD"),
        "ledger_only": ("ledger_without_usage", None, None, D("1"), D("2.50"), None, "USD"),
        # two unreversed lines: duplicate, ahead of the quantity mismatch they also cause
        "dup": ("duplicate_ledger_entry", D("1"), D("2.50"), D("2"), D("5.00"), D("2.50"), "USD"),
        # the repeat was reversed by a credit: neither counts, the key matches
        "dup_reversed": ("matched", D("1"), D("2.50"), D("1"), D("2.50"), D("0"), "USD"),
        "unrated": ("unrated_usage", D("1"), None, D("1"), D("1.00"), None, "USD"),
        "dup_unrated": ("duplicate_ledger_entry", D("1"), None, D("2"), D("2.00"), None, "USD"),
        "eur": ("matched", D("1"), D("3.00"), D("1"), D("3.00"), D("0"), "EUR"),
    }


def test_rated_amount_is_cents_half_even_and_decimal(finance):
    assert query(finance, """select data_type from duckdb_columns() where table_name = 'rpt_usage_ledger_reconciliation'
                             and column_name in ('rated_amount', 'amount_diff', 'ledger_amount')""") == [
        ("DECIMAL(38,2)",), ("DECIMAL(38,9)",), ("DECIMAL(38,9)",)]


def test_non_usage_entries_are_listed_apart_not_as_breaks(finance):
    assert query(finance, "select entry_id, entry_type, amount from marts.rpt_ledger_non_usage_entries order by 1") == [
        ("c_promo", "credit", D("-10")), ("r_refund", "refund", D("-2"))]


def test_the_summary_has_control_totals_per_organization_and_currency(finance):
    rows = query(finance, """select organization_id, currency, rated_amount, ledger_amount, matched, amount_mismatch,
                                    quantity_mismatch, missing_in_ledger, ledger_without_usage, duplicate_ledger_entry,
                                    unrated_usage
                             from marts.rpt_reconciliation_summary order by all""")
    # USD rated: 0.12 + 0.14 + 2.50 x 6 (diff_001, diff_0011, qty, missing, dup, dup_reversed) = 15.26
    # USD ledger: 0.12 + 0.14 + 2.51 + 2.511 + 2.50 (qty) + 2.50 (ledger_only) + 5.00 + 2.50 + 1.00 + 2.00 = 20.781
    assert rows == [("o1", "USD", D("15.26"), D("20.781"), 4, 1, 1, 1, 1, 2, 1),
                    ("o2", "EUR", D("3.00"), D("3.00"), 1, 0, 0, 0, 0, 0, 0)]


def test_every_drift_class(finance):
    got = dict((r, (d, a)) for r, d, a in query(finance, """
        select coalesce(runtime_id, provider || ':' || provider_resource_id), drift_class, recommended_action
        from marts.rpt_runtime_reconciliation"""))
    assert got == {
        "r_sync": ("in_sync", "none"),
        "r_term_both": ("in_sync", "none"),  # terminated on both sides
        "r_term_absent": ("in_sync", "none"),  # terminated on the platform, absent at the provider
        "r_prov_nores": ("in_sync", "none"),  # provisioning, no provider resource yet
        "r_prov_res": ("in_sync", "none"),  # provisioning with a resource counts as running
        "A:a5": ("orphan_at_provider", "cleanup_candidate"),  # no such runtime on the platform
        "r_term_listed": ("orphan_at_provider", "cleanup_candidate"),  # terminated here, still stopped there
        "r_missing": ("missing_at_provider", "quarantine"),  # running here, unlisted there
        "r_missing_term": ("missing_at_provider", "quarantine"),  # stopped here, terminated there
        "r_state": ("state_mismatch", "investigate"),
        "r_attr": ("attribute_mismatch", "investigate"),
        "r_b": ("in_sync", "none"),  # provider B is absent from the newest batch: its last listing stands
    }


def test_the_report_pack_reads_back_and_its_evidence_holds(finance, tmp_path):
    moved = replace(finance, data_dir=tmp_path / "data")  # a data directory of its own: packs are written once
    shutil.copytree(finance.warehouse_dir, moved.warehouse_dir)
    con = connect(moved.build_db, moved)
    run = write_periods(con, moved, FINANCE)
    recorded = first(con.execute("select evidence_sha256 from ops.report_manifests "
                                 "where report = 'finance_reconciliation' order by pack_seq desc"))[0]
    con.close()
    # as of Nov 11 November is open: its draft
    [pack] = run.written
    assert pack.directory == moved.reports_dir / "finance" / "2026-11" / "draft"
    wb = openpyxl.load_workbook(pack.directory / "reconciliation.xlsx", read_only=True)
    assert wb.sheetnames == ["Summary", "Breaks", "Non-usage entries"]
    summary = list(wb["Summary"].iter_rows(values_only=True))
    header = summary[0]
    rated = sum(D(str(r[header.index("rated_amount")])) for r in summary[1:])
    ledger = sum(D(str(r[header.index("ledger_amount")])) for r in summary[1:])
    assert (rated, ledger) == (D("18.26"), D("23.781"))  # the mart's totals, both currencies
    breaks = list(wb["Breaks"].iter_rows(values_only=True))
    assert len(breaks) - 1 == 7  # 12 keys, 5 matched (4 in USD, 1 in EUR)
    with open(pack.directory / "usage_ledger_breaks.csv") as fh:
        assert {r["status"] for r in csv.DictReader(fh)} == {
            "amount_mismatch", "quantity_mismatch", "missing_in_ledger", "ledger_without_usage",
            "duplicate_ledger_entry", "unrated_usage"}
    manifest = json.loads(pack.manifest.read_text())
    assert (manifest["as_of"], manifest["period"]) == ("2026-11-11T00:05:00+00:00", "2026-11")
    # the batches that brought rows of November's days (the second holds a provider listing only)
    assert [b["batch_id"] for b in manifest["input_batches"]] == ["20261110T000500Z-000001"]
    assert manifest["newest_batch_id"] == "20261111T000500Z-000002"
    for f in manifest["files"]:
        assert sha256_file(pack.directory / f["path"]) == f["sha256"]
    assert len(manifest["files"]) == 5
    assert sha256_file(pack.manifest) == recorded


def test_the_report_pack_is_reproducible(finance, tmp_path):
    packs = []
    for name in ("a", "b"):
        moved = replace(finance, data_dir=tmp_path / name)
        shutil.copytree(finance.warehouse_dir, moved.warehouse_dir)
        con = connect(moved.build_db, moved)
        [pack] = write_periods(con, moved, FINANCE).written
        con.close()
        packs.append({f: sha256_file(pack.directory / f) for f in ("reconciliation.xlsx",
                                                                   "usage_ledger_reconciliation.csv")})
    assert packs[0] == packs[1]


def test_the_break_threshold_check_warns_with_the_offending_rows(finance):
    import dagster as dg

    from pipelines.defs.common.resources import WarehouseResource
    from pipelines.defs.reports.checks import reconciliation_break_thresholds

    result = reconciliation_break_thresholds(warehouse=WarehouseResource())
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["over_threshold"].data == {
        "duplicate_ledger_entry": {"keys": 2, "threshold": 0}, "ledger_without_usage": {"keys": 1, "threshold": 0}}
    assert {r["project_id"] for r in result.metadata["offending_rows"].data} == {"dup", "dup_unrated", "ledger_only"}


@pytest.mark.parametrize("batch_rows", [2, 3])  # by 2, rows 4 and 5 come in a batch of breaks only
def test_csvs_written_batch_by_batch_equal_one_write_of_all_rows(tmp_path, batch_rows):
    con = duckdb.connect()
    sql = ("select i, if(i % 3 = 0, 'matched', 'amount_mismatch') as status, (i / 7)::decimal(38, 9) as amount, "
           "if(i % 5 = 0, null, 'a, \"quoted\" text') as note from range(10) t(i) order by i")
    whole = con.sql(sql).pl()
    written = stream_csvs(con, sql, {tmp_path / "all.csv": None, tmp_path / "breaks.csv": pl.col("status") != "matched",
                                     tmp_path / "every.csv": pl.col("i") >= 0, tmp_path / "none.csv": pl.col("i") > 99},
                          batch_rows=batch_rows)
    assert [p.name for p in written] == ["all.csv", "breaks.csv", "every.csv", "none.csv"]
    assert (tmp_path / "all.csv").read_text() == whole.write_csv()
    assert (tmp_path / "every.csv").read_text() == whole.write_csv()
    assert (tmp_path / "breaks.csv").read_text() == whole.filter(pl.col("status") != "matched").write_csv()
    assert (tmp_path / "none.csv").read_text() == whole.head(0).write_csv()  # the header alone
    empty = stream_csvs(con, f"{sql} limit 0", {tmp_path / "empty.csv": None})[0]
    assert empty.read_text() == whole.head(0).write_csv()
    assert not list(tmp_path.glob(".*.tmp"))
