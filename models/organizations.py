"""organizations: the tenant (dimension, full snapshots)."""
from models._contract import Col, Table

TABLE = Table(
    name="organizations", kind="dimension", key=("organization_id",),
    columns=(
        Col("organization_id", "id"), Col("name", "string"), Col("plan_id", "id"),
        Col("billing_currency", "currency"), Col("created_at", "timestamp"), Col("updated_at", "timestamp"),
    ),
)
