"""Run in a fresh process: a cold CallerApi function whose first request is a read (argv: the sample event file)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.support.moto import in_process_aws
from tests.support.template import create_table

ROOT = Path(__file__).resolve().parents[3]


def main() -> None:
    event = json.loads((ROOT / "events" / sys.argv[1]).read_text())
    with in_process_aws() as dynamodb:
        create_table(dynamodb, "stratoflow-cold")
        os.environ.update({"TABLE_NAME": "stratoflow-cold", "POWERTOOLS_METRICS_NAMESPACE": "Stratoflow"})
        sys.path.insert(0, str(ROOT / "functions" / "caller_api"))
        import app  # noqa: PLC0415  (the handler module, imported cold as Lambda imports it)

        class Context:
            function_name = "CallerApiFunction"
            memory_limit_in_mb = 256
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CallerApiFunction"
            aws_request_id = "cold-read"

        response = app.lambda_handler(event, Context())
    print(json.dumps({"statusCode": response["statusCode"], "body": json.loads(response["body"])}))


if __name__ == "__main__":
    main()
