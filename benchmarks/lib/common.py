"""Shared helpers: the scratch workspace, git with an empty configuration, the resource executables, statistics."""
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

BENCH_EPOCH = 1_700_000_000  # committer time of generated commits


class Workspace:
    """A scratch directory with an environment in which git reads an empty global and system configuration."""

    def __init__(self, bin_dir, keep=False):
        self.bin_dir = os.path.abspath(bin_dir)
        for executable in ("check", "in", "out"):
            if not os.access(os.path.join(self.bin_dir, executable), os.X_OK):
                raise SystemExit(f"bench: {self.bin_dir}/{executable} is not an executable (build the release first)")
        self.keep = keep
        self.root = tempfile.mkdtemp(prefix="lockpool-bench.")
        empty = os.path.join(self.root, "empty-gitconfig")
        open(empty, "w").close()
        self.env = dict(os.environ, GIT_CONFIG_GLOBAL=empty, GIT_CONFIG_SYSTEM=empty, GIT_CONFIG_NOSYSTEM="1",
                        GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost", GIT_COMMITTER_NAME="bench",
                        GIT_COMMITTER_EMAIL="bench@localhost", GIT_TERMINAL_PROMPT="0", LC_ALL="C",
                        TMPDIR=self.mkdir("tmp"))
        for variable in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "LOCKPOOL_LOG_LEVEL", "NO_COLOR"):
            self.env.pop(variable, None)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def mkdir(self, *parts):
        directory = self.path(*parts)
        os.makedirs(directory, exist_ok=True)
        return directory

    def close(self):
        if self.keep:
            print(f"bench: workspace kept in {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    # git

    def git(self, *args, cwd=None, input=None):
        """Runs git; returns stdout as text; raises with git's stderr on failure."""
        done = subprocess.run(["git", *args], cwd=cwd, env=self.env, input=input, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
        return done.stdout.decode(errors="replace")

    def bare_repository(self, name):
        repository = self.path(name)
        self.git("init", "-q", "--bare", "-b", "master", repository)
        return repository

    def fast_import(self, repository, write_stream):
        """Feeds `write_stream(FastImport)` to `git fast-import` in the bare repository."""
        process = subprocess.Popen(["git", "fast-import", "--quiet", "--done"], cwd=repository, env=self.env,
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stream = FastImport(process.stdin)
        try:
            write_stream(stream)
            stream.raw(b"done\n")
            process.stdin.close()
        except BrokenPipeError:
            pass
        error = process.stderr.read()
        if process.wait() != 0:
            raise RuntimeError(f"git fast-import failed: {error.decode(errors='replace')}")

    def pool_repository(self, name, pool, locks, content=lambda lock: f"host: {lock}\n"):
        """A bare repository whose master holds one commit: `pool` with `locks` unclaimed (git fast-import)."""
        repository = self.bare_repository(name)

        def write(stream):
            files = [(f"{pool}/claimed/.gitkeep", b""), (f"{pool}/unclaimed/.gitkeep", b"")]
            files += [(f"{pool}/unclaimed/{lock}", content(lock).encode()) for lock in locks]
            stream.commit("refs/heads/master", f"seed {pool} with {len(locks)} locks\n", BENCH_EPOCH,
                          changes=[("M", path, data) for path, data in files])

        self.fast_import(repository, write)
        return repository

    # resource executables

    def executable(self, name):
        return os.path.join(self.bin_dir, name)

    def resource(self, executable, request, *argv, tmpdir=None, check=True, wrapper=()):
        """Runs `check`, `in` or `out` with `request` on stdin; returns (seconds, CompletedProcess)."""
        env = self.env if tmpdir is None else dict(self.env, TMPDIR=tmpdir)
        payload = json.dumps(request).encode()
        start = time.perf_counter()
        done = subprocess.run([*wrapper, self.executable(executable), *argv], input=payload, env=env,
                              capture_output=True)
        seconds = time.perf_counter() - start
        if check and done.returncode != 0:
            raise RuntimeError(f"{executable} {json.dumps(request.get('params', {}))} failed ({done.returncode}):\n"
                               f"{done.stderr.decode(errors='replace')}")
        return seconds, done


class FastImport:
    """Writes a `git fast-import` stream."""

    def __init__(self, out):
        self.out = out
        self.marks = 0

    def raw(self, data):
        self.out.write(data)

    def data(self, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        self.out.write(b"data %d\n" % len(payload) + payload + b"\n")

    def blob(self, payload):
        """Defines a blob; returns its mark (`:N`)."""
        self.marks += 1
        self.out.write(b"blob\nmark :%d\n" % self.marks)
        self.data(payload)
        return f":{self.marks}"

    def commit(self, ref, message, when, changes, author="bench <bench@localhost>"):
        """`changes`: ("M", path, bytes or ":mark") or ("D", path). Without `from`, a commit continues `ref`."""
        self.out.write(f"commit {ref}\ncommitter {author} {when} +0000\n".encode())
        self.data(message)
        for change in changes:
            if change[0] == "D":
                self.out.write(f"D {change[1]}\n".encode())
            elif isinstance(change[2], str) and change[2].startswith(":"):
                self.out.write(f"M 100644 {change[2]} {change[1]}\n".encode())
            else:
                self.out.write(f"M 100644 inline {change[1]}\n".encode())
                self.data(change[2])
        self.out.write(b"\n")


def output_json(done):
    return json.loads(done.stdout.decode())


def lock_name(output):
    """The `lock_name` metadata of an `out`/`in` JSON output."""
    for entry in output.get("metadata", []):
        if entry.get("name") == "lock_name":
            return entry["value"]
    raise RuntimeError(f"no lock_name in {output}")


def write_step_dir(directory, name, claim_ref=None):
    """A step dir as `in` would leave it: `name` and, for a claim, `claim_ref`."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "name"), "w") as f:
        f.write(name + "\n")
    claim_ref_path = os.path.join(directory, "claim_ref")
    if claim_ref is None:
        if os.path.exists(claim_ref_path):
            os.remove(claim_ref_path)
    else:
        with open(claim_ref_path, "w") as f:
            f.write(claim_ref + "\n")


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def summary_ms(seconds, **extra):
    """median/min/max (and p90) in milliseconds of a list of durations in seconds."""
    if not seconds:
        return {"runs": 0, **extra}
    ms = [s * 1000 for s in seconds]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
            "p90_ms": percentile(ms, 0.9), "runs": len(ms), **extra}
