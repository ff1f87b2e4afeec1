"""rpt_focus_charges is incremental by charge date (int_focus_changed_dates): on a copy of the usage
scenario (conftest.py), each batch below rebuilds exactly the days it can change, leaves the other
days' rows as they were, and the mart then equals a full rebuild from the lake."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal as D

import duckdb
import pytest

from pipelines.lib.config import Settings
from tests.helpers import write_batch
from tests.warehouse.conftest import BATCH2, COMMON, build, dbt, ingest, ledger, marts, project

B3, B4, B5 = "20261117T000500Z-000003", "20261118T000500Z-000004", "20261119T000500Z-000005"
# B2's dimensions, as a later batch repeats them (each batch carries every dimension's snapshot)
DIMENSIONS = {**COMMON, "organizations": BATCH2["organizations"], "projects": BATCH2["projects"],
              "prices": BATCH2["prices"], "usage_events": [], "ledger_entries": []}


@pytest.fixture(scope="module")
def focus(scenario, tmp_path_factory):
    """The scenario's exports and data directory, copied; a function to load one more batch into
    them, build, and say what the FOCUS mart became."""
    root = tmp_path_factory.mktemp("focus")
    shutil.copytree(scenario["settings"].exports_dir, root / "exports")
    shutil.copytree(scenario["settings"].data_dir, root / "data")
    settings = Settings(exports_dir=root / "exports", data_dir=root / "data")

    def load(batch_id: str, tables: dict) -> dict:
        before = _rows(settings)
        write_batch(settings.exports_dir, batch_id, tables)
        ingest(settings)
        build(settings.data_dir)
        con = duckdb.connect(str(settings.build_db), read_only=True)
        affected = {d for (d,) in con.execute("select charge_date from intermediate.int_focus_affected_dates").fetchall()}
        changed = {d for (d,) in con.execute("select charge_date from intermediate.int_focus_changed_dates").fetchall()}
        con.close()
        after = _rows(settings)
        full = root / f"full-{batch_id}"
        shutil.copytree(settings.data_dir, full)
        build(full, "--full-refresh")
        rebuilt = marts(full / "warehouse" / "build" / "analytics.duckdb")["rpt_focus_charges"]
        shutil.rmtree(full)
        return dict(before=before, after=after, affected=affected, changed=changed, rebuilt=rebuilt,
                    incremental=marts(settings.build_db)["rpt_focus_charges"])

    load.settings = settings
    return load


def _rows(settings) -> dict[date, set]:
    """Per charge day, its rows with their _watermark: a day not rebuilt keeps its watermarks."""
    con = duckdb.connect(str(settings.build_db), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    out: dict[date, set] = {}
    for row in con.execute(
            'select charge_date, "BillingAccountId", "SubAccountId", "SkuPriceId", "ChargeCategory", "ConsumedQuantity", '
            '"BilledCost", "x_LedgerEntryId", * exclude (charge_date) from marts.rpt_focus_charges').fetchall():
        out.setdefault(row[0], set()).add(row[1:])
    con.close()
    return out


def brief(got: dict, day: date) -> set:
    """A day's rows as (organization, project, price, category, quantity, cost, ledger entry)."""
    return {r[:7] for r in got["after"].get(day, ())}


def test_a_late_event_and_an_unknown_reversal_rebuild_their_days_only(focus):
    # a late hour on Nov 12, and a credit x_rev on Nov 14 reversing x_orig, not loaded yet: a plain credit
    late = dict(event_id="e30", outbox_seq="70", occurred_at="2026-11-12T08:00:00Z", recorded_at="2026-11-12T08:00:00Z",
                organization_id="o1", project_id="p1", api_key_id=None, model_id=None, resource_id=None,
                usage_unit="gpu_hour.h100", quantity="1", correction_of=None, attributes=None)
    got = focus(B3, {**DIMENSIONS, "usage_events": [late],
                     "ledger_entries": [ledger("x_rev", "2026-11-14", "-3.00", reverses="x_orig",
                                               posted="2026-11-17T00:00:00Z")]})
    assert got["affected"] == {date(2026, 11, 12), date(2026, 11, 14)}
    assert got["incremental"] == got["rebuilt"]
    for day in got["before"].keys() - got["affected"]:
        assert got["after"][day] == got["before"][day], day  # the same rows, the same watermarks
    # Nov 12: e8 (1 h) and e30 (1 h), both in d_b at 2.50 (pa_h100_v2 from Nov 12): one row, 5.00;
    # and B2's credit c_promo
    assert brief(got, date(2026, 11, 12)) == {("o1", "p1", "pa_h100_v2", "Usage", D(2), D("5.00"), None),
                                              ("o1", "p1", None, "Credit", None, D("-10.00"), "c_promo")}
    assert ("o1", None, None, "Credit", None, D("-3.00"), "x_rev") in brief(got, date(2026, 11, 14))


def test_the_reversed_entry_arriving_later_rebuilds_the_reversal_s_day(focus):
    # x_orig is a usage charge on Nov 13: its reversal x_rev (Nov 14) is the reconciliation's, no charge
    got = focus(B4, {**DIMENSIONS, "ledger_entries": [
        ledger("x_orig", "2026-11-13", "3.00", "usage_charge", prj="p1", unit="gpu_hour.h100", qty="1",
               posted="2026-11-18T00:00:00Z")]})
    assert got["affected"] == {date(2026, 11, 13), date(2026, 11, 14)}
    assert not any(r[-1] == "x_rev" for r in brief(got, date(2026, 11, 14)))
    assert got["incremental"] == got["rebuilt"]
    for day in got["before"].keys() - got["affected"]:
        assert got["after"][day] == got["before"][day], day


def test_a_renamed_organization_rebuilds_every_day_and_a_department_move_none(focus):
    renamed = [dict(o, name="Org One, renamed") if o["organization_id"] == "o1" else o
               for o in DIMENSIONS["organizations"]]
    got = focus(B5, {**DIMENSIONS, "organizations": renamed})
    # every day any charge may be on (those with usage or ledger entries), not only those with charges
    assert got["affected"] == got["changed"] and got["affected"] >= set(got["before"])
    assert got["incremental"] == got["rebuilt"]
    con = duckdb.connect(str(focus.settings.build_db), read_only=True)
    names = con.execute('select distinct "BillingAccountName" from marts.rpt_focus_charges '
                        "where \"BillingAccountId\" = 'o1'").fetchall()
    con.close()
    assert names == [("Org One, renamed",)]
    # a project's department move is not a rename: only the days it governs move (none with usage here)
    moved = [project("p1", "o1", "d_a", updated="2026-11-20T00:00:00Z"), project("p2", "o2", "d2")]
    got = focus("20261120T000500Z-000006", {**DIMENSIONS, "organizations": renamed, "projects": moved})
    assert got["affected"] == set()
    assert got["after"] == got["before"] and got["incremental"] == got["rebuilt"]



def test_a_focus_table_from_before_is_refused_until_a_full_refresh(scenario, tmp_path):
    """The upgrade (CHANGELOG): a warehouse whose rpt_focus_charges was built as a table, without the
    two columns the incremental build keeps, stops with dbt's message rather than mixing the two;
    `--full-refresh` rebuilds it, with the same charges."""
    data = tmp_path / "data"
    shutil.copytree(scenario["settings"].data_dir, data)
    db = data / "warehouse" / "build" / "analytics.duckdb"
    before = marts(db)["rpt_focus_charges"]
    con = duckdb.connect(str(db))
    con.execute("create or replace table marts.rpt_focus_charges as "
                "select * exclude (charge_date, _watermark) from marts.rpt_focus_charges")
    con.execute("delete from ops.dbt_builds where model_name = 'rpt_focus_charges'")
    con.close()
    result = dbt(data, "build", "--select", "rpt_focus_charges")
    assert result.returncode != 0
    assert "The source and target schemas on this incremental model are out of sync" in result.stdout
    assert dbt(data, "build", "--select", "rpt_focus_charges", "--full-refresh").returncode == 0
    assert marts(db)["rpt_focus_charges"] == before
