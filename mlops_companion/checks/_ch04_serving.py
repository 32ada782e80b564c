"""Self-checks of chapter 04, serving a model over HTTP (exercise set ``04-serving``)."""
from __future__ import annotations

from collections.abc import Callable

from ._harness import (
    CheckResult,
    _Case,
    _CaseFailed,
    _call,
    _exercise,
    _expect,
    _run,
)

__all__ = ["check_make_request_schema"]

STEM = "04-serving"

_HINT_MAKE_REQUEST_SCHEMA = (
    "Inside the function, define a pydantic BaseModel with model_config = "
    "ConfigDict(strict=True, extra='forbid', allow_inf_nan=False), one field per feature "
    "with Field(ge=spec.low, le=spec.high) from data.FEATURE_SPECS (float or int, as its "
    "dtype says), and return the class itself."
)

# --------------------------------------------------------------------------- make_request_schema

_VALID_REQUEST = {"request_rate": 120.5, "error_pct": 2.0, "p99_latency_ms": 85.0,
                  "deploy_hour": 14, "is_weekend": 0}


def _schema_cases() -> list[_Case]:
    def schema_of(func, given):
        schema = _call(func)
        _expect(isinstance(schema, type) and hasattr(schema, "model_validate"), given,
                "a pydantic BaseModel subclass (the class itself)", schema)
        return schema

    def accepts(payload, description):
        def run(func):
            given = f"make_request_schema().model_validate({payload})"
            schema = schema_of(func, given)
            try:
                parsed = schema.model_validate(payload)
            except ValueError as error:  # pydantic's ValidationError subclasses ValueError
                raise _CaseFailed(given, f"accepted ({description})",
                                  f"rejected: {str(error).splitlines()[0]}") from None
            for key, value in payload.items():
                _expect(getattr(parsed, key, None) == value, given,
                        f"the parsed object to have {key}={value!r}", getattr(parsed, key, None))
        return run

    def refuse(schema, change, description):
        payload = {k: v for k, v in {**_VALID_REQUEST, **change}.items() if v is not _MISSING}
        given = f"make_request_schema().model_validate({payload})"
        try:
            parsed = schema.model_validate(payload)
        except ValueError:  # pydantic's ValidationError subclasses ValueError
            return
        raise _CaseFailed(given, f"a ValidationError ({description})", f"accepted: {parsed!r}")

    def rejects(change, description):
        def run(func):
            refuse(schema_of(func, "make_request_schema()"), change, description)
        return run

    def _ends():
        from mlops_companion import data

        for spec in data.FEATURE_SPECS.values():
            cast = int if spec.dtype == "int" else float
            yield spec, cast(spec.low), cast(spec.high)

    def range_ends_accepted(func):
        schema = schema_of(func, "make_request_schema()")
        for spec, low, high in _ends():
            for value in (low, high):
                accepts({**_VALID_REQUEST, spec.name: value},
                        f"{spec.name}={value!r} is an end of its range [{spec.low:g}, {spec.high:g}]"
                        )(lambda: schema)

    def outside_range_rejected(func):
        schema = schema_of(func, "make_request_schema()")
        for spec, low, high in _ends():
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
        _Case("a valid request is accepted", accepts(_VALID_REQUEST, "every field valid")),
        _Case("an int for a float field is accepted",
              accepts({**_VALID_REQUEST, "request_rate": 120}, "JSON has one number type")),
        _Case("a number sent as a string is rejected",
              rejects({"error_pct": "2.5"}, "strict types: no string-to-number coercion")),
        _Case("an extra field is rejected",
              rejects({"priority": "high"}, "unknown fields are an error, not ignored")),
        _Case("a missing field is rejected", rejects({"is_weekend": _MISSING}, "every field required")),
        _Case("an out-of-range percentage is rejected",
              rejects({"error_pct": 150.0}, "error_pct must be within [0, 100]")),
        _Case("an impossible hour is rejected",
              rejects({"deploy_hour": 24}, "deploy_hour must be within [0, 23]")),
        _Case("a fractional hour is rejected",
              rejects({"deploy_hour": 13.5}, "deploy_hour is a whole number of hours")),
        _Case("a negative rate is rejected",
              rejects({"request_rate": -5.0}, "request_rate must be at least 0")),
        _Case("every field accepts both ends of its range", range_ends_accepted),
        _Case("every field rejects values just outside its range", outside_range_rejected),
        _Case("NaN and infinity are rejected", not_a_number),
    ]


_MISSING = object()


@_exercise("make_request_schema", STEM, _HINT_MAKE_REQUEST_SCHEMA)
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
    return _run("make_request_schema", func, _schema_cases(), verbose=verbose)


