-- The chain blocks fct_audit_events rebuilds in this run (a block is the links of seq div
-- audit_chain_block_seqs): every block from the block of the first link among the batches loaded
-- since its last build to the last one, so a link that arrives late re-verifies the chain from
-- where it fits. Every block on a first build or --full-refresh (macros/engine/incremental.sql).
with changed as (
    {{ affected_days_sql('audit', select='batch_id') }}
),

audit as (
    select
        batch_id,
        seq
    from {{ ref('stg_oltp__audit_events') }}
),

first_link as (
    select min(a.seq) as seq
    from audit as a
    where a.batch_id in (select c.batch_id from changed as c)
),

final as (
    select distinct {{ audit_chain_block('a.seq') }} as chain_block
    from audit as a
    where a.seq >= {{ audit_chain_block_start('(select seq from first_link)') }}
)

select * from final
