-- Credentials with history.
{{ dimension_history(
    'credentials',
    ['credential_id'],
    [
        'purpose',
        'kind',
        'owner_component',
        'issued_at',
        'expires_at',
        'rotated_at',
        'rotation_period_days',
        'revoked_at'
    ]
) }}
