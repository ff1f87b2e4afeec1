-- Rated usage over every day; the logic and its rules: macros/usage_events.sql.
{{ rated_usage_events(ref('int_usage_events_corrected')) }}
