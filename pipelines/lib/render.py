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


def html_table(frame: pl.DataFrame, highlight: dict[str, set] | None = None) -> str:
    """A plain HTML table; cells whose value is in highlight[column] get class="flag"."""
    from html import escape

    highlight = highlight or {}
    head = "".join(f"<th>{escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        cells = []
        for col, value in row.items():
            text = "" if value is None else (f"{value:.6g}" if isinstance(value, float) else str(value))
            flag = ' class="flag"' if value in highlight.get(col, ()) else ""
            cells.append(f"<td{flag}>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
