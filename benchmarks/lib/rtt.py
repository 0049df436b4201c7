"""Section 7: the history curve over a link with added round-trip time (issue 16; 50 ms by default), over git://.

Cold `out` acquire, `out` release, `in` at the tip and `check`, each next to the git CLI (full clone and the --depth 1
floor), exactly as history.py's Runner does them (the same code, checks included), at 1 and 50,000 prior commits
by default. What changes is where they run: lockpool and the git CLI in a client network namespace, `git daemon` in
a server namespace, and between them a real Ethernet link that takes half the round trip each way, so TCP behaves as
on a network (initial window, slow start, delayed ACKs, Nagle). This kernel has no netem; the link is:

  client ns  veth ──── root-ns peer ═ relay.py ═ root-ns peer ──── veth  server ns
  10.213.N.1                       (AF_PACKET, every frame held            10.213.N.2, git daemon :9418
                                    ONE-WAY ms, in order, counted)

The root namespace's peers are up without addresses; the namespace ends have static neighbour entries (no ARP round
trip on a first connection) and no IPv6 (no router solicitations in the counts). Checksum, segmentation and GRO
offloads are off on all four ends (the legacy SIOCETHTOOL requests, so no ethtool package is needed): the relay must
see MTU-sized frames with their real checksums. The link is checked before use: ICMP echo from the client to the
server gives the measured round trip (RTT) that every time is divided by, and TCP handshakes to the daemon confirm it.

Per operation the relay's counters are read before and after (after the process ends and two RTTs have passed, so
its closing segments are counted with it): connections (SYNs from the client side), frames, bytes, data segments and
payload each way. Time in RTTs is the operation's wall time over the measured RTT; a cold operation cannot go below
the protocol's round trips, and everything above is CPU, slow start or waiting. --rtt-trace FILE keeps the relay's
log of every TCP segment, with a line after each operation, to see which round trips those are.

Every namespace, link, relay and daemon made here is removed on the way out, on error and on Ctrl-C or SIGTERM too;
nothing else is touched. Without root, `ip`, `nsenter` or veth support the section is skipped with the reason.
"""
import contextlib
import ctypes
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

from . import history
from .common import summary_ms

DEFAULT_SIZES, QUICK_SIZES = "1,50000", "1,1000"
DEFAULT_MS = 50
PORT = 9418
# The targets, stated for 50 ms over git://: connections and RTTs of a cold acquire, RTTs of a cold in.
ACQUIRE_CONNECTIONS, ACQUIRE_RTTS, IN_RTTS, TARGET_MS = 2, 8.0, 5.0, 50
OPS = (*history.LOCKPOOL_OPS, *history.CLI_OPS)
LABELS = dict(history.COLUMNS)
TRAFFIC = ("frames", "bytes", "segments", "payload")
RELAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "relay.py")


class Skip(Exception):
    """The link cannot be built on this machine; the reason is the message."""


# the link

def _run(*argv, check=True):
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _used_networks():
    """IPv4 networks of the root namespace's addresses and routes, so the link's /24 overlaps none of them."""
    used = []
    for argv in (("ip", "-4", "-o", "addr", "show"), ("ip", "-4", "route", "show", "table", "all")):
        for line in _run(*argv).stdout.splitlines():
            for word in line.split():
                with contextlib.suppress(ValueError):
                    if "/" in word or word.count(".") == 3:
                        used.append(ipaddress.ip_network(word, strict=False))
    return used


def _free_subnet():
    used = _used_networks()
    start = os.getpid() % 250
    for offset in range(250):
        subnet = ipaddress.ip_network(f"10.213.{(start + offset) % 250 + 1}.0/24")
        if not any(subnet.overlaps(network) for network in used):
            return subnet
    raise Skip("no free /24 in 10.213.0.0/16 for the link")


# The legacy SIOCETHTOOL set requests (linux/ethtool.h): tx checksum, scatter-gather, TSO, GSO, GRO. Turning tx
# checksumming off also makes the kernel fill in every checksum before the relay copies the frame.
SIOCETHTOOL = 0x8946
ETHTOOL_OFFLOADS = {"tx-checksumming": 0x17, "scatter-gather": 0x19, "tcp-segmentation-offload": 0x1F,
                    "generic-segmentation-offload": 0x24, "generic-receive-offload": 0x2C}


def _ethtool(interface, command, value=None):
    """One ETHTOOL_G*/S* request on `interface` (root namespace); returns the value read."""
    data = ctypes.create_string_buffer(struct.pack("II", command, value or 0))
    request = struct.pack("16sP", interface.encode(), ctypes.addressof(data)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)
    return struct.unpack_from("II", data.raw)[1]


def disable_offloads(interface):
    """Turns the offloads off that would hand the relay frames above the MTU or with checksums left to hardware."""
    for name, command in ETHTOOL_OFFLOADS.items():
        try:
            _ethtool(interface, command, 0)
        except OSError as error:
            raise RuntimeError(f"could not turn {name} off on {interface}: {error}") from error
        if _ethtool(interface, command - 1):  # the matching get request
            raise RuntimeError(f"{name} is still on on {interface}")


def _pdeathsig():
    """In a child before exec: SIGTERM when the benchmark dies, so no daemon outlives a killed run."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Link:
    """Two namespaces joined by the relay: `enter(side)` is the argv prefix that runs a command on a side."""

    def __init__(self, one_way_ms, trace_path=None):
        self.one_way_ms, self.trace_path = one_way_ms, trace_path
        pid = os.getpid()
        self.namespaces = {"client": f"lpbench-cli-{pid}", "server": f"lpbench-srv-{pid}"}
        # (root namespace's end, namespace's end); at most 15 characters
        self.veths = {"client": (f"lpc{pid}r", f"lpc{pid}n"), "server": (f"lps{pid}r", f"lps{pid}n")}
        self.created_namespaces, self.created_links = [], []
        self.relay = None

    @staticmethod
    def unavailable():
        """Why the link cannot be built here, or None."""
        if os.geteuid() != 0:
            return "not root (network namespaces, veth pairs and AF_PACKET sockets need it)"
        for tool in ("ip", "nsenter"):
            if shutil.which(tool) is None:
                return f"no `{tool}` (Debian: iproute2, util-linux)"
        return None

    def enter(self, side):
        # nsenter only joins the network namespace; `ip netns exec` also unshares the mount namespace and remounts
        # /sys, a few ms more on every timed process.
        return ("nsenter", f"--net=/run/netns/{self.namespaces[side]}")

    def __enter__(self):
        try:
            self._build()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _build(self):
        subnet = _free_subnet()
        hosts = list(subnet.hosts())
        self.addresses = {"client": str(hosts[0]), "server": str(hosts[1])}
        self.subnet = str(subnet)
        for side, namespace in self.namespaces.items():
            done = _run("ip", "netns", "add", namespace, check=False)
            if done.returncode != 0:
                raise Skip(f"cannot create a network namespace: {done.stderr.strip()}")
            self.created_namespaces.append(namespace)
        macs = {}
        for side, (outer, inner) in self.veths.items():
            done = _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, check=False)
            if done.returncode != 0:
                raise Skip(f"cannot create a veth pair: {done.stderr.strip()}")
            self.created_links.append(outer)
            for interface in (outer, inner):
                disable_offloads(interface)
            _ipv6_off(outer)
            with open(f"/sys/class/net/{inner}/address") as f:
                macs[side] = f.read().strip()
            _run("ip", "link", "set", inner, "netns", self.namespaces[side])
            _run("ip", "link", "set", outer, "up")
        for side, (_, inner) in self.veths.items():
            peer = "server" if side == "client" else "client"
            inside = self.enter(side)
            _run(*inside, "ip", "link", "set", "lo", "up")
            _run(*inside, "sysctl", "-qw", f"net.ipv6.conf.{inner}.disable_ipv6=1", check=False)
            _run(*inside, "ip", "addr", "add", f"{self.addresses[side]}/{subnet.prefixlen}", "dev", inner)
            _run(*inside, "ip", "link", "set", inner, "up")
            _run(*inside, "ip", "neigh", "replace", self.addresses[peer], "lladdr", macs[peer], "dev", inner, "nud",
                 "permanent")
        self.relay = subprocess.Popen(
            [sys.executable, "-B", RELAY, "forward", self.veths["client"][0], self.veths["server"][0],
             str(self.one_way_ms), *([os.path.abspath(self.trace_path)] if self.trace_path else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=_pdeathsig)
        if json.loads(self.relay.stdout.readline() or "{}").get("ready") is not True:
            raise RuntimeError(f"the relay did not start (exit status {self.relay.wait()})")

    def stats(self):
        """The relay's counters since it started."""
        self.relay.stdin.write("stats\n")
        self.relay.stdin.flush()
        return json.loads(self.relay.stdout.readline())

    def mark(self, text):
        """A line in the relay's trace (if any) between operations."""
        self.relay.stdin.write(f"mark {text}\n")
        self.relay.stdin.flush()

    def probe(self, *args):
        """relay.py's probe `args` run in the client's namespace; returns its JSON."""
        done = _run(*self.enter("client"), sys.executable, "-B", RELAY, *args)
        return json.loads(done.stdout)

    def __exit__(self, *_):
        if self.relay is not None and self.relay.poll() is None:
            with contextlib.suppress(OSError):
                self.relay.stdin.close()
            try:
                self.relay.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait()
        for namespace in self.created_namespaces:
            _kill_inside(namespace)
            _run("ip", "netns", "del", namespace, check=False)  # removes its veth end, and so the peer
        for link in self.created_links:
            if os.path.exists(f"/sys/class/net/{link}"):
                _run("ip", "link", "del", link, check=False)
        self.created_namespaces, self.created_links = [], []


def _kill_inside(namespace):
    """Ends what still runs in our namespace: after an interrupt, a `git daemon --serve` child whose client vanished
    with the link waits for it forever (and ignores SIGTERM)."""
    def pids():
        done = _run("ip", "netns", "pids", namespace, check=False)
        return [int(pid) for pid in done.stdout.split()] if done.returncode == 0 else []

    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + 2
        while pids() and time.monotonic() < deadline:
            time.sleep(0.05)


def _ipv6_off(interface):
    path = f"/proc/sys/net/ipv6/conf/{interface}/disable_ipv6"
    if os.path.exists(path):
        with open(path, "w") as f:
            f.write("1\n")


class ServerDaemon:
    """`git daemon` in the server's namespace, serving every repository under `base` on the server's address."""

    def __init__(self, ws, link, base):
        self.ws, self.link, self.base = ws, link, base
        self.process = None

    def __enter__(self):
        self.log = open(self.ws.path("rtt-git-daemon.log"), "wb")
        self.process = subprocess.Popen(
            [*self.link.enter("server"), "git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
             f"--base-path={self.base}", f"--listen={self.link.addresses['server']}", f"--port={PORT}", self.base],
            env=self.ws.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, preexec_fn=_pdeathsig)
        return self

    def url(self, name):
        return f"git://{self.link.addresses['server']}:{PORT}/{name}"

    def __exit__(self, *_):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# per-operation traffic

class _Timed(list):
    """A Runner figure list whose append (the operation's time, once it has ended) also takes the relay's counters."""

    def __init__(self, on_append):
        super().__init__()
        self.on_append = on_append

    def append(self, value):
        super().append(value)
        self.on_append()


class Meter:
    """history.new_figures() in which every operation's time comes with its traffic: the relay's counters after it
    minus those before (the previous operation's end, or `start()`)."""

    def __init__(self, link, rtt_seconds):
        self.link, self.settle = link, 2 * rtt_seconds
        self.figures = history.new_figures()
        for op in OPS:
            self.figures[op] = _Timed(lambda op=op: self._take(op))
        self.traffic = {op: [] for op in OPS}
        self.last = None

    def start(self, label):
        self.label = label
        self.last = self.link.stats()
        self.link.mark(f"{label}: start")

    def _take(self, op):
        time.sleep(self.settle)  # its last ACKs and FINs reach the relay after the process has ended
        now = self.link.stats()
        delta = {f"{key}_{direction}": now[direction][key] - self.last[direction][key]
                 for direction in ("up", "down") for key in TRAFFIC}
        delta["connections"] = ((now["up"]["syns"] - now["up"]["syn_repeats"])
                                - (self.last["up"]["syns"] - self.last["up"]["syn_repeats"]))
        delta["syn_repeats"] = now["up"]["syn_repeats"] - self.last["up"]["syn_repeats"]
        self.traffic[op].append(delta)
        self.last = now
        self.link.mark(f"{self.label}: {op} done ({self.figures[op][-1] * 1000:.0f} ms)")


# the section

def run(ws, options, log):
    reason = Link.unavailable()
    if reason:
        log(f"rtt: skipped: {reason}")
        return {"skipped": reason}
    one_way = options.rtt_ms / 2
    interrupted = signal.getsignal(signal.SIGTERM)

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")  # unwinds through the cleanups below

    signal.signal(signal.SIGTERM, terminate)
    try:
        with Link(one_way, options.rtt_trace) as link:  # first: a machine that cannot build it skips at once
            origins = {size: history.generate(ws, "rtt-repos", size, log, section="rtt") for size in options.rtt_sizes}
            with ServerDaemon(ws, link, ws.path("rtt-repos")) as daemon:
                return _measure(ws, options, log, link, daemon, origins)
    except Skip as skip:
        log(f"rtt: skipped: {skip}")
        return {"skipped": str(skip)}
    finally:
        signal.signal(signal.SIGTERM, interrupted)


def _measure(ws, options, log, link, daemon, origins):
    ping = link.probe("ping", link.addresses["server"], "10")
    handshakes = link.probe("connect", link.addresses["server"], str(PORT), "5")
    rtt_ms = statistics.median(ping)
    log(f"rtt: link {link.subnet}, {link.one_way_ms:g} ms each way: ping median {rtt_ms:.1f} ms "
        f"(min {min(ping):.1f}, max {max(ping):.1f}), TCP handshake median {statistics.median(handshakes):.1f} ms")
    if abs(rtt_ms - options.rtt_ms) > max(5.0, 0.2 * options.rtt_ms):
        raise RuntimeError(f"the link's round trip is {rtt_ms:.1f} ms, not about {options.rtt_ms} ms")
    before = link.stats()
    rows = []
    for size, (origin, repository_bytes) in origins.items():
        url = daemon.url(origin.name)
        runner = history.Runner(ws, origin, url, url, url, wrapper=link.enter("client"))
        meter = Meter(link, rtt_ms / 1000)
        start = time.monotonic()
        for index in range(options.rtt_runs):
            meter.start(f"{size} commits, run {index + 1}")
            runner.run(meter.figures)
            log(f"rtt: {size} commits, run {index + 1}/{options.rtt_runs}: " + ", ".join(
                f"{LABELS[op]} {meter.figures[op][-1] * 1000 / rtt_ms:.1f} RTT/"
                f"{meter.traffic[op][-1]['connections']} conn" for op in ("acquire", "in", "cli_floor_acquire")))
        shutil.rmtree(ws.path("history-work"), ignore_errors=True)
        rows.append(_row(size, repository_bytes, meter, rtt_ms, time.monotonic() - start))
    after = link.stats()
    return {"rtt_ms": options.rtt_ms, "runs": options.rtt_runs, "sizes": list(origins),
            "trace": options.rtt_trace,
            "link": {"subnet": link.subnet, "one_way_ms": link.one_way_ms, "transport": "git daemon (git://)",
                     "ping_ms": _spread(ping), "tcp_handshake_ms": _spread(handshakes), "measured_rtt_ms": rtt_ms,
                     "relay": {key: after[key] for key in ("oversize", "send_errors", "last_send_error",
                                                            "kernel_drops", "max_queue", "scheduling")},
                     "frames": {d: after[d]["frames"] - before[d]["frames"] for d in ("up", "down")}},
            "rows": rows}


def _spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "count": len(values)}


def _row(size, repository_bytes, meter, rtt_ms, seconds):
    row = {"size": size, "repository_bytes": repository_bytes, "seconds": seconds}
    for op in OPS:
        times = meter.figures[op]
        traffic = meter.traffic[op]
        summary = summary_ms(times)
        row[op] = {**summary, "rtts": summary["median_ms"] / rtt_ms, "min_rtts": summary["min_ms"] / rtt_ms,
                   "connections": {"median": statistics.median(t["connections"] for t in traffic),
                                   "max": max(t["connections"] for t in traffic)},
                   "syn_repeats": sum(t["syn_repeats"] for t in traffic),
                   **{key: statistics.median(t[key] for t in traffic)
                      for key in traffic[0] if key not in ("connections", "syn_repeats")}}
    for name in ("acquire_rss_mb", "in_rss_mb"):
        row[name] = max(meter.figures[name])
    return row


# targets and table

def targets(result):
    """(figure, value, shown, target, ok) rows of the issue's round-trip targets; ok None off 50 ms."""
    if result.get("skipped"):
        return [("rtt: history curve over a 50 ms link", None, "skipped", "(reason in section 7)", None)]
    rows = []
    ms = result["rtt_ms"]
    judged = ms == TARGET_MS
    suffix = "" if judged else f" (at {TARGET_MS} ms)"
    for row in result["rows"]:
        size, acquire, into = row["size"], row["acquire"], row["in"]
        prefix = f"rtt {ms:g} ms git://, {size} commits"
        rows.append((f"{prefix}: cold acquire connections (max)", acquire["connections"]["max"],
                     f"{acquire['connections']['max']}", f"≤ {ACQUIRE_CONNECTIONS}{suffix}",
                     acquire["connections"]["max"] <= ACQUIRE_CONNECTIONS if judged else None))
        rows.append((f"{prefix}: cold acquire", acquire["rtts"], f"{acquire['rtts']:.1f} RTT "
                     f"({acquire['median_ms']:.0f} ms)", f"≤ {ACQUIRE_RTTS:g} RTT{suffix}",
                     acquire["rtts"] <= ACQUIRE_RTTS if judged else None))
        rows.append((f"{prefix}: cold in", into["rtts"], f"{into['rtts']:.1f} RTT ({into['median_ms']:.0f} ms)",
                     f"≤ {IN_RTTS:g} RTT{suffix}", into["rtts"] <= IN_RTTS if judged else None))
    return rows


def summary_rows(result):
    """targets() as rows of report.print_summary."""
    if result is None:
        return []
    return [{"figure": figure, "value": value, "shown": shown, "target": target,
             "verdict": "-" if ok is None else ("PASS" if ok else "MISS")}
            for figure, value, shown, target, ok in targets(result)]


def _size(value):
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    return f"{value / 1e3:.1f}K" if value >= 1e3 else f"{value:.0f}"


def print_section(result, table):
    if result.get("skipped"):
        print(f"\n7. History curve over a round-trip link: skipped ({result['skipped']})")
        return
    link = result["link"]
    print(f"\n7. History curve over a {result['rtt_ms']:g} ms round-trip link, git daemon in another network namespace "
          f"({link['subnet']}, relay {link['one_way_ms']:g} ms each way): cold operations, medians of "
          f"{result['runs']} runs")
    ping = link["ping_ms"]
    print(f"  measured round trip: ICMP echo median {ping['median']:.1f} ms (min {ping['min']:.1f}, max "
          f"{ping['max']:.1f}, {ping['count']} echoes); TCP handshake median "
          f"{link['tcp_handshake_ms']['median']:.1f} ms; RTT below = wall time / {link['measured_rtt_ms']:.1f} ms")
    relay = link["relay"]
    print(f"  relay: {link['frames']['up']} frames up, {link['frames']['down']} down; {relay['oversize']} above the "
          f"MTU, {relay['send_errors']} failed sends, {relay['kernel_drops']} dropped, deepest queue "
          f"{relay['max_queue']}; scheduled {relay['scheduling']}")
    print(f"  {'commits':>8} {'operation':<9} {'median':>8} {'RTT':>6} {'min RTT':>7} {'conns':>5} "
          f"{'frames up/down':>15} {'bytes up/down':>15} {'data segs up/down':>18}")
    for row in result["rows"]:
        for op in OPS:
            s = row[op]
            print(f"  {row['size']:>8} {LABELS[op]:<9} {history._cell(s):>8} {s['rtts']:>6.1f} {s['min_rtts']:>7.1f} "
                  f"{s['connections']['median']:>5g} "
                  f"{_size(s['frames_up']) + '/' + _size(s['frames_down']):>15} "
                  f"{_size(s['bytes_up']) + '/' + _size(s['bytes_down']):>15} "
                  f"{_size(s['segments_up']) + '/' + _size(s['segments_down']):>18}")
    print("  (CLI = git clone --single-branch + mv + commit + push, d1 = the same with --depth 1; conns = TCP "
          "connections opened, median)")
    if result.get("trace"):
        print(f"  trace of every TCP segment (seconds, direction, client port, flags, payload): {result['trace']}")
    for figure, _, shown, target, ok in targets(result):
        print(f"  {figure}: {shown}, target {target}: {'-' if ok is None else 'PASS' if ok else 'MISS'}")
