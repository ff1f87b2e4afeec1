"""departments: a tree inside one organization (dimension, full snapshots)."""
from models._contract import Col, Table

TABLE = Table(
    name="departments", kind="dimension", key=("department_id",),
    columns=(
        Col("department_id", "id"), Col("organization_id", "id"),
        Col("parent_department_id", "id", nullable=True), Col("name", "string"), Col("updated_at", "timestamp"),
    ),
)
