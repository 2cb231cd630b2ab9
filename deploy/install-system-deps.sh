#!/usr/bin/env bash
# Installs the system packages the cluster needs, from Debian's archive:
# the load balancers (HAProxy; nginx, whose config a test runs too), and Redis/PostgreSQL only when the machine has
# none. Idempotent: a binary already present skips apt entirely, so `make test`
# pays for this once per machine. Needs root (or sudo) the first time.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

have haproxy || need+=(haproxy)
# nginx: only the binary; the tests run it unprivileged in the foreground.
have nginx || need+=(nginx)
# Redis and PostgreSQL: use the machine's services when present (CI has them);
# install the client tools only if missing, the servers only if asked to.
have redis-server || have redis-cli || need+=(redis-server)
if [ "${CHAT_INSTALL_POSTGRES:-0}" = "1" ] && ! have psql; then need+=(postgresql); fi

if [ ${#need[@]} -eq 0 ]; then
    echo "system deps: present (haproxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}'), $(nginx -v 2>&1 | awk '{print $3}'))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "system deps: missing ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system deps: missing ${need[*]} and no apt-get; install them with your package manager" >&2
    exit 1
fi

echo "system deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package services must not start on install: the cluster script starts its own.
policy_created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_created=1
fi
trap '[ "$policy_created" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system deps: installed ${need[*]}"
