#!/usr/bin/env bash
# Install headless Chromium and its WebDriver for the status page's browser test
# (tests/integration/test_status_web.py drives Debian's chromium through chromedriver with
# selenium). Idempotent: does nothing when both are there.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "install-chromium: chromium and chromedriver are already installed"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver

command -v chromium >/dev/null && command -v chromedriver >/dev/null
echo "install-chromium: installed $(chromium --version)"
