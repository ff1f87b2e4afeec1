"""Named kill points, so tests can stop a run where a crash would hurt most and prove that a rerun
yields exactly the warehouse an uninterrupted run yields.

A kill point does nothing unless ANALYTICS_KILL_AT names it; then it SIGKILLs the run's whole
process group (dbt included), like a power cut: no cleanup code runs.
"""

from __future__ import annotations

import os
import signal

KILL_POINTS = (
    "between_batches",  # a batch committed, the next not started
    "mid_file",  # a file's lake Parquet written, its batch's transaction not committed
    "mid_dbt",  # dbt has built some models and not others
    "mid_publish",  # the new warehouse copied beside the published one, not renamed yet
    "mid_report",  # the workbook written, its CSVs and evidence manifest not
)


def kill_point(name: str) -> None:
    assert name in KILL_POINTS, name
    if os.environ.get("ANALYTICS_KILL_AT") == name:
        os.killpg(os.getpgid(0), signal.SIGKILL)
