"""Serving a model behind an HTTP API: validated input, health, metrics, shadow and canary.

:func:`create_app` builds a FastAPI application around a joblib artefact written by
:func:`mlops_companion.artefacts.save_artefact` (or, through
:func:`create_app_from_registry`, around the version a registry alias points at):

- ``POST /predict`` takes one observation (``{"request_rate": 120.0, ...}``) or a bounded
  batch (``{"instances": [...]}``). The input schema is generated from
  :data:`mlops_companion.data.FEATURE_SPECS`: strict types (a number sent as a string is
  refused, discrete features must be integers), each feature's range, no extra fields, no
  NaN or Infinity. Errors are JSON naming the field; bodies over ``max_body_bytes`` are
  refused with 413 before any parsing;
- every prediction carries the model version and SHA-256 (also in ``X-Model-Version``);
- ``GET /healthz`` (the process answers), ``GET /readyz`` (the artefact's stored example
  replays to its stored output), ``GET /metrics`` (Prometheus: requests by status, latency,
  predicted probabilities) and ``GET /rollout`` (shadow or canary state);
- ``mode="shadow"``: current and candidate both score, current answers, both are logged;
  ``mode="canary"``: :class:`mlops_companion.rollout.TrafficSplit` picks the model per
  request, :class:`mlops_companion.rollout.CanaryMonitor` watches windows of predicted
  probabilities and, when it says "rollback", sends all traffic back to current.

The model is loaded in the application's lifespan (startup), never at import, and its hash
is checked before it is unpickled. :func:`run_server` starts the app on a free 127.0.0.1
port (a background thread, or a ``uvicorn --workers N`` subprocess), waits until
``/readyz`` answers and shuts it down cleanly; ``python -m mlops_companion.serving`` runs
it in the foreground.

Out of scope: authentication, TLS, autoscaling and request queues, which belong to the
platform in front of the process (an ingress, a service mesh, a load balancer).
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd

from mlops_companion import data

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "Serving needs FastAPI and friends: pip install 'mlops-companion[serve]'."
    ) from exc

__all__ = [
    "Observation",
    "make_batch_model",
    "create_app",
    "create_app_from_registry",
    "run_server",
    "main",
    "MODES",
]

MODES = ("single", "shadow", "canary")
_ENV_KWARGS = "MLOPS_COMPANION_SERVING_KWARGS"
_FACTORY = "mlops_companion.serving:_app_from_environment"
_PATHS = ("/predict", "/healthz", "/readyz", "/metrics", "/rollout")


# ----------------------------------------------------------------------------- schema
def _field(spec: data.FeatureSpec) -> tuple[Any, Any]:
    if spec.dtype == "int":
        typ = Annotated[int, Field(ge=int(spec.low), le=int(spec.high), description=spec.description)]
    else:
        typ = Annotated[float, Field(ge=spec.low, le=spec.high, allow_inf_nan=False,
                                     description=spec.description)]
    return typ, ...


#: One observation: every feature of :data:`~mlops_companion.data.FEATURE_SPECS`, strictly
#: typed and range-checked, nothing else.
Observation = create_model(
    "Observation",
    __config__=ConfigDict(strict=True, extra="forbid"),
    **{name: _field(spec) for name, spec in data.FEATURE_SPECS.items()},
)
Observation.__doc__ = "One observation of the incident scenario, as the server accepts it."


def make_batch_model(max_batch: int) -> type[BaseModel]:
    """The schema of ``{"instances": [...]}`` holding 1 to ``max_batch`` observations.

    Examples
    --------
    Is a batch of three refused when the limit is two?

    >>> Batch = make_batch_model(2)
    >>> row = {"request_rate": 100.0, "error_pct": 1.0, "p99_latency_ms": 80.0,
    ...        "deploy_hour": 9, "is_weekend": 0}
    >>> len(Batch.model_validate({"instances": [row, row]}).instances)
    2
    >>> try:
    ...     Batch.model_validate({"instances": [row] * 3})
    ... except ValidationError as e:
    ...     print(e.errors()[0]["type"])
    too_long
    """
    max_batch = _check_positive_int(max_batch, "max_batch")
    return create_model(
        "Batch",
        __config__=ConfigDict(strict=True, extra="forbid"),
        instances=(Annotated[list[Observation], Field(min_length=1, max_length=max_batch)], ...),
    )


# ----------------------------------------------------------------------------- helpers
def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    return int(value)


def _check_sha(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
        raise ValueError(
            f"`{name}` must be a SHA-256 digest (64 hexadecimal characters); got {value!r}. "
            "Take it from the artefact's manifest or the registry version's tags."
        )
    return value.lower()


def _check_path(value: Any, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a path to a joblib artefact; got {type(value).__name__}.")
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"`{name}` must be an existing artefact file; got {str(path)!r}, which does not exist.")
    return path


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers=dict(headers or {}))


def _error(status: int, error: str, message: str, detail: list | None = None) -> Response:
    payload: dict[str, Any] = {"error": error, "message": message}
    if detail is not None:
        payload["detail"] = detail
    return _json(payload, status)


def _describe(errors: list[dict]) -> list[dict]:
    """Pydantic errors as JSON-safe dicts, each naming the offending field."""
    out = []
    for err in errors:
        loc = [p if isinstance(p, (int, str)) else str(p) for p in err.get("loc", ())]
        names = [p for p in loc if isinstance(p, str)]
        field = names[-1] if names else "body"
        item = {"field": field, "loc": loc, "type": err.get("type"), "msg": err.get("msg")}
        if "input" in err and err.get("type") != "missing":
            text = repr(err["input"])
            item["input"] = text if len(text) <= 80 else text[:77] + "..."
        out.append(item)
    return out


class _Served:
    """A loaded artefact and what the API says about it."""

    def __init__(self, role: str, path: Path, sha256: str, version: str | None) -> None:
        self.role, self.path, self.sha256 = role, path, sha256
        self.version = version or f"sha256:{sha256[:12]}"
        self.model: Any = None
        self.manifest: Any = None

    def load(self) -> None:
        from mlops_companion import artefacts

        loaded = artefacts.load_artefact(self.path, expected_sha256=self.sha256)
        self.model, self.manifest = loaded.model, loaded.manifest

    def replay(self) -> tuple[bool, str]:
        """Does the manifest's example give the manifest's output? (what ``/readyz`` asks)."""
        try:
            example = self.manifest.example_frame()
            expected = np.asarray(self.manifest.expected_output, dtype=float)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            return False, f"the artefact's manifest holds no usable example ({exc})"
        got = self.score(example)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=1e-9):
            return False, "the replayed example gave a different output from the stored one"
        return True, "ok"

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X))[:, 1]


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("http_requests", "HTTP requests by path and status code",
                                ["path", "status"], registry=self.registry)
        self.latency = Histogram(
            "http_request_duration_seconds", "Time from request to response, by path", ["path"],
            buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry)
        self.proba = Histogram("predicted_probability", "Predicted incident probability, by model",
                               ["model"], buckets=tuple(np.round(np.linspace(0.1, 1.0, 10), 2)),
                               registry=self.registry)
        self.shadow = Counter("shadow_comparisons", "Shadow comparisons, by whether the two models agree",
                              ["agree"], registry=self.registry)
        self.shadow_diff = Histogram("shadow_abs_difference", "|current - candidate| probability in shadow mode",
                                     buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0), registry=self.registry)
        self.routed = Counter("canary_routed", "Requests answered in canary mode, by model", ["model"],
                              registry=self.registry)
        self.halted = Gauge("canary_halted", "1 once the canary monitor has sent all traffic back",
                            registry=self.registry)
        self.candidate_errors = Counter("candidate_errors", "Exceptions raised by the candidate model",
                                        registry=self.registry)


class _MetricsMiddleware:
    """Pure ASGI middleware: count every response by status, time every request."""

    def __init__(self, app, metrics: _Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        label = path if path in _PATHS else "other"
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(label, str(status["code"])).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - start)


class _BodyTooLarge(Exception):
    pass


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


# ----------------------------------------------------------------------------- the app
def create_app(
    *,
    artefact: str | os.PathLike,
    expected_sha256: str,
    version: str | None = None,
    candidate: str | os.PathLike | None = None,
    candidate_sha256: str | None = None,
    candidate_version: str | None = None,
    mode: str = "single",
    candidate_share: float = 0.1,
    monitor: Any = None,
    max_batch: int = 256,
    max_body_bytes: int = 64 * 1024,
    shadow_log_size: int = 1000,
    threshold: float = 0.5,
    rng: int | np.random.Generator | None = None,
) -> FastAPI:
    """Build the model server's FastAPI application (the model loads at startup).

    Parameters
    ----------
    artefact : path
        The current model's joblib artefact.
    expected_sha256 : str
        Its SHA-256; a different file is refused before it is unpickled.
    version : str, default=None
        Label returned with every prediction; defaults to ``"sha256:<first 12 hex>"``.
    candidate, candidate_sha256, candidate_version : default=None
        The candidate model, required in ``"shadow"`` and ``"canary"`` modes.
    mode : {"single", "shadow", "canary"}, default="single"
    candidate_share : float, default=0.1
        Canary mode: share of requests the candidate answers.
    monitor : rollout.CanaryMonitor, default=None
        Canary mode: the rollback rule, fed with windows of ``monitor.min_samples``
        predicted probabilities from each model; default ``CanaryMonitor(k=3,
        min_samples=50, consecutive=2)``.
    max_batch : int, default=256
        Most rows in one ``{"instances": [...]}`` request.
    max_body_bytes : int, default=65536
        Larger request bodies get 413 before any parsing.
    shadow_log_size : int, default=1000
        Shadow mode: how many comparisons the in-memory log keeps (oldest dropped).
    threshold : float, default=0.5
        Probability above which a prediction counts as "incident" (shadow agreement).
    rng : int, Generator or None, default=None
        Canary mode: seed of the traffic split.

    Returns
    -------
    FastAPI

    Examples
    --------
    Serve an artefact on 127.0.0.1, ask for one prediction, then send a number as a string:

    >>> import tempfile, pathlib, httpx
    >>> from mlops_companion import artefacts, data
    >>> s = data.make_scenario()
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.joblib"
    >>> manifest = artefacts.save_artefact(s.pipeline, path, example_input=s.X_test.head(3))
    >>> app = create_app(artefact=path, expected_sha256=manifest.sha256, version="v1")
    >>> row = {"request_rate": 120.0, "error_pct": 4.0, "p99_latency_ms": 90.0,
    ...        "deploy_hour": 14, "is_weekend": 0}
    >>> with run_server(app) as url:
    ...     r = httpx.post(url + "/predict", json=row)
    ...     bad = httpx.post(url + "/predict", json={**row, "request_rate": "120"})
    >>> r.status_code, r.json()["model_version"], r.headers["x-model-version"]
    (200, 'v1', 'v1')
    >>> bad.status_code, bad.json()["detail"][0]["field"]
    (422, 'request_rate')
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}; got {mode!r}.")
    current = _Served("current", _check_path(artefact, "artefact"),
                      _check_sha(expected_sha256, "expected_sha256"), version)
    cand: _Served | None = None
    if mode != "single":
        if candidate is None or candidate_sha256 is None:
            raise ValueError(
                f"`candidate` and `candidate_sha256` must be given in {mode!r} mode; got "
                f"candidate={candidate!r}, candidate_sha256={candidate_sha256!r}."
            )
    if candidate is not None:
        cand = _Served("candidate", _check_path(candidate, "candidate"),
                       _check_sha(candidate_sha256, "candidate_sha256"), candidate_version)
    max_batch = _check_positive_int(max_batch, "max_batch")
    max_body_bytes = _check_positive_int(max_body_bytes, "max_body_bytes")
    shadow_log_size = _check_positive_int(shadow_log_size, "shadow_log_size")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(f"`threshold` must be a probability strictly between 0 and 1; got {threshold!r}.")
    split = monitor_ = None
    if mode == "canary":
        from mlops_companion import rollout

        split = rollout.TrafficSplit(candidate_share, rng=rng)
        monitor_ = monitor if monitor is not None else rollout.CanaryMonitor(k=3.0, min_samples=50, consecutive=2)
        if not hasattr(monitor_, "update") or not hasattr(monitor_, "min_samples"):
            raise TypeError(f"`monitor` must be a rollout.CanaryMonitor; got {type(monitor).__name__}.")

    Batch = make_batch_model(max_batch)
    metrics = _Metrics()
    state: dict[str, Any] = {
        "mode": mode, "halted": False, "decisions": [], "startup_error": None,
        "shadow_log": collections.deque(maxlen=shadow_log_size),
        "window": {"current": [], "candidate": []},
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            current.load()
            if cand is not None:
                cand.load()
        except BaseException as exc:
            state["startup_error"] = exc
            raise
        yield

    app = FastAPI(
        title="Incident predictor", lifespan=lifespan,
        description="Predicts the probability of an incident from five service signals.",
    )
    app.state.serving = state
    app.state.metrics = metrics
    app.add_middleware(_MetricsMiddleware, metrics=metrics)

    def _feed_canary(role: str, probs: np.ndarray) -> None:
        window = state["window"]
        window[role].extend(float(p) for p in probs)
        need = monitor_.min_samples
        if len(window["current"]) >= need and len(window["candidate"]) >= need:
            decision = monitor_.update(np.array(window["current"]), np.array(window["candidate"]))
            window["current"], window["candidate"] = [], []
            state["decisions"].append({"statistic": None if not math.isfinite(decision.statistic) else decision.statistic,
                                       "breached": bool(decision.breached), "action": decision.action})
            if decision.action == "rollback" and not state["halted"]:
                state["halted"] = True
                metrics.halted.set(1)

    schema = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [Observation.model_json_schema(), Batch.model_json_schema()]}}}}}

    @app.post("/predict", openapi_extra=schema)
    async def predict(request: Request) -> Response:
        try:
            body = await _read_limited(request, max_body_bytes)
        except _BodyTooLarge as exc:
            return _error(413, "payload_too_large",
                          f"the request body must be at most {max_body_bytes} bytes; got {exc.args[0]}.")
        if not body.strip():
            return _error(400, "empty_body", "the request body must be a JSON object; got an empty body.")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, "malformed_json", f"the request body must be valid JSON; got {exc}.")
        if not isinstance(payload, dict):
            return _error(422, "validation_error",
                          f"the request body must be a JSON object; got a JSON {type(payload).__name__}.",
                          [{"field": "body", "loc": ["body"], "type": "object_type", "msg": "expected an object"}])
        try:
            if "instances" in payload:
                rows = Batch.model_validate(payload).instances
                batched = True
            else:
                rows = [Observation.model_validate(payload)]
                batched = False
        except ValidationError as exc:
            detail = _describe(exc.errors())
            fields = sorted({d["field"] for d in detail})
            return _error(422, "validation_error", f"invalid input in field(s) {fields}.", detail)
        X = pd.DataFrame([[getattr(r, f) for f in data.FEATURES] for r in rows], columns=list(data.FEATURES))
        served = current
        if mode == "canary" and not state["halted"] and split.route() == "candidate":
            served = cand
        probs = served.score(X)
        proba_metric = metrics.proba.labels(served.role)
        for p in probs:
            proba_metric.observe(float(p))
        if mode == "canary":
            metrics.routed.labels(served.role).inc()
            _feed_canary(served.role, probs)
        elif mode == "shadow":
            try:
                shadow = cand.score(X)
            except Exception:  # the candidate must never break the answer
                metrics.candidate_errors.inc()
            else:
                for p, q in zip(probs, shadow):
                    agree = (p >= threshold) == (q >= threshold)
                    metrics.shadow.labels(str(agree).lower()).inc()
                    metrics.shadow_diff.observe(abs(float(p) - float(q)))
                    metrics.proba.labels("candidate").observe(float(q))
                    state["shadow_log"].append({"time": time.time(), "current": float(p),
                                                "candidate": float(q), "agree": bool(agree)})
        out: dict[str, Any] = {"model_version": served.version, "model_sha256": served.sha256,
                               "answered_by": served.role}
        if batched:
            out["incident_probability"] = [float(p) for p in probs]
        else:
            out["incident_probability"] = float(probs[0])
        return _json(out, headers={"X-Model-Version": served.version})

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "alive"})

    @app.get("/readyz")
    async def readyz() -> Response:
        checks = {}
        for served in (current, cand):
            if served is None:
                continue
            if served.model is None:
                checks[served.role] = {"ready": False, "reason": "model not loaded"}
                continue
            ok, why = served.replay()
            checks[served.role] = {"ready": ok, "reason": why, "model_version": served.version,
                                   "model_sha256": served.sha256}
        ready = all(c["ready"] for c in checks.values())
        return _json({"ready": ready, "models": checks, "pid": os.getpid()}, 200 if ready else 503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/rollout")
    async def rollout_state() -> Response:
        out: dict[str, Any] = {"mode": mode, "current": current.version,
                               "candidate": cand.version if cand else None}
        if mode == "shadow":
            log = list(state["shadow_log"])
            out["shadow"] = {
                "n_compared": len(log),
                "agreement": (sum(e["agree"] for e in log) / len(log)) if log else None,
                "mean_abs_difference": (float(np.mean([abs(e["current"] - e["candidate"]) for e in log]))
                                        if log else None),
                "recent": log[-10:],
            }
        if mode == "canary":
            out["canary"] = {"candidate_share": 0.0 if state["halted"] else split.candidate_share,
                             "configured_share": split.candidate_share, "halted": state["halted"],
                             "window_sizes": {k: len(v) for k, v in state["window"].items()},
                             "decisions": state["decisions"][-20:]}
        return _json(out)

    return app


def create_app_from_registry(registry: Any, name: str, alias: str = "champion", *,
                             candidate_alias: str | None = None, cache_dir: str | os.PathLike | None = None,
                             **kwargs: Any) -> FastAPI:
    """Serve the version a registry alias points at (and optionally a candidate alias).

    The artefact is downloaded into ``cache_dir`` (default ``registry.root / "serving"``)
    and its hash checked against the version's tag; the app checks it again at startup.
    Other keyword arguments go to :func:`create_app`.

    Examples
    --------
    >>> import tempfile, httpx
    >>> from mlops_companion import data, registry
    >>> s = data.make_scenario()
    >>> reg = registry.Registry(tempfile.mkdtemp())
    >>> _ = reg.register("m", s.pipeline, training_data=s.X_train, example_input=s.X_test.head(2))
    >>> _ = reg.promote("m", 1, reason="first")
    >>> with run_server(create_app_from_registry(reg, "m", "champion")) as url:
    ...     httpx.get(url + "/readyz").json()["models"]["current"]["model_version"]
    'm/1'
    """
    if not hasattr(registry, "fetch_artefact"):
        raise TypeError(f"`registry` must be a registry.Registry; got {type(registry).__name__}.")
    base = Path(cache_dir) if cache_dir is not None else Path(registry.root) / "serving"
    path, info = registry.fetch_artefact(name, alias, base / f"{name}-{alias}")
    kwargs.update(artefact=path, expected_sha256=info.artefact_sha256, version=f"{name}/{info.version}")
    if candidate_alias is not None:
        cpath, cinfo = registry.fetch_artefact(name, candidate_alias, base / f"{name}-{candidate_alias}")
        kwargs.update(candidate=cpath, candidate_sha256=cinfo.artefact_sha256,
                      candidate_version=f"{name}/{cinfo.version}")
    return create_app(**kwargs)


def _app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` worker processes: kwargs come as JSON in the environment."""
    raw = os.environ.get(_ENV_KWARGS)
    if not raw:
        raise RuntimeError(f"{_ENV_KWARGS} must hold the create_app keyword arguments as JSON; it is unset.")
    return create_app(**json.loads(raw))


# ----------------------------------------------------------------------------- running
def _wait_ready(url: str, deadline: float, alive) -> None:
    import httpx

    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError(f"the server stopped before it became ready ({last}).")
            try:
                r = client.get(url + "/readyz")
                if r.status_code == 200:
                    return
                last = f"/readyz answered {r.status_code}: {r.text[:200]}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
            time.sleep(0.02)
    raise TimeoutError(f"the server did not become ready in time ({last}).")


def _free_socket(host: str, port: int | None, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Accepted connections inherit TCP_NODELAY on Linux. Without it, a response written
    # in two pieces (headers, then body) waits for the client's delayed ACK: ~40 ms each.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port or 0))
    return sock


_THREAD_POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _one_thread_per_worker(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for worker processes: one BLAS/OpenMP thread each, unless set.

    Scaling out with processes and letting every process also start a thread pool the size
    of the machine oversubscribes the cores: the pools spin against each other. On the
    book's 2-core machine, two workers served 1.6x the requests of one with default pools
    and 1.9x with one thread each (``benchmarks/bench_serving.py``).
    """
    env = dict(environ)
    for name in _THREAD_POOL_VARIABLES:
        env.setdefault(name, "1")
    return env


@contextlib.contextmanager
def run_server(app_or_kwargs: FastAPI | Mapping[str, Any], *, host: str = "127.0.0.1",
               port: int | None = None, workers: int = 1, isolated: bool = False,
               timeout: float = 60.0, log_level: str = "warning") -> Iterator[str]:
    """Start the server in the background, yield its base URL once ready, then stop it.

    Parameters
    ----------
    app_or_kwargs : FastAPI or mapping
        An app from :func:`create_app`, or the keyword arguments for it (required when
        ``workers > 1``: each worker process builds its own app from them).
    host : str, default="127.0.0.1"
        Loopback by default; nothing else is reachable from outside the machine.
    port : int, default=None
        None picks a free port.
    workers : int, default=1
        1 runs uvicorn in a thread of this process; more starts one uvicorn process per
        worker, all listening on the port with ``SO_REUSEPORT`` so that the kernel spreads
        connections across them (each has its own metrics; nothing restarts a worker that
        dies, which is the job of a process manager or an orchestrator).
    isolated : bool, default=False
        Run even a single worker as a subprocess, so that a client in this process does
        not compete with the server for the GIL (what a benchmark wants).
    timeout : float, default=60
        Seconds to wait for ``/readyz``.

    Yields
    ------
    str
        The base URL, e.g. ``"http://127.0.0.1:54321"``.

    Examples
    --------
    >>> import tempfile, pathlib, httpx
    >>> from mlops_companion import artefacts, data
    >>> s = data.make_scenario()
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.joblib"
    >>> m = artefacts.save_artefact(s.pipeline, path, example_input=s.X_test.head(3))
    >>> with run_server({"artefact": path, "expected_sha256": m.sha256}) as url:
    ...     httpx.get(url + "/healthz").json()
    {'status': 'alive'}
    """
    import uvicorn

    workers = _check_positive_int(workers, "workers")
    if not isinstance(host, str) or not host:
        raise ValueError(f"`host` must be a host name or address; got {host!r}.")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
        raise ValueError(f"`port` must be an integer in [0, 65535] or None; got {port!r}.")
    shown = f"[{host}]" if ":" in host else host
    if workers == 1 and not isolated:
        app = app_or_kwargs if isinstance(app_or_kwargs, FastAPI) else create_app(**dict(app_or_kwargs))
        sock = _free_socket(host, port)
        url = f"http://{shown}:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except SystemExit:  # uvicorn exits when startup fails; the error is in app.state
                pass

        thread = threading.Thread(target=serve, daemon=True, name=f"uvicorn-{url}")
        thread.start()
        try:
            try:
                _wait_ready(url, time.monotonic() + timeout, thread.is_alive)
            except RuntimeError:
                error = getattr(getattr(app, "state", None), "serving", {}).get("startup_error")
                if error is not None:
                    raise error
                raise
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
        return
    if isinstance(app_or_kwargs, FastAPI):
        raise TypeError("`app_or_kwargs` must be the create_app keyword arguments (a mapping) when "
                        f"`workers` > 1 or `isolated`; got a FastAPI app. Each worker process builds its own app.")
    kwargs = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in dict(app_or_kwargs).items()}
    create_app(**kwargs)  # validate the arguments here, where the error is readable
    # One single-process uvicorn per worker, each on its own listening socket bound to the
    # same port with SO_REUSEPORT, so the kernel spreads connections across the workers.
    # (Workers sharing one socket, as `uvicorn --workers` does, let whichever process wakes
    # first accept a burst of connections: with keep-alive clients one worker can end up
    # with most of them.) Sockets carry TCP_NODELAY, which accepted connections inherit.
    socks = [_free_socket(host, port, reuse_port=True)]
    port = socks[0].getsockname()[1]
    socks += [_free_socket(host, port, reuse_port=True) for _ in range(workers - 1)]
    url = f"http://{shown}:{port}"
    env = {**_one_thread_per_worker(os.environ), _ENV_KWARGS: json.dumps(kwargs)}
    procs = []
    for sock in socks:
        sock.set_inheritable(True)
        cmd = [sys.executable, "-m", "uvicorn", "--factory", _FACTORY, "--fd", str(sock.fileno()),
               "--no-access-log", "--log-level", log_level, "--timeout-graceful-shutdown", "5"]
        procs.append(subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, pass_fds=(sock.fileno(),),
                                      start_new_session=True))
    try:
        _wait_all_workers(url, procs, time.monotonic() + timeout)
        yield url
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for sock in socks:
            sock.close()


def _wait_all_workers(url: str, procs: list[subprocess.Popen], deadline: float) -> None:
    """Wait until every worker process has answered ``/readyz`` (it reports its pid).

    Each probe opens a new connection, which the kernel hashes to one of the listening
    sockets, so a handful of probes reaches every worker."""
    import httpx

    def alive() -> bool:
        return all(p.poll() is None for p in procs)

    _wait_ready(url, deadline, alive)
    waiting = {p.pid for p in procs}
    while waiting:
        if not alive():
            raise RuntimeError("a worker process exited during startup.")
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker processes {sorted(waiting)} did not become ready in time.")
        try:
            r = httpx.get(url + "/readyz", timeout=2.0, headers={"Connection": "close"})
            if r.status_code == 200:
                waiting.discard(r.json().get("pid"))
        except httpx.TransportError:
            time.sleep(0.02)


# ----------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> None:
    """Command line: serve an artefact in the foreground until Ctrl-C.

    ``python -m mlops_companion.serving --artefact model.joblib --sha256 HEX --port 8000``

    Examples
    --------
    >>> main(["--artefact", "x.joblib", "--sha256", "abc"])  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: `expected_sha256` must be a SHA-256 digest ...
    """
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m mlops_companion.serving", description=main.__doc__)
    parser.add_argument("--artefact", required=True, help="path of the joblib artefact")
    parser.add_argument("--sha256", required=True, help="its expected SHA-256")
    parser.add_argument("--version", default=None, help="label returned with each prediction")
    parser.add_argument("--candidate", default=None)
    parser.add_argument("--candidate-sha256", default=None)
    parser.add_argument("--mode", choices=MODES, default="single")
    parser.add_argument("--candidate-share", type=float, default=0.1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    kwargs = {"artefact": args.artefact, "expected_sha256": args.sha256, "version": args.version,
              "mode": args.mode, "candidate_share": args.candidate_share}
    if args.candidate:
        kwargs.update(candidate=args.candidate, candidate_sha256=args.candidate_sha256)
    _check_sha(args.sha256, "expected_sha256")
    if args.workers == 1:
        uvicorn.run(create_app(**kwargs), host=args.host, port=args.port, access_log=False)
    else:
        create_app(**kwargs)
        os.environ.update(_one_thread_per_worker(os.environ))
        os.environ[_ENV_KWARGS] = json.dumps(kwargs)
        uvicorn.run(_FACTORY, factory=True, host=args.host, port=args.port,
                    workers=args.workers, access_log=False)


if __name__ == "__main__":  # pragma: no cover
    main()
