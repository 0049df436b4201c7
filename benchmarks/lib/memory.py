"""Section 5: peak resident memory of one `out` acquire and one release (local bare repository, warm cache).

With /usr/bin/time (Debian package `time`): `%M`, the child's maximum RSS in KiB. Without it: the same counter
(`ru_maxrss`) from the rusage that wait4() returns for that one child, i.e. getrusage(RUSAGE_CHILDREN) of a single run.
"""
import json
import os
import subprocess
import tempfile
from functools import lru_cache

from .common import lock_name, write_step_dir

TIME = "/usr/bin/time"


@lru_cache(maxsize=None)
def method():
    if os.access(TIME, os.X_OK):
        probe = subprocess.run([TIME, "-f", "%M", "true"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stderr.strip().splitlines()[-1:] and \
                probe.stderr.strip().splitlines()[-1].isdigit():
            return "/usr/bin/time -f %M"
    return "wait4 rusage ru_maxrss"


def peak_rss(ws, executable, request, *argv, tmpdir=None):
    """(peak RSS in MB, stdout bytes) of one run."""
    env = dict(ws.env, TMPDIR=tmpdir) if tmpdir else ws.env
    payload = json.dumps(request).encode()
    if method().startswith(TIME):
        with tempfile.NamedTemporaryFile(dir=ws.root, suffix=".rss") as report:
            done = subprocess.run([TIME, "-f", "%M", "-o", report.name, ws.executable(executable), *argv],
                                  input=payload, env=env, capture_output=True)
            if done.returncode != 0:
                raise RuntimeError(f"{executable} failed: {done.stderr.decode(errors='replace')}")
            kib = int(open(report.name).read().strip().splitlines()[-1])
            return kib / 1024, done.stdout
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen([ws.executable(executable), *argv], env=env, stdin=subprocess.PIPE,
                                   stdout=stdout, stderr=stderr)
        process.stdin.write(payload)
        process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{executable} failed: {stderr.read().decode(errors='replace')}")
        return usage.ru_maxrss / 1024, stdout.read()


def run(ws, options, log):
    origin = ws.pool_repository("memory.git", "bench", [f"env-{i}" for i in range(1, 5)])
    source = {"uri": origin, "branch": "master", "pool": "bench"}
    tmp, build = ws.mkdir("memory", "tmp"), ws.mkdir("memory", "build")
    ws.resource("check", {"source": source}, tmpdir=tmp)
    result = {"method": method(), "acquire_mb": [], "release_mb": [], "check_mb": []}
    for _ in range(3):  # three runs: the figure is their maximum
        mb, stdout = peak_rss(ws, "out", {"source": source, "params": {"acquire": True}}, build, tmpdir=tmp)
        result["acquire_mb"].append(mb)
        output = json.loads(stdout.decode())
        write_step_dir(os.path.join(build, "lock"), lock_name(output), output["version"]["ref"])
        mb, _ = peak_rss(ws, "out", {"source": source, "params": {"release": "lock"}}, build, tmpdir=tmp)
        result["release_mb"].append(mb)
        result["check_mb"].append(peak_rss(ws, "check", {"source": source}, tmpdir=tmp)[0])
    for key in ("acquire", "release", "check"):
        result[f"{key}_peak_mb"] = max(result[f"{key}_mb"])
    log("memory: done")
    return result


def print_section(result, table):
    print(f"\n5. Peak memory (max RSS of one run, max of 3; {result['method']})")
    for key in ("acquire", "release", "check"):
        print(f"  {'out ' + key if key != 'check' else 'check (warm)':<18} {result[key + '_peak_mb']:>7.1f} MB")
