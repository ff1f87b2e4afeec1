"""The Makefile passes a data directory whole, whatever it holds (issue 31): `make run` hands the
pipeline the very path given, and `make clean` removes only what runs created inside it."""

from __future__ import annotations

import os
import subprocess

from pipelines.lib.config import PROJECT_ROOT


def make(*args: str, **env: str) -> subprocess.CompletedProcess:
    child = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    child.update(env)
    return subprocess.run(["make", "-s", "--no-print-directory", *args], cwd=PROJECT_ROOT, env=child,
                          capture_output=True, text=True, timeout=300)


def test_make_run_hands_the_pipeline_the_data_directory_whole(tmp_path):
    data = tmp_path / "wh data" / "it's #1 é"
    # the recipe's command replaced by one that prints the environment it is given
    result = make("run", "PY=printenv ANALYTICS_DATA_DIR #", ANALYTICS_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(data)


def test_make_clean_removes_only_what_runs_created_inside_the_data_directory(tmp_path):
    parent = tmp_path / "srv"
    sibling = parent / "wh"  # what "/srv/wh data" split in two named
    data = parent / "wh data"
    for d in (sibling / "lake", data / "lake" / "usage_events", data / "warehouse" / "build", data / "reports",
              data / "dagster", data / "logs", data / "my notes"):
        d.mkdir(parents=True)
        (d / "f.txt").write_text("x")
    (data / "keep.txt").write_text("mine")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.txt").write_text("y")
    (data / "dbt-target").symlink_to(outside, target_is_directory=True)  # a link is removed, never followed

    result = make("clean", ANALYTICS_DATA_DIR=str(data))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in data.iterdir()) == ["keep.txt", "my notes"]
    assert (sibling / "lake" / "f.txt").read_text() == "x"
    assert (outside / "precious.txt").read_text() == "y"
    assert (data / "my notes" / "f.txt").exists()
