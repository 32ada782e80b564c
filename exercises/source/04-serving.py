# %% [markdown]
# # Exercises: serving a model over HTTP
#
# The first line of defence of a model server is its request schema; then comes the small
# FastAPI app around it, as the chapter writes it. Run the set-up cell first.

# %%
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_companion import checks, data

for spec in data.FEATURE_SPECS.values():
    print(f"{spec.name:<15} {spec.dtype:<6} [{spec.low:g}, {spec.high:g}]")

# %% [markdown] exercise="request-schema"
# ## A request schema that says no
#
# Write `make_request_schema()` returning a pydantic model class for one prediction
# request: the five features with the types and ranges of `data.FEATURE_SPECS`, all
# required, as the chapter's app does (`extra="forbid"`, ranges, `allow_inf_nan=False`), in
# strict mode. It must reject a number sent as a string (`"2.5"`), any extra field, NaN
# or infinity, and every value outside its field's range (both ends of a range are valid),
# while accepting an integer where a float is expected. Show the errors it reports for a
# bad request.

# %%
def make_request_schema():
    """A pydantic model class validating one prediction request."""
    # BEGIN SOLUTION
    class IncidentRequest(BaseModel):
        model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

        request_rate: float = Field(ge=0, le=100_000)
        error_pct: float = Field(ge=0, le=100)
        p99_latency_ms: float = Field(ge=0, le=600_000)
        deploy_hour: int = Field(ge=0, le=23)
        is_weekend: int = Field(ge=0, le=1)

    return IncidentRequest
    # END SOLUTION


# %%
checks.check_make_request_schema(make_request_schema)

# %%
# BEGIN SOLUTION
IncidentRequest = make_request_schema()
bad = {"request_rate": 120, "error_pct": "2.5", "p99_latency_ms": 85.0,
       "deploy_hour": 24, "is_weekend": 0, "priority": "high"}
try:
    IncidentRequest.model_validate(bad)
except ValidationError as error:
    for problem in error.errors():
        print(f"{'.'.join(map(str, problem['loc'])):<12} {problem['type']}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# Pydantic's default (lax) mode would have turned `"2.5"` into 2.5 and silently dropped
# `priority`. Both hide a client bug that will bite later: strict mode and
# `extra="forbid"` turn them into a 422 response the client sees at once. All problems
# are reported together, which saves the client a round trip per mistake.

# %% [markdown] exercise="minimal-app"
# ## The chapter's app, with the model passed in
#
# Write `make_app(model)` returning a FastAPI application like the chapter's minimal one,
# but taking the fitted model as an argument instead of loading it in a lifespan (so that a
# test can hand it a fake). `GET /healthz` answers `{"status": "ok"}`; `POST /predict`
# takes one request validated by your `make_request_schema()` and answers
# `{"probability": p}`, where `p` is `model.predict_proba` of the positive class for a
# one-row DataFrame with the columns `data.FEATURES`, in that order. An invalid request
# must get a 422 without the model being called. Try it on the book's pipeline with
# FastAPI's `TestClient`, which calls the app in-process, without a server.

# %%
def make_app(model):
    """A FastAPI app serving `model`: GET /healthz and POST /predict."""
    # BEGIN SOLUTION
    IncidentRequest = make_request_schema()
    app = FastAPI(title="incident-predictor")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/predict")
    def predict(request: IncidentRequest):
        X = pd.DataFrame([request.model_dump()], columns=list(data.FEATURES))
        return {"probability": float(model.predict_proba(X)[0, 1])}

    return app
    # END SOLUTION


# %%
checks.check_make_app(make_app)

# %%
# BEGIN SOLUTION
from fastapi.testclient import TestClient

pipeline = data.make_scenario().pipeline
with TestClient(make_app(pipeline)) as client:
    print(client.get("/healthz").json())
    good = client.post("/predict", json={"request_rate": 120.5, "error_pct": 2.0,
                                         "p99_latency_ms": 85.0, "deploy_hour": 14,
                                         "is_weekend": 0})
    print(good.status_code, round(good.json()["probability"], 3))
    bad = client.post("/predict", json={"request_rate": 120.5, "error_pct": "2.0"})
    print(bad.status_code, [e["loc"][-1] for e in bad.json()["detail"]])
# END SOLUTION

# %% [markdown] tags=["solution"]
# Passing the model in is what makes the app testable: the self-check gave it a probe
# model whose answer it knew, and checked that invalid requests never reached it. The
# chapter's lifespan version is the same app with the loading moved to start-up, which is
# what a server process needs; a small factory such as `make_app(load_model(uri))` gives
# both.
