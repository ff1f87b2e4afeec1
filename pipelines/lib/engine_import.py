"""A Spark build, copied into the DuckDB build warehouse that the reports and analysts read.

With ANALYTICS_ENGINE=spark, dbt builds and tests every model on Spark; the report files and the
published analyst file (warehouse/analytics.duckdb) are the same as on DuckDB, so after the build
every table the project materializes is copied from Spark's Parquet into the DuckDB build file,
in one transaction: the schemas, tables, columns, their order and their types are DuckDB's as if
DuckDB had built them, and the publish step copies the file as usual.

What Spark wrote is read from its files, not through Spark: the build's on-run-end hook records
where each table lives and its columns (<data>/spark/relation_columns/,
dbt_project/macros/engine/relation_catalog.sql), since an empty partitioned table has no file to
tell its columns and Spark moves partition columns last. Each table's columns follow the order
its YAML documents (the warehouse contract's), its types map from Spark's one to one, and the
first and last microsecond Spark stands in for an open validity end with become -infinity and
infinity again (dbt_project/macros/engine/dialect.sql, instant_min / instant_max).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from pipelines.lib.config import Settings

# Spark's types, as `describe table` names them, and DuckDB's for the same values.
SPARK_TYPES = {
    "string": "VARCHAR", "boolean": "BOOLEAN", "tinyint": "TINYINT", "smallint": "SMALLINT",
    "int": "INTEGER", "bigint": "BIGINT", "float": "FLOAT", "double": "DOUBLE", "date": "DATE",
    "timestamp": "TIMESTAMPTZ", "timestamp_ntz": "TIMESTAMP", "binary": "BLOB",
}
DECIMAL = re.compile(r"decimal\((\d+),(\d+)\)")
ARRAY = re.compile(r"array<(.+)>")
# Spark's stand-ins for the open ends of a validity window
SPARK_MIN, SPARK_MAX = "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00"


class SparkImportError(RuntimeError):
    """The Spark build cannot be copied: what is missing or unreadable, and where."""


def duckdb_type(spark_type: str, column: str) -> str:
    spark_type = spark_type.strip().lower()
    if spark_type in SPARK_TYPES:
        return SPARK_TYPES[spark_type]
    if decimal := DECIMAL.fullmatch(spark_type):
        return f"DECIMAL({decimal[1]},{decimal[2]})"
    if array := ARRAY.fullmatch(spark_type):
        return duckdb_type(array[1], column) + "[]"
    raise SparkImportError(f"column {column}: Spark type {spark_type!r} has no DuckDB counterpart here")


def relation_columns(settings: Settings) -> dict[tuple[str, str], dict]:
    """The Spark build's tables: (schema, table) -> {location, columns [(name, spark type)]}."""
    import duckdb

    folder = settings.spark_relation_columns_dir
    files = sorted(str(p) for p in folder.glob("*.parquet")) if folder.is_dir() else []
    if not (folder / "_SUCCESS").exists() or not files:
        raise SparkImportError(f"{folder} holds no record of the Spark build's tables: did dbt's on-run-end run?")
    con = duckdb.connect()
    try:
        rows = con.execute("select schema_name, table_name, position, column_name, data_type, location "
                           "from read_parquet(?) order by 1, 2, 3", [files]).fetchall()
    finally:
        con.close()
    tables: dict[tuple[str, str], dict] = {}
    for schema, table, _, column, spark_type, location in rows:
        tables.setdefault((schema, table), {"location": location, "columns": []})["columns"].append((column, spark_type))
    return tables


def local_path(location: str) -> Path:
    """A table's location as a path on this machine (file: URIs only: object storage is not read here)."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        raise SparkImportError(f"the Spark table at {location} is not on a file system this machine reads: "
                               "query the Spark marts directly (docs/engines.md)")
    return Path(unquote(parsed.path))


def data_files(folder: Path) -> list[str]:
    """The Parquet files of a table: Spark's markers and half-written attempts (`_*`, `.*`) are not data."""
    if not folder.is_dir():
        raise SparkImportError(f"the Spark table folder {folder} is missing")
    return sorted(str(p) for p in folder.rglob("*.parquet")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts))


@dataclass(frozen=True)
class Relation:
    """A table dbt made, as the manifest describes it."""

    schema: str
    table: str
    unique_id: str
    columns: list[str]  # the documented columns, in the property file's order
    description: str = ""
    column_descriptions: dict[str, str] = field(default_factory=dict)


def relations_to_copy(manifest_path: Path) -> list[Relation]:
    """The models dbt materializes as tables, and the sources dbt writes itself (ops.dbt_builds,
    what the copied incremental models reflect), with their documented columns and descriptions."""
    manifest = json.loads(manifest_path.read_text())

    def relation(n: dict, table: str) -> Relation:
        columns = n.get("columns") or {}
        return Relation(n["schema"], table, n["unique_id"], list(columns), n.get("description") or "",
                        {c: v.get("description") or "" for c, v in columns.items()})

    models = [relation(n, n["alias"]) for n in manifest["nodes"].values()
              if n["resource_type"] == "model" and n["config"]["materialized"] in ("table", "incremental")]
    sources = [relation(n, n["identifier"]) for n in manifest["sources"].values()
               if n.get("meta", {}).get("written_by") == "dbt"]
    return models + sources


def _comments(relation: Relation, columns: list[str]) -> list[str]:
    """COMMENT ON statements for a copied table: what persist_docs writes on a DuckDB build."""
    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    name = f'"{relation.schema}"."{relation.table}"'
    out = [f"comment on table {name} is {quoted(relation.description)}"] if relation.description else []
    out += [f'comment on column {name}."{c}" is {quoted(relation.column_descriptions[c])}'
            for c in columns if relation.column_descriptions.get(c)]
    return out


def _select_list(columns: list[tuple[str, str]]) -> str:
    out = []
    for name, duck in columns:
        col = f'"{name}"'
        if duck == "TIMESTAMPTZ":
            out.append(f"case when {col} = '{SPARK_MIN}'::timestamptz then '-infinity'::timestamptz "
                       f"when {col} = '{SPARK_MAX}'::timestamptz then 'infinity'::timestamptz else {col} end")
        else:
            out.append(f"cast({col} as {duck})")
    return ", ".join(out)


def import_spark_build(con, settings: Settings, manifest_path: Path) -> dict[str, int]:
    """Replace every table model in the DuckDB build with Spark's rows, in one transaction;
    returns the rows copied per `schema.table`. ops.dbt_builds comes too: the record of what the
    incremental models reflect then describes the tables it sits beside, on either engine's next build."""
    tables = relation_columns(settings)
    plans = []
    for relation in relations_to_copy(manifest_path):
        schema, table, unique_id, documented = relation.schema, relation.table, relation.unique_id, relation.columns
        if (schema, table) not in tables:
            raise SparkImportError(f"Spark has no table {schema}.{table} ({unique_id}): the build did not make it")
        spark = {name.lower(): spark_type for name, spark_type in tables[schema, table]["columns"]}
        # the contract's order and spelling where the YAML documents every column (a Hive metastore
        # may keep names lower case; DuckDB matches names case-insensitively); Spark's otherwise
        order = (documented if sorted(c.lower() for c in documented) == sorted(spark)
                 else [name for name, _ in tables[schema, table]["columns"]])
        columns = [(name, duckdb_type(spark[name.lower()], f"{schema}.{table}.{name}")) for name in order]
        folder = local_path(tables[schema, table]["location"])
        files = data_files(folder)
        # partition columns are the files' folders (name=value), not stored in them
        partitions = {part.split("=", 1)[0] for f in files for part in Path(f).relative_to(folder).parts[:-1]}
        plans.append(((schema, table), columns, files, {p for p in partitions if p.lower() in spark},
                      _comments(relation, order)))
    copied = {}
    con.execute("begin")
    try:
        for (schema, table), columns, files, partitions, comments in plans:
            con.execute(f'create schema if not exists "{schema}"')
            definition = ", ".join(f'"{name}" {duck}' for name, duck in columns)
            con.execute(f'create or replace table "{schema}"."{table}" ({definition})')
            if files:
                duck_of = {name.lower(): duck for name, duck in columns}
                hive_types = {name: duck_of[name.lower()] for name in partitions}  # the folders' spelling
                source = (f"read_parquet(?, hive_partitioning = {str(bool(partitions)).lower()}"
                          + (f", hive_types = {hive_types!r}" if hive_types else "") + ")")
                names = ", ".join(f'"{name}"' for name, _ in columns)
                con.execute(f'insert into "{schema}"."{table}" ({names}) select {_select_list(columns)} from {source}',
                            [files])
            for statement in comments:
                con.execute(statement)
            copied[f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return copied
