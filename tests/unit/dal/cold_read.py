"""Run in a fresh process: a cold API function whose first request is a read (argv: the sample event file).

The function is named by the sample's prefix: `caller_api_…` runs CallerApi, `operator_api_…` OperatorApi. The
sample's token is written straight to the table, so that nothing in this process binds the table before the handler.
"""

from __future__ import annotations

import hashlib
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
        token = event["headers"]["authorization"].removeprefix("Bearer ")
        dynamodb.put_item(
            TableName="stratoflow-cold",
            Item={
                "pk": {"S": "TOKEN#" + hashlib.sha256(token.encode()).hexdigest()},
                "sk": {"S": "TOKEN"},
                "tenant": {"S": "acme"},
                "scopes": {"SS": ["client", "worker"]},
                "createdAt": {"S": "2026-11-24T06:00:00.000Z"},
            },
        )
        os.environ.update({"TABLE_NAME": "stratoflow-cold", "POWERTOOLS_METRICS_NAMESPACE": "Stratoflow"})
        folder = "operator_api" if sys.argv[1].startswith("operator_api_") else "caller_api"
        name = "OperatorApiFunction" if folder == "operator_api" else "CallerApiFunction"
        sys.path.insert(0, str(ROOT / "functions" / folder))
        import app  # noqa: PLC0415  (the handler module, imported cold as Lambda imports it)

        class Context:
            function_name = name
            memory_limit_in_mb = 256
            invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
            aws_request_id = "cold-read"

        response = app.lambda_handler(event, Context())
    print(json.dumps({"statusCode": response["statusCode"], "body": json.loads(response["body"])}))


if __name__ == "__main__":
    main()
