#!/usr/bin/env bash
# Everything the web client checks, for `make test-client` and CI:
# type checks, unit tests, build, then the core in Node and Playwright e2e against
# one real server process (started by with-server.sh on a 51xx port).
# Expects node_modules (npm ci) and the Python venv (make install) to exist.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run typecheck
npm test
npx vite build
bash scripts/ensure-chromium.sh
bash scripts/with-server.sh bash -c 'npx vitest run --config vitest.server.config.ts && npx playwright test'
