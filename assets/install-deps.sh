#!/usr/bin/env bash
# Installs the Debian 12 packages lockpool needs, when some are missing (as root, or through sudo).
#
# usage: assets/install-deps.sh build|test
#   build  what `make build`, `make release` and `make demo` need: libgit2-dev 1.8 from bookworm-backports (with
#          pkg-config; docs/decisions/0004-libgit2-version.md), whose dependencies bring the static archives lockpool
#          links (docs/decisions/0013-cold-process.md), the libcurl headers (Sources/CCurl loads libcurl with
#          dlopen but compiles against curl/curl.h), git and python3 (the demo)
#   test   that and the servers the end-to-end tests start on 127.0.0.1: git daemon (in git), sshd (openssh-server;
#          ssh-keygen from openssh-client), lighttpd with TLS (lighttpd-mod-openssl) in front of git-http-backend,
#          tinyproxy as an HTTP CONNECT proxy, openssl for their test CA, prometheus-pushgateway; tmux for the
#          terminal tests; chromium and chromium-driver (chromedriver) as the headless browser of the browser tests
#          (Tests/TestSupport/Browser.swift), with fonts-dejavu-core so that their screenshots show text
#   FORCE=1 installs even when everything looks present (what CI does on a fresh machine)
#
# libgit2-dev comes from bookworm-backports (1.8.4; Debian 12 itself has 1.5.1, which lockpool no longer builds
# against): the script adds the suite as /etc/apt/sources.list.d/bookworm-backports.list when no apt source names it.
# Only libgit2-dev is taken from there (`libgit2-dev/bookworm-backports`, not `-t bookworm-backports`, which would
# also move openssh, libcurl, tinyproxy and tmux to their backports); its dependencies come from bookworm.
set -euo pipefail

build_packages=(libgit2-dev pkg-config libcurl4-openssl-dev git python3 ca-certificates)
test_packages=(openssh-server openssh-client lighttpd lighttpd-mod-openssl tinyproxy openssl tmux prometheus-pushgateway
    chromium chromium-driver fonts-dejavu-core)

# The oldest libgit2-dev lockpool builds against (Sources/CLibgit2/shim.h stops an older one with #error).
libgit2_minimum=1.8
backports_list=/etc/apt/sources.list.d/bookworm-backports.list

case "${1:-}" in
build) packages=("${build_packages[@]}") ;;
test) packages=("${build_packages[@]}" "${test_packages[@]}") ;;
*) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
esac

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# Debian 12's own libgit2-dev (1.5.1) counts as missing.
installed_libgit2="$(dpkg-query -W -f='${Version}' libgit2-dev 2>/dev/null || true)"
if [ -n "$installed_libgit2" ] && dpkg --compare-versions "$installed_libgit2" lt "$libgit2_minimum" \
    && [[ " ${missing[*]} " != *" libgit2-dev "* ]]; then
    missing+=("libgit2-dev")
fi
if [ ${#missing[@]} -eq 0 ] && [ "${FORCE:-0}" != 1 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        echo "install-deps.sh: missing Debian packages: ${missing[*]}" >&2
        echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
echo "install-deps.sh: installing ${missing[*]:-${packages[*]}}"
export DEBIAN_FRONTEND=noninteractive
if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "install-deps.sh: adding bookworm-backports ($backports_list) for libgit2-dev $libgit2_minimum"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' | $sudo tee "$backports_list" >/dev/null
fi
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${packages[@]/#libgit2-dev/libgit2-dev/bookworm-backports}"
