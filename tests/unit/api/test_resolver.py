"""Regression: concurrent requests to different resolvers in one process must each see their own event.

Powertools keeps the current request on a class attribute; the local stack runs several functions' handlers in
one process at once, where a request was once validated with another request's body (a correct task completion
answered 400 "leaseId: Field required").
"""

from __future__ import annotations

import json
import threading
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from stratoflow_api.resolver import new_resolver


class _Context:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "request"


def _event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"GET {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {},
        "isBase64Encoded": False,
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "routeKey": f"GET {path}",
            "stage": "$default",
            "requestId": path,
        },
    }


def test_two_resolvers_resolving_at_once_each_see_their_own_event() -> None:
    # Given two resolvers (two functions' containers) whose routes pause mid-request until both are inside
    barrier = threading.Barrier(2, timeout=10)
    seen: dict[str, str] = {}

    def register(path: str):
        def routes(app: APIGatewayHttpResolver) -> None:
            @app.get(path)
            def route():
                barrier.wait()  # both requests are now in flight
                seen[path] = app.current_event.path
                return {"path": app.current_event.path}

        return routes

    first, second = new_resolver(register("/first")), new_resolver(register("/second"))
    answers: dict[str, dict[str, Any]] = {}

    def call(app: APIGatewayHttpResolver, path: str) -> None:
        answers[path] = app.resolve(_event(path), _Context())  # type: ignore[arg-type]

    # When both resolve concurrently
    threads = [
        threading.Thread(target=call, args=(first, "/first")),
        threading.Thread(target=call, args=(second, "/second")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    # Then each route saw its own request, and answered it
    assert seen == {"/first": "/first", "/second": "/second"}
    assert {path: json.loads(answer["body"]) for path, answer in answers.items()} == {
        "/first": {"path": "/first"},
        "/second": {"path": "/second"},
    }
