"""Section 3: how long a waiting `out` takes to get the lock once its holder released it.

The pool has one lock. The holder has it; a second `out` (its own cache) runs `acquire` with the retry_delay and waits;
once it printed `waiting for lock`, the benchmark sleeps a random 150-350 ms (so the release lands at a random phase of
the poll) and releases. T0 is when the release `out` returns, T1 when the waiting `out` exits; the figure is T1 - T0
(it can be slightly negative: the release's push is visible before its process has exited). The waiter is then the
holder of the next run.
"""
import json
import os
import random
import subprocess
import threading
import time

from .common import lock_name, summary_ms, write_step_dir


def run(ws, options, log):
    origin = ws.pool_repository("handoff.git", "handoff", ["only"])
    source = {"uri": origin, "branch": "master", "pool": "handoff", "retry_delay": options.retry_delay}
    sides = []
    for name in ("a", "b"):
        side = {"tmp": ws.mkdir(f"handoff-{name}", "tmp"), "build": ws.mkdir(f"handoff-{name}", "build")}
        ws.resource("check", {"source": source}, tmpdir=side["tmp"])  # warm caches
        sides.append(side)
    acquire = {"source": source, "params": {"acquire": True}}
    _, done = ws.resource("out", acquire, sides[0]["build"], tmpdir=sides[0]["tmp"])
    _remember_claim(sides[0], done.stdout)
    rng = random.Random(6)
    handoffs, releases = [], []
    for i in range(options.handoff_runs):
        holder, waiter = sides[i % 2], sides[(i + 1) % 2]
        process = subprocess.Popen([ws.executable("out"), waiter["build"]], env=dict(ws.env, TMPDIR=waiter["tmp"]),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        process.stdin.write(json.dumps(acquire).encode())
        process.stdin.close()
        waiting = threading.Event()
        finished = {}
        stderr_lines = []

        def read_stderr():
            for raw in process.stderr:
                text = raw.decode(errors="replace")
                stderr_lines.append(text)
                if "waiting for lock" in text:
                    waiting.set()

        def wait_exit():
            finished["stdout"] = process.stdout.read()
            process.wait()
            finished["t1"] = time.perf_counter()

        readers = [threading.Thread(target=read_stderr), threading.Thread(target=wait_exit)]
        for reader in readers:
            reader.start()
        try:
            if not waiting.wait(timeout=30):
                raise RuntimeError(f"the waiting out never waited: {''.join(stderr_lines)}")
            time.sleep(rng.uniform(0.15, 0.35))
            seconds, _ = ws.resource("out", {"source": source, "params": {"release": "lock"}}, holder["build"],
                                     tmpdir=holder["tmp"])
            t0 = time.perf_counter()
            releases.append(seconds)
            for reader in readers:
                reader.join(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0 or "t1" not in finished:
            raise RuntimeError(f"the waiting out failed ({process.returncode}): {''.join(stderr_lines)}")
        handoffs.append(finished["t1"] - t0)
        _remember_claim(waiter, finished["stdout"])
        log(f"handoff: run {i + 1}/{options.handoff_runs}: {(finished['t1'] - t0) * 1000:.1f}ms")
    delay_ms = _duration_ms(options.retry_delay)
    return {"handoff": summary_ms(handoffs), "release": summary_ms(releases), "retry_delay": options.retry_delay,
            "target_ms": delay_ms / 2 + 20}


def _remember_claim(side, stdout):
    output = json.loads(stdout.decode())
    write_step_dir(os.path.join(side["build"], "lock"), lock_name(output), output["version"]["ref"])


def _duration_ms(text):
    """Milliseconds of a simple Go duration (`100ms`, `1s`, `1.5s`) or a number of seconds."""
    text = str(text).strip()
    for unit, factor in (("ms", 1), ("us", 0.001), ("µs", 0.001), ("ns", 1e-6), ("s", 1000), ("m", 60000)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text) * 1000


def print_section(result, table):
    table.latencies(f"3. Handoff (one lock, waiter polls every {result['retry_delay']}; T1 - T0 after the release "
                    f"returned)", [("handoff", result["handoff"]), ("release (holder)", result["release"])])
    print(f"target: ≤ retry_delay/2 + 20 ms = {result['target_ms']:.0f} ms")
