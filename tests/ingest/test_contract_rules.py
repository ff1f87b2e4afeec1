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
        # v1.2: digits are 0-9; any other Unicode digit is malformed, never loaded as NULL
        ("usage_events", EVENT, {"quantity": "\uff11\uff12.\uff15"}, "bad_decimal"),  # fullwidth 12.5
        ("usage_events", EVENT, {"quantity": "\u0663"}, "bad_decimal"),  # Arabic-Indic 3
        ("usage_events", EVENT, {"quantity": "\u0967\u0966\u0966"}, "bad_decimal"),  # Devanagari 100
        ("usage_events", EVENT, {"outbox_seq": "\u0663"}, "bad_int"),
        ("usage_events", EVENT, {"occurred_at": "\uff12026-11-01T10:00:00Z"}, "bad_timestamp"),
        ("status_events", STATUS, {"latency_ms": "\uff11\uff12"}, "bad_decimal"),
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


def test_a_credentials_rotation_period_in_other_digits_is_bad_int_not_null():
    """An overdue credential must never be published as ok because its period loaded as NULL."""
    cred = dict(credential_id="c1", purpose="p", kind="secret", owner_component="billing",
                issued_at="2026-01-01T00:00:00Z", expires_at=None, rotated_at=None, rotation_period_days="\uff19\uff10",
                revoked_at=None, updated_at="2026-01-01T00:00:00Z")
    assert reasons("credentials", cred) == ["bad_int"]
    assert reasons("credentials", dict(cred, rotation_period_days="90")) == [None]


@pytest.mark.parametrize("table, column", [(t.name, c.name) for t in TABLES.values() for c in t.columns
                                           if c.type in ("decimal", "int")])
def test_every_number_column_refuses_every_non_ascii_digit(table, column):
    """Every decimal and int column's rules, given each Unicode decimal digit that is not 0-9 (every
    script's), twice: every value fails the column's type rule; ASCII digits pass it."""
    import sys
    import unicodedata

    import pandera.polars as pa

    digits = [chr(c) for c in range(0x80, sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Nd"]
    col = next(c for c in TABLES[table].columns if c.name == column)
    rule = "bad_decimal" if col.type == "decimal" else "bad_int"
    schema = pa.DataFrameSchema({column: pa.Column(pl.String, nullable=True,
                                                   checks=[c for c in col.checks() if c.name == rule])})

    def frame(values):  # with the parsed twin the rules read (Table.with_parsed)
        f = pl.DataFrame({column: values}, schema={column: pl.String})
        return f.with_columns(col.parse()) if col.parse() is not None else f

    with pytest.raises(pa.errors.SchemaErrors) as failed:
        schema.validate(frame([d * 2 for d in digits]), lazy=True)
    assert failed.value.failure_cases["index"].n_unique() == len(digits) > 600
    schema.validate(frame(["12", "-7", "0"]))
