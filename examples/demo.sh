#!/usr/bin/env bash
# The README quick-start: drives the real check/in/out executables against a throw-away local lock repository.
#
# usage: examples/demo.sh [BIN_DIR]
#   BIN_DIR holds check, in and out; default: $LOCKPOOL_BIN_DIR, else `swift build -c release --show-bin-path`.
#   This script builds nothing; run `make demo` to build and run it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
step="setup"
trap 'status=$?; if [ $status -ne 0 ]; then echo "demo failed during: $step (exit status $status)" >&2; fi' EXIT

section() {
    step="$1"
    printf '\n=== %s ===\n' "$1"
}

bin="${1:-${LOCKPOOL_BIN_DIR:-}}"
if [ -z "$bin" ]; then
    bin="$(cd "$here/.." && swift build -c release --show-bin-path)"
fi
for executable in check in out lockpool; do
    if [ ! -x "$bin/$executable" ]; then
        echo "demo: $bin/$executable not found; build first (make release) or pass the bin directory" >&2
        exit 1
    fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/lockpool-demo.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap 'status=$?; cleanup; if [ $status -ne 0 ]; then echo "demo failed during: $step (exit status $status)" >&2; fi' EXIT
mkdir -p "$work/tmp" "$work/build"
# The executables keep their cache under $TMPDIR; keep it inside the demo directory.
export TMPDIR="$work/tmp"

# What Concourse sets for a job build; the commit subjects then take the Pix4D form TEAM/PIPELINE/JOB build NAME.
export BUILD_TEAM_NAME="main"
export BUILD_PIPELINE_NAME="demo-pipeline"
export BUILD_JOB_NAME="deploy"
export BUILD_NAME="42"
export BUILD_ID="1042"
export ATC_EXTERNAL_URL="https://ci.example.com"

section "1. create a lock repository with pool 'demo' (2 locks)"
"$here/create-lock-repo.sh" "$work/locks.git" --pool demo \
    --lock "env-1=url: https://env-1.example.com" --lock "env-2=url: https://env-2.example.com"
uri="file://$work/locks.git"
source_json="{\"uri\":\"$uri\",\"branch\":\"main\",\"pool\":\"demo\"}"

section "2. out: acquire a lock (put with params.acquire)"
request="{\"source\":$source_json,\"params\":{\"acquire\":true}}"
echo "stdin:  $request"
"$bin/out" "$work/build" <<<"$request" >"$work/acquire.json"
echo "stdout: $(cat "$work/acquire.json")"
ref="$(grep -o '"ref":"[0-9a-f]*"' "$work/acquire.json" | head -n 1 | cut -d'"' -f4)"
[ -n "$ref" ] || { echo "no version in the output of out" >&2; exit 1; }

section "3. in: fetch the acquired lock into the step directory env-lock"
request="{\"source\":$source_json,\"version\":{\"ref\":\"$ref\"}}"
echo "stdin:  $request"
"$bin/in" "$work/build/env-lock" <<<"$request" >"$work/in.json"
echo "stdout: $(cat "$work/in.json")"
for file in name metadata claim_ref; do
    if [ -f "$work/build/env-lock/$file" ]; then
        printf -- '--- env-lock/%s:\n%s\n' "$file" "$(cat "$work/build/env-lock/$file")"
    else
        printf -- '--- env-lock/%s: (absent)\n' "$file"
    fi
done

section "4. check: versions since the acquire"
request="{\"source\":$source_json,\"version\":{\"ref\":\"$ref\"}}"
echo "stdout: $("$bin/check" <<<"$request")"

section "5. lockpool status: who holds what, since when (the CLI reads the same repository)"
"$bin/lockpool" status --repo "$uri" demo

section "6. out: release the lock named in env-lock (params.release)"
request="{\"source\":$source_json,\"params\":{\"release\":\"env-lock\"}}"
echo "stdin:  $request"
"$bin/out" "$work/build" <<<"$request" >"$work/release.json"
echo "stdout: $(cat "$work/release.json")"

section "7. lockpool history: the timeline parsed from the commits"
"$bin/lockpool" history --repo "$uri" demo

section "8. lockpool verify: invariants and a replay of the history for double claims"
"$bin/lockpool" verify --repo "$uri"

section "9. lockpool stats: utilisation, hold times and top holders from the history"
"$bin/lockpool" stats --repo "$uri" demo

section "10. the lock repository's history (git log --format='%h %s')"
git -C "$work/locks.git" log --format='%h %s' main

section "11. full messages of the last two commits"
git -C "$work/locks.git" log -2 --format='--- commit %H%nAuthor: %an <%ae>%nDate:   %cI%n%n%B' main

step="done"
printf '\ndemo finished\n'
