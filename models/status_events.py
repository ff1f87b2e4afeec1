"""status_events: the Status/Ops probe feed, about one probe a minute per component and check."""
from models._contract import Col, Table

TABLE = Table(
    name="status_events", kind="event", key=("component", "check_name", "observed_at"),
    columns=(
        Col("component", "id"), Col("check_name", "id"), Col("observed_at", "timestamp"),
        Col("status", "enum", values=("ok", "degraded", "down")),
        Col("latency_ms", "decimal", nullable=True, min_value=0), Col("dlq_depth", "int", nullable=True, min_value=0),
        Col("outbox_lag_seconds", "decimal", nullable=True, min_value=0), Col("detail", "json", nullable=True),
    ),
    event_times=("observed_at",),
    partition_time="observed_at",
)
