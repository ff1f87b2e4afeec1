"""The scenario: a deterministic generator of contract-conformant OLTP exports, and the totals they imply.

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

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from tools.generator.bulk import bulk_usage_frames, truth_totals
from tools.generator.files import BatchWriter, text_frame
from tools.generator.tables import (
    audit_rows,
    bad_usage_rows,
    credential_rows,
    ledger_breaks,
    ledger_rows,
    runtime_rows,
    status_rows,
)
from tools.generator.world import (
    ENCODINGS,
    H100_NEW_PRICE,
    H100_PRICE_CHANGE_AFTER,
    NEW_UNIT,
    UNITS,
    Scenario,
    World,
    batch_id,
    ts,
)

DIMENSIONS = ("organizations", "departments", "projects", "api_keys", "models", "usage_units", "prices")


@dataclass
class Run:
    """What carries from one batch to the next while a scenario is written."""

    sc: Scenario
    w: World
    out: Path
    batches: list[str] = field(default_factory=list)
    encodings_used: int = 0
    ledger_no: int = 0
    bulk: dict = field(default_factory=lambda: {"deltas": []})
    audit: dict = field(default_factory=lambda: {"seq": 0, "prev": "0" * 64})
    last_day_events: list[dict] = field(default_factory=list)
    early_correction_target: dict | None = None
    day: int = 0

    def encoding(self) -> tuple[str, str]:
        """The five encodings in rotation, one per file written."""
        self.encodings_used += 1
        return ENCODINGS[(self.encodings_used - 1) % len(ENCODINGS)]


def generate(out: Path, sc: Scenario | None = None) -> dict:
    """Write the scenario's batches under `out` and their expected totals; see the module."""
    sc = sc or Scenario()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(sc, World(sc), out)
    n_batches = sc.days + (1 if sc.faults else 0)
    for n in range(1, n_batches + 1):
        corrupt = sc.faults and n == 4
        exported_at = (sc.start + timedelta(days=run.day, hours=12) if corrupt
                       else sc.start + timedelta(days=run.day + 1, minutes=5))
        bw = BatchWriter(out, batch_id(n, exported_at), exported_at)
        unit_pool = list(UNITS) + ([NEW_UNIT] if run.day >= 2 else [])
        change_dimensions(run.w, run.day, corrupt)
        write_dimensions(run, bw, first=n == 1, exported_at=exported_at)
        if sc.faults:
            write_day_with_faults(run, bw, unit_pool, exported_at, corrupt)
        else:
            write_bulk_day(run, bw, unit_pool)
        run.batches.append(bw.bid)
    if sc.faults:  # a folder still being written: no manifest yet
        pending = out / batch_id(n_batches + 1, sc.start + timedelta(days=run.day + 1, minutes=5))
        pending.mkdir(exist_ok=True)
        (pending / "usage_events.csv").write_text("event_id,outbox_seq\n")
    totals = run.w.totals() if sc.faults else truth_totals(run.bulk["deltas"])
    expected = {"batches": run.batches, "totals": totals}
    (out / "expected_totals.json").write_text(json.dumps(expected, indent=1) + "\n")
    return expected


def change_dimensions(w: World, day: int, corrupt: bool) -> None:
    """Day 2: a project moves department and an organization changes plan mid-day, the standard h100
    price changes; day 3: a new usage unit (never priced); day 4: an API key deleted."""
    start = w.sc.start
    price_change = start + H100_PRICE_CHANGE_AFTER
    if day == 1:
        moved = next(iter(w.projects))
        move_at = start + timedelta(days=1, hours=10)
        w.projects[moved].update(department_id=w.projects[moved]["department_id"].rsplit("_", 1)[0] + "_2",
                                 updated_at=ts(move_at))
        w.project_dept_history[moved].append((move_at, w.projects[moved]["department_id"]))
        org = w.orgs[0]
        change_at = start + timedelta(days=1, hours=12)
        w.org_plan_history[org].append((change_at, "plan_enterprise"))
        old = w.prices["price_standard_gpu_hour.h100"]
        old.update(effective_to=ts(price_change), updated_at=ts(price_change - timedelta(hours=1)))
        w.prices["price_standard_gpu_hour.h100_v2"] = dict(
            old, price_id="price_standard_gpu_hour.h100_v2", unit_price=H100_NEW_PRICE,
            effective_from=ts(price_change), effective_to=None, updated_at=ts(price_change - timedelta(hours=1)))
    if day == 2:
        w.units[NEW_UNIT] = dict(usage_unit=NEW_UNIT, product="gpuaas", unit_of_measure="gpu_hour",
                                 description="B200 GPU hours", registry_version="2",
                                 updated_at=ts(start + timedelta(days=2)))
    if day == 3 and not corrupt and w.api_keys:
        w.api_keys.pop(sorted(w.api_keys)[-1])  # deleted as of this snapshot; stays in history


def write_dimensions(run: Run, bw: BatchWriter, first: bool, exported_at: datetime) -> None:
    """Every dimension's snapshot; credentials, runtimes and the provider inventory in the first batch
    and on day 4 (provider "lambda" is listed in the first batch only: it keeps that listing)."""
    for table in DIMENSIONS:
        bw.write(table, [text_frame(table, run.w.snapshot(table))], run.encoding())
    if first or run.day == 3:
        bw.write("credentials", [text_frame("credentials", credential_rows(exported_at))], run.encoding())
        rt, inv = runtime_rows(exported_at, list_lambda=first)
        bw.write("runtime_instances", [text_frame("runtime_instances", rt)], run.encoding())
        bw.write("provider_inventory", [text_frame("provider_inventory", inv)], run.encoding())


def write_bulk_day(run: Run, bw: BatchWriter, unit_pool: list[str]) -> None:
    """A benchmark batch: the day's usage streamed in chunks, no faults, an empty ledger."""
    sc = run.sc
    bw.write("usage_events", bulk_usage_frames(run.w, run.day, unit_pool, run.bulk), sc.usage_encoding or run.encoding())
    bw.write("ledger_entries", [text_frame("ledger_entries", [])], run.encoding())
    bw.write("audit_events", [text_frame("audit_events", audit_rows(run.audit, run.sc.start, run.day, 20))], run.encoding())
    bw.write("status_events", [text_frame("status_events", status_rows(run.sc.start, run.day, run.w.rng))], run.encoding())
    bw.close()
    run.day += 1


def write_day_with_faults(run: Run, bw: BatchWriter, unit_pool: list[str], exported_at: datetime,
                          corrupt: bool) -> None:
    """A sample batch: the day's usage with the faults of that day, the ledger, audit and status."""
    w, day = run.w, run.day
    events = [w.next_event(day, w.rng, unit_pool) for _ in range(run.sc.events_per_day)]
    extra_rows, raw_lines = late_redelivered_and_corrected(run, unit_pool, events)
    if day == 1:
        extra_rows += conflicting_copy_and_early_correction(run)
    if day == 2:
        events.append(run.early_correction_target)
        more, raw_lines = second_correction_void_and_bad_rows(run, exported_at)
        extra_rows += more
    usage_encoding = ("csv", "gzip") if day == 2 else run.encoding()
    all_rows = events + extra_rows
    if not corrupt:  # the truth, in arrival order; bad rows are not truth
        seen = set()
        for e in all_rows:
            if e.get("_bad") or e["event_id"] in w.effective or e["event_id"] in seen:
                continue
            seen.add(e["event_id"])
            w.record_truth(e)
    all_rows = [{k: v for k, v in e.items() if k != "_bad"} for e in all_rows]  # the mark is ours, not the file's
    chunks = (text_frame("usage_events", all_rows[i:i + run.sc.chunk_rows])
              for i in range(0, max(len(all_rows), 1), run.sc.chunk_rows))
    bw.write("usage_events", chunks, usage_encoding, raw_lines if usage_encoding[0] != "parquet" else [])

    ledger, run.ledger_no = ledger_rows(w, day, run.ledger_no, exported_at) if not corrupt else ([], run.ledger_no)
    if day == 1:
        ledger, run.ledger_no = ledger_breaks(ledger, run.ledger_no, w)
    bw.write("ledger_entries", [text_frame("ledger_entries", ledger)], run.encoding())
    # the corrupt batch is never loaded: its audit rows must not advance the real chain
    audit = audit_rows(dict(run.audit) if corrupt else run.audit, run.sc.start, day, 20)
    status = status_rows(run.sc.start, day, w.rng)
    if day == 2:
        audit.append(dict(audit[-1], audit_id="aud_bad_bool", privileged="yes"))  # bad_bool
        status.append(dict(status[-1], component="iam.facade", status="up"))  # bad_enum
    bw.write("audit_events", [text_frame("audit_events", audit)], run.encoding())
    bw.write("status_events", [text_frame("status_events", status)], run.encoding())
    bw.close(corrupt=corrupt)
    if not corrupt:
        run.last_day_events = events
        run.day += 1


def late_redelivered_and_corrected(run: Run, unit_pool: list[str], events: list[dict]) -> tuple[list[dict], list[str]]:
    """From day 2: late events of the day before (appended to `events`), re-deliveries of some of its
    rows (same values, another zone and decimal form), corrections of others (half the quantity)."""
    w, extra = run.w, []
    if run.day < 1 or not run.last_day_events:
        return extra, []
    sc, last = run.sc, run.last_day_events
    for _ in range(max(1, int(sc.events_per_day * sc.late_rate))):
        events.append(w.next_event(run.day - 1, w.rng, unit_pool))
    k = max(1, int(len(last) * sc.duplicate_rate))
    for e in last[:k]:
        t = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
        extra.append(dict(e, occurred_at=t.astimezone(timezone(timedelta(hours=2))).isoformat(),
                          quantity=e["quantity"] + "000"))  # same values, other text
    for e in last[k:k + max(1, int(len(last) * sc.correction_rate))]:
        extra.append(_correction(w, e, f"{Decimal(e['quantity']) * Decimal('0.5'):.6f}"))
    return extra, []


def conflicting_copy_and_early_correction(run: Run) -> list[dict]:
    """Day 2: a conflicting copy of a loaded event (the first copy stands), and a correction whose
    original arrives only in the next batch (a late event)."""
    w = run.w
    victim = run.last_day_events[-1]
    conflict = dict(victim, quantity=f"{Decimal(victim['quantity']) + 1:.6f}")
    run.early_correction_target = target = w.next_event(0, w.rng, list(UNITS)[:3])
    return [conflict, _correction(w, target, "0.125000")]


def second_correction_void_and_bad_rows(run: Run, exported_at: datetime) -> tuple[list[dict], list[str]]:
    """Day 3: two corrections of one event (the later wins), a void of another, and one bad row per
    quarantine reason a usage row can have (with an unparseable line)."""
    w = run.w
    a, b = run.last_day_events[0], run.last_day_events[1]
    rows = [_correction(w, a, q) for q in ("0.700000", "0.900000")] + [_correction(w, b, "0")]
    bad, raw_lines = bad_usage_rows(w, w.rng, exported_at)
    return rows + bad, raw_lines


def _correction(w: World, e: dict, quantity: str) -> dict:
    w.outbox_seq += 1
    w.event_no += 1
    return dict(e, event_id=f"evt_{w.event_no:09d}", outbox_seq=str(w.outbox_seq), correction_of=e["event_id"],
                quantity=quantity)
