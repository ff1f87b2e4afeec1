-- The ledger side of the usage reconciliation: unreversed usage_charge lines. A line named by
-- another entry's reverses_entry_id does not count, nor does the reversing entry.
with entries as (
    select * from {{ ref('stg_oltp__ledger_entries') }}
),

reversed as (
    select distinct reverses_entry_id as entry_id
    from entries
    where reverses_entry_id is not null
),

final as (
    select e.*
    from entries as e
    where
        e.entry_type = 'usage_charge'
        and e.reverses_entry_id is null
        and e.entry_id not in (select r.entry_id from reversed as r)
)

select * from final
