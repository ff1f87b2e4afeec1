"""provider_inventory: the provider's own listing. A batch holds the full listing of each provider
in it; a provider absent from a batch keeps its last listing."""
from models._contract import Col, Table

TABLE = Table(
    name="provider_inventory", kind="dimension", key=("provider", "provider_resource_id"),
    columns=(
        Col("provider", "id"), Col("provider_resource_id", "id"), Col("observed_at", "timestamp"),
        Col("state", "enum", values=("running", "stopped", "terminated")),
        Col("gpu_type", "id", nullable=True), Col("runtime_tag", "id", nullable=True), Col("project_tag", "id", nullable=True),
    ),
)
