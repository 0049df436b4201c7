"""History replay: walks the branch's first-parent history and tracks each lock of a pool, to find double claims.

Each commit's changes come from `git log --first-parent --reverse --no-renames --name-status` (one git process for the
whole history; with --first-parent a merge is compared with its first parent). A lock is a file `POOL/claimed/NAME` or
`POOL/unclaimed/NAME`. Problems:

- double claim: a commit that claims a lock (subject `claiming: NAME`, or trailers `Lock-State: claimed` with
  `Lock-Name`/`Lock-Names`) while the lock was already claimed at its parent, or a file added under `claimed/` for a
  lock that was claimed at the parent;
- double claim too: a lock in both `claimed/` and `unclaimed/` after a commit;
- at the tip: a seeded lock that is missing (lost) or any lock that is not one of the seeded set (duplicated/new).
"""
import json

SEPARATOR = "\x1e"
FIELD = "\x1f"


def replay(ws, repository, branch, pool, expected_locks):
    log_format = (f"{SEPARATOR}%H{FIELD}%s{FIELD}%(trailers:key=Lock-State,valueonly,separator=%x2C){FIELD}"
                  f"%(trailers:key=Lock-Name,valueonly,separator=%x2C){FIELD}"
                  f"%(trailers:key=Lock-Names,valueonly,separator=%x2C){FIELD}")
    text = ws.git("-C", repository, "log", "--first-parent", "--reverse", "--no-renames", "--name-status",
                  "--no-abbrev", f"--format={log_format}", branch, "--")
    claimed, unclaimed = set(), set()
    claimed_prefix, unclaimed_prefix = f"{pool}/claimed/", f"{pool}/unclaimed/"
    problems = []
    double_claims = 0
    both = set()
    commits = claims = releases = 0
    for record in text.split(SEPARATOR)[1:]:
        header, _, changes = record.rpartition(FIELD)
        commit, subject, state, name, names = header.split(FIELD)
        commits += 1
        before = set(claimed)
        added_claimed = set()
        for line in changes.strip().splitlines():
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            status, path = parts[0], parts[-1]
            for prefix, directory in ((claimed_prefix, claimed), (unclaimed_prefix, unclaimed)):
                if not path.startswith(prefix):
                    continue
                lock = path[len(prefix):]
                if lock.startswith(".") or "/" in lock:
                    continue
                if status.startswith("D"):
                    directory.discard(lock)
                else:
                    if status.startswith("A") and directory is claimed:
                        added_claimed.add(lock)
                    directory.add(lock)
        said = _claimed_by_message(subject, state, name, names)
        for lock in sorted(said | added_claimed):
            if lock in before:
                double_claims += 1
                problems.append(f"double claim of {lock} in {commit[:12]} ({subject}): already claimed at its parent")
        for lock in sorted(said - added_claimed):
            if lock not in before:
                problems.append(f"{commit[:12]} ({subject}) says it claims {lock} but does not move it to claimed/")
        for lock in sorted((claimed & unclaimed) - both):
            double_claims += 1
            problems.append(f"{lock} is in both claimed/ and unclaimed/ from {commit[:12]} ({subject})")
        both = claimed & unclaimed
        claims += len(added_claimed)
        releases += len(before - claimed)
    present = claimed | unclaimed
    expected = set(expected_locks)
    lost = sorted(expected - present)
    extra = sorted(present - expected)
    if lost:
        problems.append(f"lost locks at the tip: {', '.join(lost)}")
    if extra:
        problems.append(f"locks at the tip that were not seeded (duplicated or new): {', '.join(extra)}")
    return {"commits": commits, "claims": claims, "releases": releases, "double_claims": double_claims,
            "lost_locks": lost, "extra_locks": extra,
            "claimed_at_tip": sorted(claimed), "problems": problems}


def _claimed_by_message(subject, state, name, names):
    """The locks a commit's message says it claims."""
    locks = set()
    if state.strip() == "claimed":
        if names.strip():
            try:
                locks.update(json.loads(names))
            except ValueError:
                pass
        if name.strip():
            locks.add(name.strip())
    elif not state.strip() and "claiming: " in subject and "unclaiming: " not in subject:
        locks.update(part.strip() for part in subject.split("claiming: ", 1)[1].split(","))
    return locks
