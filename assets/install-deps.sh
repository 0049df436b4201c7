#!/usr/bin/env bash
# Installs the Debian 12 packages lockpool needs, when some are missing (as root, or through sudo).
#
# usage: assets/install-deps.sh build|test
#   build  what `make build`, `make release` and `make demo` need: libgit2-dev (with pkg-config), the libcurl headers
#          (Sources/CCurl loads libcurl with dlopen but compiles against curl/curl.h), git and python3 (the demo)
#   test   that and the servers the end-to-end tests start on 127.0.0.1: git daemon (in git), sshd (openssh-server;
#          ssh-keygen from openssh-client), lighttpd with TLS (lighttpd-mod-openssl) in front of git-http-backend,
#          tinyproxy as an HTTP CONNECT proxy, openssl for their test CA, prometheus-pushgateway; tmux for the
#          terminal tests
#   FORCE=1 installs even when everything looks present (what CI does on a fresh machine)
set -euo pipefail

build_packages=(libgit2-dev pkg-config libcurl4-openssl-dev git python3 ca-certificates)
test_packages=(openssh-server openssh-client lighttpd lighttpd-mod-openssl tinyproxy openssl tmux prometheus-pushgateway)

case "${1:-}" in
build) packages=("${build_packages[@]}") ;;
test) packages=("${build_packages[@]}" "${test_packages[@]}") ;;
*) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
esac

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
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
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${packages[@]}"
