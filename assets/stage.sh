#!/usr/bin/env bash
# Stages lockpool's image layout into a directory: what the Dockerfile copies into the image, and what the staged
# end-to-end tests run against.
#
# usage: assets/stage.sh DESTDIR [BIN_DIR]
#   DESTDIR  the root to fill (created if missing): DESTDIR/usr/local/bin/lockpool and
#            DESTDIR/opt/resource/{check,in,out}, relative links to that one binary, which runs the resource step
#            named by argv[0]; completions and the license under DESTDIR/usr/share; the lockpool(1) man page at
#            DESTDIR/usr/local/share/man/man1/lockpool.1 when `make manual` has made it
#   BIN_DIR  where `make release` put the binaries (default: swift build -c release --static-swift-stdlib --show-bin-path)
#   STRIP=0  keeps the symbols (by default the binary is stripped when `strip` is available: 94 → 64 MB)
#   MANUAL=file  the man page to install (default: .build-man/lockpool.1, where `make manual` writes it)
set -euo pipefail

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] || [ $# -lt 1 ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    [ $# -ge 1 ] && exit 0 || exit 64
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
destination="$1"
bin="${2:-}"
if [ -z "$bin" ]; then
    bin="$(cd "$root" && swift build -c release --static-swift-stdlib --show-bin-path)"
fi
if [ ! -f "$bin/lockpool" ] || [ ! -x "$bin/lockpool" ]; then
    echo "stage.sh: $bin/lockpool not found; run 'make release' first" >&2
    exit 1
fi

mkdir -p "$destination/usr/local/bin" "$destination/opt/resource" \
    "$destination/usr/share/doc/lockpool" "$destination/usr/share/bash-completion/completions" \
    "$destination/usr/share/zsh/vendor-completions" "$destination/usr/share/fish/vendor_completions.d"

install -m 0755 "$bin/lockpool" "$destination/usr/local/bin/lockpool"
if [ "${STRIP:-1}" != 0 ] && command -v strip >/dev/null; then
    strip "$destination/usr/local/bin/lockpool"
fi
echo "staged $destination/usr/local/bin/lockpool"

# Concourse runs /opt/resource/check, in and out; each is the same binary under another name.
for step in check in out; do
    ln -sfn ../../usr/local/bin/lockpool "$destination/opt/resource/$step"
    echo "staged $destination/opt/resource/$step -> ../../usr/local/bin/lockpool"
done

"$destination/usr/local/bin/lockpool" --generate-completion-script bash \
    > "$destination/usr/share/bash-completion/completions/lockpool"
"$destination/usr/local/bin/lockpool" --generate-completion-script zsh \
    > "$destination/usr/share/zsh/vendor-completions/_lockpool"
"$destination/usr/local/bin/lockpool" --generate-completion-script fish \
    > "$destination/usr/share/fish/vendor_completions.d/lockpool.fish"
install -m 0644 "$root/LICENSE" "$destination/usr/share/doc/lockpool/LICENSE"
echo "staged completions and license under $destination/usr/share"

manual="${MANUAL:-$root/.build-man/lockpool.1}"
if [ -f "$manual" ]; then
    install -D -m 0644 "$manual" "$destination/usr/local/share/man/man1/lockpool.1"
    echo "staged $destination/usr/local/share/man/man1/lockpool.1"
elif [ -n "${MANUAL:-}" ]; then
    echo "stage.sh: $manual not found" >&2
    exit 1
fi
