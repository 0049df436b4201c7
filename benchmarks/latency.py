#!/usr/bin/env python3
"""Latency of one lockpool operation against the plain git CLI doing the same work, on a local bare repository.

usage: benchmarks/latency.py BIN_DIR [--runs N] [--json FILE]

Runs the real `out`, `in` and `check` executables (process start included) with a warm cache, and, as the baseline,
`git clone` + `git mv` + `git commit` + `git push` for the same claim and release. Prints a table of medians (min/max)
and writes the figures as JSON when --json is given.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def git(*args, cwd=None, env=None):
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin_dir")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--locks", type=int, default=4)
    parser.add_argument("--json")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="lockpool-bench.")
    empty = os.path.join(work, "empty-gitconfig")
    open(empty, "w").close()
    env = dict(os.environ, GIT_CONFIG_GLOBAL=empty, GIT_CONFIG_SYSTEM=empty, GIT_AUTHOR_NAME="bench",
               GIT_AUTHOR_EMAIL="bench@localhost", GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost",
               TMPDIR=os.path.join(work, "tmp"))
    os.makedirs(env["TMPDIR"])
    try:
        origin = os.path.join(work, "locks.git")
        git("init", "-q", "--bare", "-b", "master", origin, env=env)
        seed = os.path.join(work, "seed")
        git("clone", "-q", origin, seed, env=env)
        for directory in ("claimed", "unclaimed"):
            os.makedirs(os.path.join(seed, "bench", directory))
            open(os.path.join(seed, "bench", directory, ".gitkeep"), "w").close()
        for i in range(1, args.locks + 1):
            with open(os.path.join(seed, "bench", "unclaimed", f"env-{i}"), "w") as f:
                f.write(f"host: 10.0.0.{i}\n")
        git("add", "-A", cwd=seed, env=env)
        git("commit", "-qm", "seed", cwd=seed, env=env)
        git("push", "-q", "origin", "HEAD:master", cwd=seed, env=env)

        source = {"uri": origin, "branch": "master", "pool": "bench"}
        build = os.path.join(work, "build")
        os.makedirs(os.path.join(build, "lock"))
        with open(os.path.join(build, "lock", "name"), "w") as f:
            f.write("env-1\n")

        def run(executable, request, *argv):
            subprocess.run([os.path.join(args.bin_dir, executable), *argv], input=json.dumps(request).encode(),
                           env=env, check=True, capture_output=True)

        claim = {"source": source, "params": {"claim": "env-1"}}
        release = {"source": source, "params": {"release": "lock"}}
        figures = {"acquire": [], "release": [], "in": [], "check_warm": [], "check_cold": [], "git_cli_claim": [],
                   "git_cli_release": []}
        run("check", {"source": source})  # warms the cache
        for i in range(args.runs):
            figures["acquire"].append(timed(lambda: run("out", claim, build)))
            figures["in"].append(timed(lambda: run("in", {"source": source}, os.path.join(work, f"in-{i}"))))
            figures["check_warm"].append(timed(lambda: run("check", {"source": source})))
            figures["release"].append(timed(lambda: run("out", release, build)))
            cold = dict(source, uri="file://" + origin)  # another URI: a new cache
            shutil.rmtree(env["TMPDIR"] + "/lockpool-cache/cold", ignore_errors=True)
            cold_env_tmp = os.path.join(work, f"cold-{i}")
            os.makedirs(cold_env_tmp)
            figures["check_cold"].append(timed(lambda: subprocess.run(
                [os.path.join(args.bin_dir, "check")], input=json.dumps({"source": cold}).encode(),
                env=dict(env, TMPDIR=cold_env_tmp), check=True, capture_output=True)))
        for i in range(max(5, args.runs // 2)):
            clone = os.path.join(work, f"cli-{i}")

            def cli_claim():
                git("clone", "-q", origin, clone, env=env)
                git("mv", "bench/unclaimed/env-2", "bench/claimed/env-2", cwd=clone, env=env)
                git("commit", "-qm", "claiming: env-2", cwd=clone, env=env)
                git("push", "-q", "origin", "HEAD:master", cwd=clone, env=env)

            def cli_release():
                git("clone", "-q", origin, clone + "r", env=env)
                git("mv", "bench/claimed/env-2", "bench/unclaimed/env-2", cwd=clone + "r", env=env)
                git("commit", "-qm", "unclaiming: env-2", cwd=clone + "r", env=env)
                git("push", "-q", "origin", "HEAD:master", cwd=clone + "r", env=env)

            figures["git_cli_claim"].append(timed(cli_claim))
            figures["git_cli_release"].append(timed(cli_release))

        summary = {name: {"median_ms": statistics.median(values) * 1000, "min_ms": min(values) * 1000,
                          "max_ms": max(values) * 1000, "runs": len(values)} for name, values in figures.items()}
        print(f"{'operation':<18} {'median':>9} {'min':>9} {'max':>9}  runs")
        for name, s in summary.items():
            print(f"{name:<18} {s['median_ms']:>7.1f}ms {s['min_ms']:>7.1f}ms {s['max_ms']:>7.1f}ms  {s['runs']}")
        print(f"acquire is {summary['git_cli_claim']['median_ms'] / summary['acquire']['median_ms']:.1f}x faster "
              f"than the git CLI; release {summary['git_cli_release']['median_ms'] / summary['release']['median_ms']:.1f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(summary, f, indent=2)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
