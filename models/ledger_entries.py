"""ledger_entries: what the billing system posted (append-only)."""
from models._contract import Col, Table

TABLE = Table(
    name="ledger_entries", kind="event", key=("entry_id",),
    columns=(
        Col("entry_id", "id"), Col("organization_id", "id"), Col("project_id", "id", nullable=True),
        Col("usage_unit", "id", nullable=True), Col("model_id", "id", nullable=True), Col("charge_date", "date"),
        Col("quantity", "decimal", nullable=True), Col("amount", "decimal"), Col("currency", "currency"),
        Col("entry_type", "enum", values=("usage_charge", "credit", "refund", "adjustment")),
        Col("posted_at", "timestamp"), Col("reverses_entry_id", "id", nullable=True),
    ),
    event_times=("posted_at",),
    partition_time="posted_at",
)
