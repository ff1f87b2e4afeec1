"""One setting, one place: every path and knob comes from the environment through here."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EXPORTS = PROJECT_ROOT / "data" / "sample" / "exports"

# The engines dbt builds the warehouse on: DuckDB (the default, embedded) or Apache Spark (local
# PySpark or a Thrift server: dbt_project/profiles.yml). Each is a target of the dbt profile.
ENGINES = ("duckdb", "spark")


# Spark reads a path as a Hadoop glob pattern: under a directory whose name holds one of these it
# finds nothing (`[x]` matches `x`), where DuckDB reads the lake's recorded files by name.
SPARK_GLOB_CHARACTERS = set("[]*?{}\\")


def _checked_for_engine(engine: str, data_dir: Path) -> str:
    if engine == "spark" and SPARK_GLOB_CHARACTERS & set(str(data_dir)):
        raise ValueError(f"ANALYTICS_DATA_DIR={str(data_dir)!r}: Spark reads paths as patterns and cannot read a lake "
                         "under a name holding [ ] * ? { } or a backslash; choose another data directory for "
                         "ANALYTICS_ENGINE=spark")
    return engine


def engine_from_env() -> str:
    """ANALYTICS_ENGINE, checked: the dbt target the project is parsed and built with."""
    engine = os.environ.get("ANALYTICS_ENGINE", "duckdb").strip() or "duckdb"
    if engine not in ENGINES:
        raise ValueError(f"ANALYTICS_ENGINE={engine!r} is not an engine: use one of {', '.join(ENGINES)}")
    return engine


@dataclass(frozen=True)
class Settings:
    exports_dir: Path
    data_dir: Path
    retry_quarantine: bool = False
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    # Bounded inflation of gzipped exports (oltp-export-v1 v1.1, `decompression_limit`): a file may
    # inflate to at most gzip_max_bytes, and above gzip_ratio_floor_bytes to at most
    # gzip_max_ratio times its compressed size (honest exports inflate 3-15x; a gzip bomb ~1000x).
    gzip_max_bytes: int = 64 << 30
    gzip_max_ratio: int = 100
    gzip_ratio_floor_bytes: int = 64 << 20
    # Inflated copies are written only while the data directory's file system keeps this much free:
    # below it ingestion stops as a fault of the machine, and the read-ahead of the next batch
    # never fills the disk under the batch being loaded.
    min_free_bytes: int = 1 << 30
    # A file of more rows is read, checked and loaded this many rows at a time (the lake gets one
    # file per chunk and day): memory follows the chunk, not the file.
    ingest_chunk_rows: int = 1_000_000
    engine: str = "duckdb"
    # A billing period's report packs close this many whole days after its last day, counted from
    # the newest loaded batch's time (warehouse-v1, Reports by billing period v1.2).
    period_close_days: int = 5

    @classmethod
    def from_env(cls, data_dir: str | None = None) -> Settings:
        """The settings the environment gives; `data_dir`, when given, in place of ANALYTICS_DATA_DIR."""
        data_dir = Path(data_dir or os.environ.get("ANALYTICS_DATA_DIR", PROJECT_ROOT / "data"))
        if not data_dir.is_absolute():
            data_dir = PROJECT_ROOT / data_dir
        exports = Path(os.environ.get("ANALYTICS_EXPORTS_DIR", SAMPLE_EXPORTS))
        if not exports.is_absolute():
            exports = PROJECT_ROOT / exports
        return cls(
            exports_dir=exports,
            data_dir=data_dir,
            retry_quarantine=os.environ.get("ANALYTICS_RETRY_QUARANTINE") == "1",
            duckdb_memory_limit=os.environ.get("ANALYTICS_DUCKDB_MEMORY_LIMIT", "4GB"),
            duckdb_threads=int(os.environ.get("ANALYTICS_DUCKDB_THREADS", "2")),
            gzip_max_bytes=_size("ANALYTICS_GZIP_MAX_BYTES", cls.gzip_max_bytes),
            gzip_max_ratio=int(os.environ.get("ANALYTICS_GZIP_MAX_RATIO", cls.gzip_max_ratio)),
            gzip_ratio_floor_bytes=_size("ANALYTICS_GZIP_RATIO_FLOOR_BYTES", cls.gzip_ratio_floor_bytes),
            min_free_bytes=_size("ANALYTICS_MIN_FREE_BYTES", cls.min_free_bytes),
            ingest_chunk_rows=int(os.environ.get("ANALYTICS_INGEST_CHUNK_ROWS", cls.ingest_chunk_rows)),
            engine=_checked_for_engine(engine_from_env(), data_dir),
            period_close_days=_whole_days("ANALYTICS_PERIOD_CLOSE_DAYS", cls.period_close_days),
        )

    # Everything generated lives under data_dir and is ignored by git.
    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def warehouse_dir(self) -> Path:
        return url_safe(self.data_dir, "warehouse")

    @property
    def build_db(self) -> Path:
        """The single writer's working copy; analysts never open it."""
        return self.warehouse_dir / "build" / "analytics.duckdb"

    @property
    def published_db(self) -> Path:
        return self.warehouse_dir / "analytics.duckdb"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target directory: one per data directory, so its partial parse survives runs."""
        return self.data_dir / "dbt-target"

    @property
    def spark_relation_columns_dir(self) -> Path:
        """Where a Spark build records its tables' locations and columns
        (dbt_project/macros/engine/relation_catalog.sql)."""
        return self.data_dir / "spark" / "relation_columns"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return url_safe(self.data_dir, "dagster")

    @property
    def lock_file(self) -> Path:
        return self.data_dir / ".writer.lock"


# DuckDB reads a `?` in a database file's path as the start of options (it names the WAL after
# the part before it, even through a symlink: it opens the real path), and Dagster puts its home
# into SQLite URLs unquoted (`?`, `#` and `%` cut them short). Lake, export and report files are
# opened by their plain paths, whatever they hold. Under a data directory whose path holds one of
# these, the warehouse's DuckDB files and DAGSTER_HOME live in a directory named after it under
# $XDG_STATE_HOME (~/.local/state)/platform-warehouse/, and the data directory links to them.
URL_BREAKERS = "?#%"


def url_safe(data_dir: Path, name: str) -> Path:
    """data_dir/name, or where it really lives when data_dir's path holds one of URL_BREAKERS."""
    if not any(c in str(data_dir) for c in URL_BREAKERS):
        return data_dir / name
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    real = state / "platform-warehouse" / hashlib.sha256(str(data_dir).encode()).hexdigest()[:16] / name
    real.mkdir(parents=True, exist_ok=True)
    link = data_dir / name  # where a person looks for it: a link (a directory already there is left alone)
    if not (link.is_symlink() and os.readlink(link) == str(real)) and not (link.exists() and not link.is_symlink()):
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{name}.{os.getpid()}.link.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(real, target_is_directory=True)
        os.replace(tmp, link)
    return real


_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "KIB": 1 << 10, "MB": 1 << 20, "MIB": 1 << 20, "GB": 1 << 30,
          "GIB": 1 << 30, "TB": 1 << 40, "TIB": 1 << 40}


def _size(name: str, default: int) -> int:
    """A byte size from the environment: a number of bytes, or with a unit (`512MB`, `64GiB`)."""
    text = os.environ.get(name, "").strip().replace(" ", "")
    if not text:
        return default
    number = text.rstrip("KMGTiBkmgtib")  # noqa: B005 - strips the unit's letters, any order
    unit = text[len(number):].upper()
    if not number.isdigit() or unit not in _UNITS:
        raise ValueError(f"{name}={text!r} is not a size (a number of bytes, or e.g. 512MB, 64GiB)")
    return int(number) * _UNITS[unit]


def _whole_days(name: str, default: int) -> int:
    """A number of whole days from the environment: 0 or more, at most 366."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) > 366:
        raise ValueError(f"{name}={text!r} is not a number of whole days (0 to 366)")
    return int(text)
