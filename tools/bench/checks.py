"""The hourly batch of the incremental run, and the correctness guard after every pipeline run."""

from __future__ import annotations

import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path

HOURLY_SEQ = 900_000  # batch ids from here on are the bench's hourly batches, removed after the run


def hourly_batch(exports: Path, events: int) -> tuple[Path, dict]:
    """A batch an hour after the newest one, as an hourly export would be: its dimension snapshots
    byte for byte, and `events` new usage events (its first originals under new ids). Returns the
    folder and what it adds per (usage_date, organization, unit): (quantity, events)."""
    import csv
    import gzip
    import io
    from datetime import timedelta

    from pipelines.lib.ingest.manifest import batch_time

    source = sorted(p for p in exports.iterdir() if (p / "manifest.json").exists())[-1]
    doc = json.loads((source / "manifest.json").read_text())
    when = batch_time(source.name) + timedelta(hours=1)
    batch_id = f"{when:%Y%m%dT%H%M%SZ}-{HOURLY_SEQ:06d}"
    target = exports / batch_id
    target.mkdir()
    files, added = [], {}
    for f in doc["files"]:
        if f["table"] in ("usage_events", "ledger_entries", "audit_events", "status_events"):
            continue  # event tables: only the new usage below
        shutil.copy(source / f["path"], target / f["path"])
        files.append(f)
    with gzip.open(source / "usage_events.csv.gz", "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = []
        for row in reader:
            if row["correction_of"]:
                continue
            row["event_id"] = "h" + row["event_id"]
            rows.append(row)
            key = (row["occurred_at"][:10], row["organization_id"], row["usage_unit"])
            q, n = added.get(key, (Decimal(0), 0))
            added[key] = (q + Decimal(row["quantity"]), n + 1)
            if len(rows) == events:
                break
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=reader.fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    data = gzip.compress(text.getvalue().encode(), mtime=0)
    (target / "usage_events.csv.gz").write_bytes(data)
    files.append({"table": "usage_events", "path": "usage_events.csv.gz", "format": "csv", "compression": "gzip",
                  "row_count": len(rows), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {**doc, "batch_id": batch_id, "exported_at": f"{when:%Y-%m-%dT%H:%M:%S.000000Z}", "files": files}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target, added


def usage_totals(data: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    totals = {(str(d), o, u): (q, n) for d, o, u, q, n in con.execute(
        "select usage_date, organization_id, usage_unit, sum(quantity), sum(event_count) "
        "from marts.usage_by_department_daily group by all").fetchall()}
    con.close()
    return totals


def check_added(before: dict, after: dict, added: dict) -> None:
    """After the hourly batch: each (day, organization, unit) grew by exactly what it added."""
    want = dict(before)
    for key, (q, n) in added.items():
        q0, n0 = want.get(key, (Decimal(0), 0))
        want[key] = (q0 + q, n0 + n)
    if after != want:
        diff = [k for k in set(after) | set(want) if after.get(k) != want.get(k)][:5]
        raise SystemExit(f"the hourly batch did not add what it holds, e.g. {[(k, after.get(k), want.get(k)) for k in diff]}")


# ---------------------------------------------------------------- the correctness guard

def check_correctness(data: Path, truth_file: Path) -> None:
    """A pipeline run: the control totals hold and the marts equal the generator's truth."""
    check_control_totals(data)
    check_marts(data / "warehouse" / "build" / "analytics.duckdb", "marts.usage_by_department_daily", truth_file)


def check_control_totals(data: Path) -> None:
    import duckdb

    from pipelines.lib.ingest import control_total_breaks

    con = duckdb.connect(str(data / "warehouse" / "build" / "analytics.duckdb"), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    breaks = control_total_breaks(con)
    con.close()
    if breaks:
        raise SystemExit(f"control totals broken: {breaks[:5]}")


def check_marts(database: Path, table: str, truth_file: Path) -> None:
    """The daily totals per organization and unit of `table` (a usage_by_department_daily) equal
    the generator's true totals: quantity, events and rated amount."""
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    got = {(str(d), o, u): (q, n, a) for d, o, u, q, n, a in con.execute(
        "select usage_date, organization_id, usage_unit, sum(quantity), sum(event_count), "
        f"coalesce(sum(rated_amount), 0) from {table} group by all").fetchall()}
    con.close()
    truth = json.loads(truth_file.read_text())["totals"]
    want = {(t["usage_date"], t["organization_id"], t["usage_unit"]):
            (Decimal(t["quantity"]), t["event_count"], Decimal(t["rated_amount"])) for t in truth}
    if got != want:
        diff = [k for k in set(got) | set(want) if got.get(k) != want.get(k)][:5]
        raise SystemExit(f"{database.name}: {table} disagrees with the generator's truth, e.g. "
                         f"{[(k, got.get(k), want.get(k)) for k in diff]}")


# ---------------------------------------------------------------- the bench

