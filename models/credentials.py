"""credentials: purpose and lifecycle of certificates, secrets and signing keys (never the material)."""
from models._contract import Col, Table

TABLE = Table(
    name="credentials", kind="dimension", key=("credential_id",),
    columns=(
        Col("credential_id", "id"), Col("purpose", "string"),
        Col("kind", "enum", values=("certificate", "secret", "signing_key")), Col("owner_component", "id"),
        Col("issued_at", "timestamp"), Col("expires_at", "timestamp", nullable=True),
        Col("rotated_at", "timestamp", nullable=True), Col("rotation_period_days", "int", min_value=1),
        Col("revoked_at", "timestamp", nullable=True), Col("updated_at", "timestamp"),
    ),
)
