"""The export contract's limits are the warehouse's too (oltp-export-v1 v1.2, issue 31): a quantity
just below 10^12 rated at a unit price just below 10^6, a ledger credit and an adjustment of 18
digits before the point, flow through every mart, report and report file without overflow; the
numbers are worked out here with Python's Decimal, exactly. (Spark: tests/engines/test_spark_parity.py
loads the same ledger amounts and compares every table with DuckDB's.)"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from pipelines.lib.duck import connect
from tests.helpers import project_dirs, write_batch
from tests.warehouse.conftest import COMMON, build, ev, ingest, ledger, org, price, project

QUANTITY = "999999999999.999999999"  # the largest quantity: below 10^12, 9 decimals
UNIT_PRICE = "999999.999999999"  # the largest unit price: below 10^6
CREDIT = "-999999999999999999.99"  # 18 digits before the point
ADJUSTMENT = "999999999999999999.999999999"  # 18 before, 9 after: half-even to 10^18 exactly
CENT = Decimal("0.01")
B1 = "20261110T000500Z-000001"


def test_amounts_at_the_contracts_caps_flow_through_every_mart_and_report(tmp_path):
    with localcontext() as exact:
        exact.prec = 80  # the default 28 digits would round the product
        rated = Decimal(QUANTITY) * Decimal(UNIT_PRICE)  # 36 digits, 18 after the point
        rated_cents = rated.quantize(CENT, ROUND_HALF_EVEN)
    assert rated == Decimal("999999999999998999.999000000000000001")
    assert rated_cents == Decimal("999999999999999000.00")
    batch = {
        **COMMON,
        "organizations": [org("o1", "plan_a")],
        "projects": [project("p1", "o1", "d_a")],
        "prices": [price("p_cap", "plan_a", "gpu_hour.h100", UNIT_PRICE)],
        "usage_events": [ev("e_cap", 1, "2026-11-09T10:00:00Z", QUANTITY)],
        "ledger_entries": [
            ledger("l_cap", "2026-11-09", str(rated_cents), "usage_charge", prj="p1", unit="gpu_hour.h100", qty=QUANTITY),
            ledger("c_cap", "2026-11-09", CREDIT),
            ledger("a_cap", "2026-11-09", ADJUSTMENT, "adjustment"),
        ],
    }
    with project_dirs(tmp_path) as settings:
        write_batch(settings.exports_dir, B1, batch, exported_at="2026-11-10T00:05:00Z")
        ingest(settings)
        build(settings.data_dir)
        con = connect(settings.build_db, settings)
        try:
            assert con.execute("select quantity, unit_price, rated_amount from marts.fct_usage_events").fetchall() \
                == [(Decimal(QUANTITY), Decimal(UNIT_PRICE), rated)]
            assert con.execute("select sum(rated_amount) from marts.usage_by_project_daily").fetchall() == [(rated,)]
            assert con.execute("select rated_amount, ledger_amount, amount_diff, status "
                               "from marts.rpt_usage_ledger_reconciliation").fetchall() \
                == [(rated_cents, rated_cents, Decimal(0), "matched")]
            focus = dict(con.execute('select coalesce("SkuPriceId", "ChargeCategory"), "BilledCost" '
                                     "from marts.rpt_focus_charges").fetchall())
            assert sorted(focus.values()) == sorted([rated_cents, Decimal(CREDIT), Decimal("1000000000000000000.00")])

            from pipelines.lib.finance import FINANCE
            from pipelines.lib.focus import FOCUS
            from pipelines.lib.ops_report import ops_report
            from pipelines.lib.periods import write_periods

            written = [w for w in (write_periods(con, settings, FINANCE), write_periods(con, settings, FOCUS),
                                   ops_report(con, settings)) if w is not None]
        finally:
            con.close()
        assert len(written) == 3
        [focus_csv] = [p for p in settings.reports_dir.rglob("*.csv") if "focus" in p.parts]
        with open(focus_csv, newline="") as fh:
            billed = sorted(Decimal(r["BilledCost"]) for r in csv.DictReader(fh))
        assert billed == sorted([rated_cents, Decimal(CREDIT), Decimal("1000000000000000000.00")])
        [recon] = settings.reports_dir.glob("finance/*/*/usage_ledger_reconciliation.csv")
        assert str(rated_cents) in recon.read_text()
