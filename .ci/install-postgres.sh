#!/usr/bin/env bash
# Install a PostgreSQL server for the tests (tests/support/postgres.py runs it from
# /usr/lib/postgresql/*/bin in a temporary directory). Idempotent: does nothing when initdb exists.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then
    echo "install-postgres: PostgreSQL is already installed"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

$sudo apt-get update -qq
# The tests create their own clusters: keep Debian from creating and starting a default one.
$sudo apt-get install -y -qq --no-install-recommends postgresql-common
$sudo sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
    /etc/postgresql-common/createcluster.conf
$sudo apt-get install -y -qq --no-install-recommends postgresql

compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
echo "install-postgres: installed $(ls /usr/lib/postgresql)"
