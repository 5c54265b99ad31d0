#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages that building and testing routerkeys need.
# A no-op when everything is present; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
    make gcc pkg-config curl jq openssl ca-certificates python3 iproute2
    postgresql-15 postgresql-server-dev-15 postgresql-common
    libcurl4-openssl-dev libjson-c-dev libmicrohttpd-dev clang libclang-rt-14-dev
    nodejs npm
)
if [ "${1:-}" = "--bench" ]; then
    packages+=(wrk postgresql-plpython3-15 python3-requests)
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing+=("$p")
done
# node and npm may come from elsewhere than Debian: accept them when on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
    keep=()
    for p in "${missing[@]}"; do
        case "$p" in nodejs|npm) ;; *) keep+=("$p") ;; esac
    done
    missing=("${keep[@]+"${keep[@]}"}")
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
