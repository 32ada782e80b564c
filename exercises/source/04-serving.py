# %% [markdown]
# # Exercises: serving a model over HTTP
#
# The first line of defence of a model server is its request schema. Run the set-up
# cell first.

# %%
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
