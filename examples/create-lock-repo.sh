#!/usr/bin/env bash
# Creates (or extends) a lockpool / Concourse pool lock repository with the git CLI.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: create-lock-repo.sh TARGET [--branch BRANCH] --pool POOL [--lock NAME[=CONTENT]] [--claimed NAME[=CONTENT]] ...

Creates the pools and locks on BRANCH of TARGET, in one commit, and pushes it.

  TARGET          a local path (a bare repository is created there if missing) or a remote URL
                  (git@host:ops/locks.git, ssh://…, https://…, git://…) that already exists
  --branch B      branch holding the pools (default: the one TARGET's HEAD names, else main, as for lockpool);
                  created when missing
  --pool P        a pool directory (P/claimed/.gitkeep and P/unclaimed/.gitkeep); may be repeated
  --lock L[=C]    an unclaimed lock in the last --pool, with content C (default: empty)
  --claimed L[=C] a claimed lock in the last --pool
  -m, --message M commit message (default: "create lock pools")
  -h, --help      this help

Existing pools and locks are left as they are (a lock that exists in either state is not written again), so
running the script twice changes nothing the second time.

example:
  create-lock-repo.sh /tmp/locks.git --pool envs --lock env-1 --lock env-2
USAGE
}

die() {
    echo "create-lock-repo.sh: $*" >&2
    exit 1
}

target=""
branch=""
message="create lock pools"
pools=()   # pool names, in order
entries=() # "pool<TAB>state<TAB>name<TAB>content"
current_pool=""

while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --branch) [ $# -ge 2 ] || die "--branch needs a value"; branch="$2"; shift 2 ;;
    --branch=*) branch="${1#--branch=}"; shift ;;
    --pool) [ $# -ge 2 ] || die "--pool needs a value"; current_pool="$2"; pools+=("$2"); shift 2 ;;
    --pool=*) current_pool="${1#--pool=}"; pools+=("$current_pool"); shift ;;
    --lock | --claimed)
        [ $# -ge 2 ] || die "$1 needs a value"
        [ -n "$current_pool" ] || die "$1 $2: give --pool first"
        state="unclaimed"; [ "$1" = "--claimed" ] && state="claimed"
        spec="$2"; name="${spec%%=*}"; content=""
        [ "$spec" != "$name" ] && content="${spec#*=}"
        entries+=("$current_pool"$'\t'"$state"$'\t'"$name"$'\t'"$content")
        shift 2 ;;
    -m | --message) [ $# -ge 2 ] || die "$1 needs a value"; message="$2"; shift 2 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) [ -z "$target" ] || die "more than one TARGET: $target, $1"; target="$1"; shift ;;
    esac
done

[ -n "$target" ] || { usage >&2; exit 64; }
[ ${#pools[@]} -gt 0 ] || { usage >&2; die "give at least one --pool"; }

# The naming rules of the lockpool specification (section 2).
for pool in "${pools[@]}"; do
    case "$pool" in /* | */ | *//* | "") die "invalid pool name '$pool'" ;; esac
    IFS='/' read -r -a segments <<<"$pool"
    for segment in "${segments[@]}"; do
        lower=$(printf '%s' "$segment" | tr '[:upper:]' '[:lower:]')
        case "$lower" in "" | . | .. | .git) die "invalid pool name '$pool': segment '$segment' is not allowed" ;; esac
    done
    if printf '%s' "$pool" | LC_ALL=C grep -q '[[:cntrl:]]'; then die "invalid pool name: control character"; fi
done
for entry in ${entries[@]+"${entries[@]}"}; do
    IFS=$'\t' read -r _ _ name _ <<<"$entry"
    case "$name" in "" | .* | */*) die "invalid lock name '$name' (one path segment, not starting with '.')" ;; esac
    if printf '%s' "$name" | LC_ALL=C grep -q '[[:cntrl:]]'; then die "invalid lock name: control character"; fi
done

is_local=true
case "$target" in
*://*) is_local=false ;;
/* | ./* | ../*) is_local=true ;;
*:*) is_local=false ;; # scp-like user@host:path
esac

# No --branch: the branch TARGET's HEAD names (what `git clone` checks out), else main, as `lockpool` does.
if [ -z "$branch" ]; then
    head=$(git ls-remote --symref "$target" HEAD 2>/dev/null | sed -n 's|^ref: refs/heads/\(.*\)\tHEAD$|\1|p' || true)
    branch="${head:-main}"
fi

if $is_local && [ ! -e "$target" ]; then
    mkdir -p "$target"
    git init --quiet --bare --initial-branch="$branch" "$target"
    echo "created bare repository $target (HEAD -> $branch)"
fi
if $is_local; then
    target="$(cd "$target" && pwd)"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/create-lock-repo.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if git ls-remote --exit-code --heads "$target" "refs/heads/$branch" >/dev/null 2>&1; then
    git clone --quiet --branch "$branch" --single-branch "$target" "$work/repo"
else
    git init --quiet --initial-branch="$branch" "$work/repo"
    git -C "$work/repo" remote add origin "$target"
fi
cd "$work/repo"

for pool in "${pools[@]}"; do
    for state in claimed unclaimed; do
        mkdir -p "$pool/$state"
        [ -e "$pool/$state/.gitkeep" ] || : >"$pool/$state/.gitkeep"
    done
done
for entry in ${entries[@]+"${entries[@]}"}; do
    IFS=$'\t' read -r pool state name content <<<"$entry"
    if [ -e "$pool/claimed/$name" ] || [ -e "$pool/unclaimed/$name" ]; then
        echo "lock '$name' already exists in pool '$pool'; left as it is"
        continue
    fi
    printf '%s' "$content" >"$pool/$state/$name"
    chmod 0644 "$pool/$state/$name"
done

git add --all
if git diff --cached --quiet 2>/dev/null && git rev-parse --verify --quiet HEAD >/dev/null; then
    echo "nothing to change on branch '$branch' of $target"
    exit 0
fi

identity=()
[ -n "$(git config user.name || true)" ] || identity+=(-c "user.name=CI Pool Resource")
[ -n "$(git config user.email || true)" ] || identity+=(-c "user.email=ci-pool@localhost")
git ${identity[@]+"${identity[@]}"} commit --quiet -m "$message"
git push --quiet origin "HEAD:refs/heads/$branch"

echo "branch '$branch' of $target now holds:"
for pool in "${pools[@]}"; do
    claimed=$(find "$pool/claimed" -maxdepth 1 -type f ! -name '.*' -printf '%f\n' | sort | tr '\n' ' ')
    unclaimed=$(find "$pool/unclaimed" -maxdepth 1 -type f ! -name '.*' -printf '%f\n' | sort | tr '\n' ' ')
    echo "  $pool: claimed [${claimed% }] unclaimed [${unclaimed% }]"
done
