"""The HA deployment on loopback: one etcd, two PostgreSQL + PostGIS nodes under Patroni, the API.

    scripts/ha/cluster.py up        # etcd, n1 + n2 (Patroni), migrate, demo county, gunicorn
    scripts/ha/cluster.py status    # who is leader, replication state, lag
    scripts/ha/cluster.py backup [full|incr]   # pgBackRest into .ha/backup (WAL archived there)
    scripts/ha/cluster.py drill [--target TIME] # restore to a new cluster and compare figures
    scripts/ha/cluster.py down      # stop everything, keep the data
    scripts/ha/cluster.py destroy   # stop everything and delete .ha/

Everything is the engines' own (Debian packages: patroni, etcd-server, pgbackrest,
postgresql-15-postgis-3); this file only writes their configuration and starts them. All data and
logs live in `.ha/` under the checkout; everything listens on 127.0.0.1 only. `up` also starts a
watchdog that takes the deployment down after HA_MAX_SECONDS (default one hour), so a forgotten
deployment stops by itself.

The API finds the primary through libpq itself: DATABASE_URL lists both nodes and asks for
`target_session_attrs=read-write`, so a new connection lands on whichever node accepts writes.
Nothing else sits in the path (no HAProxy, no VIP, no polling of Patroni's REST API): one less
process to run and to fail, and the check is the server's own answer, not a health endpoint that
could disagree with it. Connections to a dead primary fail; the request answers 503 with
Retry-After (api/errors.py), pool_pre_ping throws the connection away and the next checkout finds
the new primary. DATABASE_REPLICA_URL asks for `target_session_attrs=standby` (core/replica.py
routes console reads there and falls back to the primary when it lags or is gone).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HA = os.environ.get("HA_DIR", os.path.join(ROOT, ".ha"))
PGBIN = "/usr/lib/postgresql/15/bin"
BASE_PORT = int(os.environ.get("HA_BASE_PORT", "55640"))
NODES = {
    "n1": {"pg": BASE_PORT + 1, "rest": BASE_PORT + 11},
    "n2": {"pg": BASE_PORT + 2, "rest": BASE_PORT + 12},
}
ETCD_CLIENT, ETCD_PEER = BASE_PORT + 20, BASE_PORT + 21
API_PORT = int(os.environ.get("HA_API_PORT", str(BASE_PORT + 30)))
DRILL_PORT = BASE_PORT + 5
SCOPE = "mediation-ha"
STANZA = "mediation"
DB = "mediation"
SUPERUSER = "mediation"
SYNCHRONOUS = os.environ.get("HA_SYNCHRONOUS", "1") == "1"  # synchronous_mode, on by default
SECRET = "ha-loopback-secret-not-for-production-0123456789"  # noqa: S105 - loopback demo only


def say(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


def as_pg(cmd: list[str]) -> list[str]:
    """Run as the postgres user when we are root (initdb and postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def path(*parts: str) -> str:
    return os.path.join(HA, *parts)


# ------------------------------------------------------------------ URLs the API uses
def database_url(db: str = DB) -> str:
    """Both nodes; libpq picks the one that accepts writes."""
    hosts = "&".join(f"host=127.0.0.1:{n['pg']}" for n in NODES.values())
    return f"postgresql+psycopg://{SUPERUSER}@/{db}?{hosts}&target_session_attrs=read-write"


def replica_url(db: str = DB) -> str:
    """Both nodes; libpq picks a standby (none: the connection fails, core/replica.py falls back)."""
    hosts = "&".join(f"host=127.0.0.1:{n['pg']}" for n in NODES.values())
    return f"postgresql+psycopg://{SUPERUSER}@/{db}?{hosts}&target_session_attrs=standby"


def node_dsn(name: str, db: str = DB) -> str:
    return f"host=127.0.0.1 port={NODES[name]['pg']} user={SUPERUSER} dbname={db} connect_timeout=2"


# ------------------------------------------------------------------ configuration files
def pgbackrest_conf(name: str) -> str:
    """pgBackRest's configuration as seen from node `name` (pg1 = that node)."""
    return path(name, "pgbackrest.conf")


def write_configs() -> None:
    os.makedirs(path("backup"), exist_ok=True)
    os.makedirs(path("log"), exist_ok=True)
    for name, ports in NODES.items():
        os.makedirs(path(name, "run"), exist_ok=True)
        os.makedirs(path(name, "log"), exist_ok=True)
        conf = {
            "scope": SCOPE,
            "name": name,
            "log": {"dir": path(name, "log"), "file_num": 2, "file_size": 10_000_000},
            "restapi": {
                "listen": f"127.0.0.1:{ports['rest']}",
                "connect_address": f"127.0.0.1:{ports['rest']}",
            },
            "etcd3": {"hosts": [f"127.0.0.1:{ETCD_CLIENT}"]},
            "bootstrap": {
                "dcs": {
                    # A dead primary's leader key expires after ttl: the replica takes over within
                    # ttl + loop_wait (~12 s). ttl >= loop_wait + 2 * retry_timeout (Patroni's rule).
                    "ttl": 10,
                    "loop_wait": 2,
                    "retry_timeout": 4,
                    "maximum_lag_on_failover": 1048576,
                    # A commit waits for the replica: a registration answered 201 is on both nodes.
                    # Patroni drops it to asynchronous while no replica is alive (not "strict").
                    "synchronous_mode": SYNCHRONOUS,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            # Long console/report reads on the replica are not cancelled by
                            # vacuum on the primary (the primary keeps what they still read).
                            "hot_standby_feedback": "on",
                            "wal_log_hints": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "max_connections": 200,
                            "archive_mode": "on",
                            "archive_timeout": 60,
                            "timezone": "UTC",
                            "jit": "off",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{ports['pg']}",
                "connect_address": f"127.0.0.1:{ports['pg']}",
                "data_dir": path(name, "data"),
                "bin_dir": PGBIN,
                "pgpass": path(name, "pgpass"),
                "authentication": {
                    "superuser": {"username": SUPERUSER, "password": SECRET},
                    "replication": {"username": "replicator", "password": SECRET},
                    "rewind": {"username": SUPERUSER, "password": SECRET},
                },
                # Loopback only, trust: a demo on one machine. A county's nodes use scram-sha-256
                # and TLS between hosts (docs: deploy/README.md).
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication replicator 127.0.0.1/32 trust",
                ],
                "parameters": {
                    "unix_socket_directories": path(name, "run"),
                    "shared_buffers": "256MB",
                    "archive_command": (
                        f"pgbackrest --config={pgbackrest_conf(name)} --stanza={STANZA} "
                        "archive-push %p"
                    ),
                },
                # A node that was primary and comes back is rewound and rejoins as replica.
                "remove_data_directory_on_rewind_failure": True,
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }
        with open(path(f"{name}.yml"), "w") as fh:
            json.dump(conf, fh, indent=2)  # YAML is a superset of JSON
        with open(pgbackrest_conf(name), "w") as fh:
            fh.write(
                "[global]\n"
                f"repo1-path={path('backup')}\n"
                "repo1-retention-full=2\n"
                f"log-path={path('log')}\n"
                f"lock-path={path(name, 'lock')}\n"
                "log-level-console=warn\n"
                "log-level-file=info\n"
                "start-fast=y\n"
                "compress-type=lz4\n"
                "process-max=2\n"
                f"\n[{STANZA}]\n"
                f"pg1-path={path(name, 'data')}\n"
                f"pg1-port={ports['pg']}\n"
                f"pg1-socket-path={path(name, 'run')}\n"
                f"pg1-user={SUPERUSER}\n"
            )
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", HA], check=True)


# ------------------------------------------------------------------ processes
def pidfile(name: str) -> str:
    return path(f"{name}.pid")


def running(name: str) -> int | None:
    try:
        pid = int(open(pidfile(name)).read())
    except (OSError, ValueError):
        return None
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if state in ("Z", "X") else pid


def spawn(name: str, cmd: list[str], env: dict | None = None, as_postgres: bool = False) -> int:
    """Start a detached process (own session) with its log in .ha/log/<name>.out. As root,
    `as_postgres` switches user in the child itself (not through runuser, which would stand
    between our signals and the process and SIGKILL it two seconds after a SIGTERM)."""
    if pid := running(name):
        return pid
    log = open(path("log", f"{name}.out"), "ab")
    user = {}
    if as_postgres and os.geteuid() == 0:
        user = {"user": "postgres", "group": "postgres", "extra_groups": []}
        env = {**(env or os.environ), "HOME": os.path.expanduser("~postgres")}
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=HA, **user
    )
    with open(pidfile(name), "w") as fh:
        fh.write(str(proc.pid))
    return proc.pid


def stop(name: str, sig: int = signal.SIGTERM, wait: float = 90) -> None:
    pid = running(name)
    if not pid:
        return
    os.kill(pid, sig)
    deadline = time.time() + wait
    while time.time() < deadline and running(name):
        time.sleep(0.2)
    if running(name):
        os.kill(pid, signal.SIGKILL)


def start_etcd() -> None:
    os.makedirs(path("etcd"), exist_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres:postgres", path("etcd")], check=True)
    spawn(
        "etcd",
        (
            [
                "etcd",
                "--name=e1",
                f"--data-dir={path('etcd')}",
                f"--listen-client-urls=http://127.0.0.1:{ETCD_CLIENT}",
                f"--advertise-client-urls=http://127.0.0.1:{ETCD_CLIENT}",
                f"--listen-peer-urls=http://127.0.0.1:{ETCD_PEER}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER}",
                f"--initial-cluster=e1=http://127.0.0.1:{ETCD_PEER}",
                "--initial-cluster-state=new",
                f"--initial-cluster-token={SCOPE}",
            ]
        ),
        as_postgres=True,
    )
    wait_for(lambda: http_json(f"http://127.0.0.1:{ETCD_CLIENT}/health"), 30, "etcd")


def start_node(name: str) -> None:
    spawn(name, ["patroni", path(f"{name}.yml")], as_postgres=True)


def http_json(url: str, timeout: float = 1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return json.loads(e.read() or b"null")
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def wait_for(check, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what} (logs: {path('log')})")


def node_state(name: str) -> dict | None:
    """Patroni's own view of the node: role, state, timeline, lag (GET / on its REST API)."""
    return http_json(f"http://127.0.0.1:{NODES[name]['rest']}/patroni")


def cluster_state() -> dict | None:
    for ports in NODES.values():
        state = http_json(f"http://127.0.0.1:{ports['rest']}/cluster")
        if state:
            return state
    return None


def leader() -> str | None:
    state = cluster_state() or {}
    for m in state.get("members", []):
        if m.get("role") == "leader" and m.get("state") == "running":
            return m["name"]
    return None


def healthy_pair() -> bool:
    state = cluster_state() or {}
    members = state.get("members", [])
    roles = sorted(m.get("role") for m in members if m.get("state") in ("running", "streaming"))
    want = ["leader", "sync_standby"] if SYNCHRONOUS else ["leader", "replica"]
    return roles == want


def pg_is_primary(name: str) -> bool | None:
    """True/False from the server itself (pg_is_in_recovery); None when it does not answer."""
    import psycopg

    try:
        with psycopg.connect(node_dsn(name, "postgres")) as conn:
            return not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
    except psycopg.Error:
        return None


def api_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE"))}
    env.update(
        {
            "DATABASE_URL": database_url(),
            "DATABASE_REPLICA_URL": replica_url(),
            "APP_ENV": os.environ.get("HA_APP_ENV", "development"),
            "SECRET_KEY": SECRET,
            "JWT_SECRET_KEY": SECRET,
            "PII_KEY": SECRET,
            "RATELIMIT_ENABLED": "0",
            "FLASK_APP": "wsgi:app",
            "HOST": "127.0.0.1",
            "PORT": str(API_PORT),
            "ACCESS_LOG": "",
            "LOG_FORMAT": "json",
            "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
        }
    )
    return env


def flask(*args: str) -> None:
    subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "flask"), *args], env=api_env(), cwd=ROOT, check=True
    )


def start_api() -> None:
    spawn(
        "api",
        [
            os.path.join(ROOT, ".venv", "bin", "gunicorn"),
            "-c",
            os.path.join(ROOT, "deploy", "gunicorn.conf.py"),
            "--chdir",
            ROOT,
            "wsgi:app",
        ],
        env=api_env(),
    )
    wait_for(
        lambda: http_json(f"http://127.0.0.1:{API_PORT}/api/v1/health", 2), 60, "the API (gunicorn)"
    )


def pgbackrest(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = as_pg(["pgbackrest", f"--config={pgbackrest_conf(name)}", f"--stanza={STANZA}", *args])
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if check and done.returncode:
        raise SystemExit(f"pgbackrest {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done


# ------------------------------------------------------------------ commands
def up(args) -> None:
    os.makedirs(HA, exist_ok=True)
    write_configs()
    say(f"etcd on 127.0.0.1:{ETCD_CLIENT}")
    start_etcd()
    for name in NODES:
        say(
            f"Patroni {name}: PostgreSQL on 127.0.0.1:{NODES[name]['pg']}, REST {NODES[name]['rest']}"
        )
        start_node(name)
    wait_for(leader, 120, "a leader")
    fresh = not os.path.exists(path("initialised"))
    if fresh:
        import psycopg

        with psycopg.connect(node_dsn(leader(), "postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone():
                conn.execute(f"CREATE DATABASE {DB}")
    wait_for(healthy_pair, 180, "the replica to stream" + (" synchronously" if SYNCHRONOUS else ""))
    ensure_stanza()
    if fresh:
        say("migrating and loading the demo county")
        flask("db", "upgrade")
        flask("demo", "load")
        open(path("initialised"), "w").close()
        say("first full backup")
        backup_now("full")
    if not args.no_api:
        say(f"API (gunicorn) on http://127.0.0.1:{API_PORT}")
        start_api()
    if not running("watchdog"):
        spawn(
            "watchdog",
            [sys.executable, os.path.abspath(__file__), "watchdog", str(args.max_seconds)],
        )
    status(args)


def ensure_stanza() -> None:
    name = leader()
    if not os.path.exists(path("backup", "backup", STANZA, "backup.info")):
        say("pgBackRest stanza")
        pgbackrest(name, "stanza-create")
    pgbackrest(name, "check")


def backup_now(kind: str) -> None:
    name = leader()
    started = time.time()
    pgbackrest(name, f"--type={kind}", "backup")
    say(f"{kind} backup from {name} in {time.time() - started:.1f} s")


def backup(args) -> None:
    backup_now(args.kind)
    info = pgbackrest(leader(), "info", "--output=json").stdout
    for b in json.loads(info)[0]["backup"]:
        print(
            b["label"], b["type"], datetime.fromtimestamp(b["timestamp"]["stop"], UTC).isoformat()
        )


def stop_postgres(name: str) -> None:
    """PostgreSQL of a node whose Patroni is gone (Patroni starts it detached)."""
    data = path(name, "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        subprocess.run(
            as_pg([f"{PGBIN}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )


def down(args=None) -> None:
    for name in ("api", "n2", "n1"):
        stop(name)
    for name in NODES:
        stop_postgres(name)
    stop("etcd")
    if getattr(args, "keep_watchdog", False):
        return
    stop("watchdog")


def destroy(args) -> None:
    down()
    shutil.rmtree(HA, ignore_errors=True)


def watchdog(args) -> None:
    """Take the deployment down after `seconds` (started by `up`)."""
    time.sleep(float(args.seconds))
    say(f"watchdog: {args.seconds} s are up, stopping the HA deployment")
    down(argparse.Namespace(keep_watchdog=True))


def status(_args) -> None:
    state = cluster_state() or {}
    for m in state.get("members", []):
        print(
            f"{m['name']}: {m['role']:<12} {m['state']:<10} timeline {m.get('timeline')} "
            f"lag {m.get('lag', 0)}  port {m['port']}"
        )
    print(f"DATABASE_URL={database_url()}")
    print(f"DATABASE_REPLICA_URL={replica_url()}")
    if running("api"):
        print(f"API: http://127.0.0.1:{API_PORT}/api/v1/health")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up")
    p.add_argument("--no-api", action="store_true")
    p.add_argument("--max-seconds", type=int, default=int(os.environ.get("HA_MAX_SECONDS", 3600)))
    p.set_defaults(fn=up)
    sub.add_parser("down").set_defaults(fn=down)
    sub.add_parser("destroy").set_defaults(fn=destroy)
    sub.add_parser("status").set_defaults(fn=status)
    p = sub.add_parser("backup")
    p.add_argument("kind", nargs="?", default="incr", choices=["full", "diff", "incr"])
    p.set_defaults(fn=backup)
    p = sub.add_parser("drill")
    p.add_argument(
        "--target", help="restore to this time (ISO 8601); default: a mark the drill sets"
    )
    p.set_defaults(fn=lambda a: __import__("drill").drill(a))
    p = sub.add_parser("watchdog")
    p.add_argument("seconds")
    p.set_defaults(fn=watchdog)
    args = parser.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
