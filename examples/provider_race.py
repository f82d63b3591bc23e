"""A race of providers: ask three shipping providers for a quote at once, take the first answer, cancel the rest.

`select` returns the branch whose completing history event comes first and cancels the others: each losing task
gets `REQUEST_CANCEL_TASK` and ends CANCELLED. Its code, still running in the worker, learns it from its next
heartbeat (`TaskCancelledError`) and stops; whatever it would report later is refused.

With `make local` running in another terminal:

    make example NAME=provider_race
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from stratoflow_sdk import (
    Client,
    TaskCancelledError,
    TransportError,
    Worker,
    WorkflowContext,
    select,
    task,
    task_context,
    workflow,
)

STARTED = time.monotonic()

#: How long each provider takes to answer, in seconds.
PROVIDERS = {"fastfreight": 0.5, "parcelpost": 2.5, "snailmail": 6.0}


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.2f}s] {message}", flush=True)


@task(kind="quote-shipping")
def quote_shipping(request: dict[str, Any]) -> dict[str, Any]:
    context = task_context()
    provider = request["provider"]
    say(f"  task quote-shipping: asking {provider}")
    answer_at = time.monotonic() + request["latencySeconds"]
    try:
        while time.monotonic() < answer_at:
            context.heartbeat()  # raises TaskCancelledError once the task was cancelled
            time.sleep(0.05)
    except TaskCancelledError:
        say(f"  task quote-shipping: {provider} was cancelled, hanging up")
        raise  # the worker reports nothing: the task is already CANCELLED
    price = round(10 + 3 * len(provider) + request["weightKg"] * 1.5, 2)
    say(f"  task quote-shipping: {provider} quotes {price}")
    return {"provider": provider, "price": price}


@workflow(kind="provider-race")
async def provider_race(ctx: WorkflowContext, request: dict[str, Any]) -> dict[str, Any]:
    quotes = [
        ctx.schedule_task("quote-shipping", {"provider": name, "latencySeconds": latency,
                                             "weightKg": request["weightKg"]})
        for name, latency in request["providers"].items()
    ]
    winner = await select(*quotes)  # the first answer wins; the other two are cancelled
    return {
        "quote": winner.value,
        "winnerTask": quotes[winner.index].task_execution_id,
        "cancelledTasks": [q.task_execution_id for i, q in enumerate(quotes) if i != winner.index],
    }


def run(url: str, token: str, queue: str, *, providers: dict[str, float] | None = None) -> dict[str, Any]:
    """Run a worker and one race; return the winning quote and the final status of every provider's task."""
    client = Client(url, token)
    chosen = providers or PROVIDERS
    request = {"weightKg": 3.2, "providers": chosen}
    with Worker(client, queue=queue, workflows=[provider_race], tasks=[quote_shipping], shutdown_grace=15.0):
        workflow_id = client.start_workflow("provider-race", request, queue=queue).workflow_execution_id
        say(f"started {workflow_id} on queue {queue}: asking {', '.join(chosen)}")
        result = client.result(workflow_id, timeout=60, poll_interval=0.05)
        say(f"winner: {result['quote']['provider']} at {result['quote']['price']}")
    statuses = {}
    for task_id in [result["winnerTask"], *result["cancelledTasks"]]:
        view = client.get_task(task_id)
        statuses[view.input["provider"]] = str(view.status)
        say(f"  {view.input['provider']:12s} {view.status}")
    return {"workflowExecutionId": workflow_id, "winner": result["quote"]["provider"], "quote": result["quote"],
            "statuses": statuses}


def main() -> None:
    url = os.environ.get("STRATOFLOW_URL", "http://127.0.0.1:3000")
    token = os.environ.get("STRATOFLOW_TOKEN", "dev-token")
    try:  # one clear line instead of a traceback (and worker warnings) when no server is up
        Client(url, token).health()
    except TransportError:
        raise SystemExit(f"cannot reach Stratoflow at {url}: is `make local` running?") from None
    run(url, token, f"examples-{uuid.uuid4().hex[:8]}")


if __name__ == "__main__":
    main()
