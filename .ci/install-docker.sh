#!/usr/bin/env bash
# A Docker engine and the local base image for the Docker tests (tests/docker/).
# No image registry is reachable here, so the base image is a Debian rootfs made with debootstrap
# and brought in with `docker import`; every Dockerfile of the project builds FROM it.
# Idempotent: installs docker.io/debootstrap if missing, starts dockerd if no engine answers,
# imports the base image if the engine lacks it (from the cached tarball when there is one).
# The engine listens on DOCKER_HOST when that is a unix:// socket, else on the default socket.
set -euo pipefail

BASE_IMAGE="${PIPELINE_BASE_IMAGE:-pipeline-base:bookworm-1}"
CACHE="${PIPELINE_CACHE_DIR:-$HOME/.cache/pipeline}"
BASE_TARBALL="$CACHE/${BASE_IMAGE//[:\/]/-}.tar"
DOCKERD_LOG="$CACHE/dockerd.log"
SUITE=bookworm
# python3-venv for the project's image; ca-certificates for pip and apt inside builds.
BASE_PACKAGES=python3,python3-venv,ca-certificates

say() { echo "install-docker: $*"; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$CACHE"

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends docker.io debootstrap
fi

if ! docker info >/dev/null 2>&1; then
    host_args=()
    if [[ "${DOCKER_HOST:-}" == unix://* ]]; then
        host_args=(-H "$DOCKER_HOST")
    fi
    # No iptables and no bridge in this sandbox: containers use the host's network.
    say "starting dockerd (log: $DOCKERD_LOG)"
    nohup $sudo dockerd --iptables=false --bridge=none "${host_args[@]}" \
        >>"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || { tail -20 "$DOCKERD_LOG"; say "dockerd did not answer"; exit 1; }
fi

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "engine ready; $BASE_IMAGE present"
    exit 0
fi

if [ ! -s "$BASE_TARBALL" ]; then
    # The mirror apt already uses on this machine (deb822 or one-line sources).
    mirror="$(grep -hE '^(URIs:|deb) ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
        2>/dev/null | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    rootfs="$(mktemp -d)"
    trap '$sudo rm -rf "$rootfs"' EXIT
    say "debootstrap $SUITE from $mirror (a few minutes, once)"
    $sudo debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$mirror" \
        >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
    $sudo rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    $sudo tar -C "$rootfs" -cf "$BASE_TARBALL.part" .
    mv "$BASE_TARBALL.part" "$BASE_TARBALL"
fi
docker import --change 'CMD ["/bin/bash"]' "$BASE_TARBALL" "$BASE_IMAGE" >/dev/null
say "imported $BASE_IMAGE from $BASE_TARBALL"
