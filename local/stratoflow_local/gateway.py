"""HTTP front door: API Gateway (REST API, Lambda proxy integration, payload v1) in front of in-process handlers.

Per request, as API Gateway does it:

1. a body over 10 MB → the `REQUEST_TOO_LARGE` gateway response;
2. route matching on the template's resource paths (`/v1/workflows/{id}`, greedy `{proxy+}`; a literal segment
   beats a parameter) and methods; no match → `MISSING_AUTHENTICATION_TOKEN`, which the template turns into a 404,
   with or without a token;
3. the route's Lambda authorizer (REQUEST or TOKEN) runs in process with a real authorizer event: a missing
   identity source or an `Unauthorized` error → `UNAUTHORIZED`; any other error or a malformed answer →
   `AUTHORIZER_CONFIGURATION_ERROR`; the returned IAM policy is evaluated against the method ARN (explicit Deny
   wins, `*` and `?` wildcards) → `ACCESS_DENIED` unless allowed. Results are cached per identity source for the
   authorizer's TTL (`ReauthorizeEvery`), like API Gateway, so a policy must cover every route it should allow;
4. a REST v1 proxy event (`requestContext.authorizer` = the authorizer's context, values as strings, plus
   `principalId`) goes to the route's function; an error or a malformed answer → 502 through `DEFAULT_5XX`.

Gateway responses use the template's `GatewayResponses` (status, headers, `application/json` template with
`$context.error.messageString` and friends), falling back to `DEFAULT_4XX`/`DEFAULT_5XX` and API Gateway's defaults.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from stratoflow_local.runtime import FunctionError
from stratoflow_local.template import LOCAL_API_ID, ApiSpec, AuthorizerSpec, GatewayResponseSpec, LocalTemplate, Route

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
_DEFAULT_STATUS = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 500,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}
_DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
_FRONT_DOOR_CODES = {HTTPStatus.NOT_FOUND: "NOT_FOUND", HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "PAYLOAD_TOO_LARGE"}

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
        self._routes = [_CompiledRoute(route, _split(route.path)) for route in routes]

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


# ---------------------------------------------------------------- IAM policy evaluation


def _arn_pattern(resource: str) -> re.Pattern[str]:
    # IAM's `*` and `?` match any character, a newline in a path id included (DOTALL).
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource) + r"\Z"
    return re.compile(pattern, re.DOTALL)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def policy_allows(policy: Mapping[str, Any], method_arn: str) -> bool:
    """IAM evaluation for `execute-api:Invoke` on `method_arn`: an explicit Deny wins, else an Allow is needed."""
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not isinstance(statement, Mapping):
            continue
        actions = [str(action) for action in _as_list(statement.get("Action"))]
        if not any(_arn_pattern(action.lower()).match("execute-api:invoke") for action in actions):
            continue
        resources = [str(resource) for resource in _as_list(statement.get("Resource"))]
        if not any(_arn_pattern(resource).match(method_arn) for resource in resources):
            continue
        effect = str(statement.get("Effect", "")).capitalize()
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


# ---------------------------------------------------------------- gateway responses


def render_gateway_response(api: ApiSpec | None, response_type: str, message: str, request_id: str) -> GatewayResult:
    responses: Mapping[str, GatewayResponseSpec] = api.gateway_responses if api is not None else {}
    status = _DEFAULT_STATUS.get(response_type, 500)
    fallback = responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
    spec = responses.get(response_type) or fallback
    if spec is not None and spec.status_code is not None and response_type in responses:
        status = spec.status_code
    templates = spec.templates if spec is not None and spec.templates else {}
    template = templates.get("application/json") or next(iter(templates.values()), _DEFAULT_TEMPLATE)
    body = (
        template.replace("$context.error.messageString", json.dumps(message))
        .replace("$context.error.message", message)
        .replace("$context.error.responseType", response_type)
        .replace("$context.requestId", request_id)
    )
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", _error_type(response_type)),
    ]
    if spec is not None:
        headers.extend(spec.headers.items())
    return GatewayResult(status, headers, body.encode())


def _error_type(response_type: str) -> str:
    return {
        "UNAUTHORIZED": "UnauthorizedException",
        "ACCESS_DENIED": "AccessDeniedException",
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "REQUEST_TOO_LARGE": "RequestTooLargeException",
    }.get(
        response_type,
        "InternalServerErrorException" if _DEFAULT_STATUS.get(response_type, 500) >= 500 else "BadRequestException",
    )


# ---------------------------------------------------------------- the gateway


@dataclass
class _CachedAuthorization:
    principal_id: str
    policy: Mapping[str, Any]
    context: dict[str, str]
    expires: float


class _Unauthorized(Exception):
    pass


class _AuthorizerBroken(Exception):
    pass


class ApiGateway:
    """Turns HTTP requests into Lambda proxy events; independent of the HTTP server for testability."""

    def __init__(self, template: LocalTemplate, invoke: Invoke, authorizer_cache_seconds: float | None = None) -> None:
        self.template = template
        self._invoke = invoke
        self._routes = RouteTable(template.routes)
        self._apis = dict(template.apis)
        # The API answering unknown routes: the one that has routes (the template has one REST API).
        self._default_api = next((api for api in self._apis.values() if api.routes), None)
        self._cache_seconds = authorizer_cache_seconds
        self._cache: dict[tuple[str, tuple[str, ...]], _CachedAuthorization] = {}
        self._cache_lock = threading.Lock()

    def clear_authorizer_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

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
        started = time.time()
        split = urlsplit(raw_path)
        path = unquote(split.path) or "/"
        length = body_length if body_length is not None else len(body or b"")
        if length > MAX_BODY_BYTES:
            return render_gateway_response(self._default_api, "REQUEST_TOO_LARGE", "Request Too Long", request_id)
        matched = self._routes.match(method.upper(), path)
        if matched is None:
            return render_gateway_response(
                self._default_api, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token", request_id
            )
        route, path_parameters = matched
        api = self._apis[route.api]
        query = parse_qsl(split.query, keep_blank_values=True)
        request = _Request(
            method.upper(),
            path,
            route,
            path_parameters,
            headers,
            query,
            body,
            source_ip,
            request_id,
            started,
            api.stage,
        )
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer is not None:
            spec = api.authorizers[route.authorizer]
            try:
                authorization = self._authorize(spec, request)
            except _Unauthorized:
                return render_gateway_response(api, "UNAUTHORIZED", "Unauthorized", request_id)
            except _AuthorizerBroken:
                return render_gateway_response(
                    api, "AUTHORIZER_CONFIGURATION_ERROR", "Internal server error", request_id
                )
            if not policy_allows(authorization.policy, request.method_arn(self.template)):
                return render_gateway_response(
                    api, "ACCESS_DENIED", "User is not authorized to access this resource", request_id
                )
            authorizer_context = {
                **authorization.context,
                "principalId": authorization.principal_id,
                "integrationLatency": int((time.time() - started) * 1000),
            }
        event = request.proxy_event(self.template, authorizer_context)
        try:
            response = self._invoke(route.function, event)
        except FunctionError:
            logger.exception("handler failed", extra={"function": route.function, "path": path})
            return self._bad_gateway(api, request_id)
        except Exception:
            logger.exception("handler could not be invoked", extra={"function": route.function})
            return self._bad_gateway(api, request_id)
        return self._integration_response(api, response, request_id)

    def _bad_gateway(self, api: ApiSpec, request_id: str) -> GatewayResult:
        result = render_gateway_response(api, "DEFAULT_5XX", "Internal server error", request_id)
        return GatewayResult(502, result.headers, result.body)

    def _integration_response(self, api: ApiSpec, response: Any, request_id: str) -> GatewayResult:
        if not isinstance(response, Mapping) or not isinstance(response.get("statusCode"), int | str):
            logger.error("malformed Lambda proxy response", extra={"response": repr(response)[:200]})
            return self._bad_gateway(api, request_id)
        headers: list[tuple[str, str]] = []
        single = response.get("headers") or {}
        multi = response.get("multiValueHeaders") or {}
        for name, values in multi.items():
            headers.extend((str(name), str(value)) for value in _as_list(values))
        for name, value in single.items():
            if name not in multi:
                headers.append((str(name), str(value)))
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers.append(("x-amzn-RequestId", request_id))
        body = response.get("body")
        if body is None:
            payload = b""
        elif response.get("isBase64Encoded"):
            payload = base64.b64decode(str(body))
        else:
            payload = str(body).encode()
        return GatewayResult(int(response["statusCode"]), headers, payload)

    def _authorize(self, spec: AuthorizerSpec, request: _Request) -> _CachedAuthorization:
        identity = [request.header(name) or "" for name in spec.identity_headers]
        identity += [request.query_value(name) or "" for name in spec.identity_query_strings]
        if not identity or any(not value for value in identity):
            raise _Unauthorized
        ttl = spec.ttl_seconds if self._cache_seconds is None else self._cache_seconds
        key = (spec.name, tuple(identity))
        now = time.monotonic()
        if ttl > 0:
            with self._cache_lock:
                cached = self._cache.get(key)
            if cached is not None and cached.expires > now:
                return cached
        if spec.payload_type == "TOKEN":
            event: dict[str, Any] = {
                "type": "TOKEN",
                "authorizationToken": identity[0],
                "methodArn": request.method_arn(self.template),
            }
        else:
            event = request.authorizer_event(self.template)
        try:
            answer = self._invoke(spec.function, event)
        except FunctionError as error:
            if error.error_message == "Unauthorized":
                raise _Unauthorized from error
            logger.warning("authorizer failed", extra={"error": error.error_message})
            raise _AuthorizerBroken from error
        authorization = _parse_authorizer_answer(answer, now + ttl)
        if ttl > 0:
            with self._cache_lock:
                self._cache[key] = authorization
        return authorization


def _parse_authorizer_answer(answer: Any, expires: float) -> _CachedAuthorization:
    if not isinstance(answer, Mapping):
        raise _AuthorizerBroken("authorizer answer is not an object")
    policy = answer.get("policyDocument")
    principal = answer.get("principalId")
    if not isinstance(policy, Mapping) or principal is None:
        raise _AuthorizerBroken("authorizer answer lacks principalId or policyDocument")
    context = answer.get("context") or {}
    if not isinstance(context, Mapping):
        raise _AuthorizerBroken("authorizer context is not an object")
    strings: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, dict | list):
            raise _AuthorizerBroken("authorizer context values must be strings, numbers or booleans")
        strings[str(key)] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return _CachedAuthorization(str(principal), policy, strings, expires)


class _Request:
    def __init__(
        self,
        method: str,
        path: str,
        route: Route,
        path_parameters: dict[str, str],
        headers: Sequence[tuple[str, str]],
        query: list[tuple[str, str]],
        body: bytes | None,
        source_ip: str,
        request_id: str,
        started: float,
        stage: str,
    ) -> None:
        self.method = method
        self.path = path
        self.route = route
        self.path_parameters = path_parameters
        self.raw_headers = list(headers)
        self.query = query
        self.body = body
        self.source_ip = source_ip
        self.request_id = request_id
        self.started = started
        self.stage = stage

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.raw_headers if key.lower() == name.lower()]
        return values[-1] if values else None

    def query_value(self, name: str) -> str | None:
        values = [value for key, value in self.query if key == name]
        return values[-1] if values else None

    def method_arn(self, template: LocalTemplate) -> str:
        names = template.names
        return (
            f"arn:aws:execute-api:{names.region}:{names.account_id}:{LOCAL_API_ID}/{self.stage}/{self.method}"
            f"{self.path}"
        )

    def _headers(self) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
        if not self.raw_headers:
            return None, None
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        canonical: dict[str, str] = {}
        for name, value in self.raw_headers:
            key = canonical.setdefault(name.lower(), name)
            single[key] = value
            multi.setdefault(key, []).append(value)
        return single, multi

    def _query(self) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
        if not self.query:
            return None, None
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in self.query:
            single[name] = value
            multi.setdefault(name, []).append(value)
        return single, multi

    def _request_context(self, template: LocalTemplate) -> dict[str, Any]:
        names = template.names
        now = datetime.now(UTC)
        return {
            "resourceId": "local",
            "resourcePath": self.route.path,
            "httpMethod": self.method,
            "extendedRequestId": self.request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{self.stage}{self.path}",
            "accountId": names.account_id,
            "protocol": "HTTP/1.1",
            "stage": self.stage,
            "domainPrefix": "127",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": self.request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": self.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": self.header("User-Agent"),
                "user": None,
            },
            "domainName": self.header("Host") or "127.0.0.1",
            "apiId": LOCAL_API_ID,
        }

    def authorizer_event(self, template: LocalTemplate) -> dict[str, Any]:
        headers, multi_headers = self._headers()
        query, multi_query = self._query()
        return {
            "type": "REQUEST",
            "methodArn": self.method_arn(template),
            "resource": self.route.path,
            "path": self.path,
            "httpMethod": self.method,
            "headers": headers or {},
            "multiValueHeaders": multi_headers or {},
            "queryStringParameters": query or {},
            "multiValueQueryStringParameters": multi_query or {},
            "pathParameters": dict(self.path_parameters),
            "stageVariables": {},
            "requestContext": self._request_context(template),
        }

    def proxy_event(self, template: LocalTemplate, authorizer: dict[str, Any] | None) -> dict[str, Any]:
        headers, multi_headers = self._headers()
        query, multi_query = self._query()
        context = self._request_context(template)
        if authorizer is not None:
            context["authorizer"] = authorizer
        body: str | None = None
        is_base64 = False
        if self.body:
            try:
                body = self.body.decode("utf-8")
            except UnicodeDecodeError:
                body, is_base64 = base64.b64encode(self.body).decode(), True
        return {
            "resource": self.route.path,
            "path": self.path,
            "httpMethod": self.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": dict(self.path_parameters) or None,
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": is_base64,
        }


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
