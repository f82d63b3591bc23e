"""The web console: `GET /console` and its assets, static files that ship in this function's `static/` folder.

The page needs no token to load; it asks the operator for one and calls the API from the browser. Every answer
carries a Content-Security-Policy that allows only this origin's scripts, styles and API calls.
"""

import gc

# No collection while the imports below build what lives as long as the process; once they are done, those objects
# are frozen out of the collector's scans (the end of this module). About a tenth of a cold start's CPU, see
# docs/benchmarks.md, "Cold start".
gc.disable()

from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.observability import logger, tracer

STATIC = Path(__file__).resolve().parent / "static"
# The page's own assets; nothing else under /console/ is served.
ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
NOT_FOUND = '{"error": {"code": "NOT_FOUND", "message": "no such console file"}}'

app = APIGatewayHttpResolver()


@cache
def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _file(name: str, content_type: str) -> Response:
    return Response(200, content_type, _read(name), headers=SECURITY_HEADERS)


@app.get("/console")
def page() -> Response:
    return _file("index.html", "text/html; charset=utf-8")


@app.get("/console/<asset>")
def asset(asset: str) -> Response:
    if asset not in ASSETS:
        logger.info("unknown console file", extra={"asset": asset[:100]})
        return Response(404, "application/json", NOT_FOUND, headers=SECURITY_HEADERS)
    return _file(asset, ASSETS[asset])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


gc.freeze()
gc.enable()
