#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages that building and testing routerkeys need.
# A no-op when everything is present; needs root (or sudo) only when something is missing.
set -euo pipefail

# The PostgreSQL packages are those of the major that PG_CONFIG names, when it is Debian's
# (/usr/lib/postgresql/<major>/bin/pg_config); none for a PostgreSQL built elsewhere; and
# Debian 12's own major (15) when there is no pg_config yet.
pg_config=${PG_CONFIG:-pg_config}
major=""
if command -v "$pg_config" >/dev/null 2>&1; then
    bindir=$("$pg_config" --bindir)
    case "$bindir" in
    /usr/lib/postgresql/*/bin) major=${bindir#/usr/lib/postgresql/}; major=${major%/bin} ;;
    esac
else
    major=15
fi

packages=(
    make gcc pkg-config curl jq openssl ca-certificates python3 iproute2
    libcurl4-openssl-dev libjson-c-dev libmicrohttpd-dev clang libclang-rt-14-dev
    nodejs npm
)
if [ -n "$major" ]; then
    packages+=("postgresql-$major" "postgresql-server-dev-$major" postgresql-common)
fi
if [ "${1:-}" = "--bench" ]; then
    packages+=(wrk python3-requests nginx)
    [ -n "$major" ] && packages+=("postgresql-plpython3-$major")
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
# nginx is the benchmark's reference server, which bench.py starts on loopback: Debian's
# package must not start its own on port 80, so services are kept from starting while it
# installs (policy-rc.d 101), unless the machine has a policy of its own.
policy=/usr/sbin/policy-rc.d
if [[ " ${missing[*]} " == *" nginx "* ]] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
