"""The model's input contract: the five features of the book's incident predictor.

What a server accepts (names, kinds, types, ranges) is part of the deployed model, so it lives
here, in the reference implementation; the book's scenario (:mod:`mlops_companion.data`)
generates data that meets it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["FeatureSpec", "FEATURE_SPECS", "FEATURES", "CONTINUOUS_FEATURES", "DISCRETE_FEATURES", "TARGET"]


@dataclass(frozen=True)
class FeatureSpec:
    """What one input feature is: its kind, type and the range a server should accept."""

    name: str
    kind: str  # "continuous" or "discrete"
    dtype: str  # "float" or "int"
    low: float
    high: float
    description: str


FEATURE_SPECS: Mapping[str, FeatureSpec] = {
    spec.name: spec
    for spec in (
        FeatureSpec("request_rate", "continuous", "float", 0.0, 100_000.0,
                    "requests per second reaching the service"),
        FeatureSpec("error_pct", "continuous", "float", 0.0, 100.0,
                    "percentage of requests that returned an error"),
        FeatureSpec("p99_latency_ms", "continuous", "float", 0.0, 600_000.0,
                    "99th-percentile response time, in milliseconds"),
        FeatureSpec("deploy_hour", "discrete", "int", 0, 23,
                    "hour of the day (0-23) of the latest deployment"),
        FeatureSpec("is_weekend", "discrete", "int", 0, 1,
                    "1 when the deployment happened on a Saturday or Sunday"),
    )
}
FEATURES: tuple[str, ...] = tuple(FEATURE_SPECS)
CONTINUOUS_FEATURES = tuple(n for n, s in FEATURE_SPECS.items() if s.kind == "continuous")
DISCRETE_FEATURES = tuple(n for n, s in FEATURE_SPECS.items() if s.kind == "discrete")
TARGET = "incident"
