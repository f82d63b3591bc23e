"""A fan-out with a deadline: render a thumbnail of every image in parallel, but give up on the batch after a
few seconds of workflow time.

`join_all` waits for every branch; `with_timeout` puts a durable timer beside it. When the timer fires first, the
`join_all` is cancelled, which cancels every task still running (`REQUEST_CANCEL_TASK`), and `TimeoutError` is
raised in the workflow, which reports what finished and what was cancelled. If everything finishes in time, the
timer is cancelled instead (`CANCEL_TIMER`) and never fires.

With `make local` running in another terminal:

    make example NAME=fanout_deadline
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
    join_all,
    task,
    task_context,
    with_timeout,
    workflow,
)

STARTED = time.monotonic()

#: Images and how long each takes to render, in seconds: one of them is too big for the deadline.
IMAGES = {"beach.jpg": 0.3, "city.png": 0.5, "forest.jpg": 0.4, "harbour.jpg": 0.6, "panorama.tiff": 30.0}
DEADLINE_SECONDS = 3.0


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.2f}s] {message}", flush=True)


@task(kind="render-thumbnail")
def render_thumbnail(image: dict[str, Any]) -> dict[str, Any]:
    context = task_context()
    say(f"  task render-thumbnail: rendering {image['name']}")
    done_at = time.monotonic() + image["seconds"]
    try:
        while time.monotonic() < done_at:
            context.heartbeat()  # raises TaskCancelledError once the task was cancelled
            time.sleep(0.05)
    except TaskCancelledError:
        say(f"  task render-thumbnail: {image['name']} cancelled, stopping")
        raise
    say(f"  task render-thumbnail: {image['name']} done")
    return {"image": image["name"], "thumbnail": f"thumbs/{image['name']}.webp"}


@workflow(kind="fanout-deadline")
async def thumbnails(ctx: WorkflowContext, job: dict[str, Any]) -> dict[str, Any]:
    names = list(job["images"])
    renders = [ctx.schedule_task("render-thumbnail", {"name": name, "seconds": job["images"][name]})
               for name in names]
    try:
        results = await with_timeout(join_all(*renders), job["deadlineSeconds"])
        return {"status": "complete", "thumbnails": [r["thumbnail"] for r in results], "cancelled": []}
    except TimeoutError:
        # Every render still running was cancelled with the join_all; collect what made it in time.
        finished, cancelled = [], []
        for name, render in zip(names, renders, strict=True):
            try:
                finished.append((await render)["thumbnail"])
            except TaskCancelledError:
                cancelled.append(name)
        return {"status": "deadline exceeded", "thumbnails": finished, "cancelled": cancelled}


def run(url: str, token: str, queue: str, *, images: dict[str, float] | None = None,
        deadline_seconds: float = DEADLINE_SECONDS) -> dict[str, Any]:
    """Run a worker and one batch; return the workflow's report and the final status of every render."""
    client = Client(url, token)
    chosen = images or IMAGES
    job = {"images": chosen, "deadlineSeconds": deadline_seconds}
    with Worker(client, queue=queue, workflows=[thumbnails], tasks=[render_thumbnail], shutdown_grace=15.0):
        workflow_id = client.start_workflow("fanout-deadline", job, queue=queue).workflow_execution_id
        say(f"started {workflow_id} on queue {queue}: {len(chosen)} images, "
            f"deadline {deadline_seconds} s")
        report = client.result(workflow_id, timeout=60, poll_interval=0.05)
        say(f"{report['status']}: {len(report['thumbnails'])} thumbnail(s), cancelled: {report['cancelled'] or '-'}")
    history = client.history(workflow_id)
    statuses = {}
    for event in history:
        if event.type == "TASK_SCHEDULED":
            statuses[event.data["input"]["name"]] = str(client.get_task(event.data["taskExecutionId"]).status)
    timer = [event.type for event in history if event.type in ("TIMER_FIRED", "TIMER_CANCELLED")]
    say(f"deadline timer: {timer[0] if timer else 'still running'}")
    return {"workflowExecutionId": workflow_id, **report, "statuses": statuses, "timer": timer}


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
