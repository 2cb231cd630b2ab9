#!/usr/bin/env bash
# Runs a command against a fresh server process: temp SQLite, its own port (5100-5199,
# never the 5000s other work uses). Exports CHAT_URL for the command.
# Usage: scripts/with-server.sh <command...>   (from mobile_client/, after `make install` at the root)
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# A free port in 5100-5199 (another run may hold one): probe with a bind, in node.
PORT="${CHAT_TEST_PORT:-$(node -e '
const net = require("net");
const pick = (n) => { const p = 5100 + Math.floor(Math.random() * 100); const s = net.createServer();
  s.once("error", () => n > 0 ? pick(n - 1) : process.exit(1));
  s.listen(p, "127.0.0.1", () => s.close(() => console.log(p))); };
pick(20);')}"
DB="$(mktemp -d)/chat-client-tests.db"
PY="$ROOT/.venv/bin"
LOG="${CHAT_SERVER_LOG:-$(mktemp)}"

if [ -n "${CHAT_URL:-}" ]; then exec "$@"; fi  # a server was given: use it

export CHAT_DATABASE_URL="sqlite:///$DB"
# Real-pace rate limits would throttle tests that sign up many users and seed history fast.
export CHAT_RATE_LOGIN_BURST="${CHAT_RATE_LOGIN_BURST:-1000}"
export CHAT_RATE_REGISTER_BURST="${CHAT_RATE_REGISTER_BURST:-1000}"
export CHAT_RATE_MESSAGES_BURST="${CHAT_RATE_MESSAGES_BURST:-1000}"
export CHAT_RATE_MESSAGES_PER_SECOND="${CHAT_RATE_MESSAGES_PER_SECOND:-100}"
# The push e2e test is its own push service on 127.0.0.1 (headless Chromium has none): allow a
# loopback endpoint. Development and tests only; production refuses to start with it.
export CHAT_PUSH_ALLOW_INSECURE="${CHAT_PUSH_ALLOW_INSECURE:-1}"
(cd "$ROOT" && CHAT_ASYNC_MODE=threading "$PY/flask" --app wsgi db upgrade >"$LOG" 2>&1)
(cd "$ROOT" && HOST=127.0.0.1 PORT="$PORT" exec "$PY/python" wsgi.py >>"$LOG" 2>&1) &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  # node rather than curl: node is certain to be here, curl is not.
  if node -e "fetch('http://127.0.0.1:$PORT/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "server died; log: $LOG"; cat "$LOG"; exit 1; fi
  sleep 0.2
done
echo "server on http://127.0.0.1:$PORT (log: $LOG)"
export CHAT_URL="http://127.0.0.1:$PORT"
"$@"
