#!/usr/bin/env bash
# The whole suite, on every database this machine offers:
#   1. SQLite (always): every test;
#   2. PostgreSQL, when DATABASE_URL is set: every database test again, plus the PostgreSQL-only ones;
#   3. MongoDB, when TOPOFORGE_TEST_MONGODB_URI is set: every database test against it.
# Extra arguments go to every pytest run (e.g. `make test ARGS="-k login"`).
set -euo pipefail
cd "$(dirname "$0")/.."
pytest=(.venv/bin/python -m pytest "$@")

# Every pass runs even when an earlier one failed, so one run shows all failures; the script
# fails at the end if any pass did. pytest exits 5 when a marker selects no test: fine for the
# optional passes.
failed=0
required() { "$@" || failed=1; }
optional() { "$@" || { status=$?; [ "$status" -eq 5 ] || failed=1; }; }

echo "== SQLite pass"
required env -u DATABASE_URL -u MONGODB_URI "${pytest[@]}" -m "not postgres and not mongodb"

if [ -n "${DATABASE_URL:-}" ]; then
    echo "== PostgreSQL pass (${DATABASE_URL%%@*}@...)"
    optional env -u MONGODB_URI "${pytest[@]}" -m "django_db or postgres"
else
    echo "== PostgreSQL pass: DATABASE_URL is not set; the PostgreSQL-only tests are skipped"
    optional env -u MONGODB_URI "${pytest[@]}" -m postgres
fi

if [ -n "${TOPOFORGE_TEST_MONGODB_URI:-}" ]; then
    echo "== MongoDB pass"
    optional env -u DATABASE_URL MONGODB_URI="$TOPOFORGE_TEST_MONGODB_URI" "${pytest[@]}" -m "django_db or mongodb"
else
    echo "== MongoDB pass: TOPOFORGE_TEST_MONGODB_URI is not set; the MongoDB-only tests are skipped"
    optional env -u DATABASE_URL -u MONGODB_URI "${pytest[@]}" -m mongodb
fi

if [ "$failed" -ne 0 ]; then
    echo "== FAILED: see the passes above"
fi
exit "$failed"
