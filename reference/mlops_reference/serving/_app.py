"""The model server's application: :func:`create_app`, a short table of routes over one typed state.

The model loads in the application's lifespan (at startup, never at import or creation),
after its SHA-256 matched the trusted one. Each route is a small function of the request
that reads the app's :class:`AppState`; :data:`ROUTES` lists them.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.background import BackgroundTask

from mlops_reference import _utils, features
from mlops_reference._utils import check_positive_int, replay_matches

from . import _metrics, _schema


@runtime_checkable
class PredictionSink(Protocol):
    """Where answered predictions go: anything with ``write(record: dict) -> None``."""

    def write(self, record: dict[str, Any]) -> None: ...


class ServedModel:
    """A loaded artefact and what the API says about it."""

    def __init__(self, path: Path, sha256: str, version: str | None, metrics: _metrics.Metrics) -> None:
        self.path, self.sha256 = path, sha256
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


@dataclass
class AppState:
    """Everything the routes share: the served model, the metrics, the limits, the log."""

    model: ServedModel
    metrics: _metrics.Metrics
    batch: type[BaseModel]
    max_body_bytes: int
    prediction_log: PredictionSink | None = None
    startup_error: BaseException | None = None


# ----------------------------------------------------------------------------- answers
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


def _write_log(log: PredictionSink, record: dict[str, Any], metrics: _metrics.Metrics) -> None:
    # Runs after the answer has been sent (a background task in a worker thread): a slow
    # or failing log costs the client nothing, and a failure is only counted.
    try:
        log.write(record)
    except Exception:  # noqa: BLE001 - the log must never break serving
        metrics.log_errors.inc()


# ----------------------------------------------------------------------------- routes
async def _read_rows(request: Request, state: AppState, request_id: str) -> tuple[list, bool] | Response:
    """The request's observations and whether it was a batch, or the refusal to send."""
    try:
        _schema.check_content_type(request.headers.get("content-type"))
        payload = _schema.parse_json(await _schema.read_limited(request, state.max_body_bytes))
    except _schema.RequestRefused as refused:
        return _error(refused.status, refused.error, refused.message, request_id)
    if not isinstance(payload, dict):
        return _error(422, "validation_error",
                      f"the request body must be a JSON object; got a JSON {type(payload).__name__}.",
                      request_id, [{"field": "body", "loc": ["body"], "type": "object_type",
                                    "msg": "expected an object"}])
    batched = "instances" in payload
    try:
        rows = (state.batch.model_validate(payload).instances if batched
                else [_schema.Observation.model_validate(payload)])
    except ValidationError as exc:
        detail = _schema.describe_errors(exc.errors())
        fields = sorted({d["field"] for d in detail})
        return _error(422, "validation_error", f"invalid input in field(s) {fields}.", request_id, detail)
    return rows, batched


async def predict(request: Request) -> Response:
    """``POST /predict``: one observation or a batch in, probabilities out, logged after the answer."""
    state: AppState = request.app.state.serving
    request_id = uuid.uuid4().hex
    read = await _read_rows(request, state, request_id)
    if isinstance(read, Response):
        return read
    rows, batched = read
    inputs = [row.model_dump() for row in rows]
    served = state.model
    try:
        probs = served.score(pd.DataFrame(inputs, columns=list(features.FEATURES)))
    except Exception as exc:  # counted in prediction_errors_total by ServedModel.score
        return _error(500, "prediction_failed", f"the model failed on this input ({type(exc).__name__}); "
                      "the request was valid, so this is a server-side fault.", request_id)
    outputs = [float(p) for p in probs]
    out = {"model_version": served.version, "model_sha256": served.sha256, "request_id": request_id,
           "incident_probability": outputs if batched else outputs[0]}
    task = None
    if state.prediction_log is not None:
        record = {"request_id": request_id, "time": time.time(), "model_version": served.version,
                  "artefact_sha256": served.sha256, "inputs": inputs, "outputs": outputs}
        task = BackgroundTask(_write_log, state.prediction_log, record, state.metrics)
    return _json(out, headers={"X-Model-Version": served.version, "X-Request-ID": request_id}, background=task)


async def healthz(request: Request) -> Response:
    """``GET /healthz``: the process answers."""
    return _json({"status": "alive"})


async def readyz(request: Request) -> Response:
    """``GET /readyz``: the model is loaded and replays the example stored with it."""
    served: ServedModel = request.app.state.serving.model
    if served.model is None:
        check = {"ready": False, "reason": "model not loaded"}
    else:
        ok, why = served.replay()
        check = {"ready": ok, "reason": why, "model_version": served.version, "model_sha256": served.sha256}
    return _json({"ready": check["ready"], "models": {"current": check}, "pid": os.getpid()},
                 200 if check["ready"] else 503)


async def metrics_page(request: Request) -> Response:
    """``GET /metrics``: the Prometheus text exposition."""
    return Response(request.app.state.serving.metrics.exposition(), media_type=_metrics.CONTENT_TYPE)


#: The server, route by route: (method, path, handler).
ROUTES = (
    ("POST", "/predict", predict),
    ("GET", "/healthz", healthz),
    ("GET", "/readyz", readyz),
    ("GET", "/metrics", metrics_page),
)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    state: AppState = app.state.serving
    try:
        state.model.load()
    except BaseException as exc:
        state.startup_error = exc
        raise
    yield


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        base = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        app.openapi_schema = _schema.openapi_document(app.state.serving.batch, base)
    return app.openapi_schema


# ----------------------------------------------------------------------------- the app
def create_app(*, artefact: str | os.PathLike, expected_sha256: str, version: str | None = None,
               max_batch: int = 256, max_body_bytes: int = 64 * 1024,
               prediction_log: PredictionSink | None = None) -> FastAPI:
    """Build the model server's FastAPI application (the model loads at startup).

    Parameters
    ----------
    artefact : path
        The model's joblib artefact.
    expected_sha256 : str
        The SHA-256 the artefact must have, taken from a record the deployer controls (the
        registry version, a deployment config), never from the manifest stored next to the
        artefact; a different file is refused before it is unpickled.
    version : str, default=None
        Returned with every prediction (body and ``X-Model-Version``), the ``model_version``
        label of the metrics and in the prediction log. Defaults to ``"sha256:<first 12 hex>"``.
    max_batch : int, default=256
        Most rows in one ``{"instances": [...]}`` request.
    max_body_bytes : int, default=65536
        Larger request bodies get 413 before any parsing.
    prediction_log : object with ``write(record: dict) -> None``, default=None
        Called once per answered prediction, after the answer is sent, with ``request_id``
        (also in the ``X-Request-ID`` header), ``time``, ``model_version``,
        ``artefact_sha256``, ``inputs`` and ``outputs``. What it raises, and the records a
        log with ``n_dropped`` and ``n_failed`` counts reports lost, are counted in
        ``prediction_log_errors_total`` and never reach the client. Calls run in worker
        threads, so records may arrive out of order: match them by ``request_id``.

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
    if prediction_log is not None and not isinstance(prediction_log, PredictionSink):
        raise TypeError(f"`prediction_log` must have a `write(record)` method; got {type(prediction_log).__name__}.")
    metrics = _metrics.Metrics()
    served = ServedModel(_check_path(artefact, "artefact"), _utils.check_sha256(expected_sha256, "expected_sha256"),
                         version, metrics)
    state = AppState(served, metrics, _schema.make_batch_model(check_positive_int(max_batch, "max_batch")),
                     check_positive_int(max_body_bytes, "max_body_bytes"), prediction_log)
    if prediction_log is not None:
        metrics.log_errors.watch(prediction_log)
    app = FastAPI(title="Incident predictor", lifespan=_lifespan,
                  description="Predicts the probability of an incident from five service signals.")
    app.state.serving = state
    for method, path, handler in ROUTES:
        app.add_api_route(path, handler, methods=[method])
    app.add_middleware(_metrics.MetricsMiddleware, metrics=metrics)
    app.openapi = functools.partial(_openapi, app)
    return app


def _check_path(value: Any, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a path to a joblib artefact; got {type(value).__name__}.")
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"`{name}` must be an existing artefact file; got {str(path)!r}, which does not exist.")
    return path
