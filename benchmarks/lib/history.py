"""Section 6: the history curve (issue 16). Cold `out` acquire, cold `out` release, cold `in` at the tip and cold
`check` on lock repositories with 1 to 200,000 prior commits, each next to the git CLI doing the same change in the
same run, over the local bare repository (its path) and over `git daemon` on 127.0.0.1.

Cold: every lockpool invocation gets a new, empty TMPDIR, so its cache is empty, as in a Concourse container. The
repositories are written once per size with `git fast-import` (scale.history_repository: a seed of 6 locks in pool
`envs`, then claims and releases with lockpool's messages and trailers; 200,000 commits take about 20 s), repacked
as a server keeps them (`git repack -a -d -f`: about 200 bytes a commit), and shared by every operation and transport
of the run: after each change the branch is set back to its generated tip, so every run sees the same history length
and the same lock states.

One run at one size, interleaved so that lockpool and the git CLI see the same machine load:
  lockpool      out acquire; out release of that lock from its step directory (name, claim_ref); in at the tip;
                check without a version. Each in its own new TMPDIR.
  git CLI full  git clone --single-branch + git mv + git commit + git push: the claim, then the release in a new clone
                (what the upstream resource does for each put); `in`: git clone --single-branch.
  git CLI floor the same with --depth 1: what a client that fetches only the tip pays.
Over the local transport git gets the path as well (a local clone hardlinks the objects); git ignores --depth for a
plain path, so the depth-1 clones use the file:// URL of the same repository.

Every operation is checked, not only timed (a mismatch fails the section, so a run at a small size is a correctness
test): out's version is the new tip and its parent the generated tip; an acquire moves one unclaimed lock to claimed/
and nothing else; the release's tree is the generated tip's tree again; `in` at the tip names the lock the tip
changed and writes claim_ref exactly when the tip claims it; check answers the tip; the git CLI's changes leave the
same states.

Also recorded: peak RSS of every lockpool process (ru_maxrss from wait4), the size of each cold cache after the
operation (about what it fetched, as stored) and of `in`'s destination.

Over a link with added round-trip time (issue 16: 50 ms, git daemon), with connections per operation and time in
RTTs: rtt.py, which runs this Runner in another network namespace behind a delaying relay (relay.py).
"""
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .common import summary_ms, write_step_dir
from .contention import GitDaemon
from .scale import history_repository

POOL = "envs"
TRANSPORTS = ("local", "daemon")
LOCKPOOL_OPS = ("acquire", "release", "in", "check")
CLI_OPS = ("cli_full_acquire", "cli_full_release", "cli_floor_acquire", "cli_floor_release", "cli_full_in",
           "cli_floor_in")
COLUMNS = (("acquire", "acquire"), ("release", "release"), ("in", "in"), ("check", "check"),
           ("cli_full_acquire", "CLI acq"), ("cli_full_release", "CLI rel"), ("cli_full_in", "CLI in"),
           ("cli_floor_acquire", "d1 acq"), ("cli_floor_release", "d1 rel"), ("cli_floor_in", "d1 in"))
# The targets: (size, of size, at most ×) and the peak RSS bound.
FLAT_ACQUIRE = ((50000, 1, 1.5), (200000, 1, 1.5))
FLOOR_SIZE, FLOOR_FRACTION = 50000, 0.25
FLAT_IN = (50000, 1, 2.0)
RSS_SIZE, RSS_MB = 200000, 40.0
DEFAULT_SIZES, QUICK_SIZES = "1,1000,10000,50000,200000", "1,1000"


def parse_sizes(text):
    """`1,1000,10k,50000` → [1, 1000, 10000, 50000] (sorted, unique); raises ValueError on anything else."""
    sizes = set()
    for item in text.split(","):
        item = item.strip().lower().replace("_", "")
        if not item:
            continue
        factor = 1000 if item.endswith("k") else 1
        value = int(item.removesuffix("k")) * factor
        if value < 1:
            raise ValueError(f"history size {item} is below 1")
        sizes.add(value)
    if not sizes:
        raise ValueError("no history size given")
    return sorted(sizes)


# processes

def _reap(argv, env, stdin=b"", cwd=None):
    """Runs argv; returns (seconds, returncode, stdout, stderr, peak RSS MB), timed from start to reaping."""
    with tempfile.TemporaryFile() as i, tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
        i.write(stdin)
        i.seek(0)
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdin=i, stdout=o, stderr=e, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        o.seek(0)
        e.seek(0)
        return seconds, process.returncode, o.read(), e.read().decode(errors="replace"), usage.ru_maxrss / 1024


def _tree_size(path):
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total


class Mismatch(RuntimeError):
    """An operation succeeded but left another state than expected."""


class Origin:
    """One generated repository: its path, its generated tip and what the tip holds."""

    def __init__(self, ws, path, size):
        self.ws, self.path, self.size = ws, path, size
        self.name = os.path.basename(path)
        self.tip = ws.git("rev-parse", "master", cwd=path).strip()
        self.tree = self.tree_of(self.tip)
        self.state = self.state_at(self.tip)
        if not self.state[1]:
            raise RuntimeError(f"the generated {size}-commit repository has no unclaimed lock at its tip")
        self.cli_lock = sorted(self.state[1])[0]
        self.subject, self.subject_claimed = self._subject()

    def git(self, *args):
        return self.ws.git(*args, cwd=self.path).strip()

    def head(self):
        return self.git("rev-parse", "master")

    def tree_of(self, commit):
        return self.git("rev-parse", f"{commit}^{{tree}}")

    def state_at(self, commit):
        """(claimed, unclaimed) lock names at `commit`."""
        claimed, unclaimed = set(), set()
        for path in self.git("ls-tree", "-r", "--name-only", commit, f"{POOL}/").splitlines():
            parts = path.split("/")
            if len(parts) == 3 and parts[2] != ".gitkeep":
                (claimed if parts[1] == "claimed" else unclaimed).add(parts[2])
        return frozenset(claimed), frozenset(unclaimed)

    def _subject(self):
        """The lock `in` at the tip names (the first lock entry the tip changes, in byte order) and whether the tip
        claims it (then `in` writes claim_ref)."""
        changed = self.git("diff-tree", "--root", "--no-commit-id", "--name-only", "-r", self.tip).splitlines()
        entries = sorted(p for p in changed if p.startswith(f"{POOL}/") and not p.endswith("/.gitkeep"))
        if not entries:
            raise RuntimeError(f"the tip of the {self.size}-commit repository changes no lock")
        lock = entries[0].split("/")[2]
        return lock, lock in self.state[0]

    def reset(self):
        """Sets the branch back to the generated tip (the changes of a run become unreachable)."""
        self.git("update-ref", "refs/heads/master", self.tip)

    def expect(self, condition, text):
        if not condition:
            raise Mismatch(f"{self.size} commits: {text}")


def _moved(state, lock, to_claimed):
    claimed, unclaimed = set(state[0]), set(state[1])
    (unclaimed if to_claimed else claimed).discard(lock)
    (claimed if to_claimed else unclaimed).add(lock)
    return frozenset(claimed), frozenset(unclaimed)


class Runner:
    """The operations of one run, timed and checked; every lockpool process in a new TMPDIR."""

    def __init__(self, ws, origin, uri, cli_uri, floor_uri, wrapper=()):
        self.ws, self.origin = ws, origin
        self.uri, self.cli_uri, self.floor_uri = uri, cli_uri, floor_uri
        # Prefixed to every process that talks to the remote (lockpool, git clone, git push); rtt.py runs them in
        # the client's network namespace with it.
        self.wrapper = tuple(wrapper)
        self.source = {"uri": uri, "branch": "master", "pool": POOL}
        self.counter = 0

    def scratch(self, kind):
        self.counter += 1
        return self.ws.mkdir("history-work", f"{self.origin.size}-{kind}-{self.counter}")

    def resource(self, executable, request, *argv):
        """(seconds, output JSON, peak RSS MB, cache bytes) of one cold run."""
        tmp = self.scratch("tmp")
        env = dict(self.ws.env, TMPDIR=tmp)
        seconds, status, stdout, stderr, rss = _reap([*self.wrapper, self.ws.executable(executable), *argv], env,
                                                     stdin=json.dumps(request).encode())
        if status != 0:
            raise RuntimeError(f"{executable} on {self.origin.size} commits ({self.uri}) failed ({status}):\n"
                               f"{stderr[-2000:]}")
        cache = _tree_size(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        return seconds, json.loads(stdout.decode()), rss, cache

    def lockpool(self, figures):
        o = self.origin
        build = self.scratch("build")
        seconds, output, rss, cache = self.resource("out", {"source": self.source, "params": {"acquire": True}},
                                                    build)
        figures["acquire"].append(seconds)
        figures["acquire_rss_mb"].append(rss)
        figures["acquire_cache_bytes"].append(cache)
        lock = _lock(output)
        claim = output["version"]["ref"]
        o.expect(lock in o.state[1], f"acquire took {lock}, which was not unclaimed")
        o.expect(o.head() == claim, f"acquire answered {claim}, not the branch tip {o.head()}")
        o.expect(o.git("rev-parse", f"{claim}^") == o.tip, "the acquire's parent is not the generated tip")
        o.expect(o.state_at(claim) == _moved(o.state, lock, True), f"the acquire of {lock} left another state")

        write_step_dir(os.path.join(build, "lock"), lock, claim)
        seconds, output, rss, cache = self.resource("out", {"source": self.source, "params": {"release": "lock"}},
                                                    build)
        figures["release"].append(seconds)
        figures["release_rss_mb"].append(rss)
        release = output["version"]["ref"]
        o.expect(_lock(output) == lock, f"release answered lock {_lock(output)}, not {lock}")
        o.expect(o.head() == release, "the release is not the branch tip")
        o.expect(o.git("rev-parse", f"{release}^") == claim, "the release's parent is not the acquire")
        o.expect(o.tree_of(release) == o.tree, "the release did not restore the generated tip's tree")
        shutil.rmtree(build, ignore_errors=True)
        o.reset()

        destination = os.path.join(self.scratch("in"), "lock")
        seconds, output, rss, cache = self.resource("in", {"source": self.source, "version": {"ref": o.tip}},
                                                    destination)
        figures["in"].append(seconds)
        figures["in_rss_mb"].append(rss)
        figures["in_cache_bytes"].append(cache)
        figures["in_destination_bytes"].append(_tree_size(destination))
        o.expect(output["version"] == {"ref": o.tip}, f"in answered {output['version']}, not the tip")
        o.expect(_read(destination, "name") == o.subject + "\n", f"in wrote name {_read(destination, 'name')!r}, "
                                                                 f"not {o.subject}")
        claim_ref = _read(destination, "claim_ref")
        o.expect(claim_ref == (o.tip + "\n" if o.subject_claimed else None),
                 f"in wrote claim_ref {claim_ref!r} (the tip {'claims' if o.subject_claimed else 'releases'} "
                 f"{o.subject})")
        shutil.rmtree(os.path.dirname(destination), ignore_errors=True)

        seconds, output, rss, cache = self.resource("check", {"source": self.source})
        figures["check"].append(seconds)
        figures["check_rss_mb"].append(rss)
        o.expect(output == [{"ref": o.tip}], f"check answered {output}, not the tip")

    def cli(self, figures, kind, uri, depth):
        """git CLI: the claim and the release of one lock (each a new clone), then a clone as `in` would."""
        o = self.origin
        lock = o.cli_lock
        depth_args = ["--depth", "1"] if depth else []
        moves = ((f"{POOL}/unclaimed/{lock}", f"{POOL}/claimed/{lock}", f"claiming: {lock}", "acquire"),
                 (f"{POOL}/claimed/{lock}", f"{POOL}/unclaimed/{lock}", f"unclaiming: {lock}", "release"))
        for source, target, message, op in moves:
            clone = os.path.join(self.scratch(f"{kind}-{op}"), "clone")
            start = time.perf_counter()
            self.remote_git("clone", "-q", "--single-branch", "--branch", "master", *depth_args, uri, clone)
            self.ws.git("mv", source, target, cwd=clone)
            self.ws.git("commit", "-qm", message, cwd=clone)
            self.remote_git("push", "-q", "origin", "HEAD:master", cwd=clone)
            figures[f"cli_{kind}_{op}"].append(time.perf_counter() - start)
            figures[f"cli_{kind}_{op}_clone_bytes"].append(_tree_size(os.path.join(clone, ".git")))
            shutil.rmtree(os.path.dirname(clone), ignore_errors=True)
        o.expect(o.git("rev-parse", "master~2") == o.tip, f"the git CLI ({kind}) did not add exactly two commits")
        o.expect(o.state_at("master~1") == _moved(o.state, lock, True), f"the git CLI ({kind}) claim left another "
                                                                         f"state")
        o.expect(o.tree_of("master") == o.tree, f"the git CLI ({kind}) release did not restore the tree")
        o.reset()
        clone = os.path.join(self.scratch(f"{kind}-in"), "clone")
        start = time.perf_counter()
        self.remote_git("clone", "-q", "--single-branch", "--branch", "master", *depth_args, uri, clone)
        figures[f"cli_{kind}_in"].append(time.perf_counter() - start)
        o.expect(self.ws.git("rev-parse", "HEAD", cwd=clone).strip() == o.tip, f"the git CLI ({kind}) clone is not "
                                                                                f"at the tip")
        shutil.rmtree(os.path.dirname(clone), ignore_errors=True)

    def remote_git(self, *args, cwd=None):
        """The workspace's git, inside `self.wrapper`: for the git CLI steps that talk to the remote."""
        if not self.wrapper:
            return self.ws.git(*args, cwd=cwd)
        done = subprocess.run([*self.wrapper, "git", *args], cwd=cwd, env=self.ws.env, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace')}")
        return done.stdout.decode(errors="replace")

    def run(self, figures):
        self.lockpool(figures)
        self.cli(figures, "full", self.cli_uri, depth=False)
        self.cli(figures, "floor", self.floor_uri, depth=True)


def _lock(output):
    for entry in output.get("metadata", []):
        if entry.get("name") == "lock_name":
            return entry["value"]
    raise RuntimeError(f"no lock_name in {output}")


def _read(directory, name):
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _summaries(figures):
    row = {}
    for name, values in figures.items():
        if name.endswith("_mb"):
            row[name] = {"max": max(values), "median": statistics.median(values)} if values else None
        elif name.endswith("_bytes"):
            row[name] = {"median": statistics.median(values)} if values else None
        else:
            row[name] = summary_ms(values)
    return row


def new_figures():
    """The lists Runner.run appends to, by name."""
    return {name: [] for name in (
        *LOCKPOOL_OPS, *CLI_OPS, "acquire_rss_mb", "release_rss_mb", "in_rss_mb", "check_rss_mb",
        "acquire_cache_bytes", "in_cache_bytes", "in_destination_bytes",
        *(f"{op}_clone_bytes" for op in CLI_OPS if not op.endswith("_in")))}


def generate(ws, directory, size, log, section="history"):
    """(Origin, bytes on disk) of the repository `directory`/h`size`.git in the workspace, written and repacked."""
    start = time.monotonic()
    path = history_repository(ws, os.path.join(directory, f"h{size}.git"), size)
    written = time.monotonic() - start
    # As a server keeps it (git gc): fast-import's pack has almost no deltas, so it would be 2.5× larger than
    # the same history pushed and packed, and cost a cold clone more than it does in use.
    ws.git("repack", "-a", "-d", "-f", "-q", cwd=path)
    size_bytes = _tree_size(path)
    log(f"{section}: {size} commits written in {written:.1f}s, repacked in {time.monotonic() - start - written:.1f}s "
        f"({size_bytes / 1e6:.1f} MB)")
    return Origin(ws, path, size), size_bytes


def run(ws, options, log):
    sizes = options.history_sizes
    transports = options.history_transports
    base = ws.mkdir("history-repos")
    origins = {}
    repository_bytes = {}
    for size in sizes:
        origins[size], repository_bytes[size] = generate(ws, "history-repos", size, log)
    result = {"sizes": sizes, "runs": options.history_runs, "repository_bytes": {str(s): repository_bytes[s]
                                                                                 for s in sizes},
              "transports": {}}
    for transport in transports:
        rows = []
        with (GitDaemon(ws, base) if transport == "daemon" else contextlib.nullcontext()) as daemon:
            for size in sizes:
                origin = origins[size]
                if daemon:
                    uri = cli_uri = floor_uri = daemon.url(origin.name)
                else:
                    uri = cli_uri = origin.path
                    floor_uri = "file://" + origin.path
                runner = Runner(ws, origin, uri, cli_uri, floor_uri)
                figures = new_figures()
                start = time.monotonic()
                for index in range(options.history_runs):
                    runner.run(figures)
                    log(f"history: {transport}, {size} commits, run {index + 1}/{options.history_runs} "
                        f"(acquire {figures['acquire'][-1] * 1000:.0f}ms, in {figures['in'][-1] * 1000:.0f}ms, "
                        f"git CLI floor acquire {figures['cli_floor_acquire'][-1] * 1000:.0f}ms)")
                shutil.rmtree(ws.path("history-work"), ignore_errors=True)
                rows.append({"size": size, "seconds": time.monotonic() - start, **_summaries(figures)})
        result["transports"][transport] = {
            "uri": "the local bare repository (path; git CLI floor: file://)" if transport == "local"
            else "git daemon on 127.0.0.1", "rows": rows}
    result["plots"] = plot(result, options.history_plot_dir, log)
    return result


# targets, table, plot

def _row(result, transport, size):
    for row in result["transports"][transport]["rows"]:
        if row["size"] == size:
            return row
    return None


def targets(result):
    """(figure, value, shown, target, ok) rows of the issue's targets; ok None when a size did not run."""
    rows = []
    for transport in result["transports"]:
        one = _row(result, transport, 1)
        for size, of, bound in FLAT_ACQUIRE:
            row = _row(result, transport, size)
            if row and one:
                ratio = row["acquire"]["median_ms"] / one["acquire"]["median_ms"]
                rows.append((f"history {transport}: cold acquire at {size} / at {of}", ratio,
                             f"{ratio:.2f}× ({row['acquire']['median_ms']:.0f} / {one['acquire']['median_ms']:.0f} "
                             f"ms)", f"≤ {bound}×", ratio <= bound))
        row = _row(result, transport, FLOOR_SIZE)
        if row:
            ratio = row["acquire"]["median_ms"] / row["cli_floor_acquire"]["median_ms"]
            rows.append((f"history {transport}: cold acquire at {FLOOR_SIZE} / git CLI floor", ratio,
                         f"{ratio:.2f}× ({row['acquire']['median_ms']:.0f} / "
                         f"{row['cli_floor_acquire']['median_ms']:.0f} ms)", f"≤ {FLOOR_FRACTION}×",
                         ratio <= FLOOR_FRACTION))
        size, of, bound = FLAT_IN
        row = _row(result, transport, size)
        if row and one:
            ratio = row["in"]["median_ms"] / one["in"]["median_ms"]
            rows.append((f"history {transport}: cold in at {size} / at {of}", ratio,
                         f"{ratio:.2f}× ({row['in']['median_ms']:.0f} / {one['in']['median_ms']:.0f} ms)",
                         f"≤ {bound}×", ratio <= bound))
    largest = max(result["sizes"])
    peaks = [_row(result, t, largest)["acquire_rss_mb"]["max"] for t in result["transports"]]
    if peaks:
        peak = max(peaks)
        rows.append((f"history: peak RSS of a cold acquire at {largest}", peak, f"{peak:.1f} MB", f"≤ {RSS_MB:.0f} MB"
                     + ("" if largest >= RSS_SIZE else f" (at {RSS_SIZE})"), peak <= RSS_MB if largest >= RSS_SIZE
                     else None))
    return rows


def _cell(summary, key="median_ms"):
    if not summary or not summary.get("runs"):
        return "-"
    value = summary[key]
    return f"{value / 1000:.2f}s" if value >= 10000 else f"{value:.0f}ms"


def _size(value):
    if value is None:
        return "-"
    return f"{value / 1e6:.1f} MB" if value >= 1e6 else f"{value / 1e3:.0f} KB"


def print_section(result, table):
    for transport, data in result["transports"].items():
        for key, label in (("median_ms", "median"), ("p90_ms", "p90")):
            print(f"\n6. History curve, {data['uri']}: cold operations ({label} of {result['runs']} runs; lockpool "
                  f"in a new TMPDIR each; git CLI full = clone --single-branch, d1 = --depth 1)")
            print(f"  {'commits':>8} " + " ".join(f"{name:>8}" for _, name in COLUMNS))
            for row in data["rows"]:
                print(f"  {row['size']:>8} " + " ".join(f"{_cell(row[k], key):>8}" for k, _ in COLUMNS))
        print("  sizes (medians; a cold cache's size is about what the operation fetched) and peak RSS (max):")
        print(f"  {'commits':>8} {'repository':>10} {'acq cache':>10} {'in cache':>10} {'in dest':>10} "
              f"{'d1 clone':>10} {'acq RSS':>8} {'rel RSS':>8} {'in RSS':>8} {'chk RSS':>8}")
        for row in data["rows"]:
            print(f"  {row['size']:>8} {_size(result['repository_bytes'][str(row['size'])]):>10} "
                  f"{_size(row['acquire_cache_bytes']['median']):>10} {_size(row['in_cache_bytes']['median']):>10} "
                  f"{_size(row['in_destination_bytes']['median']):>10} "
                  f"{_size(row['cli_floor_acquire_clone_bytes']['median']):>10} "
                  + " ".join(f"{row[k + '_rss_mb']['max']:>5.1f}MB" for k in ("acquire", "release", "in", "check")))
        for figure, _, shown, target, ok in targets({**result, "transports": {transport: data}}):
            if figure.startswith("history:"):
                continue
            print(f"  {figure}: {shown}, target {target}: {'-' if ok is None else 'PASS' if ok else 'MISS'}")
    for figure, _, shown, target, ok in targets(result):
        if figure.startswith("history:"):
            print(f"\n{figure}: {shown}, target {target}: {'-' if ok is None else 'PASS' if ok else 'MISS'}")
    for path in result.get("plots", {}).get("written", []):
        print(f"plot: {path}")
    if result.get("plots", {}).get("skipped"):
        print(f"plot: skipped ({result['plots']['skipped']})")


def plot(result, directory, log):
    """history-<transport>.svg in `directory`, drawn by lib/plot.py with matplotlib: in this interpreter when it can
    import matplotlib, else with the system's python3 (Debian's python3-matplotlib) when that can; else skipped."""
    if not directory:
        return {"written": [], "skipped": "no plot directory"}
    os.makedirs(directory, exist_ok=True)
    try:
        from . import plot as plotter  # noqa: PLC0415 - imports matplotlib
    except ImportError:
        plotter = None
    if plotter is not None:
        written = plotter.write(result, directory)
    else:
        written, skipped = _plot_elsewhere(result, directory)
        if skipped:
            log(f"history: plot skipped: {skipped}")
            return {"written": [], "skipped": skipped}
    for path in written:
        log(f"history: wrote {path}")
    return {"written": written, "skipped": None}


def _plot_elsewhere(result, directory):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot.py")
    for python in ("/usr/bin/python3",):
        if not os.access(python, os.X_OK) or os.path.realpath(python) == os.path.realpath(sys.executable):
            continue
        probe = subprocess.run([python, "-c", "import matplotlib"], capture_output=True)
        if probe.returncode != 0:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".json") as data:
            json.dump(result, data)
            data.flush()
            done = subprocess.run([python, "-B", script, data.name, directory], capture_output=True, text=True)
        if done.returncode != 0:
            return [], f"{python} {script} failed: {done.stderr.strip()[-500:]}"
        return done.stdout.split(), None
    return [], "matplotlib is not importable (Debian: apt-get install python3-matplotlib)"
