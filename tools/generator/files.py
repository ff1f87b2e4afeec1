"""Writing a batch folder as the exporter does: one file per table in one of five encodings, the
manifest last."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl

from models import TABLES
from tools.generator.world import ts

# ---------------------------------------------------------------- writing files

def text_frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """Rows as text columns: the contract's, then any other key a row holds (schema drift, as an
    exporter may deliver it)."""
    cols = TABLES[table].column_names
    cols += list(dict.fromkeys(k for r in rows for k in r if k not in cols))
    return pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema={c: pl.String for c in cols})


class BatchWriter:
    """Writes one batch folder; the manifest goes last, as the exporter does."""

    def __init__(self, root: Path, bid: str, exported_at: datetime):
        self.dir = root / bid
        self.bid, self.exported_at = bid, exported_at
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.files: list[dict] = []

    def write(self, table: str, frames, encoding: tuple[str, str], raw_lines: list[str] = ()) -> None:
        """frames: an iterable of all-text DataFrames (streamed), raw_lines: text appended as is
        (CSV or JSONL only), to carry unparseable rows."""
        fmt, comp = encoding
        ext = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}[fmt] + (".gz" if comp == "gzip" else "")
        path = self.dir / f"{table}.{ext}"
        rows = 0
        if fmt == "parquet":
            import pyarrow.parquet as pq
            writer = None
            for frame in frames:
                arrow = frame.to_arrow()
                writer = writer or pq.ParquetWriter(path, arrow.schema, compression="zstd")
                writer.write_table(arrow)
                rows += frame.height
            if writer is None:
                text_frame(table, []).write_parquet(path)
            else:
                writer.close()
        else:
            fh = gzip.GzipFile(path, "wb", mtime=0) if comp == "gzip" else open(path, "wb")
            with fh:
                first = True
                for frame in frames:
                    if fmt == "csv":
                        fh.write(frame.write_csv(include_header=first).encode())
                    elif frame.height:
                        fh.write(frame.write_ndjson().encode())
                    first = False
                    rows += frame.height
                if first and fmt == "csv":
                    fh.write((",".join(TABLES[table].column_names) + "\n").encode())
                for line in raw_lines:
                    fh.write((line + "\n").encode())
                    rows += 1
        self.files.append(dict(table=table, path=path.name, format=fmt, compression=comp, row_count=rows,
                               sha256=hashlib.sha256(path.read_bytes()).hexdigest()))

    def close(self, corrupt: bool = False) -> None:
        manifest = dict(contract="platform-oltp-export", contract_version=1, batch_id=self.bid,
                        exported_at=ts(self.exported_at), files=self.files)
        if corrupt:  # the corrupt batch: a file's bytes no longer match the manifest
            with open(self.dir / self.files[-1]["path"], "ab") as fh:
                fh.write(b"\n")
        (self.dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


