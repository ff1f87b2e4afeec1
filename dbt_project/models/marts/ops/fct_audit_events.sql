-- The audit trail with its chain verified, in seq order. row_hash is recomputed by the contract's
-- formula: sha256 of prev_hash|seq|audit_id|occurred_at (UTC, six fractional digits)|actor_type|
-- actor_id|action|resource_type|resource_id|organization_id|outcome|privileged, a null as ''.
-- hash_mismatch: the recomputed hash differs; else chain_break: prev_hash differs from the stored
-- row_hash of the previous row present (so a missing seq breaks the chain at the next row); the
-- first row present breaks only when it is seq 1 without 64 zeros.
--
-- Incremental by block of the chain (seq div audit_chain_block_seqs): a run rebuilds the blocks
-- from the one holding the first link of the batches loaded since its last build to the last
-- (int_audit_affected_blocks), the verified prefix kept; the link before the first rebuilt block
-- is read from that prefix, and is the first rebuilt link's previous row. Every block on a first
-- build or --full-refresh. chain_block and _watermark are the warehouse's columns. A table blocked
-- by another block size (the var, or ANALYTICS_AUDIT_CHAIN_BLOCK_SEQS) stops the build.
{{ config(materialized='incremental',
          incremental_strategy='insert_overwrite' if target.type == 'spark' else 'delete+insert',
          unique_key='chain_block', partition_by=['chain_block'], file_format='parquet',
          affected_days='int_audit_affected_blocks', on_schema_change='fail') }}
{%- set before = none %}
{#- a table from before it was incremental (no chain_block) is left to dbt's schema check, which stops
    the build and asks for --full-refresh -#}
{%- if is_incremental() and execute
      and 'chain_block' in adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list %}
    {%- set misplaced = run_query("select count(*) from " ~ this ~ " where chain_block <> "
                                  ~ audit_chain_block('seq')).columns[0].values()[0] %}
    {%- if misplaced > 0 %}
        {{ exceptions.raise_compiler_error("fct_audit_events was built with another audit_chain_block_seqs than "
                                           ~ var('audit_chain_block_seqs') ~ " (" ~ misplaced
                                           ~ " rows in another block): rebuild it with --full-refresh") }}
    {%- endif %}
    {%- set rows = run_query(
        "select seq, row_hash from " ~ this ~ " where chain_block < (select min(chain_block) from "
        ~ ref('int_audit_affected_blocks') ~ ") order by seq desc, audit_id desc limit 1").rows %}
    {%- if rows | length > 0 %}
        {%- if not modules.re.fullmatch('[0-9a-f]{64}', rows[0][1] | string) %}
            {{ exceptions.raise_compiler_error("fct_audit_events: the row_hash kept for seq " ~ rows[0][0]
                                               ~ " is not 64 hex digits; rebuild with --full-refresh") }}
        {%- endif %}
        {%- set before = rows[0][1] %}
    {%- endif %}
{%- endif %}
{%- set chained_text -%}
    concat_ws('|',
        prev_hash, cast(seq as string), audit_id, {{ utc_text_micros('occurred_at') }},
        actor_type, actor_id, action, resource_type, resource_id, coalesce(organization_id, ''), outcome,
        case when privileged then 'true' else 'false' end)
{%- endset %}

-- affected is read on an incremental run only
with affected as (  -- noqa: ST03
    select chain_block from {{ ref('int_audit_affected_blocks') }}
),

audit as (
    select * from {{ ref('stg_oltp__audit_events') }}
    {%- if is_incremental() %}
        where seq >= (select min(chain_block) from affected) * {{ var('audit_chain_block_seqs') }}
    {%- endif %}
),

hashed as (
    select
        *,
        {{ sha256_hex(chained_text) }} as recomputed_hash,
        case
            when row_number() over (order by seq, audit_id) = 1
                then {{ "'" ~ before ~ "'" if before else "cast(null as string)" }}
            else lag(row_hash) over (order by seq, audit_id)
        end as previous_row_hash,
        row_number() over (order by seq, audit_id){{ " + 1" if before }} as chain_position
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
        {{ audit_chain_block('seq') }} as chain_block,
        (select max(b.changed_seq) from {{ ref('int_audit_changed_batches') }} as b) as _watermark,
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
