"""The sync benchmark (`python bench/sync_benchmark.py`); see README.md, "Performance"."""
