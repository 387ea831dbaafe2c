"""The production gunicorn worker: gthread, with slow clients kept off the threads.

Gunicorn's threaded worker gives a connection to a thread as soon as its first byte arrives; the
thread then blocks until the whole request head is in, so a few clients trickling their headers
(slowloris) hold every thread and nobody else is served, for as long as they like. This worker:

* reads request heads in its event loop, without blocking, and gives a connection to a thread
  only once its head is complete. A head still incomplete HEAD_TIMEOUT seconds after the
  connection was accepted (or, when kept alive, became readable again) is cut off;
* while a thread reads from the client, a watchdog counts only the time the thread spent blocked
  waiting for bytes. The request is cut off when that time exceeds BODY_TIMEOUT plus one second
  per BODY_MIN_RATE bytes received (Apache mod_reqtimeout's rule: a phone uploading a photo
  slowly but steadily keeps going, a trickle does not), or when one wait exceeds BODY_IDLE.

Cutting off means shutting the socket down: the blocked read returns end-of-file and the thread
is free. Time spent in the application (database, reports) is never counted. TLS connections
(when gunicorn terminates TLS itself) are served as by the plain gthread worker.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

HEAD_TIMEOUT = float(os.environ.get("REQUEST_HEAD_TIMEOUT", "10"))
BODY_TIMEOUT = float(os.environ.get("REQUEST_BODY_TIMEOUT", "20"))
BODY_MIN_RATE = float(os.environ.get("REQUEST_BODY_MIN_RATE", "500"))  # bytes per second
BODY_IDLE = float(os.environ.get("REQUEST_BODY_IDLE", "30"))
MAX_BUFFERED_HEAD = 64 * 1024  # beyond this the parser takes over (and refuses it: 431)


class _Reading:
    """How long the thread serving a request has waited for its client so far."""

    __slots__ = ("blocked_since", "blocked_total", "cut", "received")

    def __init__(self, received: int):
        self.received = received
        self.blocked_total = 0.0
        self.blocked_since: float | None = None
        self.cut = False

    def over(self, now: float) -> bool:
        """True when the client has made the thread wait longer than its rate allows."""
        since = self.blocked_since
        if since is None or self.cut:
            return False
        waiting = now - since
        allowed = BODY_TIMEOUT + self.received / BODY_MIN_RATE
        return waiting > BODY_IDLE or self.blocked_total + waiting > allowed


class GuardedThreadWorker(ThreadWorker):
    """gthread worker whose threads only ever wait for clients that keep sending."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._heads: dict[TConn, tuple[float, bytearray]] = {}  # event-loop thread only
        self._active: set[TConn] = set()  # connections being served by a thread
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- heads, in the event loop

    def accept(self, listener):
        """Accept a connection and wait for its head in the event loop."""
        if self.cfg.is_ssl:
            return super().accept(listener)
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._await_head(TConn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection has a new request: read its head in the event loop too."""
        if self.cfg.is_ssl:
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_head(conn)

    def _await_head(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        self._heads[conn] = (time.monotonic() + HEAD_TIMEOUT, bytearray())
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_head, conn))

    def _read_head(self, conn: TConn, _sock) -> None:
        entry = self._heads.get(conn)
        if entry is None:  # cut off earlier in this round of events
            return
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop_head(conn)
            return
        buf = entry[1]
        buf += data
        if b"\r\n\r\n" in buf or b"\n\n" in buf or len(buf) >= MAX_BUFFERED_HEAD:
            self.poller.unregister(conn.sock)
            del self._heads[conn]
            conn.buffered_head = bytes(buf)
            conn.data_ready = True
            self.enqueue_req(conn)

    def _drop_head(self, conn: TConn) -> None:
        self._heads.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (OSError, KeyError, ValueError):
            pass
        self.nr_conns -= 1
        conn.close()

    # ---------------------------------------------------------------- bodies, in the threads

    def handle(self, conn):
        """Serve a connection whose head is complete; count the time spent waiting for it."""
        head = getattr(conn, "buffered_head", None)
        if head is not None:
            conn.buffered_head = None
            try:
                conn.sock.setblocking(True)
                conn.init()
            except OSError:
                return False
            conn.parser.unreader.unread(head)
            self._watch_reads(conn)
        conn.reading = _Reading(len(head or b""))
        with self._lock:
            self._active.add(conn)
        try:
            return super().handle(conn)
        finally:
            with self._lock:
                self._active.discard(conn)

    def _watch_reads(self, conn: TConn) -> None:
        unreader = conn.parser.unreader
        if getattr(unreader, "watched", False):
            return
        raw = unreader.chunk

        def chunk(size_hint=None):
            reading = conn.reading
            reading.blocked_since = start = time.monotonic()
            try:
                data = raw(size_hint)
            finally:
                reading.blocked_since = None
                reading.blocked_total += time.monotonic() - start
            reading.received += len(data)
            return data

        unreader.chunk = chunk
        unreader.watched = True

    # ---------------------------------------------------------------- the watchdog

    def murder_pending(self):
        """Called by the event loop about once a second: also cut off the slow clients."""
        super().murder_pending()
        now = time.monotonic()
        for conn, (deadline, buf) in list(self._heads.items()):
            if now > deadline:
                self.log.warning(
                    "cut off %s: request head incomplete after %.0f s (%d bytes)",
                    _peer(conn),
                    HEAD_TIMEOUT,
                    len(buf),
                )
                self._drop_head(conn)
        with self._lock:
            active = list(self._active)
        for conn in active:
            reading = getattr(conn, "reading", None)
            if reading is not None and reading.over(now):
                reading.cut = True
                self.log.warning(
                    "cut off %s: request arriving too slowly (%d bytes, waited %.0f s)",
                    _peer(conn),
                    reading.received,
                    reading.blocked_total + now - (reading.blocked_since or now),
                )
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _peer(conn: TConn) -> str:
    client = conn.client
    return f"{client[0]}:{client[1]}" if isinstance(client, tuple) else str(client)
