{# A failing row is a money or quantity column whose type is not DECIMAL (a float crept in). #}
{% test is_decimal(model, column_name) %}
select column_name, data_type
from information_schema.columns
where table_schema = '{{ model.schema }}'
  and table_name = '{{ model.identifier }}'
  and column_name = '{{ column_name }}'
  and data_type not like 'DECIMAL%'
{% endtest %}
