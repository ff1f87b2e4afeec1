-- The platform's runtime instances with history.
{{ dimension_history(
    'runtime_instances',
    ['runtime_id'],
    [
        'project_id',
        'product',
        'provider',
        'provider_resource_id',
        'gpu_type',
        'state',
        'started_at',
        'ended_at'
    ]
) }}
