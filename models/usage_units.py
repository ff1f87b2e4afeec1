"""usage_units: the usage-unit registry; a new unit is a new row, never new code."""
from models._contract import Col, Table

PRODUCTS = ("gpuaas", "app_platform", "token_factory")

TABLE = Table(
    name="usage_units", kind="dimension", key=("usage_unit",),
    columns=(
        Col("usage_unit", "id"), Col("product", "enum", values=PRODUCTS), Col("unit_of_measure", "string"),
        Col("description", "string"), Col("registry_version", "int"), Col("updated_at", "timestamp"),
    ),
)
