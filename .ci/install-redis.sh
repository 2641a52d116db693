#!/usr/bin/env bash
# Install a Redis server for the tests (tests/support/redis.py runs `redis-server` on a free
# loopback port, without persistence). Idempotent: does nothing when redis-server exists.
set -euo pipefail

if command -v redis-server >/dev/null; then
    echo "install-redis: $(redis-server --version | cut -d' ' -f1-3) is already installed"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

$sudo apt-get update -qq
# policy-rc.d keeps Debian from starting (and enabling) a system-wide server on port 6379.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    created_policy=1
fi
$sudo apt-get install -y -qq --no-install-recommends redis-server
if [ -n "$created_policy" ]; then
    $sudo rm -f "$policy"
fi

command -v redis-server >/dev/null
echo "install-redis: installed $(redis-server --version | cut -d' ' -f1-3)"
