"""Section 1: one acquire, release, `in`, cold and warm `check`, against the git CLI doing the same claim/release."""
import os
import shutil
import time

from .common import lock_name, output_json, summary_ms, write_step_dir


def _cli_move(ws, origin, clone, source, target, message):
    """What the upstream resource does for one change: clone, move the file, commit, push."""
    ws.git("clone", "-q", origin, clone)
    ws.git("mv", source, target, cwd=clone)
    ws.git("commit", "-qm", message, cwd=clone)
    ws.git("push", "-q", "origin", "HEAD:master", cwd=clone)


def run(ws, options, log):
    locks = [f"env-{i}" for i in range(1, options.locks + 1)]
    origin = ws.pool_repository("latency.git", "bench", locks)
    source = {"uri": origin, "branch": "master", "pool": "bench"}
    build = ws.mkdir("latency-build")
    tmp = ws.mkdir("latency-tmp")
    figures = {name: [] for name in ("acquire", "release", "in", "check_warm", "check_cold", "process_start",
                                      "git_cli_claim", "git_cli_release")}
    ws.resource("check", {"source": source}, tmpdir=tmp)  # warms the cache
    # The CLI baseline is interleaved with lockpool's runs, so both see the same machine load.
    cli_at = [k * options.runs // options.cli_runs for k in range(options.cli_runs)]
    cli_lock = locks[-1]
    for i in range(options.runs):
        seconds, done = ws.resource("out", {"source": source, "params": {"acquire": True}}, build, tmpdir=tmp)
        figures["acquire"].append(seconds)
        output = output_json(done)
        write_step_dir(os.path.join(build, "lock"), lock_name(output), output["version"]["ref"])
        destination = ws.path(f"latency-in-{i}")
        figures["in"].append(ws.resource("in", {"source": source, "version": output["version"]}, destination,
                                         tmpdir=tmp)[0])
        shutil.rmtree(destination, ignore_errors=True)
        figures["check_warm"].append(ws.resource("check", {"source": source}, tmpdir=tmp)[0])
        figures["release"].append(ws.resource("out", {"source": source, "params": {"release": "lock"}}, build,
                                              tmpdir=tmp)[0])
        cold = ws.mkdir(f"latency-cold-{i}")  # a new TMPDIR: an empty cache
        figures["check_cold"].append(ws.resource("check", {"source": source}, tmpdir=cold)[0])
        shutil.rmtree(cold, ignore_errors=True)
        # The floor of every figure: `check` rejecting an empty request (process start, loading, runtime set-up).
        figures["process_start"].append(ws.resource("check", {}, tmpdir=tmp, check=False)[0])
        for _ in range(cli_at.count(i)):
            # The lock is never held here: every acquire above was released before.
            clone = ws.path(f"cli-claim-{i}")
            start = time.perf_counter()
            _cli_move(ws, origin, clone, f"bench/unclaimed/{cli_lock}", f"bench/claimed/{cli_lock}",
                      f"claiming: {cli_lock}")
            figures["git_cli_claim"].append(time.perf_counter() - start)
            clone_release = ws.path(f"cli-release-{i}")
            start = time.perf_counter()
            _cli_move(ws, origin, clone_release, f"bench/claimed/{cli_lock}", f"bench/unclaimed/{cli_lock}",
                      f"unclaiming: {cli_lock}")
            figures["git_cli_release"].append(time.perf_counter() - start)
            shutil.rmtree(clone, ignore_errors=True)
            shutil.rmtree(clone_release, ignore_errors=True)
        log(f"latency: run {i + 1}/{options.runs}")

    result = {name: summary_ms(values) for name, values in figures.items()}
    result["acquire_speedup"] = result["git_cli_claim"]["median_ms"] / result["acquire"]["median_ms"]
    result["release_speedup"] = result["git_cli_release"]["median_ms"] / result["release"]["median_ms"]
    result["repository"] = {"uri": "local bare repository (path)", "locks": len(locks)}
    return result


def print_section(result, table):
    rows = [(name, result[name]) for name in ("acquire", "release", "in", "check_warm", "check_cold",
                                              "process_start", "git_cli_claim", "git_cli_release")]
    table.latencies("1. Latency (local bare repository, warm cache unless cold; process start included)", rows)
    print(f"acquire is {result['acquire_speedup']:.1f}× faster than the git CLI; "
          f"release is {result['release_speedup']:.1f}× faster")
