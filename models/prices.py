"""prices: the price book; [effective_from, effective_to) says when a price applies."""

from models._contract import Col, Table, parsed

TABLE = Table(
    name="prices", kind="dimension", key=("price_id",),
    columns=(
        Col("price_id", "id"), Col("plan_id", "id"), Col("usage_unit", "id"), Col("model_id", "id", nullable=True),
        Col("unit_price", "decimal", min_value=0, below=10**6), Col("currency", "currency"),
        Col("effective_from", "timestamp"), Col("effective_to", "timestamp", nullable=True),
        Col("updated_at", "timestamp"),
    ),
    # An empty or inverted validity window would rate nothing, silently.
    row_checks=(
        ("out_of_range", lambda: parsed("effective_to") > parsed("effective_from")),
    ),
)
