"""The local stack reads the event sources from template.yaml: the SQS mappings (the batch queue's, the timer
queue's), the event bus and its rule, and the queue attributes (FIFO, delay, redrive) it creates the queues with."""

from __future__ import annotations

import json
from pathlib import Path

from stratoflow_local.filters import matches
from stratoflow_local.operator_sources import bus_rules, event_bus_names, queue_attributes, queue_mappings
from stratoflow_local.template import load_template

REPO = Path(__file__).resolve().parents[2]


def test_the_batch_queue_drives_the_batch_runner() -> None:
    template = load_template(REPO / "template.yaml")
    mappings = {mapping.name: mapping for mapping in queue_mappings(template)}
    assert set(mappings) == {"BatchRunnerFunction.Slices", "FireTimerFunction.LastMile"}
    mapping = mappings["BatchRunnerFunction.Slices"]
    assert (mapping.function, mapping.queue_name, mapping.batch_size, mapping.report_batch_item_failures) == (
        "BatchRunnerFunction",
        "stratoflow-local-batches.fifo",
        1,
        True,
    )
    attributes = queue_attributes(template, "BatchQueue")
    assert {k: attributes[k] for k in ("FifoQueue", "DelaySeconds", "VisibilityTimeout")} == {
        "FifoQueue": "true",
        "DelaySeconds": "1",
        "VisibilityTimeout": "360",
    }
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": template.queues["BatchDeadLetterQueue"].arn,
        "maxReceiveCount": 5,
    }


def test_the_timer_queue_drives_fire_timer_with_partial_batch_responses_and_a_dead_letter_queue() -> None:
    template = load_template(REPO / "template.yaml")
    (mapping,) = [m for m in queue_mappings(template) if m.function == "FireTimerFunction"]
    assert (mapping.queue_arn, mapping.batch_size, mapping.report_batch_item_failures) == (
        template.queues["TimerQueue"].arn,
        10,
        True,
    )
    attributes = queue_attributes(template, "TimerQueue")
    assert attributes["VisibilityTimeout"] == "90" and "FifoQueue" not in attributes
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": template.queues["TimerDeadLetterQueue"].arn,
        "maxReceiveCount": 5,
    }


def test_the_event_bus_rule_targets_the_cancel_on_event_function_for_stratoflow_sources() -> None:
    template = load_template(REPO / "template.yaml")
    assert event_bus_names(template) == ["stratoflow-local-events"]
    (rule,) = bus_rules(template)
    assert (rule.function, rule.bus_name, rule.dead_letter_arn) == (
        "CancelOnEventFunction",
        "stratoflow-local-events",
        template.queues["CancelOnEventDLQ"].arn,
    )
    event = {"source": "stratoflow.acme", "detail-type": "order.cancelled", "detail": {}}
    assert matches(rule.pattern, event)
    assert not matches(rule.pattern, {**event, "source": "aws.events"})
