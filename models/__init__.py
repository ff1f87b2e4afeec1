"""The pandera contracts of the OLTP export (one module per export table, named like the table).

Not to be confused with dbt_project/models/, which holds the warehouse's SQL models.
"""

from models import (
    api_keys, audit_events, credentials, departments, ledger_entries, models, organizations, prices,
    projects, provider_inventory, runtime_instances, status_events, usage_events, usage_units,
)
from models._contract import REASON_ORDER, Col, Table, reason_rank

TABLES: dict[str, Table] = {
    m.TABLE.name: m.TABLE
    for m in (
        organizations, departments, projects, api_keys, models, usage_units, prices, credentials,
        runtime_instances, provider_inventory, usage_events, ledger_entries, audit_events, status_events,
    )
}

# Dimensions first: references in this batch's events are checked against this batch's snapshots.
LOAD_ORDER = [n for n, t in TABLES.items() if t.kind == "dimension"] + [
    n for n, t in TABLES.items() if t.kind == "event"
]

__all__ = ["TABLES", "LOAD_ORDER", "REASON_ORDER", "Col", "Table", "reason_rank"]
