"""Self-checks of chapter 04, serving a model over HTTP (exercise set ``04-serving``)."""
from __future__ import annotations

from collections.abc import Callable

from ._harness import (
    CheckResult,
    Case,
    CaseFailed,
    call,
    exercise,
    expect,
    run,
)

__all__ = ["check_make_request_schema", "check_make_app"]

STEM = "04-serving"

_HINT_MAKE_REQUEST_SCHEMA = (
    "Inside the function, define a pydantic BaseModel with model_config = "
    "ConfigDict(strict=True, extra='forbid', allow_inf_nan=False), one field per feature "
    "with Field(ge=spec.low, le=spec.high) from data.FEATURE_SPECS (float or int, as its "
    "dtype says), and return the class itself."
)

_HINT_MAKE_APP = (
    "Inside make_app: IncidentRequest = make_request_schema(); app = FastAPI(); "
    "@app.get('/healthz') returns {'status': 'ok'}; @app.post('/predict') takes "
    "`request: IncidentRequest`, builds pd.DataFrame([request.model_dump()], "
    "columns=list(data.FEATURES)) and returns {'probability': "
    "float(model.predict_proba(X)[0, 1])}. Return app."
)

# --------------------------------------------------------------------------- make_request_schema

_VALID_REQUEST = {"request_rate": 120.5, "error_pct": 2.0, "p99_latency_ms": 85.0,
                  "deploy_hour": 14, "is_weekend": 0}


def _range_ends():
    """Each feature's spec with the two ends of its range, in the feature's own type."""
    from mlops_companion import data

    for spec in data.FEATURE_SPECS.values():
        cast = int if spec.dtype == "int" else float
        yield spec, cast(spec.low), cast(spec.high)


def _schema_cases() -> list[Case]:
    def schema_of(func, given):
        schema = call(func)
        expect(isinstance(schema, type) and hasattr(schema, "model_validate"), given,
                "a pydantic BaseModel subclass (the class itself)", schema)
        return schema

    def accepts(payload, description):
        def check(func):
            given = f"make_request_schema().model_validate({payload})"
            schema = schema_of(func, given)
            try:
                parsed = schema.model_validate(payload)
            except ValueError as error:  # pydantic's ValidationError subclasses ValueError
                raise CaseFailed(given, f"accepted ({description})",
                                  f"rejected: {str(error).splitlines()[0]}") from None
            for key, value in payload.items():
                expect(getattr(parsed, key, None) == value, given,
                        f"the parsed object to have {key}={value!r}", getattr(parsed, key, None))
        return check

    def refuse(schema, change, description):
        payload = {k: v for k, v in {**_VALID_REQUEST, **change}.items() if v is not _MISSING}
        given = f"make_request_schema().model_validate({payload})"
        try:
            parsed = schema.model_validate(payload)
        except ValueError:  # pydantic's ValidationError subclasses ValueError
            return
        raise CaseFailed(given, f"a ValidationError ({description})", f"accepted: {parsed!r}")

    def rejects(change, description):
        def check(func):
            refuse(schema_of(func, "make_request_schema()"), change, description)
        return check

    def range_ends_accepted(func):
        schema = schema_of(func, "make_request_schema()")
        for spec, low, high in _range_ends():
            for value in (low, high):
                accepts({**_VALID_REQUEST, spec.name: value},
                        f"{spec.name}={value!r} is an end of its range [{spec.low:g}, {spec.high:g}]"
                        )(lambda: schema)

    def outside_range_rejected(func):
        schema = schema_of(func, "make_request_schema()")
        for spec, low, high in _range_ends():
            step = 1 if spec.dtype == "int" else 0.5
            for value in (low - step, high + step):
                refuse(schema, {spec.name: value},
                       f"{spec.name} must be within [{spec.low:g}, {spec.high:g}]")

    def not_a_number(func):
        schema = schema_of(func, "make_request_schema()")
        for name in ("request_rate", "error_pct", "p99_latency_ms"):
            for value in (float("nan"), float("inf")):
                refuse(schema, {name: value}, "NaN and infinity are not measurements")

    return [
        Case("a valid request is accepted", accepts(_VALID_REQUEST, "every field valid")),
        Case("an int for a float field is accepted",
              accepts({**_VALID_REQUEST, "request_rate": 120}, "JSON has one number type")),
        Case("a number sent as a string is rejected",
              rejects({"error_pct": "2.5"}, "strict types: no string-to-number coercion")),
        Case("an extra field is rejected",
              rejects({"priority": "high"}, "unknown fields are an error, not ignored")),
        Case("a missing field is rejected", rejects({"is_weekend": _MISSING}, "every field required")),
        Case("an out-of-range percentage is rejected",
              rejects({"error_pct": 150.0}, "error_pct must be within [0, 100]")),
        Case("an impossible hour is rejected",
              rejects({"deploy_hour": 24}, "deploy_hour must be within [0, 23]")),
        Case("a fractional hour is rejected",
              rejects({"deploy_hour": 13.5}, "deploy_hour is a whole number of hours")),
        Case("a negative rate is rejected",
              rejects({"request_rate": -5.0}, "request_rate must be at least 0")),
        Case("every field accepts both ends of its range", range_ends_accepted),
        Case("every field rejects values just outside its range", outside_range_rejected),
        Case("NaN and infinity are rejected", not_a_number),
    ]


_MISSING = object()


@exercise("make_request_schema", STEM, _HINT_MAKE_REQUEST_SCHEMA)
def check_make_request_schema(func: Callable[[], type], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``make_request_schema()``, which returns a pydantic model class.

    The class must accept a valid request for the scenario's five features (an int where a
    float is expected is fine), and reject with a ``ValidationError`` a number sent as a
    string, an extra field, a missing field, and values outside ``data.FEATURE_SPECS``' ranges.

    Examples
    --------
    Plain pydantic, lax by default, turns "2.5" into 2.5:

    >>> from pydantic import BaseModel
    >>> def lax():
    ...     class Request(BaseModel):
    ...         request_rate: float
    ...         error_pct: float
    ...         p99_latency_ms: float
    ...         deploy_hour: int
    ...         is_weekend: int
    ...     return Request
    >>> result = check_make_request_schema(lax)
    make_request_schema: FAILED on case 3 of ..., "a number sent as a string is rejected".
    ...
    """
    return run("make_request_schema", func, _schema_cases(), verbose=verbose)




# --------------------------------------------------------------------------- make_app

class _ProbeModel:
    """Predicts an incident probability of ``error_pct / 100`` and records what it was given."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict_proba(self, X):
        import numpy as np

        self.calls.append([str(c) for c in getattr(X, "columns", [])])
        p = np.asarray(X["error_pct"], dtype=float) / 100
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _app_cases() -> list[Case]:
    from mlops_companion import data

    def serve(func):
        from fastapi.testclient import TestClient

        model = _ProbeModel()
        app = call(func, model)
        expect(callable(app) and hasattr(app, "router"), "make_app(model)",
                "a FastAPI application", type(app).__name__)
        # Redirects are not followed: a route at "/predict/" answers "/predict" only through
        # a redirect, which many clients do not follow for a POST.
        return TestClient(app, raise_server_exceptions=False, follow_redirects=False), model

    def status(response):
        text = f"status {response.status_code}: {response.text[:120]}"
        if response.is_redirect:
            text += (f" (a redirect to {response.headers.get('location')!r}: the route must be "
                     "exactly the path asked for)")
        return text

    def health(func):
        client, _ = serve(func)
        with client:
            response = client.get("/healthz")
        expect(response.status_code == 200, "GET /healthz", "status 200", status(response))
        try:
            body = response.json()
        except ValueError:
            body = response.text[:120]
        expect(body == {"status": "ok"}, "GET /healthz", '{"status": "ok"}', body)

    def prediction(error_pct):
        def check(func):
            client, model = serve(func)
            payload = {**_VALID_REQUEST, "error_pct": error_pct}
            given = f"POST /predict with {payload}, a model predicting error_pct / 100"
            with client:
                response = client.post("/predict", json=payload)
            expect(response.status_code == 200, given, "status 200", status(response))
            body = response.json()
            got = body.get("probability") if isinstance(body, dict) else None
            expect(isinstance(got, (int, float)) and abs(got - error_pct / 100) < 1e-9, given,
                    f'{{"probability": {error_pct / 100}}} (the positive class of predict_proba)',
                    body)
            expect(model.calls == [list(data.FEATURES)], given,
                    f"one call of predict_proba on a DataFrame with columns {list(data.FEATURES)}",
                    f"calls with columns {model.calls}")
        return check

    def refused(func):
        client, model = serve(func)
        bad = [({"error_pct": "2.5"}, "a number as a string"), ({"priority": "high"}, "an extra field"),
               ({"deploy_hour": 24}, "an impossible hour"), ({"is_weekend": _MISSING}, "a missing field")]
        with client:
            for change, what in bad:
                payload = {k: v for k, v in {**_VALID_REQUEST, **change}.items() if v is not _MISSING}
                given = f"POST /predict with {what}: {payload}"
                response = client.post("/predict", json=payload)
                expect(response.status_code == 422, given, "status 422 (the schema refuses it)",
                        status(response))
        expect(model.calls == [], "the invalid requests above",
                "the model never to be called on an invalid request", f"{len(model.calls)} calls")

    def method(func):
        client, _ = serve(func)
        with client:
            response = client.get("/predict")
        expect(response.status_code == 405, "GET /predict", "status 405 (predictions are POSTed)",
                status(response))

    return [
        Case("the health check answers", health),
        Case("a valid request gets the model's probability", prediction(2.0)),
        Case("another request, another probability", prediction(40.0)),
        Case("the probability is not rounded", prediction(12.3456)),
        Case("invalid requests are refused before the model", refused),
        Case("predictions are POSTed", method),
    ]


@exercise("make_app", STEM, _HINT_MAKE_APP)
def check_make_app(func: Callable[..., object], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``make_app(model)``, which returns a FastAPI application.

    The application must answer ``GET /healthz`` with status 200 and ``{"status": "ok"}``,
    and ``POST /predict`` with one request of the exercise's schema: status 200 and
    ``{"probability": p}``, where ``p`` is ``model.predict_proba`` (positive class, not
    rounded) of a one-row DataFrame with the columns ``data.FEATURES``; an invalid request
    gets 422 without the model being called. The cases call the application in-process
    with FastAPI's test client and a probe model, without following redirects: the routes
    are ``/healthz`` and ``/predict`` exactly (a ``/predict/`` answers only via a redirect).

    Examples
    --------
    An app that trusts whatever JSON it is sent:

    >>> from fastapi import FastAPI
    >>> import pandas as pd
    >>> def trusting(model):
    ...     app = FastAPI()
    ...     @app.get("/healthz")
    ...     def healthz():
    ...         return {"status": "ok"}
    ...     @app.post("/predict")
    ...     def predict(request: dict):
    ...         return {"probability": float(model.predict_proba(pd.DataFrame([request]))[0, 1])}
    ...     return app
    >>> result = check_make_app(trusting)
    make_app: FAILED on case 5 of ..., "invalid requests are refused before the model".
    ...
    """
    return run("make_app", func, _app_cases(), verbose=verbose)
