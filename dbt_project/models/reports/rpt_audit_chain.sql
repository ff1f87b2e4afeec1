-- One row: is the audit chain intact? verified only when no seq is missing, no row's hash differs
-- and no link is broken.
with audit as (
    select * from {{ ref('fct_audit_events') }}
),

final as (
    select
        count(*) as rows_checked,
        min(seq) as first_seq,
        max(seq) as last_seq,
        coalesce(max(seq) - min(seq) + 1 - count(distinct seq), 0) as missing_seqs,
        count(*) filter (where chain_status = 'hash_mismatch') as hash_mismatches,
        count(*) filter (where chain_status = 'chain_break') as chain_breaks,
        coalesce(max(seq) - min(seq) + 1 - count(distinct seq), 0) = 0
        and count(*) filter (where chain_status <> 'valid') = 0 as verified
    from audit
)

select * from final
