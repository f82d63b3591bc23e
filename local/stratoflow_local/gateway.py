"""HTTP front door: an API Gateway HTTP API (payload format 2.0) in front of the template's functions.

Per request, as the HTTP API does it:

1. a body over 10 MB → 413;
2. route matching on the template's routes (`GET /v1/workflows/{id}`, `ANY`, greedy `{proxy+}`; a literal segment
   beats a parameter, an exact method beats `ANY`); no match → the `$default` route if the API has one, else the
   HTTP API's own 404 `{"message":"Not Found"}`;
3. a payload 2.0 event goes to the route's function: `routeKey` (`GET /v1/workflows/{id}` or `$default`),
   `rawPath` (percent-decoded, as the HTTP API sends it) with `/<stage>` in front unless the stage is `$default`,
   `rawQueryString`, headers lower-cased with
   repeated ones joined by commas, `cookies`, `queryStringParameters` (repeated ones joined by commas),
   `pathParameters`, `requestContext.http`, `body` and `isBase64Encoded` (a body that is not UTF-8 is base64);
4. the function's answer is read as payload 2.0 answers are: `statusCode`, `headers`, `cookies` (each a
   `Set-Cookie`), `body`, `isBase64Encoded`; an answer without `statusCode` is a 200 JSON body. An error → 502.

An HTTP API has no authorizer here and no gateway responses: the functions authenticate requests themselves and the
catch-all route answers unknown routes, so every refusal carries the API's error body. The HTTP API's own answers to
an oversize body and to a function that failed cannot be shaped in AWS (`{"message":"Request Entity Too Large"}`,
`{"message":"Internal Server Error"}`); the front door gives them the API's error body (413 `PAYLOAD_TOO_LARGE`,
502 `INTERNAL`), as docs/api-notes.md explains.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from stratoflow_local.template import DEFAULT_ROUTE, LOCAL_API_ID, ApiSpec, LocalTemplate, Route

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
_FRONT_DOOR_CODES = {HTTPStatus.NOT_FOUND: "NOT_FOUND", HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "PAYLOAD_TOO_LARGE"}
TOO_LARGE = {"error": {"code": "PAYLOAD_TOO_LARGE", "message": "request body too large"}}
BAD_GATEWAY = {"error": {"code": "INTERNAL", "message": "Internal server error"}}
NO_ROUTE = {"message": "Not Found"}  # the HTTP API's own answer, for an API without a $default route

Invoke = Callable[[str, Any], Any]


@dataclass(frozen=True)
class GatewayResult:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# ---------------------------------------------------------------- routing


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]

    def match(self, parts: Sequence[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
        """(specificity rank, path parameters) if the path matches; a lower rank is more specific."""
        rank: list[int] = []
        parameters: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                rest = parts[index:]
                if not rest:
                    return None
                parameters[segment[1:-2]] = "/".join(rest)
                rank.append(2)
                return (*rank, 0 if self.route.method != "ANY" else 1), parameters
            if index >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                if not parts[index]:
                    return None
                parameters[segment[1:-1]] = parts[index]
                rank.append(1)
            elif segment == parts[index]:
                rank.append(0)
            else:
                return None
        if len(parts) != len(self.segments):
            return None
        return (*rank, 0 if self.route.method != "ANY" else 1), parameters


class RouteTable:
    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = [_CompiledRoute(route, _split(route.path)) for route in routes if route.path != DEFAULT_ROUTE]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        parts = _split(path)
        best: tuple[tuple[int, ...], Route, dict[str, str]] | None = None
        for compiled in self._routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            result = compiled.match(parts)
            if result is not None and (best is None or result[0] < best[0]):
                best = (result[0], compiled.route, result[1])
        return None if best is None else (best[1], best[2])


def _split(path: str) -> tuple[str, ...]:
    stripped = path.strip("/")
    return tuple(stripped.split("/")) if stripped else ()


# ---------------------------------------------------------------- the gateway


class ApiGateway:
    """Turns HTTP requests into payload 2.0 events of the template's HTTP API; independent of the HTTP server."""

    def __init__(self, template: LocalTemplate, invoke: Invoke) -> None:
        self.template = template
        self._invoke = invoke
        self._routes = RouteTable(template.routes)
        self._apis = dict(template.apis)
        self._catch_all = next((route for route in template.routes if route.path == DEFAULT_ROUTE), None)

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        source_ip: str = "127.0.0.1",
        body_length: int | None = None,
    ) -> GatewayResult:
        request_id = str(uuid.uuid4())
        split = urlsplit(raw_path)
        path = unquote(split.path) or "/"
        length = body_length if body_length is not None else len(body or b"")
        if length > MAX_BODY_BYTES:
            return _json_result(413, TOO_LARGE, request_id)
        matched = self._routes.match(method.upper(), path)
        if matched is None and self._catch_all is not None:
            matched = self._catch_all, {}
        if matched is None:
            return _json_result(404, NO_ROUTE, request_id)
        route, path_parameters = matched
        request = _Request(
            method=method.upper(),
            path=path,
            raw_query=split.query,
            route=route,
            path_parameters=path_parameters,
            headers=headers,
            body=body,
            source_ip=source_ip,
            request_id=request_id,
        )
        event = request.event(self.template, self._apis[route.api])
        try:
            response = self._invoke(route.function, event)
        except Exception:
            logger.exception("handler failed", extra={"function": route.function, "path": path})
            return _json_result(502, BAD_GATEWAY, request_id)
        return _integration_response(response, request_id)


def _integration_response(response: Any, request_id: str) -> GatewayResult:
    if not isinstance(response, Mapping) or "statusCode" not in response:
        # Payload 2.0 reads an answer without a status code as a 200 JSON body.
        return _json_result(200, response, request_id)
    if not isinstance(response.get("statusCode"), int | str):
        logger.error("malformed Lambda answer", extra={"response": repr(response)[:200]})
        return _json_result(502, BAD_GATEWAY, request_id)
    headers = [(str(name), str(value)) for name, value in (response.get("headers") or {}).items()]
    headers.extend(("Set-Cookie", str(cookie)) for cookie in response.get("cookies") or ())
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("apigw-requestid", request_id))
    body = response.get("body")
    if body is None:
        payload = b""
    elif response.get("isBase64Encoded"):
        payload = base64.b64decode(str(body))
    else:
        payload = str(body).encode()
    return GatewayResult(int(response["statusCode"]), headers, payload)


def _json_result(status: int, body: Any, request_id: str) -> GatewayResult:
    text = body if isinstance(body, str) else json.dumps(body)
    return GatewayResult(status, [("Content-Type", "application/json"), ("apigw-requestid", request_id)], text.encode())


@dataclass(frozen=True)
class _Request:
    method: str
    path: str  # percent-decoded, as the HTTP API routes and forwards it
    raw_query: str
    route: Route
    path_parameters: dict[str, str]
    headers: Sequence[tuple[str, str]]
    body: bytes | None
    source_ip: str
    request_id: str

    def event(self, template: LocalTemplate, api: ApiSpec) -> dict[str, Any]:
        """The payload format 2.0 event the HTTP API sends the route's function."""
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in self.headers:
            key = name.lower()
            if key == "cookie":
                cookies.extend(part.strip() for part in value.split(";") if part.strip())
            else:
                headers[key] = f"{headers[key]},{value}" if key in headers else value
        query: dict[str, str] = {}
        for name, value in parse_qsl(self.raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        stage_prefix = "" if api.stage == DEFAULT_ROUTE else f"/{api.stage}"
        route_key = DEFAULT_ROUTE if self.route.path == DEFAULT_ROUTE else f"{self.route.method} {self.route.path}"
        now = datetime.now(UTC)
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            # The HTTP API delivers the path percent-decoded, in rawPath as in requestContext.http.path.
            "rawPath": stage_prefix + self.path,
            "rawQueryString": self.raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": template.names.account_id,
                "apiId": LOCAL_API_ID,
                "domainName": headers.get("host", "127.0.0.1"),
                "domainPrefix": "127",
                "http": {
                    "method": self.method,
                    "path": stage_prefix + self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": self.request_id,
                "routeKey": route_key,
                "stage": api.stage,
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if self.path_parameters:
            event["pathParameters"] = dict(self.path_parameters)
        if self.body:
            try:
                event["body"] = self.body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(self.body).decode(), True
        return event


# ---------------------------------------------------------------- the HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stratoflow-local"
    disable_nagle_algorithm = True  # headers and body are separate writes; see _serve
    gateway: ApiGateway
    access_log: bool

    def _serve(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body, length = self._read_chunked()
        else:
            body, length = self._read_sized(int(self.headers.get("Content-Length") or 0))
        result = self.gateway.handle(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0], body_length=length
        )
        try:
            phrase: str | None = HTTPStatus(result.status).phrase
        except ValueError:
            phrase = None
        self.send_response(result.status, phrase)
        for name, value in result.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(result.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(result.body)

    def _read_sized(self, length: int) -> tuple[bytes | None, int]:
        if length <= MAX_BODY_BYTES:
            return (self.rfile.read(length) if length else None), length
        # Read and drop the body so that the client sees the 413 rather than a reset connection.
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                self.close_connection = True
                break
            remaining -= len(chunk)
        return None, length

    def _read_chunked(self) -> tuple[bytes | None, int]:
        parts: list[bytes] = []
        length = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            chunk = self.rfile.read(size)
            self.rfile.readline()
            length += len(chunk)
            if length <= MAX_BODY_BYTES:
                parts.append(chunk)
        if length > MAX_BODY_BYTES:
            return None, length
        return (b"".join(parts) or None), length

    def __getattr__(self, name: str) -> Any:
        # http.server answers 501 with an HTML page for a method it has no do_<METHOD> for (TRACE, PROPFIND…);
        # API Gateway routes every method, and one without a route gets the unknown-route answer (404).
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, an oversize header) in the API's error shape.

        They are all the client's mistakes (an HTTP version it cannot speak included), so never a 5xx; and they get
        a status line and headers even when the request line was too broken to say which HTTP version it spoke.
        """
        status = HTTPStatus(code) if code in HTTPStatus._value2member_map_ and code < 500 else HTTPStatus.BAD_REQUEST
        error_code = _FRONT_DOOR_CODES.get(status, "INVALID_ARGUMENT")
        body = json.dumps({"error": {"code": error_code, "message": message or status.phrase}}).encode()
        if self.request_version == "HTTP/0.9":
            self.request_version = self.protocol_version
        self.close_connection = True
        self.send_response(status, status.phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.access_log:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 refuses connections under load tests


class HttpFrontDoor:
    """A threaded HTTP server on 127.0.0.1 that hands every request to an `ApiGateway`."""

    def __init__(self, gateway: ApiGateway, port: int = 0, access_log: bool = False) -> None:
        handler = type("Handler", (_Handler,), {"gateway": gateway, "access_log": access_log})
        self._server = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-front-door", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
