"""Timer lateness on the local stack with Scheduler's 60-second imprecision emulated: a section of its own.

    python -m bench.timers                      # 240 timers through the last mile, then 240 without it
    python -m bench.timers --timers 40 --only last-mile

Each run starts a local stack with `STRATOFLOW_SCHEDULER_PRECISION_S=60` and starts the timers (2 s, 20 s and 120 s in
turn, one workflow each). With the last mile on (`STRATOFLOW_TIMER_LAST_MILE_S=60`, so that a 120 s timer takes the
long path within a short run), 2 s and 20 s timers go straight down the timer queue and 120 s ones are handed over
by their schedule; with it off (`0`), every timer fires from its Scheduler schedule and shows the emulated
imprecision. Nothing is read while the timers run (the reads would load the machine they are measured on); after the
last one is due, each `TIMER_FIRED`'s `createdAt` is read against its `fireAt`. It prints p50/p99/max lateness per
run and per path as JSON, with what explains the tail: for each of the latest timers, when its message was sent,
became visible and was received (seconds from its due time), its batch's size, how long the batch took and whether a
fire-timer container was starting meanwhile. `--out FILE` also writes the JSON there. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from stratoflow.clock import parse_iso_ms
from stratoflow_local.stack import LocalStack

from bench.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
DURATIONS_MS = (2_000, 20_000, 120_000)
LAST_MILE_S = 60  # a 120 s timer's schedule hands it over; 2 s and 20 s ones go straight down the queue
PRECISION_S = 60
FIRE_FUNCTION = "FireTimerFunction"


def _post(stack: LocalStack, token: str, path: str, body: Any) -> Any:
    answer = requests.post(stack.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "earliestS": round(min(values), 3),
        "p50S": round(percentile(values, 0.5), 3),
        "p99S": round(percentile(values, 0.99), 3),
        "maxS": round(max(values), 3),
    }


def _fired_at(stack: LocalStack, token: str, wid: str) -> int | None:
    events = requests.get(
        f"{stack.url}/v1/workflows/{wid}/events", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()["events"]
    fired = next((e for e in events if e["type"] == "TIMER_FIRED"), None)
    return parse_iso_ms(fired["createdAt"]) if fired is not None else None


def _explain(stack: LocalStack, late: list[tuple[float, str, int]]) -> list[dict[str, Any]]:
    """For the latest timers: when their last message was received, in what batch, and the container starts near it."""
    source = stack.operator_sources.queues if stack.operator_sources is not None else None
    deliveries = [d for d in (source.deliveries if source is not None else []) if d.mapping.startswith(FIRE_FUNCTION)]
    assert stack.runtime is not None
    starts = list(stack.runtime.pool(FIRE_FUNCTION).start_log)
    explained = []
    for lateness, wid, fire_at_ms in late:
        mine = [d for d in deliveries if any(json.loads(b)["workflowExecutionId"] == wid for b in d.bodies)]
        entry: dict[str, Any] = {"latenessS": round(lateness, 3)}
        if mine:
            delivery = mine[-1]
            index = next(i for i, b in enumerate(delivery.bodies) if json.loads(b)["workflowExecutionId"] == wid)
            if delivery.sent_at:
                sent = delivery.sent_at[index]
                # visible once the whole seconds left when it was sent have passed (its delay, rounded down)
                entry["sentS"] = round(sent - fire_at_ms / 1000, 3)
                entry["visibleS"] = round(sent + max(0.0, (fire_at_ms / 1000 - sent) // 1) - fire_at_ms / 1000, 3)
            entry.update(
                receivedS=round(delivery.received_at - fire_at_ms / 1000, 3),
                batchSize=len(delivery.bodies),
                batchTookS=round(delivery.finished_at - delivery.received_at, 3),
                containerStarting=any(
                    began <= delivery.finished_at and ready >= delivery.received_at for began, ready in starts
                ),
            )
        explained.append(entry)
    return explained


def run(timers: int, last_mile_s: int) -> dict[str, Any]:
    os.environ["STRATOFLOW_SCHEDULER_PRECISION_S"] = str(PRECISION_S)
    os.environ["STRATOFLOW_TIMER_LAST_MILE_S"] = str(last_mile_s)
    token = "tok-bench"
    with LocalStack(
        template_path=ROOT / "template.yaml",
        tokens=f"bench:{token}",
        sweep_seconds=0,
        container_log=Path(tempfile.gettempdir()) / f"stratoflow-bench-timers-{last_mile_s}.log",
    ) as stack:
        due: dict[str, tuple[int, int]] = {}  # workflow -> (fireAt, duration)
        for n in range(timers):
            queue = f"timers-{n}"
            duration_ms = DURATIONS_MS[n % len(DURATIONS_MS)]
            wid = _post(stack, token, "/v1/workflows", {"kind": "timer", "queue": queue})["workflowExecutionId"]
            lease = _post(stack, token, "/v1/worker/workflows/poll", {"queue": queue, "workerId": "bench"})["leaseId"]
            command = {"type": "START_TIMER", "timerId": "t", "durationMs": duration_ms}
            answer = _post(
                stack, token, f"/v1/worker/workflows/{wid}/commands", {"leaseId": lease, "commands": [command]}
            )
            started = next(e for e in answer["events"] if e["type"] == "TIMER_STARTED")
            due[wid] = (parse_iso_ms(started["data"]["fireAt"]), duration_ms)
        # Wait for the last timer to be due, plus Scheduler's window when a timer may take it, without reading.
        last_due_s = max(fire_at for fire_at, _ in due.values()) / 1000
        time.sleep(max(0.0, last_due_s + PRECISION_S + 5 - time.time()))
        lateness: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while len(lateness) < len(due) and time.monotonic() < deadline:
            for wid, (fire_at, _) in due.items():
                if wid not in lateness and (fired := _fired_at(stack, token, wid)) is not None:
                    lateness[wid] = (fired - fire_at) / 1000
            if len(lateness) < len(due):
                time.sleep(1)
        assert stack.runtime is not None
        paths: dict[str, list[float]] = {}
        for wid, late in lateness.items():
            duration_ms = due[wid][1]
            path = "scheduler" if last_mile_s == 0 else "queue" if duration_ms <= last_mile_s * 1000 else "hand-over"
            paths.setdefault(path, []).append(late)
            paths.setdefault(f"{duration_ms // 1000}s", []).append(late)
        latest = sorted(((late, wid, due[wid][0]) for wid, late in lateness.items()), reverse=True)[:5]
        return {
            "lastMileS": last_mile_s,
            "precisionS": PRECISION_S,
            "timers": timers,
            "fired": len(lateness),
            "all": _summary(list(lateness.values())),
            "byPath": {name: _summary(values) for name, values in sorted(paths.items())},
            "fireTimerColdStarts": stack.runtime.pool(FIRE_FUNCTION).cold_starts,
            "latest": _explain(stack, latest),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=240)
    parser.add_argument("--only", choices=("last-mile", "off"), default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    runs = {"last-mile": LAST_MILE_S, "off": 0}
    results = [run(args.timers, value) for name, value in runs.items() if args.only in (None, name)]
    print(json.dumps(results, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
