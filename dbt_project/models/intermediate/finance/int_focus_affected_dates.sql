-- The charge dates rpt_focus_charges rebuilds in this run: days changed after the newest change it
-- reflects (ops.dbt_builds). Every day on a full refresh or before its first recorded build
-- (macros/engine/incremental.sql).
{{ affected_days_sql('focus') }}
