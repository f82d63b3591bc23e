"""Bearer tokens → tenant and scopes, inside the API functions, with a per-container cache of the table's answers.

The HTTP API in front of the functions has no authorizer: its own authorizer answers (`{"message": "Unauthorized"}`)
cannot carry the API's error body, so every function authenticates the requests of its protected routes itself
(stratoflow_api.guards). A container remembers a token it resolved for `TOKEN_CACHE_SECONDS` (default 300, as
API Gateway caches a Lambda authorizer's answer by default): a revoked token keeps opening its routes on a warm
container for at most that long. Unknown tokens are not remembered, so a token works as soon as it is created. The
cache is keyed by the token's SHA-256 (the token itself is never kept) and holds at most `CACHE_ENTRIES` tokens.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from stratoflow.errors import Unauthenticated
from stratoflow.services import runtime
from stratoflow.tokens import Principal, parse_bearer, resolve_token, token_hash

CACHE_SECONDS = float(os.environ.get("TOKEN_CACHE_SECONDS", "300"))
CACHE_ENTRIES = 1024
UNAUTHENTICATED_MESSAGE = "missing, malformed or unknown bearer token"


class TokenCache:
    """Principals of recently resolved tokens, each for `ttl_seconds`, least recently used dropped first."""

    def __init__(
        self,
        resolve: Callable[[str], Principal | None],
        ttl_seconds: float = CACHE_SECONDS,
        max_entries: int = CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolve = resolve
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        # The local stack runs several requests of one function in one process at once; Lambda never does.
        self._lock = threading.Lock()

    def principal(self, token: str) -> Principal | None:
        key = token_hash(token)
        now = self._clock()
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached[1] > now:
                self._entries.move_to_end(key)
                return cached[0]
        principal = self._resolve(token)
        with self._lock:
            if principal is None:
                self._entries.pop(key, None)
                return None
            if self._ttl > 0:
                self._entries[key] = (principal, now + self._ttl)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return principal

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


TOKENS = TokenCache(lambda token: resolve_token(runtime(), token))


def bearer_of(headers: Mapping[str, Any] | None) -> str | None:
    """The bearer token of a request's headers (any case of `Authorization`), or None."""
    for name, value in (headers or {}).items():
        if str(name).lower() == "authorization":
            return parse_bearer(str(value))
    return None


def authenticate(headers: Mapping[str, Any] | None) -> Principal:
    """The principal of the request's bearer token; 401 for a missing, malformed or unknown one."""
    token = bearer_of(headers)
    principal = TOKENS.principal(token) if token else None
    if principal is None:
        raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
    return principal
