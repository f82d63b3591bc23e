"""One place for Powertools' Logger, Tracer and Metrics, so every handler is decorated the same way."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
