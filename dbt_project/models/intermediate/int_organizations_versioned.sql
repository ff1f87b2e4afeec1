-- Organizations with history: rating uses the plan in force when the usage occurred.
{{ dimension_history('organizations', ['organization_id'], ['name', 'plan_id', 'billing_currency', 'created_at']) }}
