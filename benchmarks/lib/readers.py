"""Section 9 (readers): the history readers over a busy week.

A bare repository whose branch holds N claims and releases of 20 locks in pool `envs`, spread evenly over the last 7
days, with Pix4D subjects (`main/deploy/job-3 build 1234 claiming: env-07`, as most of a real pool's history reads) and
no trailers (git fast-import), is read by:

  stats       lockpool stats --since 7d              the week's figures (one walk of the week's first-parent history)
  history     lockpool history --since 7d --json     every event of the week
  report      lockpool report --html FILE            the dashboard's pages (7 days and 24 hours from one walk)
  git log     git log --first-parent --no-renames --name-status --since=7.days
              the git CLI walking the same commits and their tree changes, in the same run; it parses no message and
              computes nothing, so it is a floor rather than a like-for-like

Each lockpool run gets a new TMPDIR; the repository is a local path, read in place (no cache copy). Medians of R runs,
interleaved so that every reader sees the same machine load. Every run's output is checked, and the readers must agree:
stats counts N operations and as many claims as history lists claim events (N in all), and the report's pool page says
"N operations in 7 days" with the same claims and releases.
"""
import json
import random
import statistics
import subprocess
import time

LOCKS = [f"env-{index:02d}" for index in range(20)]
WEEK = 7 * 86400


def _generate(ws, size, now):
    """The bare repository: a seed an hour before the week, then `size` claims and releases within it, the first an
    hour after the week's start and the last an hour before `now`."""
    repository = ws.bare_repository("readers.git")
    chooser = random.Random(7)

    def write(stream):
        content = stream.blob(b"host: example\n")
        files = [("M", "envs/claimed/.gitkeep", b""), ("M", "envs/unclaimed/.gitkeep", b"")]
        files += [("M", f"envs/unclaimed/{lock}", content) for lock in LOCKS]
        # The first commit an hour inside the week, the last an hour before `now`: the runs may take that long.
        start = now - WEEK + 3600
        stream.commit("refs/heads/master", "seed envs\n", now - WEEK - 3600, files)
        claimed = set()
        step = (WEEK - 7200) / size
        for index in range(size):
            free = [lock for lock in LOCKS if lock not in claimed]
            if claimed and (not free or chooser.random() < 0.5):
                lock = chooser.choice(sorted(claimed))
                claimed.discard(lock)
                verb, source, target = "unclaiming", "claimed", "unclaimed"
            else:
                lock = chooser.choice(free)
                claimed.add(lock)
                verb, source, target = "claiming", "unclaimed", "claimed"
            stream.commit("refs/heads/master", f"main/deploy/job-{index % 7} build {index} {verb}: {lock}\n",
                          int(start + index * step),
                          [("D", f"envs/{source}/{lock}"), ("M", f"envs/{target}/{lock}", content)])

    ws.fast_import(repository, write)
    ws.git("-C", repository, "repack", "-adq")
    return repository


def _timed(argv, env):
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return seconds, done.stdout


def run(ws, options, log):
    size = options.readers_commits
    now = int(time.time())
    log(f"readers: generating {size} commits over 7 days")
    repository = _generate(ws, size, now)
    lockpool = ws.executable("lockpool")
    report_file = ws.path("readers-report.html")
    readers = {
        "stats": [lockpool, "stats", "--repo", repository, "--branch", "master", "--since", "7d", "--json"],
        "history": [lockpool, "history", "--repo", repository, "--branch", "master", "--since", "7d", "--json",
                    "--limit", str(size * 2)],
        "report": [lockpool, "report", "--repo", repository, "--branch", "master", "--html", report_file],
        "git log": ["git", "-C", repository, "log", "--first-parent", "--no-renames", "--name-status",
                    "--since=7.days", "master"],
    }
    seconds = {name: [] for name in readers}
    for attempt in range(options.readers_runs):
        outputs = {}
        for name, argv in readers.items():
            env = dict(ws.env, TMPDIR=ws.mkdir("readers", f"tmp-{attempt}-{name.replace(' ', '-')}"))
            took, outputs[name] = _timed(argv, env)
            seconds[name].append(took)
        _check(outputs, report_file, size)
        log(f"readers: run {attempt + 1} of {options.readers_runs}")
    result = {"commits": size, "runs": options.readers_runs,
              "median_ms": {name: statistics.median(values) * 1000 for name, values in seconds.items()}}
    result["per_commit_us"] = {name: ms * 1000 / size for name, ms in result["median_ms"].items()}
    return result


def _check(outputs, report_file, size):
    """Each reader's output, and that they agree on the week's claims and releases."""
    operations = json.loads(outputs["stats"])["pools"][0]["operations"]
    if operations["total"] != size:
        raise RuntimeError(f"stats counted {operations['total']} operations, not {size}")
    events = json.loads(outputs["history"])
    actions = [event["action"] for event in events]
    if len(events) != size or actions.count("claim") != operations["claims"] \
            or actions.count("release") != operations["releases"]:
        raise RuntimeError(f"history lists {len(events)} events ({actions.count('claim')} claims), stats "
                           f"{operations['total']} operations ({operations['claims']} claims)")
    with open(report_file, encoding="utf-8") as page:
        text = page.read()
    said = (f"{size} operations in 7 days: {operations['claims']} claims, {operations['releases']} releases")
    if said not in text:
        found = text[max(0, text.find(" in 7 days") - 40):text.find(" in 7 days") + 80]
        raise RuntimeError(f"the report does not say \"{said}\": {found!r}")
    if not outputs["git log"].strip():
        raise RuntimeError("git log printed nothing")


def print_section(result, table):
    print(f"\n9. History readers over a busy week: {result['commits']} commits in 7 days, local repository "
          f"(median of {result['runs']} runs; lockpool in a new TMPDIR each)")
    print(f"  {'reader':<10} {'median':>10} {'per commit':>12}")
    for name, ms in result["median_ms"].items():
        print(f"  {name:<10} {ms:>8.0f}ms {result['per_commit_us'][name]:>9.1f} µs")
