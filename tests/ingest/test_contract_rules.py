"""One test per row-level value rule of oltp-export-v1, each with a row that breaks it.

These call the pandera contracts directly (no files, no DuckDB): fast by design."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from models import REASON_ORDER, TABLES
from models._contract import WRONG_NATIVE_TYPE
from pipelines.lib.ingest.validate import first_reasons
from tests.helpers import EVENT

EXPORTED = datetime(2026, 11, 2, 0, 5, tzinfo=UTC)

AUDIT = dict(audit_id="a1", seq="1", occurred_at="2026-11-01T10:00:00Z", actor_type="user", actor_id="u1",
             action="iam.role.grant", resource_type="role", resource_id="r1", organization_id=None,
             outcome="success", privileged="true", scope=None, correlation_id="c1", source_ip="10.0.0.1",
             prev_hash="0" * 64, row_hash="a" * 64)
STATUS = dict(component="billing.rating", check_name="http", observed_at="2026-11-01T10:00:00Z", status="ok",
              latency_ms="12.5", dlq_depth="0", outbox_lag_seconds=None, detail=None)
PRICE = dict(price_id="pr1", plan_id="plan_a", usage_unit="gpu_hour.h100", model_id=None, unit_price="2.500000",
             currency="USD", effective_from="2026-01-01T00:00:00Z", effective_to=None,
             updated_at="2026-01-01T00:00:00Z")


def reasons(table: str, *rows: dict) -> list[str | None]:
    t = TABLES[table]
    frame = pl.DataFrame([{c: r.get(c) for c in t.column_names} for r in rows],
                         schema={c: pl.String for c in t.column_names}
                         ).with_columns(pl.int_range(1, len(rows) + 1, dtype=pl.Int64).alias("_row_number"))
    found = dict(first_reasons(t, frame, EXPORTED).iter_rows())
    return [found.get(i) for i in range(1, len(rows) + 1)]


def test_a_valid_row_passes_every_rule():
    assert reasons("usage_events", EVENT) == [None]
    assert reasons("audit_events", AUDIT) == [None]
    assert reasons("status_events", STATUS) == [None]
    assert reasons("prices", PRICE) == [None]


@pytest.mark.parametrize(
    "table, base, change, reason",
    [
        ("usage_events", EVENT, {"organization_id": None}, "missing_value"),
        ("usage_events", EVENT, {"event_id": "has space"}, "bad_id"),
        ("usage_events", EVENT, {"event_id": "x" * 65}, "bad_id"),
        ("usage_events", EVENT, {"event_id": ""}, "bad_id"),  # a quoted "" is an empty string, not NULL
        ("usage_events", EVENT, {"occurred_at": "2026-11-01T10:00:00"}, "bad_timestamp"),  # no zone
        ("usage_events", EVENT, {"occurred_at": "2026-13-01T10:00:00Z"}, "bad_timestamp"),
        ("usage_events", EVENT, {"quantity": "1e3"}, "bad_decimal"),
        ("usage_events", EVENT, {"quantity": "1.0000000001"}, "bad_decimal"),  # 10 digits after the point
        ("usage_events", EVENT, {"quantity": "1234567890123456789"}, "bad_decimal"),  # 19 before
        ("usage_events", EVENT, {"quantity": WRONG_NATIVE_TYPE + "1.5"}, "bad_decimal"),  # a JSON number
        ("usage_events", EVENT, {"outbox_seq": "1.5"}, "bad_int"),
        ("audit_events", AUDIT, {"privileged": "yes"}, "bad_bool"),
        ("usage_events", EVENT, {"attributes": "{not json"}, "bad_json"),
        ("usage_events", EVENT, {"attributes": "[1, 2]"}, "bad_json"),  # JSON, but not an object
        ("status_events", STATUS, {"status": "up"}, "bad_enum"),
        ("prices", PRICE, {"currency": "usd"}, "bad_enum"),
        ("usage_events", EVENT, {"quantity": "-0.000001"}, "negative_quantity"),
        ("usage_events", EVENT, {"quantity": "1000000000000"}, "out_of_range"),  # quantity < 10^12
        ("usage_events", EVENT, {"quantity": "123456789012345678.5"}, "out_of_range"),  # a valid decimal, too big
        ("prices", PRICE, {"unit_price": "1000000"}, "out_of_range"),  # unit_price < 10^6
        ("prices", PRICE, {"effective_to": "2025-01-01T00:00:00Z"}, "out_of_range"),  # window ends before it starts
        ("audit_events", AUDIT, {"seq": "0"}, "out_of_range"),
        ("audit_events", AUDIT, {"source_ip": "300.1.1.1"}, "out_of_range"),
        ("usage_events", EVENT, {"recorded_at": "2026-11-01T09:59:59Z"}, "recorded_before_occurred"),
        ("usage_events", EVENT, {"occurred_at": "1999-12-31T23:59:59Z", "recorded_at": "1999-12-31T23:59:59Z"},
         "implausible_timestamp"),
        ("usage_events", EVENT, {"recorded_at": "2026-11-02T00:10:01Z"}, "implausible_timestamp"),  # > +5 min
        ("status_events", STATUS, {"observed_at": "2027-01-01T00:00:00Z"}, "implausible_timestamp"),
    ],
)
def test_each_rule_quarantines_a_row_that_breaks_it(table, base, change, reason):
    assert reasons(table, base, dict(base, **change)) == [None, reason]


def test_edges_that_are_valid():
    ok = [
        {"quantity": "0"}, {"quantity": "999999999999.999999999"},
        {"occurred_at": "2026-11-01T12:00:00+02:00", "recorded_at": "2026-11-01T10:00:05Z"},
        {"recorded_at": "2026-11-02T00:10:00Z"},  # exactly exported_at + 5 minutes
        {"event_id": "A-z_0.9:x"}, {"attributes": None}, {"api_key_id": None},
    ]
    assert reasons("usage_events", *[dict(EVENT, **o) for o in ok]) == [None] * len(ok)


def test_a_row_failing_several_rules_gets_the_first_reason_in_contract_order():
    row = dict(EVENT, event_id="bad id", quantity="-1", recorded_at="2026-10-01T00:00:00Z", organization_id=None)
    assert reasons("usage_events", row) == ["missing_value"]
    row = dict(EVENT, quantity="-1", recorded_at="2026-10-01T00:00:00Z")
    assert reasons("usage_events", row) == ["negative_quantity"]
    assert REASON_ORDER.index("negative_quantity") < REASON_ORDER.index("recorded_before_occurred")


def test_every_table_has_a_contract_with_its_key_first():
    assert len(TABLES) == 14
    for name, table in TABLES.items():
        assert table.column_names[: len(table.key)] == list(table.key) or name == "status_events"
