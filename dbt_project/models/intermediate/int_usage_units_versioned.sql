-- The usage-unit registry with history: a new unit is a new row, never new code.
{{ dimension_history(
    'usage_units',
    ['usage_unit'],
    [
        'product',
        'unit_of_measure',
        'description',
        'registry_version'
    ]
) }}
