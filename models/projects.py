"""projects: department_id may change between snapshots (dimension, full snapshots)."""
from models._contract import Col, Table

TABLE = Table(
    name="projects", kind="dimension", key=("project_id",),
    columns=(
        Col("project_id", "id"), Col("organization_id", "id"), Col("department_id", "id"),
        Col("name", "string"), Col("created_at", "timestamp"),
        Col("archived_at", "timestamp", nullable=True), Col("updated_at", "timestamp"),
    ),
)
