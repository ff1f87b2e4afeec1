"""runtime_instances: the platform's view of what runs (dimension, full snapshots)."""
from models._contract import Col, Table
from models.usage_units import PRODUCTS

TABLE = Table(
    name="runtime_instances", kind="dimension", key=("runtime_id",),
    columns=(
        Col("runtime_id", "id"), Col("project_id", "id"), Col("product", "enum", values=PRODUCTS),
        Col("provider", "id"), Col("provider_resource_id", "id", nullable=True), Col("gpu_type", "id", nullable=True),
        Col("state", "enum", values=("provisioning", "running", "stopped", "terminated")),
        Col("started_at", "timestamp"), Col("ended_at", "timestamp", nullable=True), Col("updated_at", "timestamp"),
    ),
)
