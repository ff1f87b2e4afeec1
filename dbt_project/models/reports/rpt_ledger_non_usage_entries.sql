-- Credits, refunds and adjustments that reverse nothing: money finance reviews on its own, never
-- a reconciliation break.
with entries as (
    select * from {{ ref('stg_oltp__ledger_entries') }}
),

final as (
    select
        entry_id,
        organization_id,
        project_id,
        entry_type,
        charge_date,
        usage_unit,
        model_id,
        quantity,
        amount,
        currency,
        posted_at,
        batch_id
    from entries
    where entry_type <> 'usage_charge' and reverses_entry_id is null
)

select * from final
