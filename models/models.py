"""models: the models served by the Token Factory (dimension, full snapshots)."""
from models._contract import Col, Table

TABLE = Table(
    name="models", kind="dimension", key=("model_id",),
    columns=(Col("model_id", "id"), Col("display_name", "string"), Col("family", "string"), Col("updated_at", "timestamp")),
)
