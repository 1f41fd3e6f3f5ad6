"""Benchmark scripts: each prints its figures; run with `uv run python bench/<name>.py`."""
