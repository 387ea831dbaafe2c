#!/usr/bin/env bash
# Serve the API with gunicorn (settings: deploy/gunicorn.conf.py), and run the scheduler in its own
# process next to it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
flask scheduler run &
SCHED=$!
trap 'kill $SCHED 2>/dev/null || true' EXIT INT TERM
gunicorn -c deploy/gunicorn.conf.py wsgi:app
