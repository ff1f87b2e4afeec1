"""rpt_focus_charges on the usage scenario (conftest.py), every row worked out by hand: a plan change
(o1 from plan_a to plan_b on Nov 15), a price change (pa_h100 2.00 -> 2.50 on Nov 12), corrections
(e9 corrected to 2 hours, e20's early correction to 0.5, e10 voided), a department move (p1 from
d_a to d_b on Nov 10 at noon), a credit, an adjustment, a correction of October's credit, and a
reversed usage charge."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import duckdb


def nov(day: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


def test_focus_rows_worked_out_by_hand(scenario):
    con = duckdb.connect(str(scenario["settings"].build_db), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    rows = con.execute(
        "select BillingAccountId, BillingCurrency, BillingPeriodStart, ChargePeriodStart, ChargeCategory, ChargeClass, "
        "SubAccountId, SkuPriceId, x_Department, x_ModelId, ConsumedQuantity, ListUnitPrice, BilledCost, "
        "x_LedgerEntryId from marts.rpt_focus_charges order by all").fetchall()
    periods = set(con.execute("select ChargePeriodEnd - ChargePeriodStart, BillingPeriodEnd from "
                              "marts.rpt_focus_charges where BillingPeriodStart = '2026-11-01'").fetchall())
    con.close()
    o1, oct_, nov_ = "o1", nov(1, 10), nov(1)
    assert rows == [
        # October: the credit c_oct
        (o1, "USD", oct_, nov(30, 10), "Credit", None, None, None, None, None, None, None, D("-5.00"), "c_oct"),
        # Nov 9, plan_a at 2.00: e1 1.5 + e9 2 (its later correction) + e20 0.5 (corrected early) + e13 1 = 5
        # hours, 10.00; e10 was voided; e4 (b200) has no price: unrated, no charge
        (o1, "USD", nov_, nov(9), "Usage", None, "p1", "pa_h100", "d_a", None, D(5), D(2), D("10.00"), None),
        # tokens: 1000 x 0.000003 = 0.003 and 1000 x 0.000001 = 0.001, each its own key, 0.00 half-even
        (o1, "USD", nov_, nov(9), "Usage", None, "p1", "pa_tok", "d_a", "m_small", D(1000), D("0.000001"), D("0.00"),
         None),
        (o1, "USD", nov_, nov(9), "Usage", None, "p1", "pa_tok_big", "d_a", "m_big", D(1000), D("0.000003"),
         D("0.00"), None),
        # Nov 10: e6 at 11:59:59 in d_a, e7 at noon in d_b: one key, two departments, 2.00 each
        (o1, "USD", nov_, nov(10), "Usage", None, "p1", "pa_h100", "d_a", None, D(1), D(2), D("2.00"), None),
        (o1, "USD", nov_, nov(10), "Usage", None, "p1", "pa_h100", "d_b", None, D(1), D(2), D("2.00"), None),
        # the promotional credit
        (o1, "USD", nov_, nov(12), "Credit", None, "p1", None, None, None, None, None, D("-10.00"), "c_promo"),
        # Nov 12 and 14: the new price row pa_h100_v2, 2.50
        (o1, "USD", nov_, nov(12), "Usage", None, "p1", "pa_h100_v2", "d_b", None, D(1), D("2.5"), D("2.50"), None),
        # 0.505 half-even: the kept digit 0 is even, so 0.50
        (o1, "USD", nov_, nov(14), "Adjustment", None, None, None, None, None, None, None, D("0.50"), "a_fix"),
        (o1, "USD", nov_, nov(14), "Usage", None, "p1", "pa_h100_v2", "d_b", None, D(1), D("2.5"), D("2.50"), None),
        # r_oct withdraws October's credit in November: a Correction (of an earlier billing period)
        (o1, "USD", nov_, nov(15), "Credit", "Correction", None, None, None, None, None, None, D("5.00"), "r_oct"),
        # Nov 15 00:00: o1 is on plan_b, pb_h100 at 1.80
        (o1, "USD", nov_, nov(15), "Usage", None, "p1", "pb_h100", "d_b", None, D(1), D("1.8"), D("1.80"), None),
        # o2 on plan_eu: e5, 1 hour at 3.00 EUR (its conflicting re-delivery of 7 hours did not stand)
        ("o2", "EUR", nov_, nov(9), "Usage", None, "p2", "peu_h100", "d2", None, D(1), D(3), D("3.00"), None),
    ]  # l_nov9 (a usage charge) and l_rev (its reversal) are the reconciliation's, not charges
    # a day's charge period ends where the next begins; the billing period is the UTC month
    assert {(str(d), e) for d, e in periods} == {("1 day, 0:00:00", nov(1, 12))}
