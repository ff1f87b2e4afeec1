{#
  Round a DECIMAL half-even (banker's rounding) to `scale` places, exactly.
  DuckDB's ROUND and DECIMAL casts round half away from zero, and round_even goes through DOUBLE:
  neither is right for money. This works on the exact value: shift, truncate, look at what was cut
  off, and on an exact tie move to the even neighbour. No division (DECIMAL / INT is DOUBLE here).
#}
{% macro round_half_even(x, scale=2) -%}
    {{ return(adapter.dispatch('round_half_even')(x, scale)) }}
{%- endmacro %}

{% macro duckdb__round_half_even(x, scale=2) -%}
    {%- set shifted = "((" ~ x ~ ") * " ~ (10 ** scale) ~ ")" -%}
    {%- set kept = "trunc(" ~ shifted ~ ")" -%}
    {%- set cut = "abs(" ~ shifted ~ " - " ~ kept ~ ")" -%}
    (case
        when {{ cut }} > 0.5 then {{ kept }} + sign({{ x }})
        when {{ cut }} = 0.5 and {{ kept }} % 2 <> 0 then {{ kept }} + sign({{ x }})
        else {{ kept }}
     end * {{ "0." ~ ("0" * (scale - 1)) ~ "1" if scale > 0 else "1" }})::decimal(38, {{ scale }})
{%- endmacro %}


{# Spark's bround is exact half-even on a DECIMAL. #}
{% macro spark__round_half_even(x, scale=2) -%}
    cast(bround({{ x }}, {{ scale }}) as decimal(38, {{ scale }}))
{%- endmacro %}
