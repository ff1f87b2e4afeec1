"""The generator's world: the dimensions as they evolve, and the truth of usage they imply."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

START = datetime(2026, 11, 1, tzinfo=UTC)
ENCODINGS = [("csv", "none"), ("csv", "gzip"), ("jsonl", "none"), ("jsonl", "gzip"), ("parquet", "none")]
UNITS = {  # usage_unit -> (product, unit_of_measure)
    "gpu_hour.h100": ("gpuaas", "gpu_hour"),
    "gpu_hour.a100": ("gpuaas", "gpu_hour"),
    "app_runtime_hour": ("app_platform", "hour"),
    "input_token": ("token_factory", "token"),
    "output_token": ("token_factory", "token"),
}
NEW_UNIT = "gpu_hour.b200"  # arrives in batch 3, never priced: its usage is unrated
MODELS = ["llama-3.1-70b", "llama-3.1-8b", "mixtral-8x7b", "qwen-2.5-72b"]
BASE_PRICES = {  # plan -> unit -> unit price (model-agnostic)
    "plan_standard": {"gpu_hour.h100": "2.490000", "gpu_hour.a100": "1.290000",
                      "app_runtime_hour": "0.045000", "input_token": "0.000000150", "output_token": "0.000000600"},
    "plan_enterprise": {"gpu_hour.h100": "2.190000", "gpu_hour.a100": "1.090000",
                        "app_runtime_hour": "0.040000", "input_token": "0.000000120", "output_token": "0.000000500"},
}
H100_PRICE_CHANGE_AFTER = timedelta(days=1)  # standard plan's h100 price changes at day 2 00:00
H100_NEW_PRICE = "2.690000"
MODEL_PRICE = ("llama-3.1-70b", "output_token", "0.000000900")  # a model-specific price, all plans


@dataclass(frozen=True)
class Scenario:
    organizations: int = 3
    projects_per_org: int = 3
    keys_per_project: int = 2
    days: int = 4
    events_per_day: int = 120
    duplicate_rate: float = 0.03
    late_rate: float = 0.03
    correction_rate: float = 0.01
    seed: int = 20261101
    faults: bool = True  # quarantine cases, the corrupt batch, the incomplete folder
    chunk_rows: int = 1_000_000
    models: int = len(MODELS)  # more than the named four get generated names
    usage_encoding: tuple[str, str] | None = None  # one encoding for every usage file (the benchmark's)
    start: datetime = START  # the first day's 00:00 UTC: a year of history lies in the past from an earlier one


# ---------------------------------------------------------------- text forms of the contract

def ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def batch_id(n: int, exported_at: datetime) -> str:
    return f"{exported_at.strftime('%Y%m%dT%H%M%SZ')}-{n:06d}"


def half_even_cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


# ---------------------------------------------------------------- the world

class World:
    """Dimensions as they evolve, and the bookkeeping of what the truth is."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.rng = random.Random(sc.seed)
        self.orgs = [f"org_{i:03d}" for i in range(1, sc.organizations + 1)]
        self.org_plan = {o: ("plan_enterprise" if i % 3 == 2 else "plan_standard") for i, o in enumerate(self.orgs)}
        self.org_currency = {o: ("EUR" if i % 3 == 1 else "USD") for i, o in enumerate(self.orgs)}
        self.org_plan_history = {o: [(sc.start - timedelta(days=300), self.org_plan[o])] for o in self.orgs}
        self.departments = {}  # id -> row
        for o in self.orgs:
            root = f"dep_{o[4:]}_root"
            self.departments[root] = dict(department_id=root, organization_id=o, parent_department_id=None,
                                          name=f"{o} HQ", updated_at=ts(sc.start - timedelta(days=200)))
            for j, name in enumerate(["Research", "Platform"]):
                d = f"dep_{o[4:]}_{j + 1}"
                self.departments[d] = dict(department_id=d, organization_id=o, parent_department_id=root,
                                           name=name, updated_at=ts(sc.start - timedelta(days=200)))
            leaf = f"dep_{o[4:]}_1a"
            self.departments[leaf] = dict(department_id=leaf, organization_id=o,
                                          parent_department_id=f"dep_{o[4:]}_1", name="Inference",
                                          updated_at=ts(sc.start - timedelta(days=150)))
        self.projects = {}
        dep_cycle = ["_1", "_2", "_1a"]
        for o in self.orgs:
            for p in range(1, self.sc.projects_per_org + 1):
                pid = f"prj_{o[4:]}_{p:02d}"
                self.projects[pid] = dict(project_id=pid, organization_id=o,
                                          department_id=f"dep_{o[4:]}{dep_cycle[(p - 1) % 3]}", name=f"Project {pid}",
                                          created_at=ts(sc.start - timedelta(days=100)), archived_at=None,
                                          updated_at=ts(sc.start - timedelta(days=100)))
        self.project_dept_history = {p: [(sc.start - timedelta(days=100), r["department_id"])]
                                     for p, r in self.projects.items()}
        self.api_keys = {}
        for pid in self.projects:
            for k in range(1, self.sc.keys_per_project + 1):
                kid = f"key_{pid[4:]}_{k}"
                self.api_keys[kid] = dict(api_key_id=kid, project_id=pid, service_account_id=f"sa_{pid[4:]}",
                                          label=f"key {k}", created_at=ts(sc.start - timedelta(days=90)),
                                          revoked_at=None, updated_at=ts(sc.start - timedelta(days=90)))
        self.model_ids = MODELS + [f"model-{i:02d}" for i in range(len(MODELS) + 1, sc.models + 1)]
        self.models = {m: dict(model_id=m, display_name=m.replace("-", " ").title(), family=m.split("-")[0],
                               updated_at=ts(sc.start - timedelta(days=60))) for m in self.model_ids}
        self.units = {u: dict(usage_unit=u, product=p, unit_of_measure=uom, description=f"{u} usage",
                              registry_version="1", updated_at=ts(sc.start - timedelta(days=365)))
                      for u, (p, uom) in UNITS.items()}
        self.prices = {}
        for plan, units in BASE_PRICES.items():
            for u, price in units.items():
                pid = f"price_{plan[5:]}_{u}"
                self.prices[pid] = dict(price_id=pid, plan_id=plan, usage_unit=u, model_id=None, unit_price=price,
                                        currency="USD", effective_from=ts(sc.start - timedelta(days=365)),
                                        effective_to=None, updated_at=ts(sc.start - timedelta(days=365)))
        for plan in BASE_PRICES:
            m, u, price = MODEL_PRICE
            pid = f"price_{plan[5:]}_{u}_{m}"
            self.prices[pid] = dict(price_id=pid, plan_id=plan, usage_unit=u, model_id=m, unit_price=price,
                                    currency="USD", effective_from=ts(sc.start - timedelta(days=365)),
                                    effective_to=None, updated_at=ts(sc.start - timedelta(days=365)))
        self.outbox_seq = 0
        self.event_no = 0
        self.effective: dict[str, dict] = {}  # event_id -> the effective event (truth)
        self.pending_corrections: dict[str, list[dict]] = {}

    # ---- history lookups, the truth the warehouse must reproduce
    def plan_at(self, org: str, t: datetime) -> str:
        return [p for since, p in self.org_plan_history[org] if since <= t][-1]

    def price_for(self, org: str, unit: str, model: str | None, t: datetime) -> Decimal | None:
        plan = self.plan_at(org, t)
        best = None
        for p in self.prices.values():
            if p["plan_id"] != plan or p["usage_unit"] != unit:
                continue
            if p["model_id"] is not None and p["model_id"] != model:
                continue
            start = datetime.fromisoformat(p["effective_from"].replace("Z", "+00:00"))
            end = p["effective_to"] and datetime.fromisoformat(p["effective_to"].replace("Z", "+00:00"))
            if not (start <= t and (end is None or t < end)):
                continue
            if best is None or (p["model_id"] is not None and best["model_id"] is None):
                best = p
        return Decimal(best["unit_price"]) if best else None

    def snapshot(self, table: str) -> list[dict]:
        if table == "organizations":
            return self.org_rows()
        return [dict(r) for r in getattr(self, {"usage_units": "units"}.get(table, table)).values()]

    def org_rows(self) -> list[dict]:
        rows = []
        for o in self.orgs:
            since, plan = self.org_plan_history[o][-1]
            rows.append(dict(organization_id=o, name=f"Organization {o[4:]}", plan_id=plan,
                             billing_currency=self.org_currency[o], created_at=ts(self.sc.start - timedelta(days=300)),
                             updated_at=ts(since)))
        return rows

    # ---- events
    def next_event(self, day: int, rng: random.Random, unit_pool: list[str]) -> dict:
        self.event_no += 1
        self.outbox_seq += 1
        org = self.orgs[rng.randrange(len(self.orgs))]
        projects = [p for p, r in self.projects.items() if r["organization_id"] == org]
        pid = projects[rng.randrange(len(projects))]
        unit = unit_pool[rng.randrange(len(unit_pool))]
        product = self.units[unit]["product"]
        occurred = self.sc.start + timedelta(days=day, seconds=rng.randrange(86400), microseconds=rng.randrange(1000) * 1000)
        keys = [k for k, r in self.api_keys.items() if r["project_id"] == pid]
        key = keys[rng.randrange(len(keys))] if product == "token_factory" or rng.random() < 0.5 else None
        model = MODELS[rng.randrange(len(MODELS))] if product == "token_factory" else None
        if product == "token_factory":
            qty = Decimal(rng.randrange(1, 200_000))
        else:
            qty = Decimal(rng.randrange(1, 4_000_000)) / Decimal(1_000_000)
        return dict(event_id=f"evt_{self.event_no:09d}", outbox_seq=str(self.outbox_seq), occurred_at=ts(occurred),
                    recorded_at=ts(occurred + timedelta(seconds=rng.randrange(1, 120))), organization_id=org,
                    project_id=pid, api_key_id=key, model_id=model, resource_id=f"res_{pid[4:]}",
                    usage_unit=unit, quantity=f"{qty:.6f}", correction_of=None,
                    attributes=json.dumps({"region": "eu-north1", "day": day}))

    def record_truth(self, e: dict) -> None:
        """Apply an accepted event to the truth: originals, corrections (highest outbox_seq wins)."""
        target = e["correction_of"]
        if target is None:
            self.effective[e["event_id"]] = dict(e)
            for c in self.pending_corrections.pop(e["event_id"], []):
                self._apply_correction(e["event_id"], c)
        elif target in self.effective:
            self._apply_correction(target, e)
        else:
            self.pending_corrections.setdefault(target, []).append(e)

    def _apply_correction(self, target: str, c: dict) -> None:
        cur = self.effective[target]
        if int(c["outbox_seq"]) < int(cur.get("_corrected_seq", "0")):
            return
        kept = cur["occurred_at"]
        new = dict(c, event_id=target, occurred_at=kept, correction_of=None, _corrected_seq=c["outbox_seq"])
        self.effective[target] = new

    def totals(self) -> list[dict]:
        out: dict[tuple, dict] = {}
        for e in self.effective.values():
            qty = Decimal(e["quantity"])
            if qty == 0:
                continue  # voided
            t = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
            k = (t.date().isoformat(), e["organization_id"], e["usage_unit"])
            row = out.setdefault(k, dict(usage_date=k[0], organization_id=k[1], usage_unit=k[2],
                                         quantity=Decimal(0), rated_amount=Decimal(0), event_count=0, unrated_events=0))
            row["quantity"] += qty
            row["event_count"] += 1
            price = self.price_for(e["organization_id"], e["usage_unit"], e["model_id"], t)
            if price is None:
                row["unrated_events"] += 1
            else:
                row["rated_amount"] += qty * price
        return [dict(r, quantity=str(r["quantity"]), rated_amount=str(r["rated_amount"])) for _, r in sorted(out.items())]


