#!/usr/bin/env bash
# The tools the manifest tests use (tests/support/k8s.py): kustomize, and KEDA's CRDs.
# Idempotent: kustomize (or kubectl, which embeds it) on PATH is used as is; otherwise it is
# built from its Go module into the cache. KEDA's module (its CRDs) lands in Go's module cache.
set -euo pipefail

CACHE="${PIPELINE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pipeline}"
KUSTOMIZE_VERSION=v5.5.0
KEDA_VERSIONS=(v2.12.1 v2.16.1)  # keep in step with tests/support/k8s.py

say() { echo "install-k8s-tools: $*"; }

command -v go >/dev/null || { say "Go is needed (kustomize and KEDA's CRDs come as Go modules)"; exit 1; }

if command -v kustomize >/dev/null || [ -x "$CACHE/bin/kustomize" ] || command -v kubectl >/dev/null; then
    say "kustomize available"
else
    say "building kustomize $KUSTOMIZE_VERSION into $CACHE/bin (about a minute, once)"
    GOBIN="$CACHE/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

for version in "${KEDA_VERSIONS[@]}"; do
    go mod download "github.com/kedacore/keda/v2@$version"
done
say "KEDA CRDs ${KEDA_VERSIONS[*]} cached"
