"""A hand-built two-batch scenario, ingested and built with the real dbt project, shared by the
usage-mart tests. Every expected number in the tests is computed by hand in comments."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.ingest import ingest_all
from pipelines.lib.ops_config import write_config_tables
from tests.helpers import project_dirs, write_batch

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = str(Path(sys.executable).with_name("dbt"))

B1, B2 = "20261110T000500Z-000001", "20261116T000500Z-000002"
T0 = "2026-01-01T00:00:00Z"


def dbt(data_dir: Path, *args: str, project: Path = DBT_DIR) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANALYTICS_DATA_DIR=str(data_dir), DO_NOT_TRACK="1")
    result = subprocess.run(
        [DBT, *args, "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(data_dir / "dbt-target"), "--log-path", str(data_dir / "dbt-logs")],
        env=env, capture_output=True, text=True, timeout=600)
    return result


def build(data_dir: Path, *extra: str) -> None:
    """dbt build as the main job runs it: its unit tests left out (test_dbt_unit_tests.py runs them)."""
    result = dbt(data_dir, "build", "--exclude-resource-type", "unit_test", *extra)
    assert result.returncode == 0, result.stdout[-5000:]


def ingest(settings: Settings) -> None:
    """What the main job does before dbt: ingest, and write the operations configuration."""
    con = connect(settings.build_db, settings)
    ingest_all(con, settings)
    write_config_tables(con)
    con.close()


def org(oid, plan, currency="USD", updated=T0):
    return dict(organization_id=oid, name=oid, plan_id=plan, billing_currency=currency, created_at=T0, updated_at=updated)


def dept(did, org_id, parent, name):
    return dict(department_id=did, organization_id=org_id, parent_department_id=parent, name=name, updated_at=T0)


def project(pid, org_id, dep, updated=T0):
    return dict(project_id=pid, organization_id=org_id, department_id=dep, name=pid, created_at=T0, archived_at=None,
                updated_at=updated)


def price(pid, plan, unit, unit_price, currency="USD", model=None, start=T0, end=None, updated=T0):
    return dict(price_id=pid, plan_id=plan, usage_unit=unit, model_id=model, unit_price=unit_price, currency=currency,
                effective_from=start, effective_to=end, updated_at=updated)


def ev(eid, seq, at, qty, unit="gpu_hour.h100", org_id="o1", prj="p1", key=None, model=None, correction_of=None):
    return dict(event_id=eid, outbox_seq=str(seq), occurred_at=at, recorded_at=at, organization_id=org_id,
                project_id=prj, api_key_id=key, model_id=model, resource_id=None, usage_unit=unit, quantity=qty,
                correction_of=correction_of, attributes=None)


UNITS = [dict(usage_unit=u, product=p, unit_of_measure=m, description=u, registry_version="1", updated_at=T0)
         for u, p, m in [("gpu_hour.h100", "gpuaas", "gpu_hour"), ("input_token", "token_factory", "token"),
                         ("gpu_hour.b200", "gpuaas", "gpu_hour")]]
COMMON = {
    "departments": [dept("d_root", "o1", None, "HQ"), dept("d_a", "o1", "d_root", "Research"),
                    dept("d_b", "o1", "d_root", "Platform"), dept("d2", "o2", None, "EU HQ")],
    "api_keys": [dict(api_key_id="k1", project_id="p1", service_account_id=None, label="k1", created_at=T0,
                      revoked_at=None, updated_at=T0)],
    "models": [dict(model_id=m, display_name=m, family="f", updated_at=T0) for m in ("m_big", "m_small")],
    "usage_units": UNITS,
}
PRICES_V1 = [
    price("pa_h100", "plan_a", "gpu_hour.h100", "2.000000"),
    price("pb_h100", "plan_b", "gpu_hour.h100", "1.800000"),
    price("pa_tok", "plan_a", "input_token", "0.000001000"),
    price("pa_tok_big", "plan_a", "input_token", "0.000003000", model="m_big"),
    price("peu_h100", "plan_eu", "gpu_hour.h100", "3.000000", currency="EUR"),
]
# the h100 price of plan_a changes on Nov 12: the old row closes, a new row opens
PRICES_V2 = [p for p in PRICES_V1 if p["price_id"] != "pa_h100"] + [
    price("pa_h100", "plan_a", "gpu_hour.h100", "2.000000", end="2026-11-12T00:00:00Z", updated="2026-11-11T00:00:00Z"),
    price("pa_h100_v2", "plan_a", "gpu_hour.h100", "2.500000", start="2026-11-12T00:00:00Z", updated="2026-11-11T00:00:00Z"),
]



def ledger(eid, day, amount, entry_type="credit", prj=None, unit=None, qty=None, reverses=None, posted="2026-11-10T00:00:00Z"):
    return dict(entry_id=eid, organization_id="o1", project_id=prj, usage_unit=unit, model_id=None, charge_date=day,
                quantity=qty, amount=amount, currency="USD", entry_type=entry_type, posted_at=posted,
                reverses_entry_id=reverses)


BATCH1 = {
    **COMMON,
    "organizations": [org("o1", "plan_a"), org("o2", "plan_eu", "EUR")],
    "projects": [project("p1", "o1", "d_a"), project("p2", "o2", "d2")],
    "prices": PRICES_V1,
    "usage_events": [
        ev("e1", 1, "2026-11-09T10:00:00Z", "1.500000", key="k1"),
        ev("e2", 2, "2026-11-09T11:00:00Z", "1000", unit="input_token", model="m_big", key="k1"),
        ev("e3", 3, "2026-11-09T11:30:00Z", "1000", unit="input_token", model="m_small", key="k1"),
        ev("e4", 4, "2026-11-09T12:00:00Z", "2", unit="gpu_hour.b200"),
        ev("e5", 5, "2026-11-09T13:00:00Z", "1", org_id="o2", prj="p2"),
        ev("e9", 6, "2026-11-09T14:00:00Z", "1"),
        ev("e10", 7, "2026-11-09T15:00:00Z", "4"),
        # a correction of e20, which has not arrived yet: it waits
        ev("c20", 100, "2026-11-09T23:00:00Z", "0.5", correction_of="e20"),
    ],
    "ledger_entries": [  # FOCUS (test_focus_charges.py)
        ledger("l_nov9", "2026-11-09", "10.00", "usage_charge", prj="p1", unit="gpu_hour.h100", qty="5"),
        ledger("c_oct", "2026-10-30", "-5.00"),  # a credit of October's billing period
    ],
}
BATCH2 = {
    **COMMON,
    # o1 moves to plan_b on Nov 15; p1 moves from d_a to d_b on Nov 10 at noon
    "organizations": [org("o1", "plan_b", updated="2026-11-15T00:00:00Z"), org("o2", "plan_eu", "EUR")],
    "projects": [project("p1", "o1", "d_b", updated="2026-11-10T12:00:00Z"), project("p2", "o2", "d2")],
    "prices": PRICES_V2,
    "usage_events": [
        dict(ev("e1", 1, "2026-11-09T11:00:00+01:00", "1.5", key="k1"), recorded_at="2026-11-09T10:00:00Z"),  # re-delivered
        ev("e5", 5, "2026-11-09T13:00:00Z", "7", org_id="o2", prj="p2"),  # conflicting copy: the first stands
        ev("e6", 10, "2026-11-10T11:59:59Z", "1"),
        ev("e7", 11, "2026-11-10T12:00:00Z", "1"),
        ev("e8", 12, "2026-11-12T00:00:00Z", "1"),
        ev("e12", 13, "2026-11-14T23:59:59Z", "1"),
        ev("e11", 14, "2026-11-15T00:00:00Z", "1"),
        ev("c9b", 60, "2026-11-15T01:00:00Z", "2", correction_of="e9"),  # the later correction, first in the file
        ev("c9a", 50, "2026-11-15T01:00:00Z", "3", correction_of="e9"),
        ev("c10", 61, "2026-11-15T01:00:00Z", "0", correction_of="e10"),  # a void
        ev("e20", 62, "2026-11-09T09:00:00Z", "10"),  # the original of c20, arriving late
        ev("e13", 63, "2026-11-09T20:00:00Z", "1"),  # a late event for Nov 9
    ],
    "ledger_entries": [
        ledger("c_promo", "2026-11-12", "-10.00", prj="p1", posted="2026-11-16T00:00:00Z"),
        ledger("a_fix", "2026-11-14", "0.505", "adjustment", posted="2026-11-16T00:00:00Z"),
        # October's credit withdrawn in November: a correction of an earlier billing period
        ledger("r_oct", "2026-11-15", "5.00", reverses="c_oct", posted="2026-11-16T00:00:00Z"),
        # the usage charge reversed: the reconciliation's business, not a FOCUS credit
        ledger("l_rev", "2026-11-15", "-10.00", prj="p1", unit="gpu_hour.h100", qty="-5", reverses="l_nov9",
               posted="2026-11-16T00:00:00Z"),
    ],
}


def marts(db: Path) -> dict[str, list]:
    con = duckdb.connect(str(db), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    out = {}
    for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts' order by 1").fetchall():
        cols = [c for (c,) in con.execute("select column_name from duckdb_columns() where schema_name = 'marts' "
                                         "and table_name = ? and column_name <> '_watermark'", [t]).fetchall()]
        out[t] = con.execute(f"select {', '.join(cols)} from marts.{t} order by all").fetchall()
    con.close()
    return out


@pytest.fixture(scope="package")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("usage")
    with project_dirs(root) as settings:
        exports, data = settings.exports_dir, settings.data_dir
        write_batch(exports, B1, BATCH1, exported_at="2026-11-10T00:05:00Z")
        ingest(settings)
        build(data)
        after_first = marts(settings.build_db)
        write_batch(exports, B2, BATCH2, exported_at="2026-11-16T00:05:00Z", encoding=("jsonl", "gzip"))
        ingest(settings)
        build(data)
        incremental = marts(settings.build_db)
        build(data)
        rerun = marts(settings.build_db)
        full = root / "full"
        shutil.copytree(data, full)
        build(full, "--full-refresh")
        rebuilt = marts(full / "warehouse" / "build" / "analytics.duckdb")
        yield dict(settings=settings, after_first=after_first, incremental=incremental, rerun=rerun, rebuilt=rebuilt)
