-- Departments with history (a tree inside one organization).
{{ dimension_history('departments', ['department_id'], ['organization_id', 'parent_department_id', 'name']) }}
