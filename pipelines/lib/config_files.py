"""The report configuration: YAML files in pipelines/config, or ANALYTICS_CONFIG_DIR. Thresholds
and SLOs are data, not code: reconciliation.yml (break thresholds), slos.yml (OpenSLO-shaped SLOs),
freshness.yml (each export table's lag limit)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import yaml

from pipelines.lib.config import PROJECT_ROOT

CONFIG_DIR = PROJECT_ROOT / "pipelines" / "config"


def config_sha256() -> str:
    """Hash of the report configuration's files (pipelines/config, or ANALYTICS_CONFIG_DIR), names and contents."""
    digest = hashlib.sha256()
    for path in sorted(p for p in config_dir().rglob("*") if p.is_file()):
        digest.update(path.relative_to(config_dir()).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def config_dir() -> Path:
    """pipelines/config, or ANALYTICS_CONFIG_DIR."""
    return Path(os.environ.get("ANALYTICS_CONFIG_DIR", CONFIG_DIR))


def load_config(name: str) -> dict:
    return yaml.safe_load((config_dir() / name).read_text()) or {}
