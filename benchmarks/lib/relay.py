"""A delaying Ethernet link for the rtt section (issue 16), and two probes of it.

This kernel has no netem, so the link's delay is made here: `forward` opens AF_PACKET sockets on two interfaces (the
root namespace's ends of two veth pairs whose other ends sit in the client's and the server's namespace) and sends
every frame received on one out of the other after a fixed delay, in arrival order. The kernels on both sides see an
ordinary link with a long wire, so TCP's initial window, slow start, delayed ACKs and Nagle show as on a real
network. The link has no bandwidth limit and loses nothing (a drop in the relay's socket is counted, not hidden).

It runs as its own process, so the benchmark's interpreter (and its GIL) never delays a frame:
  python3 relay.py forward CLIENT_IF SERVER_IF ONE_WAY_MS [TRACE_FILE]
Commands come on stdin, one a line: `stats` answers one JSON line on stdout (the counters below, from the start);
`quit` or the end of stdin stops it, so it never outlives the benchmark. `mark TEXT` writes TEXT to the trace.
Counters, per direction (`up` = client to server, `down`): frames, bytes (whole frames), TCP segments that carry data,
TCP payload bytes; up only: SYNs without ACK (connections opened) and those of them that repeat an earlier SYN
(retransmissions). Also: frames longer than the link's MTU (an offload was left on), failed sends, the kernel's drops,
the deepest queue, and the relay's scheduling (real-time where allowed, so that busy cores do not delay frames).
TRACE_FILE, when given, gets one tab-separated line per TCP segment as it arrives: seconds since the start,
direction, client port, flags (S, A, F, R, P), payload bytes. It shows how a request leaves (one write or many small
segments) and which round trips an operation waits for.

Probes, run inside the client's namespace (`nsenter --net=… python3 relay.py ping ADDRESS COUNT`); each prints JSON:
  ping ADDRESS COUNT          ICMP echo round trips in ms (the same exchange as iputils ping, which minimal Debian
                              images lack); a raw socket, so root
  connect ADDRESS PORT COUNT  waits up to 20 s for a listener, then times COUNT TCP handshakes (connect() returns
                              after SYN and SYN-ACK: one round trip as TCP sees it)
Python 3 standard library only.
"""
import collections
import json
import os
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20: our own sends are not read back
PACKET_OUTGOING = 4
SO_RCVBUFFORCE = 33
BUFFER = 16 << 20  # room for a burst of a full window (a cold fetch of 10 MB) without kernel drops
ETHERNET_HEADER = 14


def _open(interface):
    """A non-blocking AF_PACKET socket that reads and writes every frame of `interface`."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, BUFFER)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
    try:
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # older kernel: outgoing frames are skipped by their packet type instead
    sock.bind((interface, ETH_P_ALL))
    sock.setblocking(False)
    return sock


def _mtu(interface):
    with open(f"/sys/class/net/{interface}/mtu") as f:
        return int(f.read())


class Direction:
    """The counters of one direction of the link."""

    def __init__(self, up):
        self.up = up  # client to server: the client's port is the source port
        self.frames = self.bytes = self.segments = self.payload = self.syns = self.syn_repeats = 0
        self.seen_syns = set()

    def count(self, frame):
        """Counts `frame`; returns (client port, flags, payload bytes) of a TCP segment, else None."""
        self.frames += 1
        self.bytes += len(frame)
        if len(frame) < ETHERNET_HEADER + 20 or frame[12:14] != b"\x08\x00" or frame[23] != socket.IPPROTO_TCP:
            return None
        ip_length = (frame[14] & 0x0F) * 4
        total = struct.unpack_from("!H", frame, 16)[0]
        tcp = ETHERNET_HEADER + ip_length
        if len(frame) < tcp + 14:
            return None
        payload = total - ip_length - (frame[tcp + 12] >> 4) * 4
        if payload > 0:
            self.segments += 1
            self.payload += payload
        flags = frame[tcp + 13]
        if flags & 0x02 and not flags & 0x10:  # SYN without ACK: a connection is opened
            self.syns += 1
            key = frame[26:34] + frame[tcp:tcp + 8]  # addresses, ports, initial sequence number
            if key in self.seen_syns:
                self.syn_repeats += 1
            self.seen_syns.add(key)
        return struct.unpack_from("!H", frame, tcp if self.up else tcp + 2)[0], flags, payload

    def as_dict(self):
        return {"frames": self.frames, "bytes": self.bytes, "segments": self.segments, "payload": self.payload,
                "syns": self.syns, "syn_repeats": self.syn_repeats}


def _prioritise():
    """Real-time scheduling where allowed, else a high priority: on 2 busy cores (a cold fetch of 50,000 commits
    keeps lockpool and git daemon on the CPU) the relay must still wake on time. It sleeps in select between frames,
    so it takes little."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return "SCHED_FIFO 10"
    except (OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
        return "nice -10"
    except OSError:
        return "default"


class Relay:
    """The link between the interfaces `client` and `server`: every frame leaves the other side `one_way_ms` after it
    arrived, in arrival order (a FIFO per direction: the delay is the same for every frame)."""

    def __init__(self, client, server, one_way_ms, trace_path=None):
        self.delay = one_way_ms / 1000
        self.sockets = {client: _open(client), server: _open(server)}
        self.other = {client: server, server: client}
        self.direction = {client: "up", server: "down"}  # of a frame read on the interface
        self.counters = {"up": Direction(True), "down": Direction(False)}
        self.queues = {client: collections.deque(), server: collections.deque()}  # (due, frame) read on the key
        self.limit = {name: _mtu(name) + ETHERNET_HEADER for name in self.sockets}
        self.extra = {"oversize": 0, "send_errors": 0, "last_send_error": None, "kernel_drops": 0, "max_queue": 0,
                      "scheduling": _prioritise()}
        self.by_fd = {sock.fileno(): name for name, sock in self.sockets.items()}
        self.trace = Trace(trace_path) if trace_path else None

    def run(self):
        """Relays until stdin ends or says `quit`."""
        stdin = sys.stdin.fileno()
        pending = b""
        print(json.dumps({"ready": True}), flush=True)
        try:
            while True:
                heads = [queue[0][0] for queue in self.queues.values() if queue]
                timeout = max(0.0, min(heads) - time.monotonic()) if heads else None
                for fd in select.select([stdin, *self.by_fd], [], [], timeout)[0]:
                    if fd != stdin:
                        self._drain(self.by_fd[fd])
                        continue
                    data = os.read(stdin, 4096)
                    if not data:
                        return
                    pending += data
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        if not self._command(line.strip().decode()):
                            return
                self._send_due()
        finally:
            if self.trace:
                self.trace.file.close()

    def _command(self, command):
        """Carries out one stdin command; False for `quit`."""
        if command == "quit":
            return False
        if command.startswith("mark ") and self.trace:
            self.trace.mark(command[5:])
        elif command == "stats":
            for sock in self.sockets.values():  # the kernel's counts are reset by each read
                self.extra["kernel_drops"] += struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))[1]
            print(json.dumps({**{k: c.as_dict() for k, c in self.counters.items()}, **self.extra}), flush=True)
        return True

    def _drain(self, name):
        """Reads every frame waiting on interface `name` into its queue, due after the delay."""
        sock, queue, direction = self.sockets[name], self.queues[name], self.direction[name]
        while True:
            try:
                frame, address = sock.recvfrom(1 << 16)
            except BlockingIOError:
                break
            if address[2] == PACKET_OUTGOING:
                continue
            if len(frame) > self.limit[self.other[name]]:
                self.extra["oversize"] += 1
            segment = self.counters[direction].count(frame)
            if segment and self.trace:
                self.trace.segment(direction, *segment)
            queue.append((time.monotonic() + self.delay, frame))
        self.extra["max_queue"] = max(self.extra["max_queue"], len(queue))

    def _send_due(self):
        now = time.monotonic()
        for name, queue in self.queues.items():
            out = self.sockets[self.other[name]]
            while queue and queue[0][0] <= now:
                frame = queue.popleft()[1]
                try:
                    out.send(frame)
                except OSError as error:
                    self.extra["send_errors"] += 1
                    self.extra["last_send_error"] = str(error)


class Trace:
    """The trace file: a line per TCP segment, and the benchmark's marks between operations."""
    FLAGS = ((0x02, "S"), (0x10, "A"), (0x01, "F"), (0x04, "R"), (0x08, "P"))

    def __init__(self, path):
        self.file = open(path, "w", buffering=1 << 16)
        self.start = time.monotonic()

    def segment(self, direction, port, flags, payload):
        names = "".join(name for bit, name in self.FLAGS if flags & bit)
        self.file.write(f"{time.monotonic() - self.start:.6f}\t{direction}\t{port}\t{names}\t{payload}\n")

    def mark(self, text):
        self.file.write(f"{time.monotonic() - self.start:.6f}\t#\t{text}\n")
        self.file.flush()


# probes

def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(address, count, interval=0.05, timeout=2.0):
    """Round trips in ms of `count` ICMP echoes to `address`, one every `interval` seconds after the last reply."""
    ident = os.getpid() & 0xFFFF
    results = []
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        for sequence in range(1, count + 1):
            header = struct.pack("!BBHHH", 8, 0, 0, ident, sequence)
            body = b"lockpool-bench".ljust(48, b".")
            packet = struct.pack("!BBHHH", 8, 0, _checksum(header + body), ident, sequence) + body
            start = time.perf_counter()
            sock.sendto(packet, (address, 0))
            deadline = start + timeout
            while True:
                left = deadline - time.perf_counter()
                if left <= 0 or not select.select([sock], [], [], left)[0]:
                    raise RuntimeError(f"no ICMP echo reply from {address} within {timeout:.0f} s")
                reply = sock.recv(1 << 16)
                icmp = (reply[0] & 0x0F) * 4
                kind, _, _, reply_ident, reply_sequence = struct.unpack_from("!BBHHH", reply, icmp)
                if kind == 0 and reply_ident == ident and reply_sequence == sequence:
                    results.append((time.perf_counter() - start) * 1000)
                    break
            time.sleep(interval)
    return results


def connect(address, port, count, wait=20.0):
    """Waits for a listener on address:port, then returns the times in ms of `count` TCP handshakes."""
    deadline = time.monotonic() + wait
    while True:
        try:
            socket.create_connection((address, port), timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    results = []
    for _ in range(count):
        with socket.socket() as sock:
            start = time.perf_counter()
            sock.connect((address, port))
            results.append((time.perf_counter() - start) * 1000)
        time.sleep(0.05)
    return results


def main(argv):
    command, *args = argv
    if command == "forward":
        Relay(args[0], args[1], float(args[2]), args[3] if len(args) > 3 else None).run()
    elif command == "ping":
        print(json.dumps(ping(args[0], int(args[1]))))
    elif command == "connect":
        print(json.dumps(connect(args[0], int(args[1]), int(args[2]))))
    else:
        raise SystemExit(f"relay.py: unknown command {command!r} (forward, ping, connect)")


if __name__ == "__main__":
    main(sys.argv[1:])
