#!/usr/bin/env bash
# Installs the release executables check, in and out into a Concourse resource directory.
#
# usage: assets/install.sh [DESTDIR] [BIN_DIR]
#   DESTDIR  where the executables go (default: /opt/resource); created if missing
#   BIN_DIR  where the release build put them (default: `swift build -c release --show-bin-path`)
set -euo pipefail

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

destination="${1:-/opt/resource}"
bin="${2:-}"
if [ -z "$bin" ]; then
    bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && swift build -c release --show-bin-path)"
fi

for executable in check in out; do
    if [ ! -f "$bin/$executable" ] || [ ! -x "$bin/$executable" ]; then
        echo "install.sh: $bin/$executable not found; run 'make release' first" >&2
        exit 1
    fi
done

mkdir -p "$destination"
for executable in check in out; do
    install -m 0755 "$bin/$executable" "$destination/$executable"
    echo "installed $destination/$executable"
done
