{# A failing row is a money or quantity column whose type is not DECIMAL (a float crept in), or a
   column that is not there. Only the query's shape is read, never its rows: whatever the model (a
   view, or a test's `where` subquery), nothing is computed, and an empty model is checked too. #}
{% test is_decimal(model, column_name) %}
{{ column_type_failures(model, column_name, 'DECIMAL') }}
{% endtest %}
