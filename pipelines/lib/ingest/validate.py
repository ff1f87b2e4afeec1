"""Row-level value rules: run a table's pandera contract and keep, per row, the first reason."""

from __future__ import annotations

from datetime import datetime

import pandera.polars as pa
import polars as pl

from models import REASON_ORDER, Table
from pipelines.lib.lake import ROW

REASON = "reason"
CHUNK_ROWS = 250_000  # pandera materializes failure cases: bound their size on large files

_PANDERA_REASONS = {"not_nullable": "missing_value", "column_in_dataframe": "missing_value"}


def first_reasons(table: Table, frame: pl.DataFrame, exported_at: datetime | None) -> pl.DataFrame:
    """Validate text rows (parsed twins included or not: `Table.with_parsed`) against the table's contract.

    Returns one row per failing input row: (_row_number, reason), the reason being the first in
    the warehouse contract's order among all the checks the row fails.
    """
    schema = table.schema(exported_at)
    out = []
    for offset in range(0, frame.height, CHUNK_ROWS):
        chunk = frame.slice(offset, CHUNK_ROWS)
        try:
            schema.validate(table.with_parsed(chunk).select([*table.column_names, *table.parsed_names]), lazy=True)
            continue
        except pa.errors.SchemaErrors as err:
            cases = err.failure_cases
        cases = cases.filter(pl.col("index").is_not_null()).select(
            pl.col("index").cast(pl.Int64),
            pl.col("check").replace(_PANDERA_REASONS).alias(REASON),
        )
        unknown = set(cases[REASON].unique()) - set(REASON_ORDER)
        if unknown:  # a pandera-internal failure we did not map: a bug, never a silent pass
            raise RuntimeError(f"unmapped contract check(s) for {table.name}: {sorted(unknown)}")
        rank = pl.col(REASON).replace_strict(REASON_ORDER, list(range(len(REASON_ORDER))), return_dtype=pl.Int32)
        first = cases.sort(rank).group_by("index", maintain_order=True).first()
        out.append(
            first.join(chunk.select(pl.int_range(pl.len()).alias("index"), ROW), on="index").select(ROW, REASON)
        )
    if not out:
        return pl.DataFrame(schema={ROW: pl.Int64, REASON: pl.String})
    return pl.concat(out).sort(ROW)
