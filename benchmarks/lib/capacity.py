"""Section 8: the capacity of one branch over a link with added round-trip time (issue 16; 50 ms by default).

The link is rtt.py's: lockpool in a client network namespace, `git daemon` in a server namespace, and between them a
real Ethernet link through relay.py, which holds every frame half the round trip each way. Nothing in rtt.py changes;
this section builds its own Link and ServerDaemon, after rtt's section (if it ran) has removed its own.

Workers: W threads, each running `out` processes one after another in the client's namespace, in cycles of acquire
then release (from the step directory the acquire wrote: name, claim_ref), on one pool of L = W locks on one branch,
for a fixed time (--capacity-seconds; the cycle in flight at the end still finishes, so the pool ends unclaimed). With
a free lock for everyone nobody ever waits: what is measured is the serialisation of pushes on one branch. Every
commit moves the tip, so a push decided on an older tip is refused (non-fast-forward: a lost race, one `.` on
stderr), and the loser fetches and pushes again after its backoff (docs/concurrency.md#lost-races).

Caches: `warm` (the default) gives every worker its own TMPDIR for the whole run, so after a first `check` its cache
only fetches what is new: a long-running client, not Concourse. `cold` (--capacity-cold, added) gives every operation a
new, empty TMPDIR, as a Concourse container does: each fetch is a shallow clone of the tip.

Per run: completed operations (acquires + releases) that ended within the time, over the time (ops/s); lost races per
operation (the dots of every operation); acquire and release latency (p50, p90; in ms and in RTTs: time over the
measured round trip); TCP connections per operation (the relay's SYNs); RTTs per completed operation at that rate
(1 / (ops/s × RTT), how long the branch is held per operation); CPU time of the `out` processes per operation (the
server's git processes are not counted); the machine's CPU use during the run
(/proc/stat, both cores, every process on the machine) and its load average. --capacity-trace FILE keeps the relay's
log of every TCP segment (relay.py).

Correctness, as contention.py: after each run every branch's history is replayed (replay.py): no double claim, no
lost or extra lock, nothing claimed at the tip, as many claims and releases as operations succeeded. A failed
operation or a problem fails the section (exit status 1), after the tables are printed.

Sharding: the largest W split over B branches of one repository (--capacity-branches; worker i on branch i mod B,
each branch a pool of its workers' count of locks; `source.branch` is all that differs), or over B repositories
(--capacity-shard-by repositories), total ops/s against the one-branch run of the same W.
"""
import contextlib
import os
import resource
import shutil
import signal
import statistics
import threading
import time

from . import replay, rtt
from .common import lock_name, output_json, percentile, write_step_dir
from .contention import count_dots

DEFAULT_WORKERS, QUICK_WORKERS = "1,2,4,8", "1,2"
DEFAULT_BRANCHES, QUICK_BRANCHES = "1,2,4", "1,2"
DEFAULT_RETRY_DELAY = "10s"  # the resource's default: the lost-race backoff's cap a team gets without setting it
SHARD_KINDS = ("branches", "repositories")
POOL = "envs"


def parse_counts(text, name):
    """`1,2,4` → [1, 2, 4] (sorted, distinct, each at least 1)."""
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"{name}: comma-separated whole numbers, not {text!r}") from None
    if not counts or counts[0] < 1:
        raise ValueError(f"{name}: at least one number, each at least 1")
    return counts


# machine load

def _children_cpu():
    """CPU seconds of this process's waited-for children: every `out` (nsenter execs it, so it is our child)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_ticks():
    """(busy, total) jiffies of all cores since boot: busy is user, nice, system, irq and softirq; total adds idle,
    iowait and steal (another virtual machine's use of our cores)."""
    with open("/proc/stat") as f:
        fields = [int(value) for value in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq, sum(fields)


# one run

class Shard:
    """One branch of one bare repository served by the daemon, with its pool of `locks`."""

    def __init__(self, path, uri, branch, locks):
        self.path, self.uri, self.branch, self.locks = path, uri, branch, locks


def _shards(ws, daemon, tag, workers, count, kind):
    """`count` shards for `workers` workers: branches shard-1… of one repository, or one repository each."""
    per_shard = [len(range(index, workers, count)) for index in range(count)]
    shards = []
    if kind == "branches":
        name = f"{tag}.git"
        path = ws.pool_repository(os.path.join("capacity-repos", name), POOL, _locks(max(per_shard)))
        for index in range(count):
            branch = "master" if count == 1 else f"shard-{index + 1}"
            if branch != "master":
                ws.git("-C", path, "branch", branch, "master")
            shards.append(Shard(path, daemon.url(name), branch, _locks(max(per_shard))))
    else:
        for index in range(count):
            name = f"{tag}-{index + 1}.git"
            path = ws.pool_repository(os.path.join("capacity-repos", name), POOL, _locks(per_shard[index]))
            shards.append(Shard(path, daemon.url(name), "master", _locks(per_shard[index])))
    return shards


def _locks(count):
    return [f"lock-{index}" for index in range(1, count + 1)]


class Run:
    """W workers doing acquire/release cycles on `shards` for `seconds`, then the replay of every shard."""

    def __init__(self, ws, link, rtt_ms, tag, shards, workers, seconds, retry_delay, cold):
        self.ws, self.link, self.rtt_ms, self.tag = ws, link, rtt_ms, tag
        self.shards, self.workers, self.seconds = shards, workers, seconds
        self.retry_delay, self.cold = retry_delay, cold
        self.records = []  # (worker, shard index, kind, start, end, dots before waiting, dots while waiting, ok)
        self.errors = []
        self.mutex = threading.Lock()
        self.go = threading.Event()
        self.ready = threading.Barrier(workers + 1)
        self.start = self.deadline = None

    def source(self, shard):
        return {"uri": shard.uri, "branch": shard.branch, "pool": POOL, "retry_delay": self.retry_delay}

    def _resource(self, request, build, tmp):
        return self.ws.resource("out", request, build, tmpdir=tmp, check=False, wrapper=self.link.enter("client"))

    def _work(self, index):
        """A worker's cycles; whatever fails is one of the run's errors, and the start barrier is passed anyway."""
        passed = []
        try:
            self._worker(index, passed)
        except Exception as error:  # noqa: BLE001 - reported with the run's errors, fails the section
            self._error(f"worker {index}: {type(error).__name__}: {error}")
        finally:
            if not passed:
                self.ready.wait()

    def _worker(self, index, passed):
        shard_index = index % len(self.shards)
        shard = self.shards[shard_index]
        source = self.source(shard)
        root = self.ws.mkdir("capacity", self.tag, f"worker-{index}")
        build = os.path.join(root, "build")
        step = os.path.join(build, "lock")
        os.makedirs(build, exist_ok=True)
        counter = 0

        def tmpdir():
            # warm: one TMPDIR for the whole run; cold: a new, empty one for every operation
            nonlocal counter
            counter += 1
            path = os.path.join(root, f"tmp-{counter}" if self.cold else "tmp")
            os.makedirs(path, exist_ok=True)
            return path

        def done_with(path):
            if self.cold:
                shutil.rmtree(path, ignore_errors=True)

        try:
            if not self.cold:  # fills the cache before the clock starts: the first acquire is warm too
                self.ws.resource("check", {"source": source}, tmpdir=tmpdir(), wrapper=self.link.enter("client"))
        except Exception as error:  # noqa: BLE001 - reported with the run's errors
            self._error(f"worker {index} warm-up check: {error}")
        passed.append(True)
        self.ready.wait()
        self.go.wait()
        while time.perf_counter() < self.deadline:
            tmp = tmpdir()
            started = time.perf_counter()
            _, done = self._resource({"source": source, "params": {"acquire": True}}, build, tmp)
            ended = time.perf_counter()
            done_with(tmp)
            if not self._record(index, shard_index, "acquire", started, ended, done):
                return
            output = output_json(done)
            write_step_dir(step, lock_name(output), output["version"]["ref"])
            tmp = tmpdir()
            started = time.perf_counter()
            _, released = self._resource({"source": source, "params": {"release": "lock"}}, build, tmp)
            ended = time.perf_counter()
            done_with(tmp)
            if not self._record(index, shard_index, "release", started, ended, released):
                return

    def _record(self, worker, shard_index, kind, started, ended, done):
        stderr = done.stderr.decode(errors="replace")
        before, after = count_dots(stderr)
        ok = done.returncode == 0
        with self.mutex:
            self.records.append((worker, shard_index, kind, started, ended, before, after, ok))
            if not ok:
                self.errors.append(f"worker {worker} {kind} (exit {done.returncode}): {stderr.strip()[-500:]}")
        return ok

    def _error(self, text):
        with self.mutex:
            self.errors.append(text)

    def __call__(self, log):
        threads = [threading.Thread(target=self._work, args=(index,), daemon=True) for index in range(self.workers)]
        for thread in threads:
            thread.start()
        self.ready.wait()
        traffic_before, cpu_before = self.link.stats(), _cpu_ticks()
        clients_before = _children_cpu()
        self.start = time.perf_counter()
        self.deadline = self.start + self.seconds
        self.go.set()
        for thread in threads:
            thread.join()
        finished = time.perf_counter()
        time.sleep(2 * self.rtt_ms / 1000)  # the last FINs and ACKs reach the relay
        traffic_after, cpu_after = self.link.stats(), _cpu_ticks()
        client_cpu = _children_cpu() - clients_before
        result = self._result(finished - self.start, traffic_before, traffic_after, cpu_before, cpu_after, client_cpu)
        log(f"capacity: {self.tag}: {result['ops_in_time']} operations in {self.seconds} s = "
            f"{result['ops_per_s']:.2f} ops/s, {result['lost_races_per_op']:.2f} lost races/op, acquire p50 "
            f"{result['acquire'].get('p50_rtts', float('nan')):.1f} RTT, CPU {result['cpu_busy'] * 100:.0f} %"
            + ("" if result["ok"] else " - FAILED"))
        return result

    def _result(self, wall, traffic_before, traffic_after, cpu_before, cpu_after, client_cpu):
        succeeded = [r for r in self.records if r[7]]
        in_time = [r for r in succeeded if r[4] <= self.deadline]
        dots = sum(r[5] for r in self.records)
        waiting_dots = sum(r[6] for r in self.records)
        connections = ((traffic_after["up"]["syns"] - traffic_after["up"]["syn_repeats"])
                       - (traffic_before["up"]["syns"] - traffic_before["up"]["syn_repeats"]))
        busy, total = (after - before for after, before in zip(cpu_after, cpu_before))
        ops_per_s = len(in_time) / self.seconds
        shards = [self._replay(index, shard, succeeded) for index, shard in enumerate(self.shards)]
        problems = [f"{shard['branch']}: {problem}" for shard in shards for problem in shard["problems"]]
        return {
            "tag": self.tag, "workers": self.workers, "shards": len(self.shards),
            "locks_per_shard": [len(shard.locks) for shard in self.shards], "cache": "cold" if self.cold else "warm",
            "seconds": self.seconds, "wall_s": wall,
            "ops": len(succeeded), "ops_in_time": len(in_time), "ops_per_s": ops_per_s,
            "ops_per_s_by_shard": [sum(1 for r in in_time if r[1] == index) / self.seconds
                                   for index in range(len(self.shards))],
            "rtts_per_op": 1000 / (ops_per_s * self.rtt_ms) if ops_per_s else None,
            "lost_races": dots, "lost_races_per_op": dots / len(succeeded) if succeeded else 0.0,
            "dots_while_waiting": waiting_dots,
            "acquire": self._latency([r for r in succeeded if r[2] == "acquire"]),
            "release": self._latency([r for r in succeeded if r[2] == "release"]),
            "connections": connections, "connections_per_op": connections / len(self.records) if self.records else 0,
            "syn_repeats": traffic_after["up"]["syn_repeats"] - traffic_before["up"]["syn_repeats"],
            "cpu_busy": busy / total if total else 0.0, "load_average": os.getloadavg(),
            "client_cpu_s": client_cpu,
            "client_cpu_ms_per_op": client_cpu * 1000 / len(self.records) if self.records else 0.0,
            "replay": shards, "errors": self.errors, "problems": problems,
            "ok": not self.errors and not problems,
        }

    def _latency(self, records):
        if not records:
            return {"runs": 0}
        ms = [(r[4] - r[3]) * 1000 for r in records]
        p50, p90 = percentile(ms, 0.5), percentile(ms, 0.9)
        return {"runs": len(ms), "p50_ms": p50, "p90_ms": p90, "max_ms": max(ms), "mean_ms": statistics.mean(ms),
                "p50_rtts": p50 / self.rtt_ms, "p90_rtts": p90 / self.rtt_ms}

    def _replay(self, index, shard, succeeded):
        history = replay.replay(self.ws, shard.path, shard.branch, POOL, shard.locks)
        if history["claimed_at_tip"]:
            history["problems"].append(f"still claimed after every worker released: "
                                       f"{', '.join(history['claimed_at_tip'])}")
        for kind, key in (("acquire", "claims"), ("release", "releases")):
            count = sum(1 for r in succeeded if r[1] == index and r[2] == kind)
            if history[key] != count:
                history["problems"].append(f"the history has {history[key]} {key} but {count} {kind}s succeeded")
        return {"branch": shard.branch, "uri": shard.uri, **history}


# the section

def run(ws, options, log):
    reason = rtt.Link.unavailable()
    if reason:
        log(f"capacity: skipped: {reason}")
        return {"skipped": reason}
    interrupted = signal.getsignal(signal.SIGTERM)

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")  # unwinds through the link's and the daemon's cleanups

    signal.signal(signal.SIGTERM, terminate)
    try:
        with rtt.Link(options.rtt_ms / 2, options.capacity_trace) as link:
            base = ws.mkdir("capacity-repos")
            with rtt.ServerDaemon(ws, link, base) as daemon:
                return _measure(ws, options, log, link, daemon)
    except rtt.Skip as skip:
        log(f"capacity: skipped: {skip}")
        return {"skipped": str(skip)}
    finally:
        signal.signal(signal.SIGTERM, interrupted)


def _measure(ws, options, log, link, daemon):
    ping = link.probe("ping", link.addresses["server"], "10")
    handshakes = link.probe("connect", link.addresses["server"], str(rtt.PORT), "5")  # waits for the daemon
    rtt_ms = statistics.median(ping)
    log(f"capacity: link {link.subnet}, {link.one_way_ms:g} ms each way: ping median {rtt_ms:.1f} ms, "
        f"TCP handshake median {statistics.median(handshakes):.1f} ms")
    if abs(rtt_ms - options.rtt_ms) > max(5.0, 0.2 * options.rtt_ms):
        raise RuntimeError(f"the link's round trip is {rtt_ms:.1f} ms, not about {options.rtt_ms} ms")
    seconds, retry_delay = options.capacity_seconds, options.capacity_retry_delay
    caches = ["warm", "cold"] if options.capacity_cold else ["warm"]

    def measure(tag, workers, shards, kind, cold):
        shard_list = _shards(ws, daemon, tag, workers, shards, kind)
        return Run(ws, link, rtt_ms, tag, shard_list, workers, seconds, retry_delay, cold)(log)

    runs = []
    for cache in caches:
        for workers in options.capacity_workers:
            runs.append(measure(f"{cache}-w{workers}", workers, 1, "branches", cache == "cold"))
    sharding = []
    workers = max(options.capacity_workers)
    for cache in caches:
        for count in options.capacity_branches:
            if count > workers:
                log(f"capacity: {count} shards for {workers} workers: skipped (a shard without a worker)")
                continue
            if count == 1:
                sharding.append(next(r for r in runs if r["workers"] == workers and r["cache"] == cache))
                continue
            tag = f"{cache}-w{workers}-{count}{options.capacity_shard_by}"
            sharding.append(measure(tag, workers, count, options.capacity_shard_by, cache == "cold"))
    everything = runs + [r for r in sharding if r["shards"] > 1]
    return {"rtt_ms": options.rtt_ms, "measured_rtt_ms": rtt_ms, "seconds": seconds, "retry_delay": retry_delay,
            "caches": caches, "shard_by": options.capacity_shard_by,
            "link": {"subnet": link.subnet, "one_way_ms": link.one_way_ms, "transport": "git daemon (git://)",
                     "ping_ms": _spread(ping), "tcp_handshake_ms": _spread(handshakes)},
            "runs": runs, "sharding": sharding,
            "ok": all(r["ok"] for r in everything),
            "errors": sum(len(r["errors"]) for r in everything),
            "problems": sum(len(r["problems"]) for r in everything)}


def _spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "count": len(values)}


# tables

def _one_branch(result, workers, cache):
    return next((r for r in result["runs"] if r["workers"] == workers and r["cache"] == cache), None)


def summary_rows(result):
    """Rows of report.print_summary: the one-branch rate at the largest W for each cache, the sharding gain, and
    correctness (the only row with a verdict)."""
    if result is None:
        return []
    if result.get("skipped"):
        return [{"figure": "capacity over a 50 ms link", "value": None, "shown": "skipped",
                 "target": "(reason in section 8)", "verdict": "-"}]
    rows = []
    prefix = f"capacity {result['rtt_ms']:g} ms git://"
    for r in result["runs"]:
        if r["workers"] != max(x["workers"] for x in result["runs"]):
            continue
        rows.append({"figure": f"{prefix}: one branch, {r['workers']} workers, {r['cache']}", "value": r["ops_per_s"],
                     "shown": f"{r['ops_per_s']:.1f} ops/s", "target": "", "verdict": "-"})
    for r in result["sharding"]:
        if r["shards"] > 1:
            base = _one_branch(result, r["workers"], r["cache"])
            gain = f" ({r['ops_per_s'] / base['ops_per_s']:.1f}×)" if base and base["ops_per_s"] else ""
            figure = f"{prefix}: {r['shards']} {result['shard_by']}, {r['workers']} workers, {r['cache']}"
            rows.append({"figure": figure,
                         "value": r["ops_per_s"], "shown": f"{r['ops_per_s']:.1f} ops/s{gain}", "target": "",
                         "verdict": "-"})
    rows.append({"figure": f"{prefix}: double claims, lost locks, failed operations", "value": result["problems"],
                 "shown": f"{result['problems']} problems, {result['errors']} failed",
                 "target": "0", "verdict": "PASS" if result["ok"] else "MISS"})
    return rows


def _latency(summary):
    if not summary.get("runs"):
        return "-"
    return f"{summary['p50_ms']:.0f}/{summary['p90_ms']:.0f} ms {summary['p50_rtts']:.1f}/{summary['p90_rtts']:.1f}"


def print_section(result, table):
    if result.get("skipped"):
        print(f"\n8. Capacity of one branch over a round-trip link: skipped ({result['skipped']})")
        return
    link = result["link"]
    print(f"\n8. Capacity of one branch over a {result['rtt_ms']:g} ms round-trip link (measured "
          f"{result['measured_rtt_ms']:.1f} ms), git daemon in another network namespace: W workers doing `out` "
          f"acquire + release cycles for {result['seconds']} s on a pool of W locks (nobody waits for a lock: "
          f"pushes on one branch serialise), retry_delay {result['retry_delay']}")
    print("  warm = each worker keeps its TMPDIR (its cache fetches only what is new: a long-running client); "
          "cold = a new TMPDIR for every operation (a Concourse container)")
    header = (f"  {'cache':<5} {'shards':>6} {'W':>3} {'ops':>5} {'ops/s':>6} {'RTT/op':>6} {'lost/op':>7} "
              f"{'acquire p50/p90: ms, RTT':>26} {'release p50/p90: ms, RTT':>26} {'conn/op':>7} "
              f"{'out CPU/op':>10} {'CPU':>4} {'load':>5}")

    def line(r):
        return (f"  {r['cache']:<5} {r['shards']:>6} {r['workers']:>3} {r['ops_in_time']:>5} {r['ops_per_s']:>6.2f} "
                f"{r['rtts_per_op'] or 0:>6.1f} {r['lost_races_per_op']:>7.2f} {_latency(r['acquire']):>26} "
                f"{_latency(r['release']):>26} {r['connections_per_op']:>7.1f} "
                f"{r['client_cpu_ms_per_op']:>8.0f}ms {r['cpu_busy'] * 100:>3.0f}% "
                f"{r['load_average'][0]:>5.1f}")

    print(header)
    for r in result["runs"]:
        print(line(r))
    if any(r["shards"] > 1 for r in result["sharding"]):
        print(f"  sharding: the same workers over {result['shard_by']} (worker i on shard i mod B, a pool per shard)")
        print(header)
        for r in result["sharding"]:
            base = _one_branch(result, r["workers"], r["cache"])
            gain = f"  {r['ops_per_s'] / base['ops_per_s']:.2f}× one branch" if base and base["ops_per_s"] else ""
            shares = ", ".join(f"{x:.1f}" for x in r["ops_per_s_by_shard"])
            print(line(r) + gain + (f"  (per shard {shares})" if r["shards"] > 1 else ""))
    print("  (ops = acquires + releases that ended within the time; RTT/op = 1 / (ops/s × RTT), how long the branch "
          "is held per operation; lost/op = lost push races per operation; conn/op = TCP connections per operation; "
          "out CPU/op = CPU time of the out processes per operation (git daemon's not included); CPU = use of both "
          "cores during the run, every process on the machine (a shared machine); load = 1-minute load average at "
          "the end)")
    everything = result["runs"] + [r for r in result["sharding"] if r["shards"] > 1]
    waiting = sum(r["dots_while_waiting"] for r in everything)
    if waiting:
        print(f"  note: {waiting} dots printed while waiting for a lock (expected none with W locks)")
    for r in everything:
        replays = r["replay"]
        print(f"  {r['tag']}: replay of {sum(h['commits'] for h in replays)} commits: "
              f"{sum(h['double_claims'] for h in replays)} double claims, lost locks: "
              f"{', '.join(l for h in replays for l in h['lost_locks']) or 'none'}, "
              f"{len(r['errors'])} failed operations")
        for problem in r["problems"][:10]:
            print(f"    PROBLEM: {problem}")
        for error in r["errors"][:5]:
            print(f"    ERROR: {error}")
