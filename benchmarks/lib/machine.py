"""The machine the figures come from."""
import os
import platform
import subprocess


def _command(*argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def describe(env):
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    git = _command("git", "--version")
    return {
        "nproc": int(_command("nproc") or os.cpu_count() or 0),
        "cpu": cpu,
        "kernel": platform.release(),
        "libgit2": _command("pkg-config", "--modversion", "libgit2"),
        "git": git.removeprefix("git version ") if git else None,
        "python": platform.python_version(),
    }


def line(machine):
    return (f"machine: {machine['nproc']} cores, {machine['cpu'] or 'unknown CPU'}, kernel {machine['kernel']}, "
            f"libgit2 {machine['libgit2'] or '?'}, git {machine['git'] or '?'}")
