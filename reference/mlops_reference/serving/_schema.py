"""What ``POST /predict`` accepts and answers, and how a raw body becomes a payload.

The input schema is generated from :data:`mlops_reference.features.FEATURE_SPECS`, so the
feature list, the types and the ranges have one home. The reader of the request body
(:func:`read_payload`) refuses, before anything reaches pydantic: a content type other than
JSON (415), a body over the limit (413), an empty body, nesting deeper than
:data:`MAX_JSON_DEPTH` (counted on the raw bytes, so Python's recursive parser never sees
it), duplicate keys and invalid JSON (400). Each refusal is a :class:`RequestRefused`
carrying the status and a message that says what to send instead.
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from mlops_reference import features
from mlops_reference._utils import check_positive_int

#: Deepest nesting of ``[`` and ``{`` a request body may have. A batch request is three
#: levels deep (``{"instances": [{...}]}``); anything far deeper is an attack on the parser.
MAX_JSON_DEPTH = 8

_JSON_MEDIA_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
# A JSON string (skipped whole, so brackets inside strings do not count) or one bracket.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


# ----------------------------------------------------------------------------- input schema
def _whole_number(value: Any) -> Any:
    # JSON has one number type: in JSON Schema, 14.0 is an integer. Accept it as 14, and
    # still refuse 14.5, "14" and true (the field stays strict for everything else).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _field(spec: features.FeatureSpec) -> tuple[Any, Any]:
    if spec.dtype == "int":
        typ = Annotated[int, Field(ge=int(spec.low), le=int(spec.high), description=spec.description),
                        BeforeValidator(_whole_number)]
    else:
        typ = Annotated[float, Field(ge=spec.low, le=spec.high, allow_inf_nan=False,
                                     description=spec.description)]
    return typ, ...


#: One observation: every feature of :data:`~mlops_reference.features.FEATURE_SPECS`, strictly
#: typed and range-checked, nothing else.
Observation = create_model(
    "Observation",
    __config__=ConfigDict(strict=True, extra="forbid"),
    **{name: _field(spec) for name, spec in features.FEATURE_SPECS.items()},
)
Observation.__doc__ = "One observation of the incident scenario, as the server accepts it."


def make_batch_model(max_batch: int) -> type[BaseModel]:
    """The schema of ``{"instances": [...]}`` holding 1 to ``max_batch`` observations.

    Parameters
    ----------
    max_batch : int
        Most observations one request may carry.

    Returns
    -------
    type[pydantic.BaseModel]

    Examples
    --------
    Is a batch of three refused when the limit is two?

    >>> from pydantic import ValidationError
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
    max_batch = check_positive_int(max_batch, "max_batch")
    return create_model(
        "Batch",
        __config__=ConfigDict(strict=True, extra="forbid"),
        instances=(Annotated[list[Observation], Field(min_length=1, max_length=max_batch)], ...),
    )


# ----------------------------------------------------------------------------- answers (documented)
class ErrorItem(BaseModel):
    """One problem with a request, naming the field."""

    field: str
    loc: list[str | int]
    type: str
    msg: str
    input: str | None = None


class ErrorBody(BaseModel):
    """Every 4xx answer of ``/predict``: a code, a sentence, and per-field detail for 422."""

    error: str
    message: str
    detail: list[ErrorItem] | None = None


class PredictionBody(BaseModel):
    """The answer to a prediction request (a list of probabilities for a batch)."""

    model_version: str
    model_sha256: str
    request_id: str
    incident_probability: (Annotated[float, Field(ge=0.0, le=1.0)]
                           | list[Annotated[float, Field(ge=0.0, le=1.0)]])


# ----------------------------------------------------------------------------- reading a body
class RequestRefused(Exception):
    """A request refused before validation: HTTP ``status``, an error code and a message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _nesting_exceeds(body: bytes, limit: int) -> bool:
    """Does ``body`` nest brackets deeper than ``limit``? (strings are skipped, nothing is parsed)"""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(body):
        first = match.group()[0]
        if first in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif first in b"]}":
            depth -= 1
    return False


def check_content_type(value: str | None) -> None:
    """Refuse (415) a body that is not declared as JSON."""
    media = (value or "").split(";", 1)[0].strip().lower()
    if not _JSON_MEDIA_TYPE.match(media):
        raise RequestRefused(
            415, "unsupported_media_type",
            f"the request body must be sent with Content-Type: application/json; got {value!r}.")


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``, or :class:`RequestRefused` (400) saying what is wrong."""
    if not body.strip():
        raise RequestRefused(400, "empty_body", "the request body must be a JSON object; got an empty body.")
    if _nesting_exceeds(body, MAX_JSON_DEPTH):
        raise RequestRefused(400, "too_deeply_nested",
                             f"the request body must nest at most {MAX_JSON_DEPTH} levels of arrays "
                             f"and objects; got deeper nesting. Send one flat object per observation.")
    try:
        return json.loads(body, object_pairs_hook=_object_without_duplicates)
    except _DuplicateKey as exc:
        raise RequestRefused(400, "duplicate_key",
                             f"each key must appear once per JSON object; got {exc.args[0]!r} twice.") from None
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise RequestRefused(400, "malformed_json", f"the request body must be valid JSON; got {exc}.") from None


async def read_limited(request: Any, limit: int) -> bytes:
    """The request body, or :class:`RequestRefused` (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestRefused(413, "payload_too_large",
                             f"the request body must be at most {limit} bytes; got {int(declared)}.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRefused(413, "payload_too_large",
                                 f"the request body must be at most {limit} bytes; got more than {limit}.")
        chunks.append(chunk)
    return b"".join(chunks)


def describe_errors(errors: list[dict]) -> list[dict]:
    """Pydantic errors as JSON-safe dicts, each naming the offending field."""
    out = []
    for err in errors:
        loc = [p if isinstance(p, (int, str)) else str(p) for p in err.get("loc", ())]
        names = [p for p in loc if isinstance(p, str)]
        item = {"field": names[-1] if names else "body", "loc": loc, "type": str(err.get("type")),
                "msg": str(err.get("msg"))}
        if "input" in err and err.get("type") != "missing":
            text = repr(err["input"])
            item["input"] = text if len(text) <= 80 else text[:77] + "..."
        out.append(item)
    return out


# ----------------------------------------------------------------------------- OpenAPI
_METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _component(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi_document(batch_model: type[BaseModel], base: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's generated document, completed with what the hand-read endpoints accept and answer.

    ``/predict`` reads its body itself (to limit size and depth before parsing), so FastAPI
    cannot infer its schema: the request body (one observation or a batch), every answer
    (200, 400, 413, 415, 422), the ``X-Model-Version`` and ``X-Request-ID`` headers and the
    content type of ``/metrics`` are written in here, with all references under
    ``#/components/schemas``.
    """
    components = base.setdefault("components", {}).setdefault("schemas", {})
    observation = _component(Observation, components)
    batch = _component(batch_model, components)
    error = _component(ErrorBody, components)
    prediction = _component(PredictionBody, components)
    request_id = {"X-Request-ID": {"description": "Unique id of this request (also in the prediction log).",
                                   "schema": {"type": "string"}, "required": True}}

    def json_answer(description: str, ref: dict, headers: dict | None = None) -> dict:
        out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": ref}}}
        if headers:
            out["headers"] = headers
        return out

    predict = base["paths"]["/predict"]["post"]
    predict["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": {"oneOf": [observation, batch]}}}}
    predict["responses"] = {
        "200": json_answer("The predicted incident probability (a list for a batch).", prediction,
                           {**request_id, "X-Model-Version": {"description": "Version of the model that answered.",
                                                              "schema": {"type": "string"}, "required": True}}),
        "400": json_answer("Empty, malformed, too deeply nested JSON, or a duplicate key.", error, request_id),
        "413": json_answer("Body larger than the server's limit.", error, request_id),
        "415": json_answer("Body not sent as application/json.", error, request_id),
        "422": json_answer("Valid JSON that does not match the schema; `detail` names each field.", error,
                           request_id),
    }
    base["paths"]["/metrics"]["get"]["responses"] = {"200": {
        "description": "Prometheus text exposition format.",
        "content": {_METRICS_MEDIA_TYPE: {"schema": {"type": "string"}}}}}
    ready = {"type": "object", "required": ["ready", "models"],
             "properties": {"ready": {"type": "boolean"}, "models": {"type": "object"}, "pid": {"type": "integer"}}}
    base["paths"]["/readyz"]["get"]["responses"] = {
        "200": {"description": "Every model replays its stored example.",
                "content": {"application/json": {"schema": ready}}},
        "503": {"description": "A model is not loaded or does not replay its example.",
                "content": {"application/json": {"schema": ready}}}}
    base["paths"]["/healthz"]["get"]["responses"] = {"200": {
        "description": "The process answers.", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"status": {"const": "alive"}}, "required": ["status"]}}}}}
    return base
