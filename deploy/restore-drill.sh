#!/bin/sh
# Monthly restore drill for a county's deployment (deploy/systemd/mediation-restore-drill.*).
# Restores the pgBackRest repository to a scratch cluster at the time of the latest figures file
# (written by the nightly backup: deploy/systemd/mediation-backup.service runs
# `drill.py figures` after its backup), starts it on a spare port, computes the same figures and
# compares. Exit 0 and "drill ok" when they are equal; anything else is a failed drill.
set -eu
STANZA=${STANZA:-mediation}
SCRATCH=${SCRATCH:-/var/tmp/mediation-drill}
PORT=${DRILL_PORT:-5499}
FIGURES=${FIGURES_DIR:-/var/lib/mediation/figures}
APP=${APP_DIR:-/opt/mediation}
latest=$(ls -1 "$FIGURES"/*.json | tail -n 1)
target=$("$APP/.venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["at"])' "$latest")
echo "restore drill: $STANZA at $target (figures $latest)"
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH/run"
pgbackrest --stanza="$STANZA" --pg1-path="$SCRATCH/data" --type=time --target="$target" \
  --target-action=promote restore
pg_ctl -D "$SCRATCH/data" -l "$SCRATCH/postgres.log" -w -t 600 start -o "-c port=$PORT \
  -c listen_addresses=127.0.0.1 -c unix_socket_directories=$SCRATCH/run -c archive_mode=off \
  -c hba_file=$SCRATCH/data/pg_hba.conf -c ident_file=$SCRATCH/data/pg_ident.conf \
  -c synchronous_standby_names= -c primary_conninfo="
trap 'pg_ctl -D "$SCRATCH/data" -m fast -w stop >/dev/null 2>&1 || true' EXIT
until [ "$(psql -h 127.0.0.1 -p "$PORT" -d postgres -tAc 'select pg_is_in_recovery()')" = f ]; do
  sleep 2
done
"$APP/.venv/bin/python" "$APP/scripts/ha/drill.py" compare "$latest" \
  "postgresql+psycopg://postgres@/mediation?host=127.0.0.1&port=$PORT"
