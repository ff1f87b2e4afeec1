"""Developer tools the warehouse never runs: the export generator (`make sample`, the tests' and the
benchmark's inputs) and the benchmark (`make bench`). They live outside `pipelines/`, so editing
them changes no build fingerprint (pipelines/lib/build_state.py)."""
