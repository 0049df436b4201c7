#!/usr/bin/env python3
"""Fails when a comment cites the contract at a place that does not exist.

Code comments cite docs/ as `docs/FILE.md#anchor`, and a list of further anchors in the same file as
`docs/FILE.md#a, #b`. Every cited file must exist, and every anchor must be a heading of that file (GitHub's anchor
rule: lower case, punctuation dropped, spaces to hyphens). Prints `file:line: ...` for each broken citation.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CITATION = re.compile(r"docs/([\w./-]+\.md)((?:#[\w-]+)(?:,\s*#[\w-]+)*)?")


def anchor(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: pathlib.Path) -> set[str]:
    found, in_code = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(anchor(line.lstrip("#")))
    return found


def main() -> int:
    cache: dict[pathlib.Path, set[str]] = {}
    broken = 0
    files = [p for d in ("Sources", "Tests") for p in (ROOT / d).rglob("*.swift")]
    files += [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    for source in sorted(files):
        for number, line in enumerate(source.read_text().splitlines(), 1):
            for match in CITATION.finditer(line):
                target = ROOT / "docs" / match.group(1)
                where = f"{source.relative_to(ROOT)}:{number}"
                if not target.is_file():
                    print(f"{where}: docs/{match.group(1)} does not exist")
                    broken += 1
                    continue
                known = cache.setdefault(target, anchors(target))
                for name in re.findall(r"#([\w-]+)", match.group(2) or ""):
                    if name not in known:
                        print(f"{where}: docs/{match.group(1)} has no heading for #{name}")
                        broken += 1
    if broken:
        print(f"lint: {broken} citation(s) of docs/ point nowhere", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
