{#
  Money and quantities keep every digit on both engines. Spark lowers the scale of a DECIMAL
  product or difference whose exact type would need more than 38 digits (decimal(38,9) x
  decimal(38,9) is decimal(38,6) there, decimal(38,18) on DuckDB): the operands are narrowed first
  to what the export contract allows (oltp-export-v1: a quantity below 10^12, a unit price below
  10^6, 9 decimals; an amount at most 18 digits before the point), so the exact result fits, and
  the result is cast to the column's type, the same on both engines. With ANSI mode on (Spark) and
  by default (DuckDB), a value beyond those bounds fails the build instead of losing digits.
#}

{# quantity x unit_price at full precision: DECIMAL(38,18). #}
{% macro rated_amount(quantity, unit_price) -%}
    cast(cast({{ quantity }} as decimal(21, 9)) * cast({{ unit_price }} as decimal(15, 9)) as decimal(38, 18))
{%- endmacro %}

{# a - b for amounts of at most 9 decimals (a ledger sum, a rated amount in cents): DECIMAL(38,9). #}
{% macro money_difference(a, b) -%}
    cast(cast({{ a }} as decimal(28, 9)) - cast({{ b }} as decimal(28, 9)) as decimal(38, 9))
{%- endmacro %}

{# A sum of money at `scale` decimals: DECIMAL(38, scale) on both engines. #}
{% macro money_sum(x, scale) -%}
    cast(sum({{ x }}) as decimal(38, {{ scale }}))
{%- endmacro %}

{# An amount of at most 18 digits before the point and 18 decimals in cents, exactly: DECIMAL(38,16)
   on both engines (decimal(36,18) x decimal(3,0): DuckDB's exact product is decimal(38,18), and
   Spark keeps the 16 decimals the shift leaves). Its floor is the whole cents. #}
{% macro amount_in_cents(x) -%}
    cast(cast({{ x }} as decimal(36, 18)) * cast(100 as decimal(3, 0)) as decimal(38, 16))
{%- endmacro %}
