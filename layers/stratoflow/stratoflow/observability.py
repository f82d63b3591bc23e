"""One place for Powertools' Logger, Tracer and Metrics, so every handler is decorated the same way."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Most API requests publish no business metric; an invocation without one is normal, not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")
