"""The faults the HA deployment must survive, each against the real thing (make test-ha):
etcd, two Patroni nodes with PostgreSQL + PostGIS, gunicorn, all on loopback (scripts/ha/).

1. The primary dies (SIGKILL of Patroni and PostgreSQL, the machine gone) while 20 phones register
   at a steady rate: the replica is promoted, the API answers 503 + Retry-After meanwhile and
   recovers by itself; every registration answered 201 is there, none twice, and the phones'
   retries fill the rest. The dead node comes back as a replica (pg_rewind).
2. The replica stops while consoles read from it: reads move to the primary, no 5xx.
3. A restore drill after a mistaken mass update brings the lost values back (drill.py).
4. etcd restarts (down longer than the leader key's TTL): never two primaries at any moment.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
import phone  # noqa: E402

PORT = cluster.API_PORT
PHONES = 20
RATE_PER_PHONE = 1.0  # registrations per second per phone: 20 per second in all


@pytest.fixture(scope="module", autouse=True)
def deployment():
    subprocess.run([sys.executable, os.path.join(HERE, "cluster.py"), "up"], check=True)
    yield
    wait_healthy(60)  # each test leaves the pair as it found it


def descendants(root: int) -> list[int]:
    """`root` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def postmaster(name: str) -> int | None:
    try:
        with open(cluster.path(name, "data", "postmaster.pid")) as fh:
            return int(fh.readline())
    except (OSError, ValueError):
        return None


def kill_node(name: str) -> None:
    """SIGKILL Patroni and every PostgreSQL process of node `name` at once (the machine dies).
    Patroni starts PostgreSQL detached (it survives a Patroni restart), so both trees."""
    pids = descendants(cluster.running(name)) + descendants(postmaster(name))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_healthy(seconds: float = 180) -> None:
    cluster.wait_for(cluster.healthy_pair, seconds, "the pair to be healthy again")


def count_rows(marker: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(cluster.node_dsn(cluster.leader())) as conn:
        return conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM dispute WHERE description LIKE %s",
            (f"%{marker}%",),
        ).fetchone()


def test_primary_killed_under_registrations_fails_over_and_loses_nothing():
    marker = f"failover-{int(time.time())}"
    old = cluster.leader()
    headers = [phone.login(PORT, u) for u in ("gw_fq", "gw_fq2")]
    points = {u: phone.cell_points(cluster.node_dsn(old), u, 40) for u in ("gw_fq", "gw_fq2")}
    acknowledged: dict[str, int] = {}  # client_id -> status of the answer that registered it
    statuses: dict[int, int] = {}
    first_failure: list[float] = []
    first_ok_after_kill: list[float] = []
    killed_at: list[float] = []
    lock = threading.Lock()
    stop_at = time.time() + 45  # 10 s before the kill, ~35 s after

    def log(status: int) -> None:
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            if killed_at and status in (0, 503) and not first_failure:
                first_failure.append(time.time())
            if first_failure and status in (200, 201) and not first_ok_after_kill:
                first_ok_after_kill.append(time.time())

    def run_phone(i: int) -> None:
        user = ("gw_fq", "gw_fq2")[i % 2]
        rng = random.Random(i)
        due = time.time() + i / PHONES
        while due < stop_at:
            time.sleep(max(0.0, due - time.time()))
            body = phone.registration(rng, rng.choice(points[user]), marker)
            status = phone.register_until_answered(
                PORT, headers[i % 2], body, give_up=time.time() + 90, log=log
            )
            with lock:
                acknowledged[body["client_id"]] = status
            due += 1 / RATE_PER_PHONE

    threads = [threading.Thread(target=run_phone, args=(i,)) for i in range(PHONES)]
    for t in threads:
        t.start()
    time.sleep(10)
    killed_at.append(time.time())
    kill_node(old)
    new = cluster.wait_for(lambda: (lead := cluster.leader()) != old and lead, 60, "promotion")
    promoted_after = time.time() - killed_at[0]
    for t in threads:
        t.join()
    recovered_after = first_ok_after_kill[0] - killed_at[0] if first_ok_after_kill else None
    print(
        f"\nfailover: {old} killed, {new} leader after {promoted_after:.1f} s; first registration "
        f"answered {recovered_after:.1f} s after the kill; answers {dict(sorted(statuses.items()))}"
    )
    assert set(acknowledged.values()) <= {200, 201}, acknowledged  # every phone got its answer
    assert set(statuses) <= {0, 200, 201, 503}, statuses  # 503 (or refused) during the switch only
    assert statuses.get(503, 0) + statuses.get(0, 0) > 0, "the switch was seen"
    rows, distinct = count_rows(marker)
    assert rows == distinct == len(acknowledged), (rows, distinct, len(acknowledged))
    assert recovered_after is not None and recovered_after < 60

    # The dead node comes back as the replica (rewound), synchronous again.
    cluster.start_node(old)
    wait_healthy()
    assert cluster.leader() == new
    assert cluster.pg_is_primary(old) is False


def _console_reads(headers, seconds: float, results: dict, lock) -> None:
    stop = time.time() + seconds
    paths = ["/api/v1/console/dashboard", "/api/v1/console/lists/overdue"]
    i = 0
    while time.time() < stop:
        status, _h, _b = phone.http(PORT, "GET", paths[i % 2], None, headers)
        i += 1
        with lock:
            results[status] = results.get(status, 0) + 1


def replica_reads() -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mediation_replica_reads_total{")
    )


def test_replica_stopped_while_consoles_read_reads_move_to_the_primary():
    headers = phone.login(PORT, "center_fq")
    time.sleep(1.5)  # past the lag check's cache
    before = replica_reads()
    results: dict[int, int] = {}
    lock = threading.Lock()
    readers = [
        threading.Thread(target=_console_reads, args=(headers, 20, results, lock)) for _ in range(6)
    ]
    for t in readers:
        t.start()
    time.sleep(5)
    during = replica_reads()
    replica = next(n for n in cluster.NODES if n != cluster.leader())
    cluster.stop(replica)  # Patroni stops its PostgreSQL (fast shutdown)
    stopped = time.time()
    time.sleep(2)
    after_stop = replica_reads()
    for t in readers:
        t.join()
    final = replica_reads()
    print(
        f"\nconsole reads {dict(results)}; from the replica: before the stop {during - before:.0f}, "
        f"after it {final - after_stop:.0f}; stopped for {time.time() - stopped:.0f} s"
    )
    assert during > before, "the consoles read from the replica while it ran"
    assert set(results) == {200}, results  # no 5xx, nothing refused
    assert final == after_stop, "no read went to the stopped replica"
    cluster.start_node(replica)
    wait_healthy()


def test_restore_drill_brings_back_what_a_mass_update_destroyed():
    import argparse

    import drill

    result = drill.drill(argparse.Namespace(target=None))
    assert result["mistake_rows"] > 0 and result["mistake_changed_figures"]
    assert result["restored_equals_target"]
    assert result["repaired_equals_target"]


def test_etcd_restart_never_two_primaries():
    samples: list[tuple[float, bool | None, bool | None]] = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append((time.time(), cluster.pg_is_primary("n1"), cluster.pg_is_primary("n2")))
            time.sleep(0.1)

    t = threading.Thread(target=sample)
    t.start()
    time.sleep(2)
    cluster.stop("etcd")
    time.sleep(15)  # longer than the leader key's TTL (10 s): the primary must step down
    cluster.start_etcd()
    wait_healthy(120)
    time.sleep(3)
    done.set()
    t.join()
    both = [s for s in samples if s[1] and s[2]]
    primaries = {s[1:] for s in samples}
    print(f"\netcd restart: {len(samples)} samples, states seen (n1, n2 primary?) {primaries}")
    assert not both, f"two primaries at {both[:3]}"
    assert len(samples) > 100
    assert sum(bool(p) for p in (cluster.pg_is_primary("n1"), cluster.pg_is_primary("n2"))) == 1
