"""The HTTP seam: the Client talks to a ``Transport``; production uses requests, tests an in-memory fake."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import requests

from ._errors import TransportError


@dataclass(frozen=True)
class TransportResponse:
    """An HTTP response: status, parsed JSON body (``None`` when empty or not JSON) and raw text."""

    status: int
    body: Any = None
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Transport(Protocol):
    """Sends one HTTP request. Implementations raise :class:`TransportError` when no response arrives.

    ``url`` is absolute (the Client joins its base URL and the route), ``params`` the query string and
    ``json_body`` the JSON body (``None`` means no body).
    """

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> TransportResponse:
        """Send the request and return the response, whatever its status."""
        ...


class RequestsTransport:
    """The default transport: ``requests`` with one session (connection pool) per thread.

    A session per thread because the Worker calls the API from its pollers, its heartbeat thread and every task
    thread at once, and ``requests.Session`` is not documented as thread-safe.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> TransportResponse:
        data = None if json_body is None else json.dumps(json_body, separators=(",", ":"), ensure_ascii=False)
        try:
            response = self._session().request(
                method,
                url,
                headers=dict(headers),
                params=dict(params) if params else None,
                data=data.encode("utf-8") if data is not None else None,
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise TransportError(f"{method} {url}: {exc}") from exc
        text = response.text
        body: Any = None
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                body = None
        return TransportResponse(status=response.status_code, body=body, text=text, headers=dict(response.headers))
