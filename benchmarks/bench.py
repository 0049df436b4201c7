#!/usr/bin/env python3
"""lockpool benchmark (issues 6, 16 and 17): latency, contention, handoff, scale, peak memory, the history curve and
the history curve over a 50 ms round-trip link (rtt: git:// and ssh://, network namespaces, as root; skipped
otherwise), over that link the capacity of one branch and of pools sharded over branches (capacity), and the history
readers (stats, history, report) over a busy week beside `git log` (readers), of the real executables.

usage: benchmarks/bench.py BIN_DIR [--quick] [--only SECTIONS] [--json FILE] [size flags]

BIN_DIR holds the release `check`, `in` and `out` (`swift build -c release --show-bin-path`). Every git call, the git
CLI baseline and `git daemon` read an empty global and system configuration. Progress goes to stderr; the tables and
the summary (each figure next to the issue's target, PASS/MISS) to stdout; --json writes every figure. Exit status:
0, or 1 when the contention or capacity replay finds a problem (double claim, lost or duplicated lock), an operation
fails or a section cannot run (the history curve checks every operation's outcome too); with --strict, also when a
target is missed. Python 3 standard library only; the history curve's plot uses matplotlib when it is importable.
"""
import argparse
import json
import os
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import capacity, contention, handoff, history, latency, machine, memory, readers, report, rtt, scale  # noqa: E402
from lib.common import Workspace  # noqa: E402

SECTIONS = {"latency": latency, "contention": contention, "handoff": handoff, "scale": scale, "memory": memory,
            "history": history, "rtt": rtt, "capacity": capacity, "readers": readers}

# flag: (default, --quick)
SIZES = {
    "runs": (20, 3), "cli_runs": (10, 2), "locks": (4, 4),
    "workers": (8, 3), "cycles": (20, 3), "contention_locks": (2, 2),
    "handoff_runs": (10, 2),
    "scale_locks": (10000, 200), "history_commits": (50000, 500), "scale_runs": (10, 3),
    "history_runs": (3, 2), "rtt_runs": (3, 2), "capacity_seconds": (20, 5),
    "readers_commits": (20000, 1000), "readers_runs": (5, 2),
}
HELP = {
    "runs": "latency: runs of each operation", "cli_runs": "latency: runs of the git CLI baseline",
    "locks": "latency: locks in the pool", "workers": "contention: concurrent workers (processes)",
    "cycles": "contention: acquire/release cycles per worker", "contention_locks": "contention: locks in the pool",
    "handoff_runs": "handoff: runs", "scale_locks": "scale: unclaimed locks in the big pool",
    "history_commits": "scale: commits in the long history", "scale_runs": "scale: acquire/release runs per pool",
    "history_runs": "history: cold runs of every operation at every size",
    "rtt_runs": "rtt: cold runs of every operation at every size over the delayed link",
    "capacity_seconds": "capacity: seconds of acquire/release cycles in each run (over the --rtt-ms link)",
    "readers_commits": "readers: commits in the busy week that stats, history and report read",
    "readers_runs": "readers: runs of each reader",
}


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin_dir", help="directory of the release check, in and out")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (" + ", ".join(f"{k.replace('_', '-')} {v[1]}" for k, v in SIZES.items())
                        + "); explicit size flags still win")
    for name, (default, _) in SIZES.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None, metavar="N",
                            help=f"{HELP[name]} (default {default})")
    parser.add_argument("--retry-delay", default="100ms", help="source.retry_delay for contention and handoff (default 100ms)")
    parser.add_argument("--contention-transport", choices=["daemon", "local"], default="daemon",
                        help="contention over git daemon on 127.0.0.1 (default) or the local bare repository's path")
    parser.add_argument("--contention-fair", action="store_true", help="contention with source.fair: true")
    parser.add_argument("--history-sizes", metavar="N,N,…",
                        help=f"history: prior commits of each repository (default {history.DEFAULT_SIZES}; "
                             f"--quick {history.QUICK_SIZES}; 10k is 10000)")
    parser.add_argument("--history-transports", default=",".join(history.TRANSPORTS),
                        help="history: transports, of " + ", ".join(history.TRANSPORTS) + " (default both)")
    parser.add_argument("--history-plot-dir", default="bench-results", metavar="DIR",
                        help="history: where history-<transport>.svg goes (default bench-results; '' for none)")
    parser.add_argument("--rtt-sizes", metavar="N,N,…",
                        help=f"rtt: prior commits of each repository (default {rtt.DEFAULT_SIZES}; --quick "
                             f"{rtt.QUICK_SIZES})")
    parser.add_argument("--rtt-ms", type=float, default=rtt.DEFAULT_MS, metavar="MS",
                        help=f"rtt: round-trip time the relay adds, half each way (default {rtt.DEFAULT_MS}; the "
                             f"targets are judged at {rtt.TARGET_MS} only)")
    parser.add_argument("--rtt-transports", default=",".join(rtt.TRANSPORTS), metavar="T,T,…",
                        help="rtt: transports, of " + ", ".join(rtt.TRANSPORTS) + " (default all: git daemon, and a "
                             "stock sshd with an Ed25519 and an RSA PKCS#1 PEM client key)")
    parser.add_argument("--rtt-trace", metavar="FILE",
                        help="rtt: write the relay's log of every TCP segment, with a line between operations")
    parser.add_argument("--capacity-workers", metavar="N,N,…",
                        help=f"capacity: workers on one branch, a run each (default {capacity.DEFAULT_WORKERS}; "
                             f"--quick {capacity.QUICK_WORKERS}); the largest is also sharded")
    parser.add_argument("--capacity-branches", metavar="N,N,…",
                        help=f"capacity: shards the largest worker count is split over (default "
                             f"{capacity.DEFAULT_BRANCHES}; --quick {capacity.QUICK_BRANCHES})")
    parser.add_argument("--capacity-shard-by", choices=capacity.SHARD_KINDS, default=capacity.SHARD_KINDS[0],
                        help="capacity: shards are branches of one repository (default) or repositories")
    parser.add_argument("--capacity-cold", action="store_true",
                        help="capacity: also every run with a new TMPDIR per operation (as in Concourse), after the "
                             "warm runs; doubles the section's time")
    parser.add_argument("--capacity-retry-delay", default=capacity.DEFAULT_RETRY_DELAY,
                        help=f"capacity: source.retry_delay, the cap of the lost-race backoff (default "
                             f"{capacity.DEFAULT_RETRY_DELAY}, the resource's own default)")
    parser.add_argument("--capacity-trace", metavar="FILE",
                        help="capacity: write the relay's log of every TCP segment of the section (as --rtt-trace)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections to run (default all: " + ",".join(SECTIONS) + ")")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed too")
    parser.add_argument("--keep", action="store_true", help="keep the scratch workspace")
    options = parser.parse_args(argv)
    for name, (default, quick) in SIZES.items():
        if getattr(options, name) is None:
            setattr(options, name, quick if options.quick else default)
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    try:
        options.history_sizes = history.parse_sizes(
            options.history_sizes or (history.QUICK_SIZES if options.quick else history.DEFAULT_SIZES))
    except ValueError as error:
        parser.error(f"--history-sizes: {error}")
    try:
        options.rtt_sizes = history.parse_sizes(
            options.rtt_sizes or (rtt.QUICK_SIZES if options.quick else rtt.DEFAULT_SIZES))
    except ValueError as error:
        parser.error(f"--rtt-sizes: {error}")
    for name, default, quick in (("capacity_workers", capacity.DEFAULT_WORKERS, capacity.QUICK_WORKERS),
                                 ("capacity_branches", capacity.DEFAULT_BRANCHES, capacity.QUICK_BRANCHES)):
        try:
            setattr(options, name, capacity.parse_counts(
                getattr(options, name) or (quick if options.quick else default), "--" + name.replace("_", "-")))
        except ValueError as error:
            parser.error(str(error))
    if options.rtt_ms <= 0:
        parser.error("--rtt-ms must be above 0")
    options.history_transports = [t.strip() for t in options.history_transports.split(",") if t.strip()]
    if not options.history_transports or set(options.history_transports) - set(history.TRANSPORTS):
        parser.error(f"--history-transports: choose from {', '.join(history.TRANSPORTS)}")
    options.rtt_transports = [t.strip() for t in options.rtt_transports.split(",") if t.strip()]
    if not options.rtt_transports or set(options.rtt_transports) - set(rtt.TRANSPORTS):
        parser.error(f"--rtt-transports: choose from {', '.join(rtt.TRANSPORTS)}")
    options.sections = [s.strip() for s in options.only.split(",") if s.strip()]
    unknown = [s for s in options.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return options


def main(argv=None):
    options = parse(argv if argv is not None else sys.argv[1:])
    sys.stdout.reconfigure(line_buffering=True)  # tables and stderr progress interleave in order
    started = time.monotonic()

    def log(text):
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    ws = Workspace(options.bin_dir, keep=options.keep)
    host = machine.describe(ws.env)
    results, failures, timings = {}, {}, {}
    try:
        print(machine.line(host))
        for name in options.sections:
            log(f"{name}: start")
            section_start = time.monotonic()
            try:
                results[name] = SECTIONS[name].run(ws, options, log)
            except Exception as error:  # noqa: BLE001 - report it, run the other sections
                failures[name] = f"{type(error).__name__}: {error}"
                log(f"{name}: FAILED\n{traceback.format_exc()}")
                print(f"\n{name}: FAILED: {failures[name]}")
                continue
            timings[name] = time.monotonic() - section_start
            SECTIONS[name].print_section(results[name], report.Table)
    finally:
        ws.close()
    rows = (report.targets(results) + rtt.summary_rows(results.get("rtt"))
            + capacity.summary_rows(results.get("capacity")))
    report.print_summary(rows, machine.line(host))
    problems = list(failures)
    if "contention" in results and not results["contention"]["ok"]:
        problems.append("contention")
        print("contention: the history replay or an operation FAILED (see above)")
    if "rtt" in results and not results["rtt"].get("ok", True):
        problems.append("rtt")
        print("rtt: operations FAILED: " + "; ".join(results["rtt"]["failed_operations"]) + " (errors above)")
    if "capacity" in results and not results["capacity"].get("ok", True):
        problems.append("capacity")
        print("capacity: the history replay or an operation FAILED (see above)")
    missed = [r["figure"] for r in rows if r["verdict"] == "MISS"]
    print(f"total {time.monotonic() - started:.0f}s ("
          + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()) + ")")
    if options.json:
        os.makedirs(os.path.dirname(os.path.abspath(options.json)), exist_ok=True)
        document = {"machine": host, "options": {k: v for k, v in vars(options).items() if k != "sections"},
                    "sections": results, "summary": rows, "failures": failures, "missed": missed,
                    "seconds": {"total": time.monotonic() - started, **timings}}
        with open(options.json, "w") as f:
            json.dump(document, f, indent=2, ensure_ascii=False)
            f.write("\n")
        log(f"wrote {options.json}")
    if problems or (options.strict and missed):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
