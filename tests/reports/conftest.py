"""A hand-built ledger and runtime scenario covering every reconciliation status and drift class,
ingested and built with the real dbt project once per test package."""

from __future__ import annotations

import pytest

from tests.helpers import project_dirs, write_batch
from tests.warehouse.conftest import T0, build, dept, ev, ingest, org, price, project

B1, B2 = "20261110T000500Z-000001", "20261111T000500Z-000002"
DAY = "2026-11-09"

# one project per reconciliation key, so each key is its own row
KEYS = ["tie_down", "tie_up", "diff_001", "diff_0011", "qty", "missing", "ledger_only", "dup", "dup_reversed",
        "unrated", "dup_unrated", "eur"]
UNITS = [dict(usage_unit=u, product="gpuaas", unit_of_measure="gpu_hour", description=u, registry_version="1",
              updated_at=T0) for u in ("gpu_hour.h100", "gpu_hour.b200")]


def line(entry_id, prj, qty, amount, unit="gpu_hour.h100", org_id="o1", currency="USD", entry_type="usage_charge",
         reverses=None):
    return dict(entry_id=entry_id, organization_id=org_id, project_id=prj, usage_unit=unit, model_id=None,
                charge_date=DAY, quantity=qty, amount=amount, currency=currency, entry_type=entry_type,
                posted_at="2026-11-10T00:00:00Z", reverses_entry_id=reverses)


def at(hour):
    return f"{DAY}T{hour:02d}:00:00Z"


USAGE = [
    ev("u_tie_down", 1, at(1), "0.05", prj="tie_down"),  # 0.05 x 2.50 = 0.125 -> 0.12 (half-even: 2 is even)
    ev("u_tie_up", 2, at(1), "0.054", prj="tie_up"),  # 0.054 x 2.50 = 0.135 -> 0.14 (half-even: 4 is even)
    ev("u_diff_001", 3, at(1), "1", prj="diff_001"),  # 2.50
    ev("u_diff_0011", 4, at(1), "1", prj="diff_0011"),  # 2.50
    ev("u_qty", 5, at(1), "1", prj="qty"),
    ev("u_missing", 6, at(1), "1", prj="missing"),
    ev("u_dup", 7, at(1), "1", prj="dup"),
    ev("u_dup_reversed", 8, at(1), "1", prj="dup_reversed"),
    ev("u_unrated", 9, at(1), "1", prj="unrated", unit="gpu_hour.b200"),
    ev("u_dup_unrated", 10, at(1), "1", prj="dup_unrated", unit="gpu_hour.b200"),
    ev("u_eur", 11, at(1), "1", org_id="o2", prj="eur"),  # 1 x 3.00 EUR
]
LEDGER = [
    line("l_tie_down", "tie_down", "0.05", "0.12"),
    line("l_tie_up", "tie_up", "0.054", "0.14"),
    line("l_diff_001", "diff_001", "1", "2.51"),  # off by exactly 0.01: matched
    line("l_diff_0011", "diff_0011", "1", "2.511"),  # off by 0.011: amount_mismatch
    line("l_qty", "qty", "2", "2.50"),
    line("l_ledger_only", "ledger_only", "1", "2.50"),
    line("l_dup_a", "dup", "1", "2.50"), line("l_dup_b", "dup", "1", "2.50"),
    line("l_dupr_a", "dup_reversed", "1", "2.50"), line("l_dupr_b", "dup_reversed", "1", "2.50"),
    line("l_dupr_c", "dup_reversed", "-1", "-2.50", entry_type="credit", reverses="l_dupr_b"),
    line("l_unrated", "unrated", "1", "1.00", unit="gpu_hour.b200"),
    line("l_dup_unrated_a", "dup_unrated", "1", "1.00", unit="gpu_hour.b200"),
    line("l_dup_unrated_b", "dup_unrated", "1", "1.00", unit="gpu_hour.b200"),
    line("l_eur", "eur", "1", "3.00", org_id="o2", currency="EUR"),
    # money finance reviews apart: not breaks
    dict(line("c_promo", None, None, "-10.00", entry_type="credit"), usage_unit=None),
    dict(line("r_refund", None, None, "-2.00", entry_type="refund"), usage_unit=None),
]


def runtime(rid, state, res, gpu, provider="A"):
    return dict(runtime_id=rid, project_id="tie_down", product="gpuaas", provider=provider, provider_resource_id=res,
                gpu_type=gpu, state=state, started_at=T0, ended_at=None, updated_at=T0)


def listed(res, state, gpu, provider="A"):
    return dict(provider=provider, provider_resource_id=res, observed_at="2026-11-09T23:00:00Z", state=state,
                gpu_type=gpu, runtime_tag=None, project_tag=None)


RUNTIMES = [
    runtime("r_sync", "running", "a1", "h100"),
    runtime("r_term_both", "terminated", "a2", "h100"),
    runtime("r_term_absent", "terminated", "a3", "h100"),
    runtime("r_prov_nores", "provisioning", None, None),
    runtime("r_prov_res", "provisioning", "a4", "h100"),
    runtime("r_term_listed", "terminated", "a6", "h100"),
    runtime("r_missing", "running", "a7", "h100"),
    runtime("r_missing_term", "stopped", "a8", "h100"),
    runtime("r_state", "stopped", "a9", "h100"),
    runtime("r_attr", "running", "a10", "a100"),
    runtime("r_b", "running", "b1", "h100", provider="B"),
]
LISTING_A = [listed("a1", "running", "h100"), listed("a2", "terminated", "h100"), listed("a4", "running", "h100"),
             listed("a5", "running", "h100"), listed("a6", "stopped", "h100"), listed("a8", "terminated", "h100"),
             listed("a9", "running", "h100"), listed("a10", "running", "h100")]
LISTING_B = [listed("b1", "running", "h100", provider="B")]

DIMENSIONS = {
    "organizations": [org("o1", "plan_a"), org("o2", "plan_eu", "EUR")],
    "departments": [dept("d1", "o1", None, "HQ"), dept("d2", "o2", None, "EU")],
    "projects": [project(k, "o2" if k == "eur" else "o1", "d2" if k == "eur" else "d1") for k in KEYS],
    "api_keys": [], "models": [], "usage_units": UNITS,
    "prices": [price("pa_h100", "plan_a", "gpu_hour.h100", "2.500000"),
               price("peu_h100", "plan_eu", "gpu_hour.h100", "3.000000", currency="EUR")],
}


@pytest.fixture(scope="package")
def finance(tmp_path_factory):
    with project_dirs(tmp_path_factory.mktemp("finance")) as settings:
        write_batch(settings.exports_dir, B1, {**DIMENSIONS, "usage_events": USAGE, "ledger_entries": LEDGER,
                                               "runtime_instances": RUNTIMES,
                                               "provider_inventory": LISTING_A + LISTING_B},
                    exported_at="2026-11-10T00:05:00Z")
        # the newest batch lists provider A only: B keeps its last listing
        write_batch(settings.exports_dir, B2, {"runtime_instances": RUNTIMES, "provider_inventory": LISTING_A},
                    exported_at="2026-11-11T00:05:00Z")
        ingest(settings)
        build(settings.data_dir)
        yield settings
