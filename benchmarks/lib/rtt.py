"""Section 7: the history curve over a link with added round-trip time (issue 16; 50 ms by default), over git://
and ssh:// (issue 17).

Cold `out` acquire, `out` release, `in` at the tip and `check`, each next to the git CLI (full clone and the --depth 1
floor), exactly as history.py's Runner does them (the same code, checks included), at 1 and 50,000 prior commits
by default. What changes is where they run: lockpool and the git CLI in a client network namespace, `git daemon` and
`sshd` in a server namespace, and between them a real Ethernet link that takes half the round trip each way, so TCP
behaves as on a network (initial window, slow start, delayed ACKs, Nagle). This kernel has no netem; the link is:

  client ns  veth ──── root-ns peer ═ relay.py ═ root-ns peer ──── veth  server ns
  10.213.N.1                       (AF_PACKET, every frame held            10.213.N.2, git daemon :9418,
                                    ONE-WAY ms, in order, counted)          sshd :22

The root namespace's peers are up without addresses; the namespace ends have static neighbour entries (no ARP round
trip on a first connection) and no IPv6 (no router solicitations in the counts). Checksum, segmentation and GRO
offloads are off on all four ends (the legacy SIOCETHTOOL requests, so no ethtool package is needed): the relay must
see MTU-sized frames with their real checksums. The link is checked before use: ICMP echo from the client to the
server gives the measured round trip (RTT) that every time is divided by, and TCP handshakes to the daemon confirm it.

Transports (--rtt-transports, default all): `git` is git daemon (git://). `ssh-ed25519` and `ssh-rsa` are a stock
Debian `sshd` (OpenSSH's default algorithms: no PubkeyAcceptedAlgorithms override, so RSA user keys must sign with
rsa-sha2-256/512) serving the same bare repositories as the current user (root) on port 22, with its own host keys,
`authorized_keys` and client keys generated per run in the workspace: an Ed25519 key and an RSA key in PKCS#1 PEM
(`ssh-keygen -t rsa -m PEM`, the upstream README's form). lockpool gets the key in `source.private_key`; the git CLI
gets it through GIT_SSH_COMMAND (`ssh -i KEY`, host key unchecked, as lockpool without known_hosts). An operation
that fails over ssh is not hidden and does not stop the section: it is reported as failed with its error line (and
sshd's log lines about it), its time and traffic, and the operations that do not need it still run (after a failed
acquire: `in` and `check`; the git CLI always). A failure fails the section's targets and the bench's exit status.

Per operation the relay's counters are read before and after (after the process ends and two RTTs have passed, so
its closing segments are counted with it): connections (SYNs from the client side), frames, bytes, data segments and
payload each way. Time in RTTs is the operation's wall time over the measured RTT; a cold operation cannot go below
the protocol's round trips, and everything above is CPU, slow start or waiting. --rtt-trace FILE keeps the relay's
log of every TCP segment, with a line after each operation, to see which round trips those are.

Every namespace, link, relay, daemon and sshd made here is removed on the way out, on error and on Ctrl-C or SIGTERM
too (sshd and its connection children by process id, then whatever is left in the namespaces); nothing else is
touched. Without root, `ip`, `nsenter` or veth support the section is skipped with the reason; without `sshd`, `ssh`
or `ssh-keygen` (Debian: openssh-server, openssh-client) only the ssh transports are.
"""
import contextlib
import ctypes
import fcntl
import ipaddress
import json
import os
import pwd
import shlex
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
# Issue 17's targets, stated for 50 ms over ssh: RTTs of a cold acquire and of a cold in, and one SSH connection per
# operation (the fetch and the push of an acquire share it).
SSH_ACQUIRE_RTTS, SSH_IN_RTTS, SSH_ACQUIRE_CONNECTIONS = 12.0, 8.0, 1
SSH_PORT = 22
KEY_TYPES = ("ed25519", "rsa")
TRANSPORTS = ("git", *(f"ssh-{key}" for key in KEY_TYPES))
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


class SSHServer:
    """A stock OpenSSH `sshd` in the server's namespace on SSH_PORT, logging in the current user (root) by public key,
    with the settings of Tests/TestSupport/SSHServer.swift: its own host keys, `authorized_keys`, pid file and log in
    a directory of the workspace, and nothing that changes which algorithms it accepts. Also makes the client keys
    (`keys`: key type → private key path) that `authorized_keys` lists. Stopped, with every connection child it still
    has, by process id on the way out."""

    def __init__(self, ws, link):
        self.ws, self.link = ws, link
        self.process, self.log = None, None
        self.user = pwd.getpwuid(os.geteuid()).pw_name

    @staticmethod
    def unavailable():
        """Why sshd cannot run here, or None."""
        for tool in ("sshd", "ssh", "ssh-keygen"):
            if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
                return f"no `{tool}` (Debian: openssh-server, openssh-client)"
        return None

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _keygen(self, kind, path, *extra):
        _run("ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "lockpool-bench", "-f", path)
        with open(path + ".pub") as f:
            return f.read().strip()

    def _start(self):
        directory = self.ws.mkdir("rtt-sshd")
        host_keys = [os.path.join(directory, f"ssh_host_{kind}_key") for kind in ("ed25519", "rsa")]
        for path in host_keys:
            self._keygen(os.path.basename(path).split("_")[2], path)
        # Client keys: Ed25519, and RSA in PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`, the upstream README's form).
        self.keys = {"ed25519": os.path.join(directory, "id_ed25519"), "rsa": os.path.join(directory, "id_rsa")}
        public = [self._keygen("ed25519", self.keys["ed25519"]),
                  self._keygen("rsa", self.keys["rsa"], "-m", "PEM", "-b", "3072")]
        self.authorized_keys = os.path.join(directory, "authorized_keys")
        with open(self.authorized_keys, "w") as f:
            f.write("".join(line + "\n" for line in public))
        self.pid_file = os.path.join(directory, "sshd.pid")
        config = os.path.join(directory, "sshd_config")
        with open(config, "w") as f:
            f.write("\n".join([
                f"ListenAddress {self.link.addresses['server']}:{SSH_PORT}", "AddressFamily inet",
                *(f"HostKey {path}" for path in host_keys),
                f"PidFile {self.pid_file}", f"AuthorizedKeysFile {self.authorized_keys}",
                "PermitRootLogin yes", "PubkeyAuthentication yes", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "UseDNS no", "PrintMotd no",
                "PrintLastLog no", "X11Forwarding no", "AllowAgentForwarding no", "MaxStartups 100",
                "MaxSessions 100", "LogLevel VERBOSE",
                # git-upload-pack and git-receive-pack read the empty configuration, as under git daemon
                f"SetEnv GIT_CONFIG_GLOBAL={self.ws.env['GIT_CONFIG_GLOBAL']} "
                f"GIT_CONFIG_SYSTEM={self.ws.env['GIT_CONFIG_SYSTEM']} GIT_CONFIG_NOSYSTEM=1"]) + "\n")
        # The privilege separation directory; sshd refuses to start without it (Debian's init script creates it).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        sshd = shutil.which("sshd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        package = _run("dpkg-query", "-W", "-f", "${Version}", "openssh-server", check=False) \
            if shutil.which("dpkg-query") else None
        self.version = (f"openssh-server {package.stdout.strip()}" if package and package.returncode == 0
                        else (_run(sshd, "-V", check=False).stderr.strip().splitlines() or ["sshd"])[0])
        self.log_path = self.ws.path("rtt-sshd.log")
        self.log = open(self.log_path, "ab")
        # sshd re-executes itself for every connection, so it is started by absolute path; nsenter execs it, so the
        # process's id is sshd's.
        self.process = subprocess.Popen(
            [*self.link.enter("server"), os.path.realpath(sshd), "-D", "-e", "-f", config], env=self.ws.env,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, preexec_fn=_pdeathsig)

    def check_running(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"sshd exited ({self.process.returncode}): {self.server_log(0)[-2000:]}")

    def url(self, path):
        return f"ssh://{self.user}@{self.link.addresses['server']}{path}"

    def ssh_command(self, key):
        """GIT_SSH_COMMAND for the git CLI: this key only, no configuration or agent, host key unchecked."""
        return ssh_command(shlex.quote(self.keys[key]))

    def log_size(self):
        return os.path.getsize(self.log_path)

    def server_log(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    @staticmethod
    def _stat(pid):
        """(parent id, start time) of a process, from /proc/PID/stat; None when it has ended."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[1]), int(fields[19])
        return None

    def _descendants(self):
        """{process id: start time} of every process below sshd (connection children and their sessions)."""
        table = {int(e): self._stat(e) for e in os.listdir("/proc") if e.isdigit()}
        found, frontier = {}, {self.process.pid}
        while frontier:
            frontier = {pid for pid, stat in table.items() if stat and stat[0] in frontier}
            found.update({pid: table[pid][1] for pid in frontier})
        return found

    def __exit__(self, *_):
        if self.process is not None and self.process.poll() is None:
            children = self._descendants()
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

            def alive():  # the same processes: a reused id has another start time
                return [pid for pid, started in children.items() if (self._stat(pid) or (0, None))[1] == started]

            for signum in (signal.SIGTERM, signal.SIGKILL):
                for pid in alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signum)
                deadline = time.monotonic() + 2
                while alive() and time.monotonic() < deadline:
                    time.sleep(0.05)
        if self.log is not None:
            self.log.close()


def ssh_command(identity):
    """The GIT_SSH_COMMAND text for the key file `identity` (already quoted for the shell)."""
    return " ".join(["ssh", "-F", "/dev/null", "-i", identity, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                     "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                     "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])


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
    minus those before (the previous operation's end, or `start()`). A failed operation (`fail`) is counted apart,
    with its time, traffic and error, so that it neither hides nor lands on the next operation."""

    def __init__(self, link, rtt_seconds):
        self.link, self.rtt_seconds, self.settle = link, rtt_seconds, 2 * rtt_seconds
        self.figures = history.new_figures()
        for op in OPS:
            self.figures[op] = _Timed(lambda op=op: self._take(op))
        self.traffic = {op: [] for op in OPS}
        self.failures = {op: [] for op in OPS}
        self.last = None

    def start(self, label):
        self.label = label
        self.last = self.link.stats()
        self.link.mark(f"{label}: start")

    def _delta(self):
        time.sleep(self.settle)  # its last ACKs and FINs reach the relay after the process has ended
        now = self.link.stats()
        delta = {f"{key}_{direction}": now[direction][key] - self.last[direction][key]
                 for direction in ("up", "down") for key in TRAFFIC}
        delta["connections"] = ((now["up"]["syns"] - now["up"]["syn_repeats"])
                                - (self.last["up"]["syns"] - self.last["up"]["syn_repeats"]))
        delta["syn_repeats"] = now["up"]["syn_repeats"] - self.last["up"]["syn_repeats"]
        self.last = now
        return delta

    def _take(self, op):
        self.traffic[op].append(self._delta())
        self.link.mark(f"{self.label}: {op} done ({self.figures[op][-1] * 1000:.0f} ms)")

    def fail(self, failure, server_log=lambda: []):
        """Records `failure` (OperationFailed) with the traffic since the previous operation."""
        delta = self._delta()
        self.failures[failure.op].append({"seconds": failure.seconds,
                                          "rtts": failure.seconds / self.rtt_seconds, "error": failure.line,
                                          "server_log": server_log(), **delta})
        self.link.mark(f"{self.label}: {failure.op} FAILED ({failure.seconds * 1000:.0f} ms)")


class OperationFailed(RuntimeError):
    """A lockpool operation over ssh exited non-zero: which one, after how long, and its error line."""

    def __init__(self, op, seconds, line, text):
        super().__init__(text)
        self.op, self.seconds, self.line = op, seconds, line


def _error_line(stderr):
    """The line a user would read: the last `error:` line of stderr, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or ["(no output)"])[-1]


class SSHRunner(history.Runner):
    """history.Runner over ssh://: lockpool gets `private_key` in its source, the git CLI GIT_SSH_COMMAND. A lockpool
    operation that fails is recorded in `meter` (not raised); the operations that do not depend on it still run."""

    def __init__(self, ws, origin, sshd, key, wrapper, meter):
        url = sshd.url(origin.path)
        super().__init__(ws, origin, url, url, url, wrapper=wrapper)
        with open(sshd.keys[key]) as f:
            self.source = dict(self.source, private_key=f.read())
        self.git_env = dict(ws.env, GIT_SSH_COMMAND=sshd.ssh_command(key))
        self.sshd, self.meter = sshd, meter

    def resource(self, executable, request, *argv):
        op = "check" if executable == "check" else "in" if executable == "in" else (
            "acquire" if request.get("params", {}).get("acquire") else "release")
        offset = self.sshd.log_size()
        start = time.perf_counter()
        try:
            return super().resource(executable, request, *argv)
        except RuntimeError as error:
            seconds = time.perf_counter() - start
            failure = OperationFailed(op, seconds, _error_line(str(error).split(":\n", 1)[-1]), str(error))
            self.meter.fail(failure, lambda: _sshd_lines(self.sshd.server_log(offset)))
            raise failure from None

    def remote_git(self, *args, cwd=None):
        done = subprocess.run([*self.wrapper, "git", *args], cwd=cwd, env=self.git_env, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} over ssh failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace')}")
        return done.stdout.decode(errors="replace")

    def run(self, figures):
        try:
            self.lockpool(figures)
        except OperationFailed as failure:
            self.origin.reset()  # a release that failed leaves the acquire's commit
            if failure.op in ("acquire", "release"):
                with contextlib.suppress(OperationFailed):
                    self.cold_in(figures)
            if failure.op != "check":
                with contextlib.suppress(OperationFailed):
                    self.cold_check(figures)
        self.cli(figures, "full", self.cli_uri, depth=False)
        self.cli(figures, "floor", self.floor_uri, depth=True)

    # `in` and `check` alone (Runner.lockpool runs them after the acquire and the release), with its checks.

    def cold_in(self, figures):
        o = self.origin
        destination = os.path.join(self.scratch("in"), "lock")
        seconds, output, rss, cache = self.resource("in", {"source": self.source, "version": {"ref": o.tip}},
                                                    destination)
        figures["in"].append(seconds)
        figures["in_rss_mb"].append(rss)
        figures["in_cache_bytes"].append(cache)
        figures["in_destination_bytes"].append(history._tree_size(destination))
        o.expect(output["version"] == {"ref": o.tip}, f"in answered {output['version']}, not the tip")
        o.expect(history._read(destination, "name") == o.subject + "\n", "in wrote another lock's name")
        shutil.rmtree(os.path.dirname(destination), ignore_errors=True)

    def cold_check(self, figures):
        seconds, output, rss, _ = self.resource("check", {"source": self.source})
        figures["check"].append(seconds)
        figures["check_rss_mb"].append(rss)
        self.origin.expect(output == [{"ref": self.origin.tip}], f"check answered {output}, not the tip")


def _sshd_lines(text, limit=3):
    """sshd's log lines that say why a login failed (LogLevel VERBOSE)."""
    words = ("not in pubkeyacceptedalgorithms", "refused", "failed", "invalid", "error", "disconnect", "closed by")
    lines = [line.strip() for line in text.splitlines()
             if any(word in line.lower() for word in words) and line.strip()]
    return lines[:limit]


# the section

def _transports(options):
    return list(getattr(options, "rtt_transports", None) or TRANSPORTS)


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
            wants_ssh = any(t.startswith("ssh-") for t in _transports(options))
            ssh_skipped = SSHServer.unavailable() if wants_ssh else None
            if ssh_skipped:
                log(f"rtt: ssh skipped: {ssh_skipped}")
            with ServerDaemon(ws, link, ws.path("rtt-repos")) as daemon, (
                    SSHServer(ws, link) if wants_ssh and not ssh_skipped else contextlib.nullcontext()) as sshd:
                return _measure(ws, options, log, link, daemon, sshd, ssh_skipped, origins)
    except Skip as skip:
        log(f"rtt: skipped: {skip}")
        return {"skipped": str(skip)}
    finally:
        signal.signal(signal.SIGTERM, interrupted)


def _curve(ws, options, log, link, rtt_ms, origins, name, make_runner):
    """The rows of one transport: every size, options.rtt_runs cold runs each."""
    rows = []
    for size, (origin, repository_bytes) in origins.items():
        meter = Meter(link, rtt_ms / 1000)
        runner = make_runner(origin, meter)
        start = time.monotonic()
        for index in range(options.rtt_runs):
            meter.start(f"{name}, {size} commits, run {index + 1}")
            failed = {op: len(meter.failures[op]) for op in OPS}
            runner.run(meter.figures)

            def cell(op):
                if len(meter.failures[op]) > failed[op]:
                    return f"{LABELS[op]} FAILED"
                return (f"{LABELS[op]} {meter.figures[op][-1] * 1000 / rtt_ms:.1f} RTT/"
                        f"{meter.traffic[op][-1]['connections']} conn")

            log(f"rtt: {name}, {size} commits, run {index + 1}/{options.rtt_runs}: "
                + ", ".join(cell(op) for op in ("acquire", "in", "cli_floor_acquire")))
            for op in OPS:
                for failure in meter.failures[op][failed[op]:]:
                    log(f"rtt: {name}, {size} commits: {op} failed after {failure['seconds'] * 1000:.0f} ms: "
                        f"{failure['error']}" + "".join(f"\n  sshd: {line}" for line in failure["server_log"]))
        shutil.rmtree(ws.path("history-work"), ignore_errors=True)
        rows.append(_row(size, repository_bytes, meter, rtt_ms, time.monotonic() - start))
    return rows


def _measure(ws, options, log, link, daemon, sshd, ssh_skipped, origins):
    transports = _transports(options)
    ping = link.probe("ping", link.addresses["server"], "10")
    handshakes = link.probe("connect", link.addresses["server"], str(PORT), "5")
    rtt_ms = statistics.median(ping)
    log(f"rtt: link {link.subnet}, {link.one_way_ms:g} ms each way: ping median {rtt_ms:.1f} ms "
        f"(min {min(ping):.1f}, max {max(ping):.1f}), TCP handshake median {statistics.median(handshakes):.1f} ms")
    if abs(rtt_ms - options.rtt_ms) > max(5.0, 0.2 * options.rtt_ms):
        raise RuntimeError(f"the link's round trip is {rtt_ms:.1f} ms, not about {options.rtt_ms} ms")
    ssh = {"skipped": ssh_skipped} if ssh_skipped else None
    if sshd is not None:
        ssh_handshakes = link.probe("connect", link.addresses["server"], str(SSH_PORT), "3")  # waits for sshd
        sshd.check_running()
        log(f"rtt: {sshd.version} on {link.addresses['server']}:{SSH_PORT}, TCP handshake median "
            f"{statistics.median(ssh_handshakes):.1f} ms")
        ssh = {"server": sshd.version, "port": SSH_PORT, "user": sshd.user,
               "configuration": "OpenSSH defaults (no PubkeyAcceptedAlgorithms override); test settings as "
                                "Tests/TestSupport/SSHServer.swift",
               "client_keys": {"ed25519": "ssh-keygen -t ed25519", "rsa": "ssh-keygen -t rsa -b 3072 -m PEM "
                                                                          "(PKCS#1 PEM)"},
               "git_cli": "GIT_SSH_COMMAND=" + ssh_command("KEY"),
               "tcp_handshake_ms": _spread(ssh_handshakes), "keys": {}}
    before = link.stats()
    rows = []
    if "git" in transports:
        rows = _curve(ws, options, log, link, rtt_ms, origins, "git://", lambda origin, meter: history.Runner(
            ws, origin, daemon.url(origin.name), daemon.url(origin.name), daemon.url(origin.name),
            wrapper=link.enter("client")))
    for key in KEY_TYPES:
        if f"ssh-{key}" not in transports or sshd is None:
            continue
        ssh["keys"][key] = {"rows": _curve(
            ws, options, log, link, rtt_ms, origins, f"ssh {key}",
            lambda origin, meter, key=key: SSHRunner(ws, origin, sshd, key, link.enter("client"), meter))}
        sshd.check_running()
    after = link.stats()
    failed = [f"ssh {key}, {row['size']} commits: {op}" for key, data in (ssh or {}).get("keys", {}).items()
              for row in data["rows"] for op in OPS if row[op].get("failed")]
    return {"rtt_ms": options.rtt_ms, "runs": options.rtt_runs, "sizes": list(origins), "transports": transports,
            "trace": options.rtt_trace,
            "link": {"subnet": link.subnet, "one_way_ms": link.one_way_ms,
                     "transport": "git daemon (git://)" + (" and sshd (ssh://)" if sshd is not None else ""),
                     "ping_ms": _spread(ping), "tcp_handshake_ms": _spread(handshakes), "measured_rtt_ms": rtt_ms,
                     "relay": {key: after[key] for key in ("oversize", "send_errors", "last_send_error",
                                                            "kernel_drops", "max_queue", "scheduling")},
                     "frames": {d: after[d]["frames"] - before[d]["frames"] for d in ("up", "down")}},
            "rows": rows, "ssh": ssh, "failed_operations": failed, "ok": not failed}


def _spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "count": len(values)}


def _row(size, repository_bytes, meter, rtt_ms, seconds):
    row = {"size": size, "repository_bytes": repository_bytes, "seconds": seconds}
    for op in OPS:
        times = meter.figures[op]
        traffic = meter.traffic[op]
        summary = summary_ms(times)
        entry = dict(summary)
        if times:
            entry.update({
                "rtts": summary["median_ms"] / rtt_ms, "min_rtts": summary["min_ms"] / rtt_ms,
                "connections": {"median": statistics.median(t["connections"] for t in traffic),
                                "max": max(t["connections"] for t in traffic)},
                "syn_repeats": sum(t["syn_repeats"] for t in traffic),
                **{key: statistics.median(t[key] for t in traffic)
                   for key in traffic[0] if key not in ("connections", "syn_repeats")}})
        failures = meter.failures[op]
        if failures:
            entry.update({"failed": len(failures), "error": failures[-1]["error"],
                          "server_log": failures[-1]["server_log"], "failures": failures})
        row[op] = entry
    for name in ("acquire_rss_mb", "in_rss_mb"):
        row[name] = max(meter.figures[name]) if meter.figures[name] else None
    return row


# targets and table

def _ssh_keys(result):
    return (result.get("ssh") or {}).get("keys", {})


def targets(result):
    """(figure, value, shown, target, ok) rows of the issues' round-trip targets; ok None off 50 ms, False for an
    operation that failed."""
    if result.get("skipped"):
        return [("rtt: history curve over a 50 ms link", None, "skipped", "(reason in section 7)", None)]
    rows = []
    ms = result["rtt_ms"]
    judged = ms == TARGET_MS
    suffix = "" if judged else f" (at {TARGET_MS} ms)"
    for row in result.get("rows", []):
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
    if (result.get("ssh") or {}).get("skipped"):
        rows.append((f"rtt {ms:g} ms ssh", None, "skipped", "(reason in section 7)", None))
    for key, data in _ssh_keys(result).items():
        for row in data["rows"]:
            prefix = f"rtt {ms:g} ms ssh {key}, {row['size']} commits"
            acquire = row["acquire"]
            if acquire.get("failed"):
                rows.append((f"{prefix}: cold acquire connections (max)", None, "failed",
                             f"≤ {SSH_ACQUIRE_CONNECTIONS}{suffix}", False))
            else:
                rows.append((f"{prefix}: cold acquire connections (max)", acquire["connections"]["max"],
                             f"{acquire['connections']['max']}", f"≤ {SSH_ACQUIRE_CONNECTIONS}{suffix}",
                             acquire["connections"]["max"] <= SSH_ACQUIRE_CONNECTIONS if judged else None))
            for op, label, bound in (("acquire", "cold acquire", SSH_ACQUIRE_RTTS), ("in", "cold in", SSH_IN_RTTS)):
                s = row[op]
                if s.get("failed"):
                    rows.append((f"{prefix}: {label}", None, f"failed ({s['failed']} of {s['failed'] + s['runs']} "
                                 f"runs)", f"≤ {bound:g} RTT{suffix}", False))
                elif not s.get("runs"):
                    rows.append((f"{prefix}: {label}", None, "not run", f"≤ {bound:g} RTT{suffix}", None))
                else:
                    rows.append((f"{prefix}: {label}", s["rtts"], f"{s['rtts']:.1f} RTT ({s['median_ms']:.0f} ms)",
                                 f"≤ {bound:g} RTT{suffix}", s["rtts"] <= bound if judged else None))
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


def _print_rows(rows):
    print(f"  {'commits':>8} {'operation':<9} {'median':>8} {'RTT':>6} {'min RTT':>7} {'conns':>5} "
          f"{'frames up/down':>15} {'bytes up/down':>15} {'data segs up/down':>18}")
    for row in rows:
        for op in OPS:
            s = row[op]
            if not s.get("runs"):
                print(f"  {row['size']:>8} {LABELS[op]:<9} {'failed' if s.get('failed') else 'not run':>8}")
                continue
            print(f"  {row['size']:>8} {LABELS[op]:<9} {history._cell(s):>8} {s['rtts']:>6.1f} {s['min_rtts']:>7.1f} "
                  f"{s['connections']['median']:>5g} "
                  f"{_size(s['frames_up']) + '/' + _size(s['frames_down']):>15} "
                  f"{_size(s['bytes_up']) + '/' + _size(s['bytes_down']):>15} "
                  f"{_size(s['segments_up']) + '/' + _size(s['segments_down']):>18}"
                  + (f"  ({s['failed']} more runs failed)" if s.get("failed") else ""))
    for row in rows:
        for op in OPS:
            s = row[op]
            if s.get("failed"):
                f = s["failures"]
                print(f"  FAILED {row['size']} commits, {LABELS[op]}: {s['failed']} of {s['failed'] + s['runs']} runs, "
                      f"after {statistics.median(x['seconds'] for x in f) * 1000:.0f} ms "
                      f"({statistics.median(x['rtts'] for x in f):.1f} RTT, "
                      f"{statistics.median(x['connections'] for x in f):g} conns, data segs "
                      f"{statistics.median(x['segments_up'] for x in f):g}/"
                      f"{statistics.median(x['segments_down'] for x in f):g}): {s['error']}")
                for line in s["server_log"]:
                    print(f"    sshd: {line}")


def print_section(result, table):
    if result.get("skipped"):
        print(f"\n7. History curve over a round-trip link: skipped ({result['skipped']})")
        return
    link = result["link"]
    print(f"\n7. History curve over a {result['rtt_ms']:g} ms round-trip link, {link['transport']} in another network "
          f"namespace ({link['subnet']}, relay {link['one_way_ms']:g} ms each way): cold operations, medians of "
          f"{result['runs']} runs")
    ping = link["ping_ms"]
    print(f"  measured round trip: ICMP echo median {ping['median']:.1f} ms (min {ping['min']:.1f}, max "
          f"{ping['max']:.1f}, {ping['count']} echoes); TCP handshake median "
          f"{link['tcp_handshake_ms']['median']:.1f} ms; RTT below = wall time / {link['measured_rtt_ms']:.1f} ms")
    relay = link["relay"]
    print(f"  relay: {link['frames']['up']} frames up, {link['frames']['down']} down; {relay['oversize']} above the "
          f"MTU, {relay['send_errors']} failed sends, {relay['kernel_drops']} dropped, deepest queue "
          f"{relay['max_queue']}; scheduled {relay['scheduling']}")
    if result.get("rows"):
        print("  git:// (git daemon):")
        _print_rows(result["rows"])
    ssh = result.get("ssh") or {}
    if ssh.get("skipped"):
        print(f"  ssh: skipped ({ssh['skipped']})")
    for key, data in _ssh_keys(result).items():
        print(f"  ssh:// ({ssh['server']}, default algorithms), {key} client key ({ssh['client_keys'][key]}); "
              f"lockpool: source.private_key; git CLI: GIT_SSH_COMMAND=ssh -i KEY:")
        _print_rows(data["rows"])
    print("  (CLI = git clone --single-branch + mv + commit + push, d1 = the same with --depth 1; conns = TCP "
          "connections opened, median)")
    if result.get("trace"):
        print(f"  trace of every TCP segment (seconds, direction, client port, flags, payload): {result['trace']}")
    for figure, _, shown, target, ok in targets(result):
        print(f"  {figure}: {shown}, target {target}: {'-' if ok is None else 'PASS' if ok else 'MISS'}")
