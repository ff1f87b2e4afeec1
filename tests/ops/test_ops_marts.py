"""SLOs, credential rotation and the audit chain on hand-built feeds: numbers worked by hand."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pytest
import yaml

from pipelines.lib.config_files import CONFIG_DIR
from tests.ops.conftest import CREDENTIALS, chain, feed, setup


def query(settings, sql):
    con = duckdb.connect(str(settings.build_db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def status(settings, component, slo="availability"):
    return query(settings, f"""select total_events, good_events, sli, error_budget_remaining, burn_rate_1h,
                                      burn_rate_6h, burn_rate_24h, burn_rate_72h, alert
                               from marts.rpt_slo_status where component = '{component}' and slo_name = '{slo}'""")[0]


def test_an_outage_in_the_last_half_hour_pages(ops):
    total, good, sli, budget, b1, b6, b24, b72, alert = status(ops, "svc.page")
    # 864 probes in the window, the last 6 (30 minutes) down; target 0.999 leaves 0.001 of budget
    assert (total, good) == (864, 858)
    assert sli == pytest.approx(858 / 864)
    assert budget == pytest.approx(1 - (6 / 864) / 0.001)  # -5.94: spent six times over
    assert b1 == pytest.approx((6 / 12) / 0.001)  # 500
    assert b6 == pytest.approx((6 / 72) / 0.001)  # 83.3
    assert b24 == pytest.approx((6 / 288) / 0.001)  # 20.8
    assert b72 == pytest.approx((6 / 864) / 0.001)  # 6.9
    assert alert == "page"  # 1h burn 500 > 14.4, confirmed by the 5-minute window (1000)


def test_an_outage_only_inside_72h_alerts_nobody(ops):
    total, good, sli, budget, b1, b6, b24, b72, alert = status(ops, "svc.old")
    assert (total, good) == (864, 852)
    assert (b1, b6, b24) == (0, 0, 0)
    assert b72 == pytest.approx((12 / 864) / 0.001)  # 13.9 over 72h, but the 6h window says it is over
    assert alert == "none"


def test_a_slow_steady_burn_opens_a_ticket(ops):
    total, good, sli, budget, b1, b6, b24, b72, alert = status(ops, "svc.ticket")
    # one bad probe an hour over the last 24 hours, none in the last 5 or 30 minutes
    assert (total, good) == (864, 840)
    assert b1 == pytest.approx((1 / 12) / 0.001) and b6 == pytest.approx((6 / 72) / 0.001)
    assert b24 == pytest.approx((24 / 288) / 0.001)  # 83 > 3, and the 2h window (2 of 24) agrees
    assert alert == "ticket"


def test_degraded_counts_as_good(ops):
    total, good, sli, budget, b1, *_ , alert = status(ops, "svc.degraded")
    assert (total, good, sli, budget, b1, alert) == (864, 864, 1.0, 1.0, 0.0, "none")


def test_every_component_gets_availability(ops):
    rows = query(ops, "select component from marts.rpt_slo_status where slo_name = 'availability' order by 1")
    assert [r[0] for r in rows] == ["svc.degraded", "svc.old", "svc.page", "svc.ticket"]


def test_sli_per_day(ops):
    rows = query(ops, "select day, total_events, good_events from marts.fct_sli_daily "
                      "where component = 'svc.page' and slo_name = 'availability' order by day")
    # Nov 10 holds the newest probe only (00:00, down); Nov 9 the 288 before it, 5 of them down
    assert rows == [(date(2026, 11, 7), 287, 287), (date(2026, 11, 8), 288, 288), (date(2026, 11, 9), 288, 283),
                    (date(2026, 11, 10), 1, 0)]


def test_a_new_slo_from_the_configuration_file_alone(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    doc = yaml.safe_load((config / "slos.yml").read_text())
    doc["slos"].append({"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "fast_enough"},
                        "spec": {"service": "svc.degraded",
                                 "indicator": {"spec": {"thresholdMetric": "latency_ms", "lte": 250}},
                                 "objectives": [{"target": 0.9}], "timeWindow": [{"duration": "1d"}]}})
    (config / "slos.yml").write_text(yaml.safe_dump(doc))
    mp = pytest.MonkeyPatch()
    try:
        settings = setup(tmp_path / "run", {"status_events": feed()}, mp, config_dir=config,
                         select="+rpt_slo_status")
    finally:
        mp.undo()
    total, good, sli, budget, *_ = status(settings, "svc.degraded", "fast_enough")
    # the last day holds 288 probes; every fourth has a latency of 300 ms
    assert (total, good) == (288, 216)
    assert budget == pytest.approx(1 - (72 / 288) / 0.1)


def test_credential_rotation_status_and_precedence(ops):
    got = {r[0]: r[1:] for r in query(ops, "select credential_id, age_days, days_to_expiry, rotation_status "
                                           "from marts.rpt_credential_rotation")}
    assert got == {
        "c_ok": (10, None, "ok"),
        "c_due_rotation": (80, None, "due_soon"),
        "c_due_expiry": (1, 5, "due_soon"),
        "c_overdue": (100, 5, "overdue"),
        "c_expired": (200, -1, "expired"),
        "c_revoked": (300, -1, "revoked"),
        "c_expires_now": (1, 0, "due_soon"),
    }
    assert len(got) == len(CREDENTIALS)


def audit_run(tmp_path, rows):
    mp = pytest.MonkeyPatch()
    try:
        return setup(tmp_path, {"audit_events": rows}, mp, select="+rpt_audit_chain")
    finally:
        mp.undo()


def test_an_untouched_chain_verifies(ops):
    assert query(ops, "select * from marts.rpt_audit_chain") == [(6, 1, 6, 0, 0, 0, True)]
    assert query(ops, "select count(*) from marts.fct_audit_events where chain_status = 'valid'") == [(6,)]
    # privileged actions: seq 3 and 6
    assert query(ops, "select sum(event_count) from marts.fct_privileged_actions_daily") == [(2,)]


def test_a_tampered_row_is_a_hash_mismatch(tmp_path):
    rows = chain()
    rows[2]["actor_id"] = "mallory"  # seq 3 rewritten after the fact; its stored hash kept
    settings = audit_run(tmp_path, rows)
    assert query(settings, "select seq, chain_status from marts.fct_audit_events order by seq") == [
        (1, "valid"), (2, "valid"), (3, "hash_mismatch"), (4, "valid"), (5, "valid"), (6, "valid")]
    assert query(settings, "select * from marts.rpt_audit_chain") == [(6, 1, 6, 0, 1, 0, False)]


def test_a_deleted_row_breaks_the_chain_at_the_next_row(tmp_path):
    rows = chain()
    del rows[3]  # seq 4 removed
    settings = audit_run(tmp_path, rows)
    assert query(settings, "select seq, chain_status from marts.fct_audit_events order by seq") == [
        (1, "valid"), (2, "valid"), (3, "valid"), (5, "chain_break"), (6, "valid")]
    assert query(settings, "select * from marts.rpt_audit_chain") == [(5, 1, 6, 1, 0, 1, False)]
