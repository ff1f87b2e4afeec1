"""api_keys: never holds key material (dimension, full snapshots)."""
from models._contract import Col, Table

TABLE = Table(
    name="api_keys", kind="dimension", key=("api_key_id",),
    columns=(
        Col("api_key_id", "id"), Col("project_id", "id"), Col("service_account_id", "id", nullable=True),
        Col("label", "string"), Col("created_at", "timestamp"),
        Col("revoked_at", "timestamp", nullable=True), Col("updated_at", "timestamp"),
    ),
)
