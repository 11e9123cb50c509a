#!/usr/bin/env bash
# Installs every build, run and test dependency of referrald from Debian 12 packages.
# Idempotent: packages already present are skipped, so `make` targets can call it every time.
# Uses sudo when not root. Nothing is downloaded from anywhere but the Debian archive.
set -euo pipefail

packages=(
  # toolchain
  g++ make cmake pkg-config ca-certificates
  # sanitizer and fuzzing builds (build/asan: clang 14 with its ASan/UBSan/libFuzzer runtimes;
  # llvm-symbolizer for readable reports; build/tsan uses g++'s libtsan)
  clang libclang-rt-14-dev llvm
  # static analysis (scripts/lint.sh: clang-tidy with the checked-in .clang-tidy)
  clang-tidy
  # HTTP server: RESTinio on standalone Asio (+ its fmt and http-parser link deps; fuzz_request
  # parses raw bytes with the same http-parser)
  librestinio-dev libasio-dev libfmt-dev libhttp-parser-dev
  # storage: embedded SQLite, and PostgreSQL 15 (libpq client library; the server and psql
  # for the throwaway test clusters of scripts/pg-cluster.sh)
  libsqlite3-dev sqlite3
  libpq-dev postgresql
  # webhooks: HTTP client
  libcurl4-openssl-dev
  # JSON, tokens, logging, command line
  nlohmann-json3-dev libssl-dev libspdlog-dev libcli11-dev
  # tests: GoogleTest and an HTTP client for integration tests
  libgtest-dev libgmock-dev libcpp-httplib-dev
  # used by the README walk-through
  curl jq
  # the benchmark harness (make bench): load generator and charts
  wrk gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
