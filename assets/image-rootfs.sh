#!/usr/bin/env bash
# Builds lockpool's image as a root filesystem without a Docker engine, measures it, and runs the resource inside it.
#
# usage: assets/image-rootfs.sh ROOTFS [BIN_DIR]
#   ROOTFS   the directory to build (replaced). Layer by layer, what the Dockerfile makes:
#              1. debian:bookworm-slim as Debian's image build makes it: mmdebstrap's minbase, merged /usr, and the
#                 slim variant's dpkg excludes (no docs but copyrights, no man pages, no locales);
#              2. the Dockerfile's runtime packages (libgssapi-krb5-2 ca-certificates openssh-client libcurl4, no
#                 recommends; libgit2 is linked into lockpool) and its clean-up;
#              3. assets/stage.sh's layout (the stripped lockpool, /opt/resource links, completions, license).
#   BIN_DIR  where the release binaries are (default: make release's)
#   LIMIT_MB the size the image must stay under (default 120, issue 8); exceeding it fails the script
#   MIRROR   the Debian mirror (default http://deb.debian.org/debian)
#
# Then, chrooted into ROOTFS with an empty environment, it runs `lockpool --version`, a `check`, an `out` that takes a
# lock, an `in`, and a metrics push to a closed port (which must reach libcurl). Needs root, mmdebstrap, chroot and the
# mirror; the test repository is made with the host's git. `make image-rootfs` runs it on a release build.
set -euo pipefail

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] || [ $# -lt 1 ]; then
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    [ $# -ge 1 ] && exit 0 || exit 64
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rootfs="$1"
bin="${2:-}"
limit_mb="${LIMIT_MB:-120}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
# The Dockerfile's runtime packages (ImageRecipeTests keeps the two lists equal).
packages="libgssapi-krb5-2 ca-certificates openssh-client libcurl4"

fail() { echo "image-rootfs.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (mmdebstrap --mode=root and chroot)"
command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed (apt-get install -y mmdebstrap)"
command -v git >/dev/null || fail "git is needed to make the test repository"
if [ -z "$bin" ]; then
    bin="$(cd "$root" && swift build -c release --static-swift-stdlib --show-bin-path)"
fi
[ -x "$bin/lockpool" ] || fail "$bin/lockpool not found; run 'make release' first"

# The slim variant's dpkg excludes (debuerreotype-minimizing-config), as in /etc/dpkg/dpkg.cfg.d/docker.
slim=(
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*'
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
    --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/locale/*'
)
bootstrap() { # DIRECTORY [PACKAGES]
    local include=()
    [ -n "${2:-}" ] && include=(--include="${2// /,}")
    mmdebstrap --quiet --variant=minbase --mode=root --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --aptopt='APT::Install-Recommends "false"' "${slim[@]}" "${include[@]}" bookworm "$1" "$mirror"
}
bytes() { du -sb --apparent-size "$1" | cut -f1; }
megabytes() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'; }

rm -rf "$rootfs" "$rootfs.base"
echo "== layer 1: debian:bookworm-slim (minbase, merged /usr, slim excludes)"
bootstrap "$rootfs.base"
base=$(bytes "$rootfs.base")
rm -rf "$rootfs.base"

echo "== layer 2: $packages"
bootstrap "$rootfs" "$packages"
# The Dockerfile's clean-up after apt-get install.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives "$rootfs"/usr/share/doc/*/changelog* \
    "$rootfs"/usr/share/man
with_packages=$(bytes "$rootfs")

echo "== layer 3: assets/stage.sh"
"$root/assets/stage.sh" "$rootfs" "$bin" >/dev/null
total=$(bytes "$rootfs")
binary=$(stat -c %s "$rootfs/usr/local/bin/lockpool")

printf '\n%-44s %8s\n' "layer" "MB"
printf '%-44s %8s\n' "debian:bookworm-slim (reproduced)" "$(megabytes "$base")"
printf '%-44s %8s\n' "+ $packages" "$(megabytes $((with_packages - base)))"
printf '%-44s %8s\n' "+ lockpool (stripped binary $(megabytes "$binary") MB)" "$(megabytes $((total - with_packages)))"
printf '%-44s %8s   (limit %s MB)\n\n' "image" "$(megabytes "$total")" "$limit_mb"

# The resource inside the image: an empty environment, as Concourse gives it, and nothing but what the image holds.
# A container has /proc (Swift reads argv from /proc/self/cmdline), so this chroot has it too; mmdebstrap made /dev's
# basic nodes.
mount -t proc proc "$rootfs/proc"
trap 'umount "$rootfs/proc" 2>/dev/null || true' EXIT
run() { chroot "$rootfs" /usr/bin/env -i HOME=/nonexistent PATH=/usr/local/bin:/usr/bin:/bin TMPDIR=/tmp "$@"; }
work="$rootfs/tmp/image-test"
rm -rf "$work"
mkdir -p "$work/seed/envs/unclaimed" "$work/seed/envs/claimed" "$work/source" "$work/destination"
touch "$work/seed/envs/claimed/.gitkeep"
printf 'address: 10.0.0.1\n' >"$work/seed/envs/unclaimed/env-a"
git -C "$work/seed" init --quiet --initial-branch=main
git -C "$work/seed" add -A
git -C "$work/seed" -c user.name=test -c user.email=test@example.com commit --quiet -m "seed envs"
git clone --quiet --bare "$work/seed" "$work/locks.git"
source='{"uri": "file:///tmp/image-test/locks.git", "branch": "main", "pool": "envs"'

echo "== lockpool --version"
run /usr/local/bin/lockpool --version
echo "== /opt/resource/check"
checked=$(echo "{\"source\": $source}}" | run /opt/resource/check)
echo "$checked"
case "$checked" in '[{"ref":"'*) ;; *) fail "check printed no version" ;; esac
echo "== /opt/resource/out (acquire, metrics pushed to a closed port)"
out_request="{\"source\": $source, \"prometheus_push_gateway\": \"http://127.0.0.1:9\"}, \"params\": {\"acquire\": true}}"
acquired=$(echo "$out_request" | run /opt/resource/out /tmp/image-test/source 2>"$work/out.stderr")
echo "$acquired"
cat "$work/out.stderr"
case "$acquired" in *'{"name":"lock_name","value":"env-a"}'*) ;; *) fail "out did not take env-a" ;; esac
grep -q "libcurl is not installed" "$work/out.stderr" && fail "the image cannot load libcurl"
grep -q "could not push metrics.*connection refused" "$work/out.stderr" || fail "the metrics push did not reach the network"
echo "== /opt/resource/in"
version=$(echo "$acquired" | sed 's/.*"version":\({[^}]*}\).*/\1/')
echo "{\"source\": $source}, \"version\": $version}" | run /opt/resource/in /tmp/image-test/destination
[ "$(cat "$work/destination/name")" = env-a ] || fail "in did not write the lock's name"
[ -f "$rootfs/etc/ssl/certs/ca-certificates.crt" ] || fail "the image has no CA bundle"
rm -rf "$work"

if [ "$total" -gt $((limit_mb * 1000000)) ]; then
    fail "the image is $(megabytes "$total") MB, over the $limit_mb MB limit"
fi
echo "image-rootfs.sh: $rootfs is $(megabytes "$total") MB (limit $limit_mb MB); the resource ran inside it"
