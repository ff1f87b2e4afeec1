-- API keys with history.
{{ dimension_history(
    'api_keys',
    ['api_key_id'],
    [
        'project_id',
        'service_account_id',
        'label',
        'created_at',
        'revoked_at'
    ]
) }}
