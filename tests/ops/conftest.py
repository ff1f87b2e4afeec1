"""Small hand-built operations feeds, ingested and built with the real dbt project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipelines.lib.config import Settings
from tests.helpers import write_batch
from tests.warehouse.conftest import build, ingest
from tools.generator import audit_row_hash, ts

NEWEST = datetime(2026, 11, 10, tzinfo=UTC)
EXPORTED = "2026-11-10T00:05:00Z"
AS_OF = NEWEST + timedelta(minutes=5)  # the newest exported_at: what rotation is measured against
BID = "20261110T000500Z-000001"


def probe(component, k, status="ok", latency="20", check="http"):
    """The k-th probe before the newest (k = 0 is the newest), every 5 minutes over 72 hours."""
    return dict(component=component, check_name=check, observed_at=ts(NEWEST - timedelta(minutes=5 * k)),
                status=status, latency_ms=latency, dlq_depth=None, outbox_lag_seconds=None, detail=None)


def feed() -> list[dict]:
    rows = []
    for k in range(864):  # 72 hours of probes, the newest at k = 0
        rows.append(probe("svc.page", k, "down" if k < 6 else "ok"))  # down for the last 30 minutes
        rows.append(probe("svc.old", k, "down" if 400 <= k < 412 else "ok"))  # an hour down, ~33 h ago
        rows.append(probe("svc.ticket", k, "down" if k < 288 and k % 12 == 6 else "ok"))  # one bad probe an hour
        rows.append(probe("svc.degraded", k, "degraded" if k < 12 else "ok",
                          latency="300" if k % 4 == 0 else "100"))  # degraded counts as good
    return rows


def setup(root, tables: dict, mp, config_dir=None, select=None):
    mp.setenv("ANALYTICS_EXPORTS_DIR", str(root / "exports"))
    mp.setenv("ANALYTICS_DATA_DIR", str(root / "data"))
    if config_dir:
        mp.setenv("ANALYTICS_CONFIG_DIR", str(config_dir))
    settings = Settings.from_env()
    write_batch(settings.exports_dir, BID, tables, exported_at=EXPORTED)
    ingest(settings)
    build(settings.data_dir, *(["--select", select, "--indirect-selection", "cautious"] if select else []))
    return settings


def credential(cid, **kw):
    base = dict(credential_id=cid, purpose=cid, kind="secret", owner_component="iam.facade", issued_at=None,
                expires_at=None, rotated_at=None, rotation_period_days="90", revoked_at=None, updated_at=ts(NEWEST))
    return {**base, **{k: (ts(AS_OF + timedelta(days=v)) if isinstance(v, (int, float)) else v) for k, v in kw.items()}}


CREDENTIALS = [
    credential("c_ok", issued_at=-10.04),  # 10 days old of 90: ok
    credential("c_due_rotation", issued_at=-80),  # rotation due in 10 days: due_soon
    credential("c_due_expiry", issued_at=-1, expires_at=5.5),  # expires in 5.5 days: due_soon
    credential("c_overdue", issued_at=-300, rotated_at=-100, expires_at=5),  # overdue beats due_soon
    credential("c_expired", issued_at=-300, rotated_at=-200, expires_at=-1),  # expired beats overdue
    credential("c_revoked", issued_at=-300, expires_at=-1, revoked_at=-2),  # revoked beats expired
    credential("c_expires_now", issued_at=-1, expires_at=0),  # at expires_at, not past it: due_soon
]


def chain(n=6) -> list[dict]:
    rows, prev = [], "0" * 64
    for seq in range(1, n + 1):
        r = dict(audit_id=f"a{seq}", seq=str(seq), occurred_at=ts(NEWEST - timedelta(hours=n - seq, microseconds=-7)),
                 actor_type="user", actor_id=f"u{seq % 2}", action="iam.role.grant", resource_type="role",
                 resource_id=f"r{seq}", organization_id=None if seq % 2 else "o1", outcome="success",
                 privileged="true" if seq % 3 == 0 else "false", scope=None, correlation_id=f"c{seq}",
                 source_ip="10.0.0.1", prev_hash=prev)
        r["row_hash"] = audit_row_hash(r)
        prev = r["row_hash"]
        rows.append(r)
    return rows


@pytest.fixture(scope="package")
def ops(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    settings = setup(tmp_path_factory.mktemp("ops"), {"status_events": feed(), "credentials": CREDENTIALS,
                                                      "audit_events": chain()}, mp)
    yield settings
    mp.undo()
