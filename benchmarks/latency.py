#!/usr/bin/env python3
"""Latency section only (kept for old invocations): `benchmarks/bench.py BIN_DIR --only latency [flags]`.

usage: benchmarks/latency.py BIN_DIR [--runs N] [--locks N] [--cli-runs N] [--json FILE]
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench  # noqa: E402

if __name__ == "__main__":
    sys.exit(bench.main([*sys.argv[1:], "--only", "latency"]))
