-- Effective usage over every day; the logic and its rules: macros/usage_events.sql.
{{ corrected_usage_events() }}
