"""A deterministic generator of contract-conformant OLTP exports, and the totals they imply.

`generate(out, Scenario(...))` writes batches under `out/` (one folder per batch, manifest last)
plus `out/expected_totals.json`: the true usage per UTC day, organization and usage unit after
duplicates and corrections, computed here from the generator's own bookkeeping, independently of
the pipeline. The default scenario is the committed sample; bigger ones feed the benchmark.

What the sample carries, batch by batch (days are 2026-11-01 onwards):
  1  every dimension, day-1 usage, ledger, audit, status; all five file encodings in rotation
  2  a project moves department mid-day, an organization changes plan mid-day, a price changes,
     day-2 usage, late day-1 events, re-delivered day-1 events (in another zone and decimal
     form), a conflicting copy, a correction arriving before its original
  3  a new usage unit with no price (unrated usage), the original of that early correction,
     a second correction of one event (the later wins), a void, one row per quarantine reason
  4  corrupt: a file whose bytes do not match the manifest's sha256; the whole batch is rejected
  5  day-4 usage, a dimension snapshot with a deleted API key
  plus a folder without manifest.json (still being written): left alone
Large scenarios stream events in chunks, so tens of millions of rows fit in bounded memory.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl

from models import TABLES

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
H100_PRICE_CHANGE = START + timedelta(days=1)  # standard plan's h100 price changes at day 2 00:00
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
        self.org_plan_history = {o: [(START - timedelta(days=300), self.org_plan[o])] for o in self.orgs}
        self.departments = {}  # id -> row
        for o in self.orgs:
            root = f"dep_{o[4:]}_root"
            self.departments[root] = dict(department_id=root, organization_id=o, parent_department_id=None,
                                          name=f"{o} HQ", updated_at=ts(START - timedelta(days=200)))
            for j, name in enumerate(["Research", "Platform"]):
                d = f"dep_{o[4:]}_{j + 1}"
                self.departments[d] = dict(department_id=d, organization_id=o, parent_department_id=root,
                                           name=name, updated_at=ts(START - timedelta(days=200)))
            leaf = f"dep_{o[4:]}_1a"
            self.departments[leaf] = dict(department_id=leaf, organization_id=o,
                                          parent_department_id=f"dep_{o[4:]}_1", name="Inference",
                                          updated_at=ts(START - timedelta(days=150)))
        self.projects = {}
        dep_cycle = ["_1", "_2", "_1a"]
        for o in self.orgs:
            for p in range(1, self.sc.projects_per_org + 1):
                pid = f"prj_{o[4:]}_{p:02d}"
                self.projects[pid] = dict(project_id=pid, organization_id=o,
                                          department_id=f"dep_{o[4:]}{dep_cycle[(p - 1) % 3]}", name=f"Project {pid}",
                                          created_at=ts(START - timedelta(days=100)), archived_at=None,
                                          updated_at=ts(START - timedelta(days=100)))
        self.project_dept_history = {p: [(START - timedelta(days=100), r["department_id"])]
                                     for p, r in self.projects.items()}
        self.api_keys = {}
        for pid in self.projects:
            for k in range(1, self.sc.keys_per_project + 1):
                kid = f"key_{pid[4:]}_{k}"
                self.api_keys[kid] = dict(api_key_id=kid, project_id=pid, service_account_id=f"sa_{pid[4:]}",
                                          label=f"key {k}", created_at=ts(START - timedelta(days=90)),
                                          revoked_at=None, updated_at=ts(START - timedelta(days=90)))
        self.model_ids = MODELS + [f"model-{i:02d}" for i in range(len(MODELS) + 1, sc.models + 1)]
        self.models = {m: dict(model_id=m, display_name=m.replace("-", " ").title(), family=m.split("-")[0],
                               updated_at=ts(START - timedelta(days=60))) for m in self.model_ids}
        self.units = {u: dict(usage_unit=u, product=p, unit_of_measure=uom, description=f"{u} usage",
                              registry_version="1", updated_at=ts(START - timedelta(days=365)))
                      for u, (p, uom) in UNITS.items()}
        self.prices = {}
        for plan, units in BASE_PRICES.items():
            for u, price in units.items():
                pid = f"price_{plan[5:]}_{u}"
                self.prices[pid] = dict(price_id=pid, plan_id=plan, usage_unit=u, model_id=None, unit_price=price,
                                        currency="USD", effective_from=ts(START - timedelta(days=365)),
                                        effective_to=None, updated_at=ts(START - timedelta(days=365)))
        for plan in BASE_PRICES:
            m, u, price = MODEL_PRICE
            pid = f"price_{plan[5:]}_{u}_{m}"
            self.prices[pid] = dict(price_id=pid, plan_id=plan, usage_unit=u, model_id=m, unit_price=price,
                                    currency="USD", effective_from=ts(START - timedelta(days=365)),
                                    effective_to=None, updated_at=ts(START - timedelta(days=365)))
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
                             billing_currency=self.org_currency[o], created_at=ts(START - timedelta(days=300)),
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
        occurred = START + timedelta(days=day, seconds=rng.randrange(86400), microseconds=rng.randrange(1000) * 1000)
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


# ---------------------------------------------------------------- writing files

def _text_frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """Rows as text columns: the contract's, then any other key a row holds (schema drift, as an
    exporter may deliver it)."""
    cols = TABLES[table].column_names
    cols += list(dict.fromkeys(k for r in rows for k in r if k not in cols))
    return pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema={c: pl.String for c in cols})


class BatchWriter:
    """Writes one batch folder; the manifest goes last, as the exporter does."""

    def __init__(self, root: Path, bid: str, exported_at: datetime):
        self.dir = root / bid
        self.bid, self.exported_at = bid, exported_at
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.files: list[dict] = []

    def write(self, table: str, frames, encoding: tuple[str, str], raw_lines: list[str] = ()) -> None:
        """frames: an iterable of all-text DataFrames (streamed), raw_lines: text appended as is
        (CSV or JSONL only), to carry unparseable rows."""
        fmt, comp = encoding
        ext = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}[fmt] + (".gz" if comp == "gzip" else "")
        path = self.dir / f"{table}.{ext}"
        rows = 0
        if fmt == "parquet":
            import pyarrow.parquet as pq
            writer = None
            for frame in frames:
                arrow = frame.to_arrow()
                writer = writer or pq.ParquetWriter(path, arrow.schema, compression="zstd")
                writer.write_table(arrow)
                rows += frame.height
            if writer is None:
                _text_frame(table, []).write_parquet(path)
            else:
                writer.close()
        else:
            fh = gzip.GzipFile(path, "wb", mtime=0) if comp == "gzip" else open(path, "wb")
            with fh:
                first = True
                for frame in frames:
                    if fmt == "csv":
                        fh.write(frame.write_csv(include_header=first).encode())
                    elif frame.height:
                        fh.write(frame.write_ndjson().encode())
                    first = False
                    rows += frame.height
                if first and fmt == "csv":
                    fh.write((",".join(TABLES[table].column_names) + "\n").encode())
                for line in raw_lines:
                    fh.write((line + "\n").encode())
                    rows += 1
        self.files.append(dict(table=table, path=path.name, format=fmt, compression=comp, row_count=rows,
                               sha256=hashlib.sha256(path.read_bytes()).hexdigest()))

    def close(self, corrupt: bool = False) -> None:
        manifest = dict(contract="platform-oltp-export", contract_version=1, batch_id=self.bid,
                        exported_at=ts(self.exported_at), files=self.files)
        if corrupt:  # the corrupt batch: a file's bytes no longer match the manifest
            with open(self.dir / self.files[-1]["path"], "ab") as fh:
                fh.write(b"\n")
        (self.dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


# ---------------------------------------------------------------- the scenario

def generate(out: Path, sc: Scenario = Scenario()) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    w = World(sc)
    rng = w.rng
    batches: list[str] = []
    enc_i = 0

    def encoding() -> tuple[str, str]:
        nonlocal enc_i
        enc_i += 1
        return ENCODINGS[(enc_i - 1) % len(ENCODINGS)]

    ledger_no = 0
    bulk: dict = {"deltas": []}
    audit_state = {"seq": 0, "prev": "0" * 64}
    last_day_events: list[dict] = []
    early_correction_target: dict | None = None
    n_batches = sc.days + (1 if sc.faults else 0)
    day = 0
    for n in range(1, n_batches + 1):
        corrupt = sc.faults and n == 4
        exported_at = START + timedelta(days=day + 1, minutes=5) if not corrupt else START + timedelta(days=day, hours=12)
        bid = batch_id(n, exported_at)
        bw = BatchWriter(out, bid, exported_at)
        unit_pool = list(UNITS) + ([NEW_UNIT] if day >= 2 else [])

        # ---- dimension changes that take effect in this batch
        if day == 1:
            moved = next(iter(w.projects))
            move_at = START + timedelta(days=1, hours=10)
            w.projects[moved].update(department_id=w.projects[moved]["department_id"].rsplit("_", 1)[0] + "_2",
                                     updated_at=ts(move_at))
            w.project_dept_history[moved].append((move_at, w.projects[moved]["department_id"]))
            org = w.orgs[0]
            change_at = START + timedelta(days=1, hours=12)
            w.org_plan_history[org].append((change_at, "plan_enterprise"))
            old = w.prices["price_standard_gpu_hour.h100"]
            old.update(effective_to=ts(H100_PRICE_CHANGE), updated_at=ts(H100_PRICE_CHANGE - timedelta(hours=1)))
            w.prices["price_standard_gpu_hour.h100_v2"] = dict(
                old, price_id="price_standard_gpu_hour.h100_v2", unit_price=H100_NEW_PRICE,
                effective_from=ts(H100_PRICE_CHANGE), effective_to=None, updated_at=ts(H100_PRICE_CHANGE - timedelta(hours=1)))
        if day == 2:
            w.units[NEW_UNIT] = dict(usage_unit=NEW_UNIT, product="gpuaas", unit_of_measure="gpu_hour",
                                     description="B200 GPU hours", registry_version="2",
                                     updated_at=ts(START + timedelta(days=2)))
        if day == 3 and not corrupt and w.api_keys:
            w.api_keys.pop(sorted(w.api_keys)[-1])  # deleted as of this snapshot; stays in history

        for table in ("organizations", "departments", "projects", "api_keys", "models", "usage_units", "prices"):
            bw.write(table, [_text_frame(table, w.snapshot(table))], encoding())
        if n == 1 or day == 3:
            bw.write("credentials", [_text_frame("credentials", _credentials(exported_at))], encoding())
            # provider "lambda" is listed in the first batch only: it keeps that listing
            rt, inv = _runtime(exported_at, list_lambda=(n == 1))
            bw.write("runtime_instances", [_text_frame("runtime_instances", rt)], encoding())
            bw.write("provider_inventory", [_text_frame("provider_inventory", inv)], encoding())

        if not sc.faults:
            bw.write("usage_events", bulk_usage_frames(w, day, unit_pool, bulk), sc.usage_encoding or encoding())
            bw.write("ledger_entries", [_text_frame("ledger_entries", [])], encoding())
            bw.write("audit_events", [_text_frame("audit_events", _audit(audit_state, day, 20))], encoding())
            bw.write("status_events", [_text_frame("status_events", _status(day, rng))], encoding())
            bw.close()
            batches.append(bid)
            day += 1
            continue

        # ---- usage events of this day, with every fault case, one dict per event
        extra_rows: list[dict] = []
        raw_lines: list[str] = []
        events = [w.next_event(day, rng, unit_pool) for _ in range(sc.events_per_day)]
        if day >= 1 and last_day_events:
            # late events for the previous day, and re-deliveries of rows already sent
            for _ in range(max(1, int(sc.events_per_day * sc.late_rate))):
                events.append(w.next_event(day - 1, rng, unit_pool))
            k = max(1, int(len(last_day_events) * sc.duplicate_rate))
            for e in last_day_events[:k]:
                t = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
                extra_rows.append(dict(e, occurred_at=t.astimezone(timezone(timedelta(hours=2))).isoformat(),
                                       quantity=e["quantity"] + "000"))  # same values, other text
            for e in last_day_events[k:k + max(1, int(len(last_day_events) * sc.correction_rate))]:
                w.outbox_seq += 1
                w.event_no += 1
                extra_rows.append(dict(e, event_id=f"evt_{w.event_no:09d}", outbox_seq=str(w.outbox_seq),
                                       correction_of=e["event_id"],
                                       quantity=f"{Decimal(e['quantity']) * Decimal('0.5'):.6f}"))
        if sc.faults and day == 1:
            # a conflicting copy of a loaded event: the first copy stands
            victim = last_day_events[-1]
            raw_conflict = dict(victim, quantity=f"{Decimal(victim['quantity']) + 1:.6f}")
            extra_rows.append(raw_conflict)
            # a correction whose original arrives only in the next batch (a late event)
            early_correction_target = w.next_event(0, rng, list(UNITS)[:3])
            w.outbox_seq += 1
            w.event_no += 1
            extra_rows.append(dict(early_correction_target, event_id=f"evt_{w.event_no:09d}",
                                   outbox_seq=str(w.outbox_seq), correction_of=early_correction_target["event_id"],
                                   quantity="0.125000"))
        if sc.faults and day == 2:
            events.append(early_correction_target)
            # two corrections of one event, then a void of another
            a, b = last_day_events[0], last_day_events[1]
            for q in ("0.700000", "0.900000"):
                w.outbox_seq += 1
                w.event_no += 1
                extra_rows.append(dict(a, event_id=f"evt_{w.event_no:09d}", outbox_seq=str(w.outbox_seq),
                                       correction_of=a["event_id"], quantity=q))
            w.outbox_seq += 1
            w.event_no += 1
            extra_rows.append(dict(b, event_id=f"evt_{w.event_no:09d}", outbox_seq=str(w.outbox_seq),
                                   correction_of=b["event_id"], quantity="0"))
            bad, raw_lines = _bad_usage_rows(w, rng, exported_at)
            extra_rows.extend(bad)

        usage_enc = encoding() if not (sc.faults and day == 2) else ("csv", "gzip")
        all_rows = events + extra_rows
        if not corrupt:
            # bookkeeping of the truth in arrival order; bad rows carry _bad and are not truth
            seen = {}
            for e in all_rows:
                if e.get("_bad") or e["event_id"] in w.effective or e["event_id"] in seen:
                    continue
                seen[e["event_id"]] = True
                w.record_truth(e)
        chunks = (_text_frame("usage_events", all_rows[i:i + sc.chunk_rows])
                  for i in range(0, max(len(all_rows), 1), sc.chunk_rows))
        bw.write("usage_events", chunks, usage_enc, raw_lines if usage_enc[0] != "parquet" else [])

        ledger_rows, ledger_no = _ledger(w, day, ledger_no, exported_at) if not corrupt else ([], ledger_no)
        if sc.faults and day == 1:
            ledger_rows, ledger_no = _ledger_breaks(ledger_rows, ledger_no, w)
        bw.write("ledger_entries", [_text_frame("ledger_entries", ledger_rows)], encoding())
        # the corrupt batch is never loaded: its audit rows must not advance the real chain
        audit = _audit(dict(audit_state) if corrupt else audit_state, day, 20)
        status = _status(day, rng)
        if sc.faults and day == 2:
            audit.append(dict(audit[-1], audit_id="aud_bad_bool", privileged="yes"))  # bad_bool
            status.append(dict(status[-1], component="iam.facade", status="up"))  # bad_enum
        bw.write("audit_events", [_text_frame("audit_events", audit)], encoding())
        bw.write("status_events", [_text_frame("status_events", status)], encoding())
        bw.close(corrupt=corrupt)
        if not corrupt:
            last_day_events = events
            day += 1
        batches.append(bid)

    if sc.faults:  # a folder still being written: no manifest yet
        pending = out / batch_id(n_batches + 1, START + timedelta(days=day + 1, minutes=5))
        pending.mkdir(exist_ok=True)
        (pending / "usage_events.csv").write_text("event_id,outbox_seq\n")
    totals = w.totals() if sc.faults else truth_totals(bulk["deltas"])
    expected = {"batches": batches, "totals": totals}
    (out / "expected_totals.json").write_text(json.dumps(expected, indent=1) + "\n")
    return expected


def _bad_usage_rows(w: World, rng, exported_at: datetime) -> tuple[list[dict], list[str]]:
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


def _credentials(as_of: datetime) -> list[dict]:
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


def _runtime(as_of: datetime, list_lambda: bool) -> tuple[list[dict], list[dict]]:
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


def _ledger(w: World, day: int, next_no: int, exported_at: datetime) -> tuple[list[dict], int]:
    """usage_charge lines for the previous day, computed from the truth as billing would."""
    if day == 0:
        return [], next_no
    target = (START + timedelta(days=day - 1)).date()
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


def _ledger_breaks(rows: list[dict], next_no: int, w: World) -> tuple[list[dict], int]:
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


def _audit(state: dict, day: int, n: int) -> list[dict]:
    rows = []
    actions = ["iam.service_account.rotate", "billing.invoice.read", "iam.role.grant", "registry.app.publish"]
    for _ in range(n):
        state["seq"] += 1
        seq = state["seq"]
        t = START + timedelta(days=day, seconds=seq * 137 % 86400)
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


def _status(day: int, rng) -> list[dict]:
    rows = []
    components = [("billing.rating", "http"), ("iam.facade", "http"), ("notification.dispatch", "dlq")]
    for minute in range(0, 1440, 10):
        t = START + timedelta(days=day, minutes=minute)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write deterministic OLTP export batches.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--events-per-day", type=int, default=Scenario.events_per_day)
    parser.add_argument("--days", type=int, default=Scenario.days)
    parser.add_argument("--organizations", type=int, default=Scenario.organizations)
    parser.add_argument("--projects-per-org", type=int, default=Scenario.projects_per_org)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--seed", type=int, default=Scenario.seed)
    args = parser.parse_args(argv)
    sc = Scenario(organizations=args.organizations, projects_per_org=args.projects_per_org, days=args.days,
                  events_per_day=args.events_per_day, faults=not args.no_faults, seed=args.seed)
    expected = generate(args.out, sc)
    print(f"wrote {len(expected['batches'])} batches to {args.out}")


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------- bulk events (benchmark sizes)
#
# At benchmark sizes (tens of millions of events) a Python dict per event is far too slow: regular
# events are made column-wise in polars from a counter and a multiplicative hash, so a chunk of a
# million rows costs a fraction of a second and memory stays bounded by the chunk size. The truth
# (effective usage per day, organization and unit) is accumulated as signed deltas per chunk.

_MIX = [2654435761, 2246822519, 3266489917, 668265263, 374761393, 1103515245, 12345, 2147483647, 1597334677,
        3812015801]


def _h(i: pl.Expr, k: int, seed: int) -> pl.Expr:
    """A deterministic pseudo-random non-negative integer per row (no overflow: i < 2^31)."""
    return ((i * _MIX[k] + seed * 7919 + k * 104729) % 4294967291).abs()


def bulk_events(w: World, day: int, first_no: int, n: int, unit_pool: list[str]) -> pl.DataFrame:
    """n regular usage events occurring on `day`, numbered from first_no, in the contract's text forms."""
    seed = w.sc.seed
    i = pl.int_range(first_no, first_no + n, dtype=pl.Int64)
    orgs, ppo, kpp = w.orgs, w.sc.projects_per_org, w.sc.keys_per_project
    products = [UNITS.get(u, ("gpuaas",))[0] for u in unit_pool]
    frame = pl.select(i.alias("n")).with_columns(
        org=_h(pl.col("n"), 0, seed) % len(orgs),
        prj=_h(pl.col("n"), 1, seed) % ppo + 1,
        unit=_h(pl.col("n"), 2, seed) % len(unit_pool),
        model=_h(pl.col("n"), 3, seed) % len(w.model_ids),
        key=_h(pl.col("n"), 4, seed) % (kpp * 2),
        sec=_h(pl.col("n"), 5, seed) % 86400,
        ms=_h(pl.col("n"), 6, seed) % 1000,
        lag=_h(pl.col("n"), 7, seed) % 119 + 1,
        q=_h(pl.col("n"), 8, seed),
    ).with_columns(
        product=pl.col("unit").replace_strict(list(range(len(unit_pool))), products, return_dtype=pl.String),
        usage_unit=pl.col("unit").replace_strict(list(range(len(unit_pool))), unit_pool, return_dtype=pl.String),
        org_code=pl.col("org").replace_strict(list(range(len(orgs))), [o[4:] for o in orgs], return_dtype=pl.String),
    )
    day_start = START + timedelta(days=day)
    occurred = pl.lit(day_start) + pl.duration(seconds=pl.col("sec"), milliseconds=pl.col("ms"))
    token = pl.col("product") == "token_factory"
    prj = pl.col("org_code") + "_" + pl.col("prj").cast(pl.String).str.zfill(2)
    micro = pl.when(token).then(pl.col("q") % 199999 + 1).otherwise(pl.col("q") % 3999999 + 1)
    qty = pl.when(token).then(micro.cast(pl.String) + ".000000").otherwise(
        (micro // 1_000_000).cast(pl.String) + "." + (micro % 1_000_000).cast(pl.String).str.zfill(6))
    fmt = "%Y-%m-%dT%H:%M:%S%.6fZ"
    return frame.select(
        event_id=pl.lit("evt_") + pl.col("n").cast(pl.String).str.zfill(10),
        outbox_seq=pl.col("n").cast(pl.String),
        occurred_at=occurred.dt.strftime(fmt),
        recorded_at=(occurred + pl.duration(seconds=pl.col("lag"))).dt.strftime(fmt),
        organization_id=pl.lit("org_") + pl.col("org_code"),
        project_id=pl.lit("prj_") + prj,
        api_key_id=pl.when(token | (pl.col("key") < kpp)).then(
            pl.lit("key_") + prj + "_" + (pl.col("key") % kpp + 1).cast(pl.String)),
        model_id=pl.when(token).then(pl.col("model").replace_strict(list(range(len(w.model_ids))), w.model_ids,
                                                                    return_dtype=pl.String)),
        resource_id=pl.lit("res_") + prj,
        usage_unit=pl.col("usage_unit"),
        quantity=qty,
        correction_of=pl.lit(None, dtype=pl.String),
        attributes=pl.lit(None, dtype=pl.String),
    )


def rate(w: World, events: pl.DataFrame) -> pl.DataFrame:
    """Adds unit_price (null when unpriced) to text events, by the World's price book: the plan in
    force at occurred_at, model-specific over generic, the window holding occurred_at."""
    t = events.with_row_index("_order").with_columns(
        at=pl.col("occurred_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC", time_unit="us"))
    plans = pl.DataFrame(
        [(o, since, plan) for o, hist in w.org_plan_history.items() for since, plan in hist],
        schema={"organization_id": pl.String, "since": pl.Datetime("us", "UTC"), "plan_id": pl.String}, orient="row",
    ).sort("since")
    t = t.sort("at").join_asof(plans, left_on="at", right_on="since", by="organization_id", strategy="backward",
                               check_sortedness=False)
    prices = pl.DataFrame([dict(p) for p in w.prices.values()]).with_columns(
        pl.col("effective_from").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC", time_unit="us"),
        pl.col("effective_to").cast(pl.String).str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC", time_unit="us"),
        pl.col("unit_price").str.to_decimal(scale=9),
    ).rename({"model_id": "price_model"})
    joined = t.with_row_index("_r").join(prices.select("plan_id", "usage_unit", "price_model", "unit_price",
                                                       "effective_from", "effective_to"),
                                         on=["plan_id", "usage_unit"], how="left")
    ok = ((pl.col("price_model").is_null() | (pl.col("price_model") == pl.col("model_id")))
          & (pl.col("at") >= pl.col("effective_from"))
          & (pl.col("effective_to").is_null() | (pl.col("at") < pl.col("effective_to"))))
    best = (joined.filter(ok).sort("_r", pl.col("price_model").is_null())
            .group_by("_r", maintain_order=True).first().select("_r", "unit_price"))
    rated = t.with_row_index("_r").join(best, on="_r", how="left")
    return rated.sort("_order").drop("_r", "_order", "at", "since")  # the input's row order


def truth_delta(rated: pl.DataFrame, sign: int = 1) -> pl.DataFrame:
    """Signed effective-usage deltas of rated text events, per (usage_date, organization_id,
    usage_unit, unit_price): quantities sum exactly in DECIMAL; amounts are priced at the end, in
    Python Decimal, since polars would cut the product's scale."""
    q = pl.col("quantity").str.to_decimal(scale=9)
    return rated.group_by(
        usage_date=pl.col("occurred_at").str.slice(0, 10), organization_id="organization_id", usage_unit="usage_unit",
        unit_price="unit_price",
    ).agg(quantity=(q * sign).sum(), event_count=pl.len().cast(pl.Int64) * sign)


def truth_totals(deltas: list[pl.DataFrame]) -> list[dict]:
    if not deltas:
        return []
    out: dict[tuple, dict] = {}
    for r in pl.concat(deltas).iter_rows(named=True):
        k = (r["usage_date"], r["organization_id"], r["usage_unit"])
        row = out.setdefault(k, dict(usage_date=k[0], organization_id=k[1], usage_unit=k[2], quantity=Decimal(0),
                                     rated_amount=Decimal(0), event_count=0, unrated_events=0))
        row["quantity"] += r["quantity"]
        row["event_count"] += r["event_count"]
        if r["unit_price"] is None:
            row["unrated_events"] += r["event_count"]
        else:
            row["rated_amount"] += r["quantity"] * r["unit_price"]
    return [dict(r, quantity=format(r["quantity"], "f"), rated_amount=format(r["rated_amount"], "f"))
            for _, r in sorted(out.items()) if r["event_count"]]


def bulk_usage_frames(w: World, day: int, unit_pool: list[str], state: dict):
    """Streams the usage file of one batch at benchmark sizes: the day's regular events, late events
    for the day before, re-deliveries and corrections of the day before's events. Appends the truth
    deltas to state["deltas"]; keeps in state["sample"] the few rows the next batch re-sends."""
    sc = w.sc

    def regular(target_day: int, n: int):
        while n > 0:
            size = min(n, sc.chunk_rows)
            frame = bulk_events(w, target_day, w.event_no + 1, size, unit_pool)
            w.event_no += size
            w.outbox_seq = w.event_no
            state["deltas"].append(truth_delta(rate(w, frame)))
            yield frame
            n -= size

    first = True
    for frame in regular(day, sc.events_per_day):
        if first:
            new_sample = frame.head(int(sc.events_per_day * (sc.duplicate_rate + sc.correction_rate)) + 2)
            first = False
        yield frame
    sample = state.get("sample")
    if day >= 1 and sample is not None:
        yield from regular(day - 1, int(sc.events_per_day * sc.late_rate))
        k = int(sc.events_per_day * sc.duplicate_rate)
        yield sample.head(k)  # re-delivered as is: counted once
        originals = sample.slice(k)
        n = originals.height
        fixed = originals.with_columns(
            event_id=pl.lit("evt_") + pl.int_range(w.event_no + 1, w.event_no + 1 + n).cast(pl.String).str.zfill(10),
            outbox_seq=pl.int_range(w.event_no + 1, w.event_no + 1 + n).cast(pl.String),
            correction_of=pl.col("event_id"),
            quantity=(pl.col("quantity").str.to_decimal(scale=9) * pl.lit(Decimal("0.5"))).cast(pl.String),
        )
        w.event_no += n
        w.outbox_seq = w.event_no
        rated = rate(w, originals)
        state["deltas"].append(truth_delta(rated, -1))
        state["deltas"].append(truth_delta(rated.with_columns(quantity=fixed["quantity"]), +1))
        yield fixed
    state["sample"] = new_sample
