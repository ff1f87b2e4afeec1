-- Price book rows with history; rating uses each row's latest version (see int_prices_current).
{{ dimension_history(
    'prices',
    ['price_id'],
    [
        'plan_id',
        'usage_unit',
        'model_id',
        'unit_price',
        'currency',
        'effective_from',
        'effective_to'
    ]
) }}
