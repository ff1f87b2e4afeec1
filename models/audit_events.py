"""audit_events: one global hash-chained sequence. The chain itself is verified in the warehouse
(a tampered row is evidence to report, not a row to drop)."""
from models._contract import Col, Table

TABLE = Table(
    name="audit_events", kind="event", key=("audit_id",),
    columns=(
        Col("audit_id", "id"), Col("seq", "int", min_value=1), Col("occurred_at", "timestamp"),
        Col("actor_type", "enum", values=("user", "service_account", "system")), Col("actor_id", "id"),
        Col("action", "string"), Col("resource_type", "string"), Col("resource_id", "id"),
        Col("organization_id", "id", nullable=True), Col("outcome", "enum", values=("success", "denied", "error")),
        Col("privileged", "bool"), Col("scope", "string", nullable=True), Col("correlation_id", "id"),
        Col("source_ip", "ip", nullable=True), Col("prev_hash", "hex64"), Col("row_hash", "hex64"),
    ),
    event_times=("occurred_at",),
    partition_time="occurred_at",
)
