"""The dbt sources outside the export lake, as Parquet both engines read.

dbt reads three kinds of sources (dbt_project/models/staging/_sources.yml): the export tables
(`raw`, read from the lake files ops.lake_files records), the ingestion record (`ops`) and the
operations configuration (`config`). The record and the configuration live in the DuckDB build
warehouse, written by ingestion and by the configuration step; DuckDB reads them there, in the
same file. Another engine cannot open that file: before every build they are written here, under
<data>/lake/_sources/<schema>/<table>/data.parquet, each file whole or not at all, together with
every export table's typed shape with no rows (<data>/lake/_sources/raw/<table>/data.parquet: what
staging reads before a table's first batch lands). Spark registers them as tables
(dbt_project/macros/engine/sources.sql).

The rows are the DuckDB tables' at the moment of writing: the single writer holds the data
directory, so nothing changes them until the build that reads them ends.
"""

from __future__ import annotations

from pathlib import Path

from models import TABLES
from pipelines.lib.config import Settings
from pipelines.lib.lake import copy_to_parquet

# The ops and config tables dbt reads (its sources `ops` and `config`).
OPS_SOURCES = ("ingested_batches", "ingested_files", "quarantine", "duplicate_rows", "touched_dates", "lake_files")
# The rest of the ingestion record kept beside them: what a replay needs besides (pipelines/lib/replay.py).
RECORD_ONLY = ("ingest_runs",)
CONFIG_SOURCES = ("slo_definitions", "freshness_thresholds")


def sources_dir(settings: Settings) -> Path:
    return settings.lake_dir / "_sources"


def source_file(settings: Settings, schema: str, table: str) -> Path:
    return sources_dir(settings) / schema / table / "data.parquet"


def write_engine_sources(con, settings: Settings) -> list[Path]:
    """Write the ops and config sources, and the export tables' empty typed shapes; returns the
    files written."""
    written = []
    for schema, tables in (("ops", OPS_SOURCES + RECORD_ONLY), ("config", CONFIG_SOURCES)):
        for table in tables:
            target = source_file(settings, schema, table)
            copy_to_parquet(con, f"select * from {schema}.{table} order by all", target)  # the same bytes for the same rows
            written.append(target)
    for table in TABLES:
        target = source_file(settings, "raw", table)
        copy_to_parquet(con, f"select * exclude (_path, _content_hash) from raw.{table} where false", target)
        written.append(target)
    return written
