#!/usr/bin/env bash
# Serve the API with gunicorn, and run the scheduler in its own process next to it.
set -euo pipefail
HOST="${HOST:-127.0.0.1}"; PORT="${PORT:-8000}"; WORKERS="${WEB_CONCURRENCY:-2}"
flask scheduler run &
SCHED=$!
trap 'kill $SCHED 2>/dev/null || true' EXIT INT TERM
gunicorn --workers "$WORKERS" --bind "$HOST:$PORT" --access-logfile - \
  --graceful-timeout 20 --timeout 60 wsgi:app
