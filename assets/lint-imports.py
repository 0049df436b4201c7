#!/usr/bin/env python3
"""Fails when a Swift file imports a module that Package.swift does not declare for its target.

Reads the targets and their dependencies from `swift package dump-package` (SWIFT names the swift driver, default
`swift`), then every `import` of the Swift files in each target's directory (Sources/<Target>/, Tests/<Target>/ or the
target's `path`). A module is declared when it is the target itself, one of its target dependencies, or the module of
one of its product dependencies (a product's module has the product's name, as in every package used here; an
exception goes in PRODUCT_MODULES). The toolchain's own modules (SYSTEM_MODULES) need no declaration. Each offence is
printed as `file:line: module X is imported but not declared for target T`, and the exit status is 1.

Usage: assets/lint-imports.py [package directory, default: the one holding this script's parent]
"""

import json
import os
import re
import subprocess
import sys

# Modules of the toolchain and the platform: they are never declared in Package.swift.
SYSTEM_MODULES = {
    "Swift", "_Concurrency", "_StringProcessing", "Dispatch", "Synchronization", "Observation", "Distributed",
    "RegexBuilder", "Glibc", "Musl", "Darwin", "Android", "WinSDK", "ucrt", "os",
    # The toolchain's C module under Foundation: LockPool's PrivateDirectory imports it for `struct stat`, which it owns
    # once swift-certificates (Git's) has loaded Foundation (MemberImportVisibility).
    "CoreFoundation",
    # Foundation proper is kept out of Sources by the Makefile's other lint step; tests may use it.
    "Foundation", "FoundationEssentials", "FoundationInternationalization", "FoundationNetworking", "FoundationXML",
    "Testing", "XCTest",
}

# Products whose module is not named like the product: (package identity, product) -> modules.
PRODUCT_MODULES: dict[tuple[str, str], list[str]] = {}

IMPORT = re.compile(
    r"^\s*(?:@[A-Za-z_]+(?:\([^)]*\))?\s+)*"
    r"(?:(?:public|package|internal|fileprivate|private)\s+)?"
    r"import\s+(?:(?:struct|class|enum|func|var|let|protocol|typealias)\s+)?"
    r"([A-Za-z_][A-Za-z0-9_]*)"
)


def module_name(target_name: str) -> str:
    """The module of a target: its name with the characters a Swift identifier cannot hold replaced by `_`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", target_name)


def declared_modules(target: dict) -> set[str]:
    modules = {module_name(target["name"])}
    for dependency in target.get("dependencies", []):
        if "byName" in dependency:
            modules.add(module_name(dependency["byName"][0]))
        elif "target" in dependency:
            modules.add(module_name(dependency["target"][0]))
        elif "product" in dependency:
            product, package = dependency["product"][0], dependency["product"][1]
            modules.update(PRODUCT_MODULES.get((package, product), [module_name(product)]))
    return modules


def target_directory(package_dir: str, target: dict) -> str:
    if target.get("path"):
        return os.path.join(package_dir, target["path"])
    parent = "Tests" if target["type"] == "test" else "Sources"
    return os.path.join(package_dir, parent, target["name"])


def imports(path: str):
    """(line number, module) of every import statement, outside comments and multi-line string literals."""
    in_block_comment = False
    in_string = False
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            stripped = line.strip()
            if in_block_comment:
                in_block_comment = "*/" not in stripped
                continue
            if stripped.count('"""') % 2 == 1:
                in_string = not in_string
                continue
            if in_string:
                continue
            if stripped.startswith("/*"):
                in_block_comment = "*/" not in stripped
                continue
            match = IMPORT.match(line)
            if match:
                yield number, match.group(1)


def main() -> int:
    package_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    swift = os.environ.get("SWIFT", "swift")
    dump = subprocess.run(
        [swift, "package", "--package-path", package_dir, "dump-package"], check=True, capture_output=True, text=True)
    package = json.loads(dump.stdout)
    problems = 0
    for target in package["targets"]:
        if target["type"] in ("system", "binary", "plugin", "macro"):
            continue
        declared = declared_modules(target)
        directory = target_directory(package_dir, target)
        for root, _, files in sorted(os.walk(directory)):
            for name in sorted(files):
                if not name.endswith(".swift"):
                    continue
                path = os.path.join(root, name)
                for number, module in imports(path):
                    if module in declared or module in SYSTEM_MODULES:
                        continue
                    shown = os.path.relpath(path, package_dir)
                    print(f"{shown}:{number}: module {module} is imported but not declared for target {target['name']}")
                    problems += 1
    if problems:
        print(f"lint-imports: {problems} undeclared import(s); add the dependency to the target in Package.swift",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
