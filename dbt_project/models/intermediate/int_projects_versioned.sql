-- Projects with history: usage is attributed to the department of the project when it occurred.
{{ dimension_history(
    'projects',
    ['project_id'],
    [
        'organization_id',
        'department_id',
        'name',
        'created_at',
        'archived_at'
    ]
) }}
