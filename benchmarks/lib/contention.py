"""Section 2: many workers acquiring and releasing a small pool over `git daemon`, then a replay of the history."""
import contextlib
import os
import socket
import subprocess
import threading
import time

from . import replay
from .common import lock_name, output_json, percentile, summary_ms, write_step_dir


class GitDaemon:
    """`git daemon` on 127.0.0.1 serving every repository under `base`; stopped by its PID."""

    def __init__(self, ws, base):
        self.ws, self.base = ws, base
        self.process = None
        self.port = None

    def __enter__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = open(self.ws.path("git-daemon.log"), "wb")
        self.process = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", f"--base-path={self.base}",
             "--listen=127.0.0.1", f"--port={self.port}", self.base],
            env=self.ws.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"git daemon exited with {self.process.returncode}: {self._log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"git daemon did not answer on 127.0.0.1:{self.port}")
                time.sleep(0.05)
        return self

    def url(self, name):
        return f"git://127.0.0.1:{self.port}/{name}"

    def _log_text(self):
        self.log.flush()
        with open(self.ws.path("git-daemon.log"), errors="replace") as f:
            return f.read()[-2000:]

    def __exit__(self, *_):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def count_dots(stderr):
    """(dots before `waiting for lock`, dots after): lines of dots are lost races, and once waiting began, polls too."""
    before = after = 0
    waiting = False
    for line in stderr.splitlines():
        stripped = line.strip()
        if stripped.startswith("waiting for lock"):
            waiting = True
        elif stripped and set(stripped) == {"."}:
            if waiting:
                after += len(stripped)
            else:
                before += len(stripped)
    return before, after


def run(ws, options, log):
    locks = [f"lock-{i}" for i in range(1, options.contention_locks + 1)]
    base = ws.mkdir("daemon")
    ws.pool_repository(os.path.join("daemon", "contention.git"), "pool", locks)
    results = {"acquire": [], "release": [], "errors": [], "races_exact": 0, "dots_while_waiting": 0}
    lock = threading.Lock()
    local = options.contention_transport == "local"
    with (contextlib.nullcontext() if local else GitDaemon(ws, base)) as daemon:
        uri = ws.path("daemon", "contention.git") if local else daemon.url("contention.git")
        source = {"uri": uri, "branch": "master", "pool": "pool", "retry_delay": options.retry_delay,
                  "fair": options.contention_fair}

        # One worker alone first: the cost of an operation over this transport without contention.
        solo_tmp, solo_build = ws.mkdir("contention-solo", "tmp"), ws.mkdir("contention-solo", "build")
        ws.resource("check", {"source": source}, tmpdir=solo_tmp)
        solo = {"acquire": [], "release": []}
        for _ in range(3):
            seconds, done = ws.resource("out", {"source": source, "params": {"acquire": True}}, solo_build,
                                        tmpdir=solo_tmp)
            solo["acquire"].append(seconds)
            output = output_json(done)
            write_step_dir(os.path.join(solo_build, "lock"), lock_name(output), output["version"]["ref"])
            solo["release"].append(ws.resource("out", {"source": source, "params": {"release": "lock"}}, solo_build,
                                               tmpdir=solo_tmp)[0])

        def worker(index):
            try:
                cycles(index)
            except Exception as error:  # noqa: BLE001 - reported with the section's errors
                with lock:
                    results["errors"].append(f"worker {index}: {type(error).__name__}: {error}")

        def cycles(index):
            tmp = ws.mkdir(f"contention-{index}", "tmp")
            build = ws.mkdir(f"contention-{index}", "build")
            step = os.path.join(build, "lock")
            for _ in range(options.cycles):
                seconds, done = ws.resource("out", {"source": source, "params": {"acquire": True}}, build,
                                            tmpdir=tmp, check=False)
                stderr = done.stderr.decode(errors="replace")
                before, after = count_dots(stderr)
                if done.returncode != 0:
                    with lock:
                        results["errors"].append(f"worker {index} acquire: {stderr.strip()[-500:]}")
                    return
                output = output_json(done)
                write_step_dir(step, lock_name(output), output["version"]["ref"])
                release_seconds, released = ws.resource("out", {"source": source, "params": {"release": "lock"}},
                                                        build, tmpdir=tmp, check=False)
                release_stderr = released.stderr.decode(errors="replace")
                release_before, _ = count_dots(release_stderr)
                with lock:
                    results["acquire"].append(seconds)
                    results["races_exact"] += before + release_before
                    results["dots_while_waiting"] += after
                    if released.returncode != 0:
                        results["errors"].append(f"worker {index} release: {release_stderr.strip()[-500:]}")
                    else:
                        results["release"].append(release_seconds)
                if released.returncode != 0:
                    return

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(options.workers)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        log(f"contention: {len(results['acquire']) + len(results['release'])} operations in {wall:.1f}s; replaying")
    history = replay.replay(ws, ws.path("daemon", "contention.git"), "master", "pool", locks)
    if history["claimed_at_tip"]:
        history["problems"].append(f"still claimed after every worker released: {', '.join(history['claimed_at_tip'])}")
    for kind, key in (("acquire", "claims"), ("release", "releases")):
        if history[key] != len(results[kind]) + len(solo[kind]):
            history["problems"].append(f"the history has {history[key]} {key} but "
                                       f"{len(results[kind]) + len(solo[kind])} {kind}s succeeded")
    operations = len(results["acquire"]) + len(results["release"])
    ms = [s * 1000 for s in results["acquire"]]
    return {
        "workers": options.workers, "cycles": options.cycles, "locks": len(locks), "retry_delay": options.retry_delay,
        "transport": ("the local bare repository" if local else "git daemon on 127.0.0.1")
        + (", fair queue" if options.contention_fair else ""),
        "operations": operations, "expected_operations": 2 * options.workers * options.cycles,
        "wall_s": wall, "ops_per_s": operations / wall if wall else 0.0,
        "acquire": {**summary_ms(results["acquire"]), "p50_ms": percentile(ms, 0.5) if ms else None},
        "release": summary_ms(results["release"]),
        "solo": {kind: summary_ms(values) for kind, values in solo.items()},
        "lost_races_exact": results["races_exact"], "dots_while_waiting": results["dots_while_waiting"],
        "errors": results["errors"], "replay": history,
        "ok": not results["errors"] and not history["problems"],
    }


def print_section(result, table):
    a = result["acquire"]
    h = result["replay"]
    print(f"\n2. Contention: {result['workers']} workers × {result['cycles']} cycles on {result['locks']} locks, "
          f"retry_delay {result['retry_delay']}, {result['transport']}")
    print(f"  completed operations   {result['operations']} of {result['expected_operations']} in "
          f"{result['wall_s']:.2f}s = {result['ops_per_s']:.1f} ops/s")
    if a.get("runs"):
        print(f"  acquire latency        p50 {a['p50_ms']:.1f}ms  p90 {a['p90_ms']:.1f}ms  max {a['max_ms']:.1f}ms"
              f"  (waiting included)")
    r = result["release"]
    if r.get("runs"):
        print(f"  release latency        median {r['median_ms']:.1f}ms  min {r['min_ms']:.1f}ms  max {r['max_ms']:.1f}ms")
    print(f"  alone (no contention)  acquire median {result['solo']['acquire']['median_ms']:.1f}ms, "
          f"release median {result['solo']['release']['median_ms']:.1f}ms (3 runs each, before the workers start)")
    print(f"  lost races             {result['lost_races_exact']} (exact: dots of releases and of acquires before "
          f"waiting began) + up to {result['dots_while_waiting']} more (dots while waiting: races and polls mixed)")
    print(f"  history replay         {h['commits']} commits, {h['claims']} claims, {h['releases']} releases: "
          f"{h['double_claims']} double claims, lost locks: {', '.join(h['lost_locks']) or 'none'}, "
          f"extra locks: {', '.join(h['extra_locks']) or 'none'}")
    for problem in h["problems"][:20]:
        print(f"  PROBLEM: {problem}")
    for error in result["errors"][:10]:
        print(f"  ERROR: {error}")
