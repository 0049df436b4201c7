"""The history curve's plots (issue 16): history-<transport>.svg, lockpool's cold operations beside the git CLI.

Imported by history.py when matplotlib is importable; otherwise run by it as `python3 plot.py RESULT.json DIR` under
an interpreter that has matplotlib (Debian's python3-matplotlib), printing the paths it wrote.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as pyplot  # noqa: E402 - after choosing the backend

LINES = (("acquire", "lockpool out acquire", "C0", "-"), ("release", "lockpool out release", "C1", "-"),
         ("in", "lockpool in", "C2", "-"), ("check", "lockpool check", "C3", "-"),
         ("cli_full_acquire", "git CLI acquire (clone --single-branch + mv + commit + push)", "C0", ":"),
         ("cli_floor_acquire", "git CLI acquire, --depth 1 (the floor)", "C0", "--"),
         ("cli_full_in", "git CLI clone --single-branch", "C2", ":"),
         ("cli_floor_in", "git CLI clone --depth 1", "C2", "--"))


def write(result, directory):
    """Writes one SVG per transport of a history result; returns their paths."""
    written = []
    for transport, data in result["transports"].items():
        figure, axes = pyplot.subplots(figsize=(8, 5))
        sizes = [row["size"] for row in data["rows"]]
        for key, label, color, style in LINES:
            axes.plot(sizes, [row[key]["median_ms"] for row in data["rows"]], label=label, color=color,
                      linestyle=style, marker="o", markersize=3)
        axes.set_xscale("log")
        axes.set_xlabel("commits on the branch (history length)")
        axes.set_ylabel("ms, median of cold runs")
        axes.set_title(f"lockpool vs git CLI, cold (empty cache): {data['uri']}", fontsize=10)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        path = os.path.join(directory, f"history-{transport}.svg")
        figure.tight_layout()
        figure.savefig(path, metadata={"Date": None})
        pyplot.close(figure)
        written.append(path)
    return written


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print("\n".join(write(json.load(f), sys.argv[2])))
