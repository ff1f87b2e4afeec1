"""`make bench`: speed and memory of the pipeline against plain-DuckDB baselines (see __main__.py).

The public API the smoke test uses: `bench`, `bench_one_file`, `render`."""

from tools.bench.cli import render
from tools.bench.runs import bench, bench_one_file

__all__ = ["bench", "bench_one_file", "render"]
