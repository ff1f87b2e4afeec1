"""One setting, one place: every path and knob comes from the environment through here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EXPORTS = PROJECT_ROOT / "data" / "sample" / "exports"


@dataclass(frozen=True)
class Settings:
    exports_dir: Path
    data_dir: Path
    retry_quarantine: bool = False
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2

    @classmethod
    def from_env(cls) -> "Settings":
        data_dir = Path(os.environ.get("ANALYTICS_DATA_DIR", PROJECT_ROOT / "data"))
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
        )

    # Everything generated lives under data_dir and is ignored by git.
    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

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
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / ".writer.lock"
