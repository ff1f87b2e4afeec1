{# A failing row is a money or quantity column whose type is not DECIMAL (a float crept in).
   DESCRIBE only binds the query: nothing is computed, whatever the model (a view, or a test's
   `where` subquery). #}
{% test is_decimal(model, column_name) %}
select column_name, column_type
from (describe select * from {{ model }})
where column_name = '{{ column_name }}'
  and column_type not like 'DECIMAL%'
{% endtest %}
