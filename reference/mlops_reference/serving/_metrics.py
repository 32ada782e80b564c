"""The server's Prometheus metrics: names and labels are a contract with alert rules.

Alert rules and dashboards are written against exactly these series, so renaming one is a
breaking change (list it in the changelog and in the rules):

==========================================================  ===========================================
``http_requests_total{path, status}``                        counter, every answer by path and status code
``http_request_duration_seconds{path}``                      histogram, request start to last body byte
``predicted_probability{model_version}``                     histogram of predicted probabilities
``predicted_probability_squares_total{model_version}``       counter, sum of p squared (with ``_sum`` and
                                                             ``_count`` gives the variance per window)
``prediction_errors_total{model_version}``                   counter, exceptions raised while scoring
``prediction_log_errors_total``                              counter, prediction-log records lost: writes
                                                             that raised, and records the log itself
                                                             dropped or failed to write (full disk)
==========================================================  ===========================================

``path`` is one of the server's own paths or ``"other"``, so a scanner probing random
URLs cannot create unbounded label values. Each app has its own registry.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

PATHS = ("/predict", "/healthz", "/readyz", "/metrics")

#: What ``/metrics`` answers with: the text format every Prometheus server scrapes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _LogErrors:
    """``prediction_log_errors_total``: records the prediction log lost.

    Counts the writes that raised (``inc``) and, read at each scrape, what a watched log
    counts itself: records dropped (queue full, closed) and records it failed to write
    (a :class:`~mlops_companion.predlog.PredictionLog` counts a write that reached no
    disk when the write fails, not when the record was queued).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raised = 0
        self._logs: list[Any] = []

    def inc(self, amount: int = 1) -> None:
        with self._lock:
            self._raised += amount

    def watch(self, log: Any) -> None:
        """Add ``log``'s own ``n_dropped`` and ``n_failed`` counts, when it keeps them."""
        if all(isinstance(getattr(log, name, None), int) for name in ("n_dropped", "n_failed")):
            self._logs.append(log)

    def describe(self):
        return self.collect()

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        lost = sum(log.n_dropped + log.n_failed for log in self._logs)
        yield CounterMetricFamily(
            "prediction_log_errors",
            "Prediction-log records lost: writes that raised, records dropped or not written",
            value=self._raised + lost)


class Metrics:
    """One app's metrics registry and series."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("http_requests", "HTTP requests by path and status code",
                                ["path", "status"], registry=self.registry)
        self.latency = Histogram(
            "http_request_duration_seconds", "Time from request to the last byte of the response, by path",
            ["path"], buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry)
        self.proba = Histogram("predicted_probability", "Predicted incident probability, by model version",
                               ["model_version"], buckets=tuple(np.round(np.linspace(0.1, 1.0, 10), 2)),
                               registry=self.registry)
        self.proba_squares = Counter("predicted_probability_squares",
                                     "Sum of squared predicted probabilities, by model version",
                                     ["model_version"], registry=self.registry)
        self.errors = Counter("prediction_errors", "Exceptions raised while scoring, by model version",
                              ["model_version"], registry=self.registry)
        self.log_errors = _LogErrors()
        self.registry.register(self.log_errors)

    def observe_predictions(self, model_version: str, probs: np.ndarray) -> None:
        """Add one request's probabilities to the histogram and the sum of squares."""
        histogram = self.proba.labels(model_version)
        for p in probs:
            histogram.observe(float(p))
        self.proba_squares.labels(model_version).inc(float(np.sum(np.square(probs))))

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: count every answer by status and time it to its last byte.

    Timing stops when the last body chunk is sent, not when the app returns, so work that
    runs after the answer (the prediction log) does not count as latency.
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        label = path if path in PATHS else "other"
        start = time.perf_counter()
        state = {"status": 500, "done": False}

        def record() -> None:
            if not state["done"]:
                state["done"] = True
                self.metrics.requests.labels(label, str(state["status"])).inc()
                self.metrics.latency.labels(label).observe(time.perf_counter() - start)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                record()

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            record()
