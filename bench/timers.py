"""Timer lateness on the local stack with Scheduler's 60-second imprecision emulated: a section of its own.

    python -m bench.timers                      # 200 timers of 2 s and 20 s through the last mile, then without it
    python -m bench.timers --timers 40 --only last-mile

Each run starts a local stack with `STRATOFLOW_SCHEDULER_PRECISION_S=60`, starts the timers (half 2 s, half 20 s,
from one workflow each), and reads each `TIMER_FIRED`'s `createdAt` against its `fireAt`. With the last mile off,
every timer fires from its Scheduler schedule and shows the emulated imprecision. It prints p50/p99/max lateness per
run as JSON; nothing is asserted. A run takes about the longest timer plus a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import requests
from stratoflow.clock import parse_iso_ms
from stratoflow_local.stack import LocalStack

from bench.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
DURATIONS_MS = (2_000, 20_000)


def _post(stack: LocalStack, token: str, path: str, body: Any) -> Any:
    answer = requests.post(stack.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def run(timers: int, last_mile_s: str) -> dict[str, Any]:
    os.environ["STRATOFLOW_SCHEDULER_PRECISION_S"] = "60"
    os.environ["STRATOFLOW_TIMER_LAST_MILE_S"] = last_mile_s
    token = "tok-bench"
    with LocalStack(template_path=ROOT / "template.yaml", tokens=f"bench:{token}", sweep_seconds=0) as stack:
        due: dict[str, int] = {}
        for n in range(timers):
            queue = f"timers-{n}"
            wid = _post(stack, token, "/v1/workflows", {"kind": "timer", "queue": queue})["workflowExecutionId"]
            lease = _post(stack, token, "/v1/worker/workflows/poll", {"queue": queue, "workerId": "bench"})["leaseId"]
            command = {"type": "START_TIMER", "timerId": "t", "durationMs": DURATIONS_MS[n % len(DURATIONS_MS)]}
            answer = _post(
                stack, token, f"/v1/worker/workflows/{wid}/commands", {"leaseId": lease, "commands": [command]}
            )
            due[wid] = parse_iso_ms(next(e for e in answer["events"] if e["type"] == "TIMER_STARTED")["data"]["fireAt"])
        lateness: list[float] = []
        deadline = time.monotonic() + max(DURATIONS_MS) / 1000 + 180
        pending = dict(due)
        while pending and time.monotonic() < deadline:
            time.sleep(1)
            for wid in list(pending):
                events = requests.get(
                    f"{stack.url}/v1/workflows/{wid}/events", headers={"Authorization": f"Bearer {token}"}, timeout=30
                ).json()["events"]
                fired = next((e for e in events if e["type"] == "TIMER_FIRED"), None)
                if fired is not None:
                    lateness.append((parse_iso_ms(fired["createdAt"]) - pending.pop(wid)) / 1000)
    return {
        "lastMileS": last_mile_s,
        "timers": timers,
        "fired": len(lateness),
        "earliestS": round(min(lateness), 3) if lateness else None,
        "p50S": round(percentile(lateness, 0.5), 3) if lateness else None,
        "p99S": round(percentile(lateness, 0.99), 3) if lateness else None,
        "maxS": round(max(lateness), 3) if lateness else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=200)
    parser.add_argument("--only", choices=("last-mile", "off"), default=None)
    args = parser.parse_args()
    runs = {"last-mile": "900", "off": "0"}
    results = [run(args.timers, value) for name, value in runs.items() if args.only in (None, name)]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
