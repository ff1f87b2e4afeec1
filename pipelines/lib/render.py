"""Small renderers shared by asset metadata and report files."""

from __future__ import annotations

import polars as pl


def markdown_table(frame: pl.DataFrame, limit: int = 20) -> str:
    head = frame.head(limit)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in head.iter_rows()]
    if frame.height > limit:
        lines.append(f"\n… {frame.height - limit} more rows")
    return "\n".join(lines)
