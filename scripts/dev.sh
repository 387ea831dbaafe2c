#!/usr/bin/env bash
# One entry point for a developer machine: venv, the project's own PostGIS cluster, run, test.
# Usage: scripts/dev.sh {setup|env|db|run|test|psql|stop|lint|bench} [pytest args...]
# DATABASE_URL (and TEST_DATABASE_URL) override the local cluster entirely.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
PG_MAJOR="${PG_MAJOR:-15}"
PGBIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PGPORT_DEFAULT=55432
PGPORT_LOCAL="${PGPORT_LOCAL:-}"   # empty: the port the cluster was made with, else 55432
DB_NAME="mediation"
TEST_DB_NAME="mediation_test"
BENCH_DB_NAME="mediation_bench"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
export HOST PORT

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- python
ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment in .venv"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"; "$PY" -m venv "$VENV"
      else
        die "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv)"
      fi
    fi
  fi
  local stamp="$VENV/.requirements.sha"
  local want
  want="$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing pinned requirements"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
    # The project itself, editable: `flask`, the scheduler and the tests import it from anywhere
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
  fi
}

# ---------------------------------------------------------------- postgres
pg_data_base() {
  # The cluster lives under .pgdata in the checkout. When we run as root the server runs as the
  # 'postgres' user, which must be able to reach that folder; otherwise fall back to /var/tmp.
  local base="$ROOT/.pgdata"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
    base="/var/tmp/mediation-pg-$(echo "$ROOT" | sha256sum | cut -c1-12)"
  fi
  # Unix socket paths are limited to ~107 bytes.
  if [ ${#base} -gt 70 ]; then
    base="/var/tmp/mediation-pg-$(echo "$ROOT" | sha256sum | cut -c1-12)"
  fi
  echo "$base"
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_postgis_installed() {
  if [ -x "$PGBIN/initdb" ] && [ -f "/usr/share/postgresql/$PG_MAJOR/extension/postgis.control" ]; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing postgresql-$PG_MAJOR-postgis-3 from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_MAJOR-postgis-3" >/dev/null
  else
    die "PostgreSQL $PG_MAJOR with PostGIS 3 is missing. Install it with:
  sudo apt-get install postgresql-$PG_MAJOR-postgis-3
or point DATABASE_URL and TEST_DATABASE_URL at a PostGIS database you own."
  fi
}

# Chromium and its driver for the console's browser tests (tests/test_console_browser.py).
ensure_browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium and chromium-driver from Debian (browser tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    say "chromium/chromedriver missing: the browser tests are skipped (sudo apt-get install chromium chromium-driver)"
  fi
}

# The port is the cluster's own (its postgresql.conf): a cluster made with PGPORT_LOCAL=55602 is
# found again without the variable. Setting the variable to another port moves the cluster there.
cluster_port() {
  local conf; conf="$(pg_data_base)/data/postgresql.conf"
  [ -f "$conf" ] && sed -n 's/^port = \([0-9][0-9]*\).*/\1/p' "$conf" | tail -n 1
}

resolve_port() {
  local have; have="$(cluster_port || true)"
  if [ -z "$PGPORT_LOCAL" ]; then
    PGPORT_LOCAL="${have:-$PGPORT_DEFAULT}"
  elif [ -n "$have" ] && [ "$have" != "$PGPORT_LOCAL" ]; then
    local base; base="$(pg_data_base)"
    say "moving the project's cluster from port $have to $PGPORT_LOCAL"
    if as_pg "$PGBIN/pg_ctl" -D "$base/data" status >/dev/null 2>&1; then
      as_pg "$PGBIN/pg_ctl" -D "$base/data" -m fast -w stop >/dev/null
    fi
    printf 'port = %s\n' "$PGPORT_LOCAL" | as_pg tee -a "$base/data/postgresql.conf" >/dev/null
  fi
  export PGPORT_LOCAL
}

# The printed monthly report is rendered in a test (tests/test_report_print.py): a headless
# LibreOffice Calc, poppler's pdftoppm and a CJK font. The papers (mediation/papers/, WeasyPrint)
# need pango and the same CJK font (tests/test_papers.py). Installed for `test` only, when missing.
RENDER_PACKAGES="libreoffice-calc-nogui poppler-utils fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0"
ensure_render_tools() {
  if command -v soffice >/dev/null && command -v pdftoppm >/dev/null \
      && [ -n "$(fc-list 'Noto Sans CJK SC' family 2>/dev/null)" ] \
      && compgen -G '/usr/lib/*/libpangoft2-1.0.so.0' >/dev/null; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $RENDER_PACKAGES from Debian (renders the printed report and the papers in tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 $RENDER_PACKAGES >/dev/null
  else
    say "the printed-report and papers tests will be skipped: sudo apt-get install --no-install-recommends $RENDER_PACKAGES"
  fi
}

local_db_url() {
  local base; base="$(pg_data_base)"
  echo "postgresql+psycopg://mediation@/$1?host=$base/run&port=$PGPORT_LOCAL"
}

ensure_cluster() {
  ensure_postgis_installed
  resolve_port
  local base; base="$(pg_data_base)"
  local data="$base/data" run="$base/run" log="$base/postgres.log"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "initialising the project's own PostgreSQL cluster in $base"
    mkdir -p "$base" "$run"
    if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$base"; fi
    as_pg "$PGBIN/initdb" -D "$data" -U mediation --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$data/postgresql.conf" <<CONF
# --- project settings (scripts/dev.sh) ---
listen_addresses = ''
unix_socket_directories = '$run'
port = $PGPORT_LOCAL
max_connections = 200
shared_buffers = 512MB
work_mem = 16MB
maintenance_work_mem = 256MB
timezone = 'UTC'
CONF
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "starting PostgreSQL (socket $run, port $PGPORT_LOCAL)"
    as_pg "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null \
      || { tail -20 "$log" >&2; die "PostgreSQL did not start (log: $log)"; }
  fi
  for db in "$DB_NAME" "$TEST_DB_NAME" "$BENCH_DB_NAME"; do
    if ! "$PGBIN/psql" -h "$run" -p "$PGPORT_LOCAL" -U mediation -d postgres -tAc \
        "select 1 from pg_database where datname='$db'" | grep -q 1; then
      "$PGBIN/createdb" -h "$run" -p "$PGPORT_LOCAL" -U mediation "$db"
    fi
  done
}

setup_env() {
  ensure_venv
  if [ -z "${DATABASE_URL:-}" ]; then
    ensure_cluster
    export DATABASE_URL; DATABASE_URL="$(local_db_url "$DB_NAME")"
    export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$(local_db_url "$TEST_DB_NAME")}"
    export BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-$(local_db_url "$BENCH_DB_NAME")}"
  fi
  export FLASK_APP=wsgi:app
  export PATH="$VENV/bin:$PATH"
}

run_failed() {
  printf '\nerror: make run stopped before the service started. What it started is still there:\n' >&2
  if [ -z "${DATABASE_URL_GIVEN:-}" ]; then
    printf '  the project PostgreSQL cluster (%s, port %s): stop it with  make stop\n' \
      "$(pg_data_base)" "${PGPORT_LOCAL:-$PGPORT_DEFAULT}" >&2
  fi
  printf '  the virtual environment .venv: kept for the next run (delete the folder to remove it)\n' >&2
}

cmd="${1:-}"; shift || true
DATABASE_URL_GIVEN="${DATABASE_URL:-}"
case "$cmd" in
  setup) setup_env ;;
  env)   # eval "$(scripts/dev.sh env)" to use flask/pytest by hand
    setup_env >&2
    printf 'export DATABASE_URL=%q TEST_DATABASE_URL=%q FLASK_APP=wsgi:app PATH=%q\n' \
      "$DATABASE_URL" "$TEST_DATABASE_URL" "$PATH" ;;
  db)    setup_env; flask db upgrade ;;
  run)
    trap 'rc=$?; [ "$rc" = 0 ] || run_failed' EXIT
    setup_env
    say "migrating"
    flask db upgrade
    say "loading the demo county (idempotent)"
    flask demo load
    say "serving on http://$HOST:$PORT  (API docs: http://$HOST:$PORT/api/docs)"
    trap - EXIT
    rc=0; "$ROOT/scripts/serve.sh" || rc=$?
    if [ -z "$DATABASE_URL_GIVEN" ]; then
      say "the service has stopped; the project's PostgreSQL cluster is still running: make stop"
    fi
    exit "$rc"
    ;;
  test)
    setup_env
    ensure_render_tools
    [ -n "${TEST_DATABASE_URL:-}" ] || die "set TEST_DATABASE_URL when DATABASE_URL is set"
    ensure_browser
    exec python -m pytest "$@"
    ;;
  bench)
    setup_env
    [ -n "${BENCH_DATABASE_URL:-}" ] || die "set BENCH_DATABASE_URL when DATABASE_URL is set"
    script="$1"; shift
    exec python "bench/$script.py" "$@"
    ;;
  psql)
    setup_env
    exec "$PGBIN/psql" "$(echo "$DATABASE_URL" | sed 's/+psycopg//')"
    ;;
  stop)
    base="$(pg_data_base)"
    if as_pg "$PGBIN/pg_ctl" -D "$base/data" status >/dev/null 2>&1; then
      as_pg "$PGBIN/pg_ctl" -D "$base/data" -m fast stop
    else
      say "the project's cluster ($base) is not running"
    fi
    ;;
  lint)
    ensure_venv
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/python" scripts/imports.py
    "$VENV/bin/python" scripts/views.py
    ;;
  *) die "usage: scripts/dev.sh {setup|env|db|run|test|psql|stop|lint|bench}" ;;
esac
