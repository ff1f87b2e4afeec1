"""Report packs by billing period (warehouse-v1, Reports by billing period v1.2; issue 32), on four
hand-built batches ingested and built with the real dbt project, one run after each:

    B1  exported Sep 10: dimensions, prices; e1 (Sep 9, 1.5 h100 at 2.00 = 3.00); a credit dated Aug 30
    B2  exported Sep 20: e2 (Sep 19, 2 h100 = 4.00)
    B3  exported Oct 6 00:05 (September closed at Oct 6 00:00): e3 (Oct 5, 1 h100)
    B4  exported Oct 7: e4, a late event for September (Sep 25, 1 h100 = 2.00)

August closes on Sep 6, so the first run writes it as r1 straight away; September is a draft, replaced
by the second run, renamed r1 by the third (nothing of September changed), and revised by the fourth.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from pipelines.lib.duck import connect
from pipelines.lib.finance import FINANCE
from pipelines.lib.focus import FOCUS
from pipelines.lib.periods import ensure_record, write_periods
from pipelines.lib.reports import sha256_file
from tests.helpers import project_dirs, write_batch
from tests.warehouse.conftest import COMMON, PRICES_V1, build, ev, ingest, ledger, org, project

B1, B2, B3, B4 = ("20260910T000500Z-000001", "20260920T000500Z-000002", "20261006T000500Z-000003",
                  "20261007T000500Z-000004")
BATCHES = [
    (B1, {**COMMON, "organizations": [org("o1", "plan_a")], "projects": [project("p1", "o1", "d_a")],
          "prices": PRICES_V1, "usage_events": [ev("e1", 1, "2026-09-09T10:00:00Z", "1.5")],
          "ledger_entries": [ledger("c_aug", "2026-08-30", "-5.00", posted="2026-09-01T00:00:00Z")]}),
    (B2, {"usage_events": [ev("e2", 2, "2026-09-19T10:00:00Z", "2")]}),
    (B3, {"usage_events": [ev("e3", 3, "2026-10-05T10:00:00Z", "1")]}),
    (B4, {"usage_events": [ev("e4", 4, "2026-09-25T10:00:00Z", "1")]}),
]


def tree(root):
    """Every file under root: path to (sha256, inode, mtime): a file rewritten with the same bytes shows."""
    return {str(p.relative_to(root)): (sha256_file(p), p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_reports(settings):
    con = connect(settings.build_db, settings)
    try:
        return {kind.name: write_periods(con, settings, kind) for kind in (FINANCE, FOCUS)}
    finally:
        con.close()


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    root = tmp_path_factory.mktemp("periods")
    steps = []
    with project_dirs(root) as settings:
        for batch_id, tables in BATCHES:
            write_batch(settings.exports_dir, batch_id, tables)
            ingest(settings)
            build(settings.data_dir)
            runs = run_reports(settings)
            steps.append((runs, tree(settings.reports_dir)))
        again = run_reports(settings)  # nothing new: nothing written
        con = connect(settings.build_db, settings)
        record = con.execute("select kind, period, pack, batch_id, revision, directory, evidence_sha256 "
                             "from ops.report_manifests order by pack_seq").fetchall()
        periods = con.execute("select kind, period, pack, directory, batch_id from ops.report_periods "
                              "order by all").fetchall()
        con.close()
        yield dict(settings=settings, steps=steps, again=again, after=tree(settings.reports_dir), record=record,
                   periods=periods)


def written(run):
    return [f"{p.period} {p.pack}" for p in run.written]


def test_a_closed_period_is_written_as_r1_and_an_open_one_as_a_draft(lifecycle):
    runs, files = lifecycle["steps"][0]
    assert written(runs["finance"]) == ["2026-08 r1", "2026-09 draft"]
    assert runs["finance"].closed == ["2026-08"]
    assert written(runs["focus"]) == ["2026-08 r1", "2026-09 draft"]
    assert {f.split("/")[2] for f in files if f.startswith("finance/")} == {"r1", "draft"}
    assert "focus/2026-09/draft/o1.parquet" in files and "focus/2026-08/r1/o1.csv" in files
    # the August pack holds August's credit only, the September pack September's usage only
    settings = lifecycle["settings"]
    oct_entries = (settings.reports_dir / "finance/2026-08/r1/ledger_non_usage_entries.csv").read_text()
    assert "c_aug" in oct_entries
    assert "c_aug" not in (settings.reports_dir / "finance/2026-09/r1/ledger_non_usage_entries.csv").read_text()
    assert "finance/2026-09/draft/reconciliation.xlsx" in files


def test_an_open_periods_draft_is_replaced_and_a_period_no_run_touched_is_not_written(lifecycle):
    (_, first), (runs, second) = lifecycle["steps"][:2]
    assert written(runs["finance"]) == ["2026-09 draft"] and runs["finance"].unchanged == ["2026-08"]
    assert runs["finance"].closed == []
    changed = {f for f in second if second[f] != first.get(f)}
    assert changed and all(f.startswith(("finance/2026-09/draft/", "focus/2026-09/draft/")) for f in changed)
    # August: the same files, not rewritten (same inode and mtime)
    assert {f: v for f, v in second.items() if "/2026-08/" in f} == {f: v for f, v in first.items() if "/2026-08/" in f}


def test_the_first_run_after_a_period_closes_renames_its_draft_r1(lifecycle):
    (_, before), (runs, after) = lifecycle["steps"][1:3]
    assert written(runs["finance"]) == ["2026-09 r1", "2026-10 draft"] and runs["finance"].closed == ["2026-09"]
    assert not any(f.startswith("finance/2026-09/draft") for f in after)
    draft = {f.removeprefix("finance/2026-09/draft/"): v[0] for f, v in before.items()
             if f.startswith("finance/2026-09/draft/")}
    r1 = {f.removeprefix("finance/2026-09/r1/"): v[0] for f, v in after.items() if f.startswith("finance/2026-09/r1/")}
    assert r1 == draft  # the signed pack is the draft as last written, byte for byte


def test_a_late_event_for_a_closed_period_is_a_revision_naming_it_and_r1_is_untouched(lifecycle):
    (_, before), (runs, after) = lifecycle["steps"][2:4]
    assert written(runs["finance"]) == ["2026-09 r2"] and written(runs["focus"]) == ["2026-09 r2"]
    assert runs["finance"].unchanged == ["2026-08", "2026-10"]  # B4 touched no day of October
    for kind in ("finance", "focus"):
        signed = {f: v for f, v in before.items() if f.startswith(f"{kind}/2026-09/r1/")}
        assert signed and {f: v for f, v in after.items() if f.startswith(f"{kind}/2026-09/r1/")} == signed
        assert {f: v for f, v in after.items() if f.startswith(f"{kind}/2026-10/")} == \
            {f: v for f, v in before.items() if f.startswith(f"{kind}/2026-10/")}
    settings = lifecycle["settings"]
    for kind in ("finance", "focus"):
        [row] = list(csv.DictReader((settings.reports_dir / kind / "2026-09/r2/changes.csv").open()))
        assert (row["organization_id"], row["charge_date"], row["usage_unit"], row["currency"]) == \
            ("o1", "2026-09-25", "gpu_hour.h100", "USD")
        assert (D(row["quantity_before"]), D(row["quantity_after"]), D(row["quantity_change"])) == (0, 1, 1)
        # 1 h100 at plan_a's 2.00: before, no usage on the day at all
        assert (row["rated_amount_before"], D(row["rated_amount_after"]), D(row["amount_change"])) == \
            ("", D("2.00"), D("2.00"))
        assert (row["events"], row["event_ids"], row["kinds"], row["batches"]) == ("1", "e4", "late", B4)
    r2 = settings.reports_dir / "finance/2026-09/r2"
    nov = {r["charge_date"]: D(r["rated_amount"]) for r in csv.DictReader((r2 / "usage_ledger_reconciliation.csv").open())}
    assert nov == {"2026-09-09": D("3.00"), "2026-09-19": D("4.00"), "2026-09-25": D("2.00")}


def test_nothing_new_writes_nothing(lifecycle):
    assert all(run.written == [] for run in lifecycle["again"].values())
    assert lifecycle["again"]["finance"].unchanged == ["2026-08", "2026-09", "2026-10"]
    assert lifecycle["after"] == lifecycle["steps"][-1][1]


def test_the_record_has_a_row_per_pack_written(lifecycle):
    settings = lifecycle["settings"]
    finance = [(p, k, b, r, d) for kind, p, k, b, r, d, _ in lifecycle["record"] if kind == "finance"]
    assert finance == [
        ("2026-08", "r1", B1, 1, "reports/finance/2026-08/r1"),
        ("2026-09", "draft", B1, None, "reports/finance/2026-09/draft"),
        ("2026-09", "draft", B2, None, "reports/finance/2026-09/draft"),
        ("2026-09", "r1", B3, 1, "reports/finance/2026-09/r1"),
        ("2026-10", "draft", B3, None, "reports/finance/2026-10/draft"),
        ("2026-09", "r2", B4, 2, "reports/finance/2026-09/r2"),
    ]
    for kind, _, pack, _, _, directory, evidence in lifecycle["record"]:
        if pack != "draft" or directory.endswith("2026-10/draft"):  # replaced drafts are gone
            assert sha256_file(settings.data_dir / directory / f"{'finance_reconciliation' if kind == 'finance' else 'focus_charges'}.evidence.json") == evidence


def test_each_periods_latest_pack_is_remembered_by_its_place_in_the_data_directory(lifecycle):
    # the September r1 current from B3 (renamed from the draft B2 wrote), r2 from B4
    assert [r for r in lifecycle["periods"] if r[0] == "finance"] == [
        ("finance", "2026-08", "r1", "reports/finance/2026-08/r1", B1),
        ("finance", "2026-09", "r2", "reports/finance/2026-09/r2", B4),
        ("finance", "2026-10", "draft", "reports/finance/2026-10/draft", B3),
    ]


def test_a_pack_whose_run_died_before_its_record_is_recorded_by_the_next(lifecycle, tmp_path):
    settings = lifecycle["settings"]
    copy = tmp_path / "data"
    shutil.copytree(settings.data_dir, copy)
    moved = type(settings)(exports_dir=settings.exports_dir, data_dir=copy)
    con = connect(moved.build_db, moved)
    try:
        # the last write's record lost (the run died after renaming r2 into place): the state is r1's
        con.execute("delete from ops.report_manifests where kind = 'finance' and pack = 'r2'")
        con.execute("update ops.report_periods set pack = 'r1', directory = replace(directory, 'r2', 'r1'), "
                    "row_count = 2, probe = 'r1 was made from other rows' where kind = 'finance' and period = '2026-09'")
        before = tree(moved.reports_dir)
        run = write_periods(con, moved, FINANCE)
        assert run.written == [] and tree(moved.reports_dir) == before
        assert con.execute("select count(*) from ops.report_manifests where kind = 'finance' and pack = 'r2'"
                           ).fetchone()[0] == 1
        assert con.execute("select pack, row_count from ops.report_periods where kind = 'finance' "
                           "and period = '2026-09'").fetchall() == [("r2", 3)]  # e1, e2, e4: a key each
    finally:
        con.close()


def test_a_period_whose_probe_is_unchanged_is_not_hashed_again(lifecycle, tmp_path):
    """The probe (count and newest _watermark per period) decides which periods are hashed: one
    whose probe is what the record holds is left alone, even with a wrong hash recorded; a record
    without its probe (from before it) hashes the period once and keeps the probe."""
    settings = lifecycle["settings"]
    copy = tmp_path / "data"
    shutil.copytree(settings.data_dir, copy)
    moved = type(settings)(exports_dir=settings.exports_dir, data_dir=copy)
    con = connect(moved.build_db, moved)
    try:
        where = "where kind = 'focus' and period = '2026-09'"
        (b4_seq,) = con.execute("select load_seq from ops.ingested_batches where batch_id = ?", [B4]).fetchone()
        # September's FOCUS charges: e1, e2, e4 (a row each); its newest row, Sep 25's, came with B4
        ((content, probe),) = con.execute(f"select content_hash, probe from ops.report_periods {where}").fetchall()
        assert probe == f"3 {b4_seq}"
        before = tree(moved.reports_dir)
        con.execute(f"update ops.report_periods set content_hash = 0 {where}")
        run = write_periods(con, moved, FOCUS)
        assert run.written == [] and "2026-09" in run.unchanged
        assert con.execute(f"select content_hash from ops.report_periods {where}").fetchall() == [(0,)]
        con.execute(f"update ops.report_periods set probe = null {where}")
        run = write_periods(con, moved, FOCUS)
        assert run.written == [] and tree(moved.reports_dir) == before
        assert con.execute(f"select content_hash, probe from ops.report_periods {where}").fetchall() == [
            (content, probe)]
    finally:
        con.close()


def test_the_per_batch_record_keeps_its_rows(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema ops")
    con.execute("""create table ops.report_manifests (
        report varchar, kind varchar, batch_id varchar, revision integer, directory varchar, manifest_path varchar,
        evidence_sha256 varchar, file_count integer, written_at timestamptz, primary key (report, batch_id, revision))""")
    con.execute("alter table ops.report_manifests add column code_fingerprint varchar")
    con.execute("alter table ops.report_manifests add column config_sha256 varchar")
    con.execute(f"insert into ops.report_manifests values ('focus_charges', 'focus', '{B1}', 1, 'reports/{B1}/focus', "
                f"'reports/{B1}/focus/focus_charges.evidence.json', 'abc', 2, now(), 'c', 'k')")
    ensure_record(con)
    ensure_record(con)  # once
    assert con.execute("select report, kind, period, pack, batch_id, revision, directory, evidence_sha256, pack_seq "
                       "from ops.report_manifests").fetchall() == [
        ("focus_charges", "focus", None, None, B1, 1, f"reports/{B1}/focus", "abc", None)]
    # a draft has no revision: the record takes rows the per-batch key refused
    con.execute("insert into ops.report_manifests (kind, period, pack, batch_id) values ('focus', '2026-09', 'draft', ?), "
                "('focus', '2026-10', 'draft', ?)", [B1, B1])
    con.close()


@pytest.mark.parametrize(("text", "days"), [("", 5), ("0", 0), ("12", 12), ("366", 366)])
def test_the_close_days_setting(monkeypatch, text, days):
    from pipelines.lib.config import Settings
    from pipelines.lib.periods import closes_at

    monkeypatch.setenv("ANALYTICS_PERIOD_CLOSE_DAYS", text)
    settings = Settings.from_env()
    assert settings.period_close_days == days
    # November closes `days` whole days after November 30
    assert closes_at("2026-11", days).isoformat() == f"{(date(2026, 12, 1) + timedelta(days=days)).isoformat()}T00:00:00+00:00"


@pytest.mark.parametrize("text", ["-1", "five", "367", "1.5", "５"])
def test_a_close_days_setting_that_is_not_whole_days_is_refused(monkeypatch, text):
    from pipelines.lib.config import Settings

    monkeypatch.setenv("ANALYTICS_PERIOD_CLOSE_DAYS", text)
    with pytest.raises(ValueError, match="ANALYTICS_PERIOD_CLOSE_DAYS"):
        Settings.from_env()
