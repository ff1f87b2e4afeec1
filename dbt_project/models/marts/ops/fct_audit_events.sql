-- The audit trail with its chain verified, in seq order. row_hash is recomputed by the contract's
-- formula: sha256 of prev_hash|seq|audit_id|occurred_at (UTC, six fractional digits)|actor_type|
-- actor_id|action|resource_type|resource_id|organization_id|outcome|privileged, a null as ''.
-- hash_mismatch: the recomputed hash differs; else chain_break: prev_hash differs from the stored
-- row_hash of the previous row present (so a missing seq breaks the chain at the next row); the
-- first row present breaks only when it is seq 1 without 64 zeros.
{%- set chained_text -%}
    concat_ws('|',
        prev_hash, cast(seq as string), audit_id, {{ utc_text_micros('occurred_at') }},
        actor_type, actor_id, action, resource_type, resource_id, coalesce(organization_id, ''), outcome,
        case when privileged then 'true' else 'false' end)
{%- endset %}

with audit as (
    select * from {{ ref('stg_oltp__audit_events') }}
),

hashed as (
    select
        *,
        {{ sha256_hex(chained_text) }} as recomputed_hash,
        lag(row_hash) over (order by seq, audit_id) as previous_row_hash,
        row_number() over (order by seq, audit_id) as chain_position
    from audit
),

final as (
    select
        audit_id,
        seq,
        occurred_at,
        actor_type,
        actor_id,
        action,
        resource_type,
        resource_id,
        organization_id,
        outcome,
        privileged,
        scope,
        correlation_id,
        source_ip,
        prev_hash,
        row_hash,
        recomputed_hash,
        batch_id,
        case
            when recomputed_hash <> row_hash then 'hash_mismatch'
            when chain_position = 1
                then
                    case when seq = 1 and prev_hash <> repeat('0', 64) then 'chain_break' else 'valid' end
            when prev_hash <> previous_row_hash then 'chain_break'
            else 'valid'
        end as chain_status
    from hashed
)

select * from final
