"""usage_events: append-only, delivered at least once; event_id is the idempotency key.

References (organization, project, api key, model, unit) and duplicates need other rows and
other batches: they are checked in DuckDB at load time (pipelines/lib/ingest/decide.py), not here."""

from models._contract import Col, Table, parsed

TABLE = Table(
    name="usage_events", kind="event", key=("event_id",),
    columns=(
        Col("event_id", "id"), Col("outbox_seq", "int"), Col("occurred_at", "timestamp"),
        Col("recorded_at", "timestamp"), Col("organization_id", "id"), Col("project_id", "id"),
        Col("api_key_id", "id", nullable=True), Col("model_id", "id", nullable=True),
        Col("resource_id", "id", nullable=True), Col("usage_unit", "id"),
        Col("quantity", "decimal", non_negative=True, below=10**12), Col("correction_of", "id", nullable=True),
        Col("attributes", "json", nullable=True),
    ),
    event_times=("occurred_at", "recorded_at"),
    partition_time="occurred_at",
    row_checks=(
        ("recorded_before_occurred",
         lambda: parsed("recorded_at") >= parsed("occurred_at")),
    ),
)
