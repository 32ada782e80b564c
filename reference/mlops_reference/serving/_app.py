"""The model server's application: :func:`create_app` and :func:`create_app_from_registry`.

The model loads in the application's lifespan (at startup, never at import or creation),
after its SHA-256 matched the trusted one. Shadow and canary modes *drive* the state
machines of :mod:`mlops_reference.rollout` (:class:`~mlops_reference.rollout.ShadowDeployment`,
:class:`~mlops_reference.rollout.TrafficSplit`, :class:`~mlops_reference.rollout.CanaryMonitor`);
nothing about their rules is re-implemented here.
"""
from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.background import BackgroundTask

from mlops_reference import features
from mlops_reference import _utils
from mlops_reference._utils import check_level, check_one_of, check_positive_int, replay_matches

from . import _metrics, _schema

MODES = ("single", "shadow", "canary")
_ENV_KWARGS = "MLOPS_COMPANION_SERVING_KWARGS"
_FACTORY = "mlops_reference.serving._app:_app_from_environment"


# ----------------------------------------------------------------------------- arguments
def _check_path(value: Any, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a path to a joblib artefact; got {type(value).__name__}.")
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"`{name}` must be an existing artefact file; got {str(path)!r}, which does not exist.")
    return path


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None,
          background: BackgroundTask | None = None) -> Response:
    body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers=dict(headers or {}),
                    background=background)


def _error(status: int, error: str, message: str, request_id: str, detail: list | None = None) -> Response:
    payload: dict[str, Any] = {"error": error, "message": message}
    if detail is not None:
        payload["detail"] = detail
    return _json(payload, status, headers={"X-Request-ID": request_id})


# ----------------------------------------------------------------------------- a served model
class _Served:
    """A loaded artefact and what the API says about it."""

    def __init__(self, role: str, path: Path, sha256: str, version: str | None, metrics: _metrics.Metrics) -> None:
        self.role, self.path, self.sha256 = role, path, sha256
        self.version = version or f"sha256:{sha256[:12]}"
        self.metrics = metrics
        self.model: Any = None
        self.manifest: Any = None
        # Create this version's series at zero, so rate() and absent() work from the start.
        metrics.errors.labels(self.version)
        metrics.proba_squares.labels(self.version)
        metrics.proba.labels(self.version)

    def load(self) -> None:
        from mlops_reference import artefacts

        loaded = artefacts.load_artefact(self.path, expected_sha256=self.sha256)
        self.model, self.manifest = loaded.model, loaded.manifest

    def replay(self) -> tuple[bool, str]:
        """Does the manifest's example give the manifest's output? (what ``/readyz`` asks)."""
        try:
            example = self.manifest.example_frame()
            expected = self.manifest.expected_output
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            return False, f"the artefact's manifest holds no usable example ({exc})"
        if not replay_matches(self.score(example, observe=False), expected):
            return False, "the replayed example gave a different output from the stored one"
        return True, "ok"

    def score(self, X: pd.DataFrame, *, observe: bool = True) -> np.ndarray:
        """Probabilities of an incident; counted in the metrics under this model's version."""
        try:
            probs = np.asarray(self.model.predict_proba(X), dtype=float)[:, 1]
        except Exception:
            self.metrics.errors.labels(self.version).inc()
            raise
        if observe:
            self.metrics.observe_predictions(self.version, probs)
        return probs


def _write_log(log: Any, record: dict[str, Any], metrics: _metrics.Metrics) -> None:
    # Runs after the answer has been sent (a background task in a worker thread): a slow
    # or failing log costs the client nothing, and a failure is only counted.
    try:
        log.write(record)
    except Exception:  # noqa: BLE001 - the log must never break serving
        metrics.log_errors.inc()


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
    prediction_log: Any = None,
    rng: int | np.random.Generator | None = None,
) -> FastAPI:
    """Build the model server's FastAPI application (the model loads at startup).

    Parameters
    ----------
    artefact : path
        The current model's joblib artefact.
    expected_sha256 : str
        The SHA-256 the artefact must have, taken from a record the deployer controls (the
        registry version, a deployment config), never from the manifest stored next to the
        artefact; a different file is refused before it is unpickled.
    version : str, default=None
        The served model's version: returned with every prediction (body and
        ``X-Model-Version``), used as the ``model_version`` label of the metrics and written
        to the prediction log. Defaults to ``"sha256:<first 12 hex>"``.
    candidate, candidate_sha256, candidate_version : default=None
        The candidate model, required in ``"shadow"`` and ``"canary"`` modes.
    mode : {"single", "shadow", "canary"}, default="single"
    candidate_share : float, default=0.1
        Canary mode: share of requests the candidate answers.
    monitor : rollout.CanaryMonitor, default=None
        Canary mode: the rollback rule, fed each answer's probabilities through
        :meth:`~mlops_reference.rollout.CanaryMonitor.observe`; None builds
        ``rollout.CanaryMonitor()`` with its own defaults (margin 0.02, not a derived one).
        Pass ``mlops_reference.deploy.book_rule()[1]`` for the rule the book derives and
        deploys (its margin comes from :func:`mlops_reference.rollout.derive_margin`).
        Once it has rolled back, every request goes to the current model.
    max_batch : int, default=256
        Most rows in one ``{"instances": [...]}`` request.
    max_body_bytes : int, default=65536
        Larger request bodies get 413 before any parsing.
    shadow_log_size : int, default=1000
        Shadow mode: rows the comparison log keeps (``ShadowDeployment(max_rows=...)``).
    threshold : float, default=0.5
        Shadow mode: probability at which a score counts as "incident", for agreement.
    prediction_log : object with ``write(record: dict) -> None``, default=None
        Called once per answered prediction, after the answer is sent, with ``request_id``
        (also in the ``X-Request-ID`` header), ``time`` (Unix seconds), ``model_version``,
        ``artefact_sha256``, ``inputs`` (list of feature dicts) and ``outputs`` (list of
        probabilities). Whatever it raises is counted in ``prediction_log_errors_total``
        and never reaches the client; so are the records a log with ``n_dropped`` and
        ``n_failed`` counts (a :class:`~mlops_companion.predlog.PredictionLog`) reports
        lost, e.g. on a full disk. Calls run in worker threads, so records of requests
        answered close together may arrive in either order: match them by ``request_id``.
    rng : int, Generator or None, default=None
        Canary mode: seed of the traffic split.

    Returns
    -------
    FastAPI

    Examples
    --------
    Serve an artefact on 127.0.0.1, ask for one prediction, then send a number as a string:

    >>> import tempfile, pathlib, httpx
    >>> from mlops_companion import data
    >>> from mlops_reference import artefacts, serving
    >>> s = data.make_scenario()
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.joblib"
    >>> manifest = artefacts.save_artefact(s.pipeline, path, example_input=s.X_test.head(3))
    >>> app = serving.create_app(artefact=path, expected_sha256=manifest.sha256, version="v1")
    >>> row = {"request_rate": 120.0, "error_pct": 4.0, "p99_latency_ms": 90.0,
    ...        "deploy_hour": 14, "is_weekend": 0}
    >>> with serving.run_server(app) as url:
    ...     r = httpx.post(url + "/predict", json=row)
    ...     bad = httpx.post(url + "/predict", json={**row, "request_rate": "120"})
    >>> r.status_code, r.json()["model_version"], r.headers["x-model-version"]
    (200, 'v1', 'v1')
    >>> bad.status_code, bad.json()["detail"][0]["field"]
    (422, 'request_rate')
    """
    check_one_of(mode, "mode", MODES)
    metrics = _metrics.Metrics()
    current = _Served("current", _check_path(artefact, "artefact"),
                      _utils.check_sha256(expected_sha256, "expected_sha256"), version, metrics)
    cand: _Served | None = None
    if mode != "single" and (candidate is None or candidate_sha256 is None):
        raise ValueError(
            f"`candidate` and `candidate_sha256` must be given in {mode!r} mode; got "
            f"candidate={candidate!r}, candidate_sha256={candidate_sha256!r}."
        )
    if candidate is not None:
        cand = _Served("candidate", _check_path(candidate, "candidate"),
                       _utils.check_sha256(candidate_sha256, "candidate_sha256"), candidate_version, metrics)
    max_batch = check_positive_int(max_batch, "max_batch")
    max_body_bytes = check_positive_int(max_body_bytes, "max_body_bytes")
    shadow_log_size = check_positive_int(shadow_log_size, "shadow_log_size")
    threshold = check_level(threshold, "threshold")
    if prediction_log is not None and not callable(getattr(prediction_log, "write", None)):
        raise TypeError("`prediction_log` must have a `write(record)` method; "
                        f"got {type(prediction_log).__name__}.")
    if prediction_log is not None:
        metrics.log_errors.watch(prediction_log)
    split = monitor_ = None
    if mode == "canary":
        from mlops_reference import rollout

        split = rollout.TrafficSplit(candidate_share, rng=rng)
        monitor_ = rollout.CanaryMonitor() if monitor is None else monitor
        if not callable(getattr(monitor_, "observe", None)):
            raise TypeError(f"`monitor` must be a rollout.CanaryMonitor; got {type(monitor).__name__}.")

    Batch = _schema.make_batch_model(max_batch)
    state: dict[str, Any] = {"mode": mode, "startup_error": None, "shadow": None,
                             "decisions": collections.deque(maxlen=100)}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            current.load()
            if cand is not None:
                cand.load()
        except BaseException as exc:
            state["startup_error"] = exc
            raise
        if mode == "shadow":
            from mlops_reference import rollout

            # The candidate is scored through a function so that its probabilities are
            # counted under its own version; ShadowDeployment logs both and swallows
            # the candidate's failures (counted in prediction_errors_total).
            state["shadow"] = rollout.ShadowDeployment(
                lambda X: current.score(X, observe=False), cand.score,
                threshold=threshold, max_rows=shadow_log_size)
        yield

    app = FastAPI(title="Incident predictor", lifespan=lifespan,
                  description="Predicts the probability of an incident from five service signals.")
    app.state.serving = state
    app.state.models = {"current": current, "candidate": cand}
    app.state.metrics = metrics
    app.add_middleware(_metrics.MetricsMiddleware, metrics=metrics)

    def answer(X: pd.DataFrame) -> tuple[_Served, np.ndarray]:
        """Which model answers, its probabilities, and what the rollout objects learn from it."""
        if mode == "shadow":
            probs = state["shadow"].predict(X)
            metrics.observe_predictions(current.version, probs)
            return current, probs
        if mode == "canary" and not monitor_.rolled_back and split.route() == "candidate":
            served = cand
        else:
            served = current
        probs = served.score(X)
        if mode == "canary":
            # The handler runs on the event loop's thread, so the monitor is fed serially.
            decision = monitor_.observe("canary" if served is cand else "baseline", probs)
            if decision is not None:
                record = {"statistic": decision.statistic, "breached": bool(decision.breached),
                          "action": decision.action}
                for extra in ("estimate", "boundary", "look"):  # richer decisions, where rollout gives them
                    if hasattr(decision, extra):
                        record[extra] = getattr(decision, extra)
                state["decisions"].append(_finite(record))
                metrics.rolled_back.set(1 if monitor_.rolled_back else 0)
        return served, probs

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        request_id = uuid.uuid4().hex
        try:
            _schema.check_content_type(request.headers.get("content-type"))
            payload = _schema.parse_json(await _schema.read_limited(request, max_body_bytes))
        except _schema.RequestRefused as refused:
            return _error(refused.status, refused.error, refused.message, request_id)
        if not isinstance(payload, dict):
            return _error(422, "validation_error",
                          f"the request body must be a JSON object; got a JSON {type(payload).__name__}.",
                          request_id, [{"field": "body", "loc": ["body"], "type": "object_type",
                                        "msg": "expected an object"}])
        try:
            batched = "instances" in payload
            rows = Batch.model_validate(payload).instances if batched else [_schema.Observation.model_validate(payload)]
        except ValidationError as exc:
            detail = _schema.describe_errors(exc.errors())
            fields = sorted({d["field"] for d in detail})
            return _error(422, "validation_error", f"invalid input in field(s) {fields}.", request_id, detail)
        inputs = [row.model_dump() for row in rows]
        X = pd.DataFrame(inputs, columns=list(features.FEATURES))
        try:
            served, probs = answer(X)
        except Exception as exc:  # counted in prediction_errors_total by _Served.score
            return _error(500, "prediction_failed", f"the model failed on this input ({type(exc).__name__}); "
                          "the request was valid, so this is a server-side fault.", request_id)
        outputs = [float(p) for p in probs]
        out = {"model_version": served.version, "model_sha256": served.sha256, "answered_by": served.role,
               "request_id": request_id, "incident_probability": outputs if batched else outputs[0]}
        task = None
        if prediction_log is not None:
            record = {"request_id": request_id, "time": time.time(), "model_version": served.version,
                      "artefact_sha256": served.sha256, "inputs": inputs, "outputs": outputs}
            task = BackgroundTask(_write_log, prediction_log, record, metrics)
        return _json(out, headers={"X-Model-Version": served.version, "X-Request-ID": request_id}, background=task)

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
        return Response(metrics.exposition(), media_type=_metrics.CONTENT_TYPE)

    @app.get("/rollout")
    async def rollout_state() -> Response:
        out: dict[str, Any] = {"mode": mode, "current": current.version,
                               "candidate": cand.version if cand else None}
        shadow = state["shadow"]
        if shadow is not None:
            log = shadow.log
            summary = shadow.agreement() if len(log) else None
            out["shadow"] = {
                "n_compared": len(log),
                "agreement": summary.agreement if summary else None,
                "mean_abs_difference": summary.mean_abs_diff if summary else None,
                "recent": log.tail(10).to_dict(orient="records"),
            }
        if mode == "canary":
            out["canary"] = {"candidate_share": 0.0 if monitor_.rolled_back else split.candidate_share,
                             "configured_share": split.candidate_share, "rolled_back": bool(monitor_.rolled_back),
                             "min_samples": getattr(monitor_, "min_samples", None),
                             "decisions": list(state["decisions"])[-20:]}
        return _json(_finite(out))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            base = get_openapi(title=app.title, version=app.version, description=app.description,
                               routes=app.routes)
            app.openapi_schema = _schema.openapi_document(app, Batch, base)
        return app.openapi_schema

    app.openapi = openapi
    return app


def _finite(obj: Any) -> Any:
    """NaN and infinities as None, so every answer is standard JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def create_app_from_registry(registry: Any, name: str, alias: str = "champion", *,
                             candidate_alias: str | None = None, cache_dir: str | os.PathLike | None = None,
                             **kwargs: Any) -> FastAPI:
    """Serve the version a registry alias points at (and optionally a candidate alias).

    The artefact is downloaded into ``cache_dir`` (default ``registry.root / "serving"``)
    and its hash checked against the SHA-256 recorded in the registry at registration,
    the trusted record; the app checks it again at startup. The served version is
    ``"<name>/<version>"``. Other keyword arguments go to :func:`create_app`.

    Parameters
    ----------
    registry : registry.Registry
    name : str
        Registered model name.
    alias : str, default="champion"
    candidate_alias : str, default=None
        Alias of the candidate for ``mode="shadow"`` or ``"canary"``.
    cache_dir : path, default=None
    **kwargs
        Passed to :func:`create_app`.

    Returns
    -------
    FastAPI

    Examples
    --------
    Which version answers when the champion alias points at version 1?

    >>> import tempfile, httpx
    >>> from mlops_companion import data
    >>> from mlops_reference import registry, serving
    >>> s = data.make_scenario()
    >>> reg = registry.Registry(tempfile.mkdtemp())
    >>> _ = reg.register("m", s.pipeline, training_data=s.X_train, example_input=s.X_test.head(2))
    >>> _ = reg.promote("m", 1, reason="first")
    >>> with serving.run_server(serving.create_app_from_registry(reg, "m", "champion")) as url:
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
