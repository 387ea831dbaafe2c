"""Test helpers for partner systems: a signer written from the OpenAPI document's text alone,
and the fake partner receiver (the only fake: a small local HTTP server)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def signed_headers(key_id: str, secret: str, method: str, path: str, body: bytes, ts=None):
    """The three headers, exactly as the partner_api tag's description says (not the server's
    own code): HMAC-SHA256 over METHOD, PATH, TIMESTAMP and the body's SHA-256, one per line."""
    ts = str(int(time.time()) if ts is None else ts)
    message = "\n".join([method.upper(), path, ts, hashlib.sha256(body).hexdigest()])
    mac = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return {
        "X-Partner-Key": key_id,
        "X-Partner-Timestamp": ts,
        "X-Partner-Signature": f"sha256={mac}",
        "Content-Type": "application/json",
    }


def post_signed(client, key_id, secret, path, payload, **kw):
    """POST a JSON body signed over the very bytes sent."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(key_id, secret, "POST", path, body, **kw)
    return client.post(path, data=body, headers=headers)


class Receiver:
    """A partner's result endpoint: checks the signature, answers 503 while `down`, and keeps
    what it accepted by Idempotency-Key (a repeat of a key is counted apart)."""

    def __init__(self, secret: str):
        self.secret = secret
        self.down = False
        self.accepted: dict[str, dict] = {}
        self.repeats = 0
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers["X-Mediation-Timestamp"]
                want = hmac.new(
                    receiver.secret.encode(), ts.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                ok = self.headers["X-Mediation-Signature"] == f"sha256={want}"
                if receiver.down or not ok:
                    receiver.refused += 1
                    self.send_response(503 if ok else 401)
                    self.end_headers()
                    return
                key = self.headers["Idempotency-Key"]
                if key in receiver.accepted:
                    receiver.repeats += 1
                receiver.accepted[key] = json.loads(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/results"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
