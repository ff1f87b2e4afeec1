"""The rows of the feeds besides usage: credentials, runtimes, ledger, audit, status, and the bad
usage rows (one per quarantine reason)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal

from tools.generator.world import World, half_even_cents, ts


def bad_usage_rows(w: World, rng, exported_at: datetime) -> tuple[list[dict], list[str]]:
    """One usage row per quarantine reason a usage row can have, each breaking exactly one rule."""
    def base():
        e = w.next_event(1, rng, ["gpu_hour.a100"])
        e["_bad"] = True
        return e

    other_org_project = next(p for p, r in w.projects.items() if r["organization_id"] != w.orgs[0])
    rows = [
        dict(base(), organization_id=None),  # missing_value
        dict(base(), project_id="prj with spaces"),  # bad_id
        dict(base(), occurred_at="2026-11-02T10:00:00"),  # bad_timestamp: no zone
        dict(base(), quantity="1e3"),  # bad_decimal: exponent
        dict(base(), outbox_seq="seven"),  # bad_int
        dict(base(), attributes="{not json"),  # bad_json
        dict(base(), quantity="-1.000000"),  # negative_quantity
        dict(base(), quantity="1000000000000"),  # out_of_range: 10^12
        dict(base(), recorded_at="2026-11-01T00:00:00Z"),  # recorded_before_occurred
        dict(base(), occurred_at="1999-12-31T23:00:00Z", recorded_at="1999-12-31T23:00:01Z"),  # implausible
        dict(base(), usage_unit="input_token", model_id=None),  # model_required
        dict(base(), organization_id="org_999"),  # unknown_organization_id
        dict(base(), project_id="prj_999_99"),  # unknown_project_id
        dict(base(), api_key_id="key_999"),  # unknown_api_key_id
        dict(base(), usage_unit="gpu_hour.h200"),  # unknown_usage_unit
        dict(base(), organization_id=w.orgs[0], project_id=other_org_project, api_key_id=None),  # reference_mismatch
    ]
    # bad_bool and bad_enum have no usage column: they live in the audit and status feeds
    ragged = "evt_ragged_000001,1,2026-11-02T10:00:00Z"  # unparseable: a ragged CSV row
    return rows, [ragged]


def credential_rows(as_of: datetime) -> list[dict]:
    d = lambda days: ts(as_of + timedelta(days=days))  # noqa: E731
    base = dict(owner_component="iam.facade", kind="secret", rotation_period_days="90", revoked_at=None,
                rotated_at=None, expires_at=None, updated_at=d(-1))
    return [
        dict(base, credential_id="cred_ok", purpose="service auth", issued_at=d(-10)),
        dict(base, credential_id="cred_due", purpose="webhook signing", kind="signing_key", issued_at=d(-80)),
        dict(base, credential_id="cred_overdue", purpose="db password", issued_at=d(-200), rotated_at=d(-120)),
        dict(base, credential_id="cred_expired", purpose="api tls", kind="certificate", issued_at=d(-400),
             expires_at=d(-2), rotated_at=d(-30)),
        dict(base, credential_id="cred_revoked", purpose="old token", issued_at=d(-50), revoked_at=d(-5)),
    ]


def runtime_rows(as_of: datetime, list_lambda: bool) -> tuple[list[dict], list[dict]]:
    t = ts(as_of - timedelta(days=3))
    rt = lambda rid, state, res, gpu, prod="gpuaas": dict(  # noqa: E731
        runtime_id=rid, project_id="prj_001_01", product=prod, provider="coreweave", provider_resource_id=res,
        gpu_type=gpu, state=state, started_at=t, ended_at=None if state != "terminated" else ts(as_of), updated_at=t)
    inv = lambda res, state, gpu: dict(  # noqa: E731
        provider="coreweave", provider_resource_id=res, observed_at=ts(as_of - timedelta(minutes=10)), state=state,
        gpu_type=gpu, runtime_tag=None, project_tag="prj_001_01")
    runtimes = [rt("rt_sync", "running", "cw-1", "h100"), rt("rt_missing", "running", "cw-2", "h100"),
                rt("rt_state", "stopped", "cw-3", "a100"), rt("rt_attr", "running", "cw-4", "a100"),
                rt("rt_gone", "terminated", "cw-5", "h100"), rt("rt_prov", "provisioning", None, None)]
    listing = [inv("cw-1", "running", "h100"), inv("cw-3", "running", "a100"), inv("cw-4", "running", "h100"),
               inv("cw-9", "running", "h100")]
    runtimes.append(dict(rt("rt_lambda", "running", "lm-1", "a100"), provider="lambda"))
    if list_lambda:
        listing.append(dict(inv("lm-1", "running", "a100"), provider="lambda"))
    return runtimes, listing


def ledger_rows(w: World, day: int, next_no: int, exported_at: datetime) -> tuple[list[dict], int]:
    """usage_charge lines for the previous day, computed from the truth as billing would."""
    if day == 0:
        return [], next_no
    target = (w.sc.start + timedelta(days=day - 1)).date()
    lines: dict[tuple, list] = {}
    for e in w.effective.values():
        t = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
        if t.date() != target or Decimal(e["quantity"]) == 0:
            continue
        price = w.price_for(e["organization_id"], e["usage_unit"], e["model_id"], t)
        if price is None:
            continue
        k = (e["organization_id"], e["project_id"], e["usage_unit"], e["model_id"])
        acc = lines.setdefault(k, [Decimal(0), Decimal(0)])
        acc[0] += Decimal(e["quantity"])
        acc[1] += Decimal(e["quantity"]) * price
    rows = []
    for (org, prj, unit, model), (qty, amount) in sorted(lines.items(), key=lambda kv: tuple(map(str, kv[0]))):
        next_no += 1
        rows.append(dict(entry_id=f"led_{next_no:07d}", organization_id=org, project_id=prj, usage_unit=unit,
                         model_id=model, charge_date=target.isoformat(), quantity=str(qty),
                         amount=str(half_even_cents(amount)), currency="USD", entry_type="usage_charge",
                         posted_at=ts(exported_at - timedelta(minutes=1)), reverses_entry_id=None))
    return rows, next_no


def ledger_breaks(rows: list[dict], next_no: int, w: World) -> tuple[list[dict], int]:
    """One case of every reconciliation status and the entries finance reviews apart."""
    def entry(**kw):
        nonlocal next_no
        next_no += 1
        return dict(rows[0], entry_id=f"led_{next_no:07d}", reverses_entry_id=None, **kw)

    first, second, third = rows[0], rows[1], rows[2]
    dup = entry(**{k: first[k] for k in ("quantity", "amount")})  # duplicate_ledger_entry
    redo = dict(second, entry_id=f"led_{next_no + 1:07d}")  # billed twice, then the repeat reversed:
    next_no += 1
    reversal = entry(**{k: second[k] for k in ("organization_id", "project_id", "usage_unit", "model_id",
                                                 "charge_date")}, quantity=f"-{second['quantity']}",
                     amount=f"-{second['amount']}", entry_type="credit")
    reversal["reverses_entry_id"] = redo["entry_id"]  # ... so the key still matches
    third = dict(third, amount=str(Decimal(third["amount"]) + Decimal("0.05")))  # amount_mismatch
    stray = entry(project_id=first["project_id"], usage_unit="app_runtime_hour", model_id="llama-3.1-8b",
                  quantity="1.000000", amount="0.05")  # ledger_without_usage: no such usage exists
    others = [entry(entry_type="credit", usage_unit=None, model_id=None, project_id=None, quantity=None,
                    amount="-25.00"),  # a promotional credit reversing nothing
              entry(entry_type="refund", usage_unit=None, model_id=None, quantity=None, amount="-3.10"),
              entry(entry_type="adjustment", usage_unit=None, model_id=None, quantity=None, amount="1.25")]
    # the fourth line (rows[3]) is never posted: missing_in_ledger
    return [first, dup, second, redo, reversal, third, *rows[4:], stray, *others], next_no


def audit_row_hash(r: dict) -> str:
    fields = [r["prev_hash"], r["seq"], r["audit_id"], r["occurred_at"], r["actor_type"], r["actor_id"], r["action"],
              r["resource_type"], r["resource_id"], r["organization_id"] or "", r["outcome"], r["privileged"]]
    return hashlib.sha256("|".join(fields).encode()).hexdigest()


def audit_rows(state: dict, start: datetime, day: int, n: int) -> list[dict]:
    rows = []
    actions = ["iam.service_account.rotate", "billing.invoice.read", "iam.role.grant", "registry.app.publish"]
    for _ in range(n):
        state["seq"] += 1
        seq = state["seq"]
        t = start + timedelta(days=day, seconds=seq * 137 % 86400)
        r = dict(audit_id=f"aud_{seq:08d}", seq=str(seq), occurred_at=t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                 actor_type=["user", "service_account", "system"][seq % 3], actor_id=f"actor_{seq % 5}",
                 action=actions[seq % 4], resource_type="service_account", resource_id=f"sa_{seq % 7}",
                 organization_id=f"org_{seq % 3 + 1:03d}" if seq % 4 else None,
                 outcome=["success", "success", "denied", "error"][seq % 4],
                 privileged="true" if seq % 4 == 2 else "false", scope=None, correlation_id=f"corr_{seq}",
                 source_ip=f"10.0.0.{seq % 250}", prev_hash=state["prev"])
        r["row_hash"] = audit_row_hash(r)
        state["prev"] = r["row_hash"]
        rows.append(r)
    return rows


def status_rows(start: datetime, day: int, rng) -> list[dict]:
    rows = []
    components = [("billing.rating", "http"), ("iam.facade", "http"), ("notification.dispatch", "dlq")]
    for minute in range(0, 1440, 10):
        t = start + timedelta(days=day, minutes=minute)
        for comp, check in components:
            status = "ok"
            if comp == "iam.facade" and day == 1 and 600 <= minute < 660:
                status = "down"
            elif rng.random() < 0.02:
                status = "degraded"
            latency = 20 + rng.randrange(0, 120) if rng.random() > 0.005 else 900 + rng.randrange(0, 500)
            dlq = (0 if rng.random() > 0.02 else rng.randrange(1, 40)) if check == "dlq" else None
            rows.append(dict(component=comp, check_name=check, observed_at=ts(t), status=status,
                             latency_ms=f"{latency}.5", dlq_depth=None if dlq is None else str(dlq),
                             outbox_lag_seconds=None, detail=None))
    return rows


