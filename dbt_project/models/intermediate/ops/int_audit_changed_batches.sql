-- Every (batch_id, day, changed_seq): an audit_events batch, a UTC day of its records, and the
-- newest load that wrote them (ops.load_sequence: an order no clock decides). fct_audit_events
-- re-verifies the chain from the first link of the batches loaded since its last build
-- (int_audit_affected_blocks).
{{ touched_loads('audit_events') }}
