"""Modules of `benchmarks/bench.py` (issue 6): one per section, plus shared helpers. Standard library only."""
