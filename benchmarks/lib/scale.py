"""Section 4: (a) a pool of many unclaimed locks; (b) a pool with a long history of claims and releases.

Both repositories are written with `git fast-import`: (a) is one commit holding every lock; (b) is a seed commit and
then alternating claims and releases of a few locks, with the messages and trailers lockpool writes.
"""
import os
import random
import shutil

from .common import BENCH_EPOCH, lock_name, output_json, summary_ms, write_step_dir

HISTORY_LOCKS = 6


def _acquire_release(ws, source, tmp, build, runs):
    acquires, releases = [], []
    for _ in range(runs):
        seconds, done = ws.resource("out", {"source": source, "params": {"acquire": True}}, build, tmpdir=tmp)
        acquires.append(seconds)
        output = output_json(done)
        write_step_dir(os.path.join(build, "lock"), lock_name(output), output["version"]["ref"])
        releases.append(ws.resource("out", {"source": source, "params": {"release": "lock"}}, build, tmpdir=tmp)[0])
    return summary_ms(acquires), summary_ms(releases)


def _message(verb, operation, state, lock, build, nonce):
    url = f"https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/{build}"
    return (f"main/deploy/apply build {build} {verb}: {lock}\n\nBuild URL: {url}\n\n"
            f"Lock-Schema: 1\nLock-Operation: {operation}\nLock-Pool: envs\nLock-Name: {lock}\nLock-State: {state}\n"
            f"Build-Team: main\nBuild-Pipeline: deploy\nBuild-Job: apply\nBuild-Name: {build}\nBuild-URL: {url}\n"
            f"Lock-Tool: lockpool 0.1.0 (resource)\nLock-Nonce: {nonce:032x}\n")


def history_repository(ws, name, commits):
    """`commits` commits on master: a seed of HISTORY_LOCKS locks in pool `envs`, then claims and releases."""
    repository = ws.bare_repository(name)
    locks = [f"env-{i}" for i in range(1, HISTORY_LOCKS + 1)]
    rng = random.Random(6)

    def write(stream):
        blobs = {lock: stream.blob(f"host: 10.0.0.{i}\nregion: eu-west-1\n") for i, lock in enumerate(locks, 1)}
        keep = stream.blob(b"")
        stream.commit("refs/heads/master", "seed pool envs\n", BENCH_EPOCH,
                      [("M", "envs/claimed/.gitkeep", keep), ("M", "envs/unclaimed/.gitkeep", keep)]
                      + [("M", f"envs/unclaimed/{lock}", blobs[lock]) for lock in locks])
        claimed = []
        free = list(locks)
        for n in range(1, commits):
            # Claim while fewer than half are held (or at random), else release the oldest claim; keeps one free.
            claim = free and (len(claimed) < len(locks) // 2 or (len(free) > 1 and rng.random() < 0.5))
            if claim:
                lock = free.pop(rng.randrange(len(free)))
                claimed.append(lock)
                message = _message("claiming", "acquire", "claimed", lock, n, rng.getrandbits(128))
                changes = [("D", f"envs/unclaimed/{lock}"), ("M", f"envs/claimed/{lock}", blobs[lock])]
            else:
                lock = claimed.pop(0)
                free.append(lock)
                message = _message("unclaiming", "release", "unclaimed", lock, n, rng.getrandbits(128))
                changes = [("D", f"envs/claimed/{lock}"), ("M", f"envs/unclaimed/{lock}", blobs[lock])]
            stream.commit("refs/heads/master", message, BENCH_EPOCH + 60 * n, changes,
                          author="CI Pool Resource <ci-pool@localhost>")

    ws.fast_import(repository, write)
    return repository


def run(ws, options, log):
    result = {}
    # (a) many locks
    locks = [f"lock-{i:05d}" for i in range(1, options.scale_locks + 1)]
    origin = ws.pool_repository("scale-locks.git", "big", locks, content=lambda lock: f"id: {lock}\n")
    source = {"uri": origin, "branch": "master", "pool": "big"}
    tmp, build = ws.mkdir("scale-locks", "tmp"), ws.mkdir("scale-locks", "build")
    ws.resource("check", {"source": source}, tmpdir=tmp)
    acquire, release = _acquire_release(ws, source, tmp, build, options.scale_runs)
    result["locks"] = {"locks": len(locks), "acquire": acquire, "release": release}
    log(f"scale: {len(locks)} locks done")

    # (b) long history
    origin = history_repository(ws, "scale-history.git", options.history_commits)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(origin) for f in files)
    log(f"scale: {options.history_commits} commits written ({size / 1e6:.1f} MB); cold check")
    source = {"uri": origin, "branch": "master", "pool": "envs"}
    cold_check_tmp = ws.mkdir("scale-history-cold-check")
    cold_check, _ = ws.resource("check", {"source": source}, tmpdir=cold_check_tmp)
    shutil.rmtree(cold_check_tmp, ignore_errors=True)
    cold_out_tmp = ws.mkdir("scale-history-cold-out")
    cold_build = ws.mkdir("scale-history-cold-build")
    cold_out, done = ws.resource("out", {"source": source, "params": {"acquire": True}}, cold_build,
                                 tmpdir=cold_out_tmp)
    output = output_json(done)
    write_step_dir(os.path.join(cold_build, "lock"), lock_name(output), output["version"]["ref"])
    ws.resource("out", {"source": source, "params": {"release": "lock"}}, cold_build, tmpdir=cold_out_tmp)
    shutil.rmtree(cold_out_tmp, ignore_errors=True)
    tmp, build = ws.mkdir("scale-history", "tmp"), ws.mkdir("scale-history", "build")
    ws.resource("check", {"source": source}, tmpdir=tmp)  # warms this cache
    acquire, release = _acquire_release(ws, source, tmp, build, options.scale_runs)
    check_warm = summary_ms([ws.resource("check", {"source": source}, tmpdir=tmp)[0]
                             for _ in range(min(5, options.scale_runs))])
    result["history"] = {"commits": options.history_commits, "repository_mb": size / 1e6,
                         "cold_check_ms": cold_check * 1000, "cold_out_acquire_ms": cold_out * 1000,
                         "acquire": acquire, "release": release, "check_warm": check_warm}
    log("scale: history done")
    return result


def print_section(result, table):
    a, h = result["locks"], result["history"]
    table.latencies(f"4a. Scale: a pool of {a['locks']} unclaimed locks (warm cache)",
                    [("acquire", a["acquire"]), ("release", a["release"])])
    table.latencies(f"4b. Scale: {h['commits']} prior commits touching the pool ({h['repository_mb']:.1f} MB "
                    f"repository; warm cache)", [("acquire", h["acquire"]), ("release", h["release"]),
                                                 ("check_warm", h["check_warm"])])
    print(f"first cold check {h['cold_check_ms']:.0f}ms; first cold out (acquire) {h['cold_out_acquire_ms']:.0f}ms "
          f"(empty cache: fetches the whole history)")
