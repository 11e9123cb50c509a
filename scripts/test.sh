#!/usr/bin/env bash
# Runs every test of the given preset's build (default release) with CTest, two at a time.
# Integration tests start the real server on ephemeral loopback ports against temporary
# SQLite files, so they run side by side without sharing state.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
ctest --preset "$preset" --output-on-failure -j2
