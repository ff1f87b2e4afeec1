"""A full disk is named as such (issue 31): before a run starts, and when SQLite (Dagster's run
storage) fails with its "disk I/O error", which never says why."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys

from pipelines.__main__ import disk_full
from pipelines.lib.config import PROJECT_ROOT, Settings


def test_a_run_on_a_full_disk_says_the_disk_is_full_and_records_nothing(tmp_path):
    data = tmp_path / "data"
    free = shutil.disk_usage(tmp_path).free
    env = {"ANALYTICS_DATA_DIR": str(data), "ANALYTICS_MIN_FREE_BYTES": str(free * 2)}  # as if nearly full
    result = subprocess.run([sys.executable, "-m", "pipelines", "run"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, **env})
    assert result.returncode == 1
    assert "is full" in result.stderr and "ANALYTICS_MIN_FREE_BYTES" in result.stderr
    assert not (data / "warehouse").exists() and not (data / "lake").exists()


def test_sqlites_disk_io_error_is_named_a_full_disk_only_when_the_disk_is_short(tmp_path):
    settings = Settings(exports_dir=tmp_path, data_dir=tmp_path)
    error = sqlite3.OperationalError("disk I/O error")
    assert disk_full(settings, error) is None  # plenty of room: not the disk
    short = Settings(exports_dir=tmp_path, data_dir=tmp_path, min_free_bytes=shutil.disk_usage(tmp_path).free * 2)
    assert "is full" in disk_full(short, error)
    assert "is full" in disk_full(settings, OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(short, ValueError("a bug")) is None  # another error is not the disk's
