#!/usr/bin/env bash
# `make run`: prepare the database, then serve the API, admin and dashboard on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
HOST="${TOPOFORGE_HOST:-127.0.0.1}"
PORT="${TOPOFORGE_PORT:-8000}"

scripts/write_env.sh

# A development admin password is generated once and kept under var/ so every `make run` can
# print working credentials; set TOPOFORGE_ADMIN_PASSWORD to choose your own.
mkdir -p var
if [ -z "${TOPOFORGE_ADMIN_PASSWORD:-}" ]; then
    [ -s var/admin-password ] || (umask 077; .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))' > var/admin-password)
    TOPOFORGE_ADMIN_PASSWORD="$(cat var/admin-password)"
fi
export TOPOFORGE_ADMIN_PASSWORD

# Stops here, with one line, when the database is unreachable.
setup_report="$(.venv/bin/python manage.py setup_database)"
printf '%s\n' "$setup_report"
LOGIN="admin / $TOPOFORGE_ADMIN_PASSWORD"
if grep -q "NOT the one in TOPOFORGE_ADMIN_PASSWORD" <<<"$setup_report"; then
    LOGIN="admin / (the password it already had; see above)"
fi

cat <<INFO

  TopoForge is starting.
    dashboard: http://$HOST:$PORT/
    admin:     http://$HOST:$PORT/admin/
    API docs:  http://$HOST:$PORT/api/docs
    login:     $LOGIN

INFO
# The server, the alert worker (email, webhooks, Slack) and the detector run side by side; Ctrl-C
# or a SIGTERM to this script stops all three, and any one exiting stops the others. The detector
# reads the synthetic feed by default, the live Wikimedia feed with TOPOFORGE_SOURCE=wikipedia.
.venv/bin/python manage.py alert_worker &
ALERT_WORKER_PID=$!
# Its status line comes every 10 s as a line of its own (the terminal is shared with the server's log).
.venv/bin/python manage.py detect --source "${TOPOFORGE_SOURCE:-generator}" --status-interval 10 --status-lines &
DETECTOR_PID=$!
.venv/bin/daphne -b "$HOST" -p "$PORT" topoforge.asgi:application &
SERVER_PID=$!
stop() { kill "$SERVER_PID" "$ALERT_WORKER_PID" "$DETECTOR_PID" 2>/dev/null || true; wait; }
trap stop INT TERM EXIT
wait -n "$SERVER_PID" "$ALERT_WORKER_PID" "$DETECTOR_PID"
