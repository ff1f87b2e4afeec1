"""The FOCUS export: each organization's charges per billing period, as files its FinOps tools read.

reports/<newest batch_id>/focus/<organization_id>/<YYYY-MM>.parquet and .csv, one pair per
organization and billing period (UTC month) of marts.rpt_focus_charges, and the pack's evidence
manifest (focus_charges.evidence.json) with every file's sha256. A pack like the others
(pipelines/lib/reports.py): never rewritten, other bytes for the same batch become a revision.

The Parquet file keeps the mart's types (DECIMAL money, UTC instants); the CSV writes decimals as
exact text and instants as FOCUS writes them, ISO 8601 in UTC (2026-11-01T00:00:00Z).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from pipelines.lib.config import Settings
from pipelines.lib.reports import Written, atomic_write, newest_batch, write_csv, write_pack

FOCUS_VERSION = "1.2"
MART = "marts.rpt_focus_charges"
FOCUS_DATETIME = "%Y-%m-%dT%H:%M:%SZ"  # FOCUS's date/time format: ISO 8601 in UTC


def folder_name(organization_id: str) -> str:
    """An organization id as one folder name. Ids are [A-Za-z0-9_.:-] (oltp-export-v1), so the only
    names that would not be a plain folder are those beginning with dots ("..", ".hidden"): their
    leading dots are written %2E, which no id holds, so two organizations never share a folder."""
    name = re.sub(r"^\.+", lambda m: "%2E" * len(m.group()), organization_id)
    if not name or "/" in name or "\0" in name:
        raise ValueError(f"organization id {organization_id!r} cannot name a folder")
    return name


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda p: frame.write_parquet(p, compression="zstd", statistics=True))


def focus_report(con, settings: Settings) -> Written | None:
    """The FOCUS pack as of the newest loaded batch; None when nothing is loaded yet."""
    batch_id, as_of = newest_batch(con)
    if batch_id is None:
        return None
    # every column in the sort: the same rows give the same bytes, whatever order the build left
    columns = [d[0] for d in con.execute(f"select * from {MART} limit 0").description]
    first_keys = ["BillingAccountId", "BillingPeriodStart", "ChargePeriodStart", "ChargeCategory"]
    order = ", ".join(f'"{c}"' for c in first_keys + [c for c in columns if c not in first_keys])
    charges = con.sql(f"select * from {MART} order by {order}").pl()
    month = pl.col("BillingPeriodStart").dt.strftime("%Y-%m")
    parts = charges.with_columns(_month=month).partition_by(
        ["BillingAccountId", "_month"], as_dict=True, maintain_order=True, include_key=True)

    def write(directory: Path) -> list[Path]:
        files = []
        for (organization, period), rows in parts.items():
            rows = rows.drop("_month")
            folder = directory / folder_name(organization)
            text = rows.with_columns(pl.col(pl.Datetime).dt.strftime(FOCUS_DATETIME))
            files += [write_parquet(rows, folder / f"{period}.parquet"), write_csv(text, folder / f"{period}.csv")]
        return files

    pack = write_pack(con, settings, "focus_charges", "focus", batch_id, as_of, write)
    return Written(pack, batch_id, {"rows": charges.height, "organizations": charges["BillingAccountId"].n_unique(),
                                    "files": len(pack.files)})
