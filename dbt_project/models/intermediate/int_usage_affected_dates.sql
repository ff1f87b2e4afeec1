-- The days the incremental usage marts rebuild in this run: days changed after the oldest change
-- the usage marts reflect (ops.dbt_builds). Every day on a full refresh, or before every usage
-- mart was recorded built (macros/engine/incremental.sql).
{{ affected_days_sql('usage') }}
