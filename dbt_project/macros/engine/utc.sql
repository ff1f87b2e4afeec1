{#
  The UTC day and the UTC hour of a TIMESTAMPTZ, by epoch arithmetic.
  With the session in UTC, `ts::date` and `date_trunc('hour', ts)` give the same values, but DuckDB
  computes them through ICU's time zone calendar, an order of magnitude slower (docs/benchmark.md).
  Here the instant's microseconds since the epoch are read as a plain TIMESTAMP (UTC wall clock),
  truncated there, and turned back: exact for every instant (before 1970 too) and whatever the
  session's zone. Used where every usage event (and ledger entry) goes through it; tests/warehouse/test_utc_macros.py
  holds them equal to the ICU casts.
#}
{% macro utc_date(ts) -%}
    {{ return(adapter.dispatch('utc_date')(ts)) }}
{%- endmacro %}

{% macro duckdb__utc_date(ts) -%}
    make_timestamp(epoch_us({{ ts }}))::date
{%- endmacro %}

{% macro utc_hour(ts) -%}
    {{ return(adapter.dispatch('utc_hour')(ts)) }}
{%- endmacro %}

{% macro duckdb__utc_hour(ts) -%}
    make_timestamptz(epoch_us(date_trunc('hour', make_timestamp(epoch_us({{ ts }})))))
{%- endmacro %}

{# Spark's TIMESTAMP is an instant shown in the session zone, which the profile pins to UTC. #}
{% macro spark__utc_date(ts) -%}
    cast({{ ts }} as date)
{%- endmacro %}

{% macro spark__utc_hour(ts) -%}
    date_trunc('HOUR', {{ ts }})
{%- endmacro %}
