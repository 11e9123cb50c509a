#!/usr/bin/env bash
# Starts `referrald serve` on the embedded SQLite default (data/referrals.db).
# When JWT_SECRET is set neither in the environment nor in .env, creates a random one in .env.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${JWT_SECRET:-}" ] && ! grep -qE '^[[:space:]]*(export[[:space:]]+)?JWT_SECRET=.+' .env 2>/dev/null; then
  secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  printf 'JWT_SECRET=%s\n' "$secret" >> .env
  echo "run: JWT_SECRET was not set; created a random one in .env (not committed)."
fi

mkdir -p data
exec ./build/release/referrald serve
