"""Printing: latency tables and the final summary of each figure against the issue's target."""
from . import history


class Table:
    @staticmethod
    def latencies(title, rows):
        print(f"\n{title}")
        print(f"  {'operation':<20} {'median':>9} {'min':>9} {'max':>9}  runs")
        for name, s in rows:
            if not s.get("runs"):
                print(f"  {name:<20} {'-':>9}")
                continue
            print(f"  {name:<20} {s['median_ms']:>7.1f}ms {s['min_ms']:>7.1f}ms {s['max_ms']:>7.1f}ms  {s['runs']}")


def targets(results):
    """Rows (figure, value text, target text, PASS/MISS/-) for the sections that ran."""
    rows = []

    def row(name, value, text, target_text, ok):
        rows.append({"figure": name, "value": value, "shown": text, "target": target_text,
                     "verdict": "-" if ok is None else ("PASS" if ok else "MISS")})

    if "latency" in results:
        r = results["latency"]
        for key, label in (("acquire", "acquire"), ("release", "release")):
            median = r[key]["median_ms"]
            row(f"{label} (median)", median, f"{median:.1f} ms", "≤ 15 ms", median <= 15)
        for key, label in (("acquire_speedup", "acquire vs git CLI"), ("release_speedup", "release vs git CLI")):
            row(label, r[key], f"{r[key]:.1f}× faster", "≥ 3×", r[key] >= 3)
        median = r["check_warm"]["median_ms"]
        row("warm check (median)", median, f"{median:.1f} ms", "≤ 10 ms", median <= 10)
        row("in (median)", r["in"]["median_ms"], f"{r['in']['median_ms']:.1f} ms", "", None)
        row("cold check (median)", r["check_cold"]["median_ms"], f"{r['check_cold']['median_ms']:.1f} ms", "", None)
    if "contention" in results:
        r = results["contention"]
        row(f"contention ({r['workers']}×{r['cycles']}, {r['locks']} locks)", r["ops_per_s"],
            f"{r['ops_per_s']:.1f} ops/s", "≥ 100 ops/s", r["ops_per_s"] >= 100)
        h = r["replay"]
        row("contention: double claims", h["double_claims"],
            f"{h['double_claims']}" + ("" if r["ok"] else f" ({len(h['problems'])} problems, {len(r['errors'])} failed)"),
            "0 (and no lost lock)",
            r["ok"])
    if "handoff" in results:
        r = results["handoff"]
        median = r["handoff"]["median_ms"]
        row(f"handoff (median, retry_delay {r['retry_delay']})", median, f"{median:.1f} ms",
            f"≤ {r['target_ms']:.0f} ms", median <= r["target_ms"])
    if "scale" in results:
        a, h = results["scale"]["locks"], results["scale"]["history"]
        median = a["acquire"]["median_ms"]
        row(f"{a['locks']} locks: acquire", median, f"{median:.1f} ms", "≤ 30 ms",
            median <= 30 if a["locks"] >= 10000 else None)
        row(f"{a['locks']} locks: release", a["release"]["median_ms"], f"{a['release']['median_ms']:.1f} ms", "",
            None)
        median = h["acquire"]["median_ms"]
        row(f"{h['commits']}-commit history: acquire (warm)", median, f"{median:.1f} ms", "≤ 40 ms",
            median <= 40 if h["commits"] >= 50000 else None)
        row(f"{h['commits']}-commit history: release (warm)", h["release"]["median_ms"],
            f"{h['release']['median_ms']:.1f} ms", "", None)
        row(f"{h['commits']}-commit history: first cold check", h["cold_check_ms"], f"{h['cold_check_ms']:.0f} ms",
            "", None)
        row(f"{h['commits']}-commit history: first cold out", h["cold_out_acquire_ms"],
            f"{h['cold_out_acquire_ms']:.0f} ms", "", None)
    if "memory" in results:
        r = results["memory"]
        for key in ("acquire", "release"):
            mb = r[f"{key}_peak_mb"]
            row(f"peak RSS: out {key}", mb, f"{mb:.1f} MB", "≤ 30 MB", mb <= 30)
    if "history" in results:
        for figure, value, shown, target, ok in history.targets(results["history"]):
            row(figure, value, shown, target, ok)
    return rows


def print_summary(rows, machine_line):
    print("\nSummary (targets of issues 6 and 16; '-' = no target, or sizes below the target's)")
    width = max([len(r["figure"]) for r in rows] + [6])
    value = max([len(r["shown"]) for r in rows] + [5])
    target = max([len(r["target"]) for r in rows] + [6])
    print(f"  {'figure':<{width}}  {'value':>{value}}  {'target':<{target}}  verdict")
    for r in rows:
        print(f"  {r['figure']:<{width}}  {r['shown']:>{value}}  {r['target']:<{target}}  {r['verdict']}")
    print(machine_line)
