"""Summaries of measured samples: latency percentiles, AWS share, requests and capacity per operation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.harness import Sample
from bench.minimums import Expect, compare


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency(samples: Sequence[Sample]) -> dict[str, float]:
    millis = [sample.seconds * 1000 for sample in samples]
    total = sum(sample.seconds for sample in samples)
    aws = sum(sample.aws_seconds for sample in samples)
    return {
        "p50_ms": round(percentile(millis, 0.50), 2),
        "p95_ms": round(percentile(millis, 0.95), 2),
        "p99_ms": round(percentile(millis, 0.99), 2),
        "mean_ms": round(total * 1000 / len(samples), 2),
        "aws_share": round(aws / total, 3) if total else 0.0,
    }


def summarize(label: str, samples: Sequence[Sample], expected: list[Expect] | None) -> dict[str, Any]:
    """One operation: latency over all samples; requests and capacity from each sample (they are deterministic)."""
    per_sample = []
    for sample in samples:
        dynamo = [call for call in sample.calls if call.service == "dynamodb"]
        per_sample.append(
            {
                "requests": len(dynamo),
                "other_requests": len(sample.calls) - len(dynamo),
                "rru": sum(call.rru for call in dynamo),
                "wru": sum(call.wru for call in dynamo),
                "gsi_wru": sum(call.gsi_wru for call in dynamo),
                "reported": sum(call.reported_units or 0.0 for call in dynamo),
            }
        )
    count = len(samples)
    last = samples[-1]
    summary: dict[str, Any] = {
        "label": label,
        "function": last.function,
        "samples": count,
        "latency": latency(samples),
        "log_bytes": round(sum(sample.log_bytes for sample in samples) / count),
        "dynamodb_requests": {
            "mean": round(sum(entry["requests"] for entry in per_sample) / count, 2),
            "min": min(entry["requests"] for entry in per_sample),
            "max": max(entry["requests"] for entry in per_sample),
        },
        "other_requests": [call.label for call in last.calls if call.service != "dynamodb"],
        "calls": [call.label for call in last.calls if call.service == "dynamodb"],
        "by_api": dict(Counter(call.operation for call in last.calls if call.service == "dynamodb")),
        "capacity": {
            "rru": round(sum(entry["rru"] for entry in per_sample) / count, 2),
            "wru": round(sum(entry["wru"] for entry in per_sample) / count, 2),
            "gsi_wru": round(sum(entry["gsi_wru"] for entry in per_sample) / count, 2),
        },
        "moto_reported_units": round(sum(entry["reported"] for entry in per_sample) / count, 2),
    }
    if expected is not None:
        comparison = compare(expected, last.calls)
        summary["minimum"] = {
            "calls": [str(expect) for expect in expected],
            "requests": comparison.minimum_requests,
            "rru": round(comparison.minimum.rru, 2),
            "wru": round(comparison.minimum.wru, 2),
            "gsi_wru": round(comparison.minimum.gsi_wru, 2),
            "request_ratio": None if comparison.request_ratio is None else round(comparison.request_ratio, 2),
            "capacity_ratio": None if comparison.capacity_ratio is None else round(comparison.capacity_ratio, 2),
            "extra": comparison.extra,
            "missing": comparison.missing,
        }
    return summary


def group(samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.label, []).append(sample)
    return grouped
