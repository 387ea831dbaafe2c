"""HTTP-side Flask extensions (tokens, rate limits), created unbound; create_app binds them."""

import threading
from collections import OrderedDict

from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from core.clock import utcnow


class VerifiedTokens(JWTManager):
    """JWTManager that remembers, per process, the access tokens it has verified.

    A phone sends the same access token with every request until it expires, and verifying it
    (PyJWT parses and checks it twice, in Python) was about a tenth of a registration's CPU
    (bench/run.py --profile-register). A token is remembered only once its signature and claims
    have verified; its expiry is still checked on every use, and whether its login was revoked is
    checked on every request by the token check (mediation.users.logins.token_user). A new
    signing key means a restart, which forgets them all. At most `size` tokens are remembered."""

    def __init__(self, app=None, size: int = 10_000) -> None:
        self._verified: OrderedDict[str, dict] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        super().__init__(app)

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        with self._lock:
            hit = self._verified.get(encoded_token)
            if hit is not None:
                self._verified.move_to_end(encoded_token)
        if hit is not None and hit.get("exp", 0) > utcnow().timestamp():
            return dict(hit)
        decoded = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if "exp" in decoded:
            with self._lock:
                self._verified[encoded_token] = dict(decoded)
                while len(self._verified) > self._size:
                    self._verified.popitem(last=False)
        return decoded


jwt = VerifiedTokens()
# Rate limits (login throttling). Storage comes from RATELIMIT_STORAGE_URI: memory:// by default,
# redis://… to count across several server processes.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
