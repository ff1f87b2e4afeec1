-- Token Factory models with history.
{{ dimension_history('models', ['model_id'], ['display_name', 'family']) }}
