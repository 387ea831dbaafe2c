#!/usr/bin/env bash
# Serve the API with gunicorn (and, once it exists, the scheduler in its own process).
set -euo pipefail
HOST="${HOST:-127.0.0.1}"; PORT="${PORT:-8000}"; WORKERS="${WEB_CONCURRENCY:-2}"
exec gunicorn --workers "$WORKERS" --bind "$HOST:$PORT" --access-logfile - \
  --graceful-timeout 20 --timeout 60 wsgi:app
