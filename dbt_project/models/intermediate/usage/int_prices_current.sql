-- The price book rating uses: the latest version of each price row; a deleted price rates nothing.
with versions as (
    select * from {{ ref('int_prices_versioned') }}
),

final as (
    select
        price_id,
        plan_id,
        usage_unit,
        model_id,
        unit_price,
        currency,
        effective_from,
        effective_to
    from versions
    where is_latest_version and deleted_at is null
)

select * from final
