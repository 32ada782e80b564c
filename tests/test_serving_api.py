"""The server against its own published contract: the OpenAPI document, property-based
requests generated from it (schemathesis, over HTTP to the real server on 127.0.0.1), the
Prometheus series alert rules are written against, and the prediction log."""
from __future__ import annotations

import os
import threading
import time
import warnings

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from mlops_companion import data
from mlops_reference import artefacts, serving

GOOD = {"request_rate": 120.0, "error_pct": 4.0, "p99_latency_ms": 90.0, "deploy_hour": 14, "is_weekend": 0}
pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    s = data.make_scenario(400, rng=11)
    folder = tmp_path_factory.mktemp("serving-api")
    manifest = artefacts.save_artefact(s.pipeline, folder / "m.joblib", example_input=s.X_test.head(3))
    return folder / "m.joblib", manifest.sha256


@pytest.fixture(scope="module")
def live(saved):
    path, sha = saved
    app = serving.create_app(artefact=path, expected_sha256=sha, version="v3", max_batch=4)
    with serving.run_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def document(live):
    return httpx.get(live + "/openapi.json", timeout=10).json()


# ----------------------------------------------------------------------------- the document
def _refs(node, found=None):
    found = [] if found is None else found
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.append(node["$ref"])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def _resolve(document, ref):
    assert ref.startswith("#/"), f"only local references are expected; got {ref}"
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_in_the_document_resolves(document):
    refs = _refs(document)
    assert "#/components/schemas/Observation" in refs and "#/components/schemas/Batch" in refs
    for ref in refs:
        assert isinstance(_resolve(document, ref), dict), ref
    assert not any("$defs" in ref for ref in refs)


def test_every_schema_in_the_document_is_valid_json_schema(document):
    assert document["openapi"].startswith("3.1")
    for name, schema in document["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator.check_schema(body)


def test_document_lists_the_refusals_and_the_metrics_content_type(document):
    predict = document["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "415", "422"} <= set(predict["responses"])
    for code, response in predict["responses"].items():
        assert response["description"] and "X-Request-ID" in response["headers"], code
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain; version=0.0.4; charset=utf-8"]
    assert set(document["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}


def test_document_says_integer_and_number_as_the_server_accepts(document, live):
    # What the document calls an integer, the server accepts in every JSON spelling of an
    # integer (14, 14.0, 1.4e1), and refuses with a fraction; numbers accept integers.
    props = document["components"]["schemas"]["Observation"]["properties"]
    with httpx.Client(base_url=live, timeout=10) as c:
        for name, spec in data.FEATURE_SPECS.items():
            assert props[name]["type"] == ("integer" if spec.dtype == "int" else "number"), name
            assert (props[name]["minimum"], props[name]["maximum"]) == (spec.low, spec.high)
            whole = int(spec.low) + 1
            for spelling in (f"{whole}", f"{whole}.0", f"{whole / 10}e1"):
                body = dict(GOOD)
                body[name] = "__VALUE__"
                text = httpx.Request("POST", "/", json=body).content.decode().replace('"__VALUE__"', spelling)
                r = c.post("/predict", content=text, headers={"content-type": "application/json"})
                assert r.status_code == 200, (name, spelling, r.text)
            if spec.dtype == "int":
                body = {**GOOD, name: int(spec.low) + 0.5}
                assert c.post("/predict", json=body).status_code == 422, name


def test_a_valid_answer_matches_the_documented_schema(document, live):
    schema = {**_resolve(document, "#/components/schemas/PredictionBody"),
              "components": document["components"]}
    with httpx.Client(base_url=live, timeout=10) as c:
        single = c.post("/predict", json=GOOD).json()
        batch = c.post("/predict", json={"instances": [GOOD, GOOD]}).json()
        error = c.post("/predict", json={**GOOD, "error_pct": -1.0}).json()
    jsonschema.validate(single, schema)
    jsonschema.validate(batch, schema)
    jsonschema.validate(error, {**_resolve(document, "#/components/schemas/ErrorBody"),
                                "components": document["components"]})


# ----------------------------------------------------------------------------- property-based
_CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.positive_data_acceptance,   # what the document allows is accepted (2xx)
    schemathesis.checks.negative_data_rejection,    # what it forbids is refused (4xx)
]


@pytest.mark.slow
@pytest.mark.parametrize(("operation", "mode", "n_cases"), [
    ("POST /predict", "positive", 150),
    ("POST /predict", "negative", 150),
    ("GET /healthz", "positive", 1),
    ("GET /readyz", "positive", 1),
    ("GET /metrics", "positive", 1),
])
def test_generated_requests_get_no_5xx_and_conform_to_the_document(document, live, operation, mode, n_cases):
    # Property-based: schemathesis draws requests from the served document itself (valid
    # ones, and ones that break it), sends each to the real server and checks the answer
    # against the document. Bounded: a fixed number of cases, one loopback request each.
    from hypothesis import given

    api = schemathesis.openapi.from_dict(document)
    op = api.find_operation_by_label(operation)
    seen: dict[int, int] = {}

    @given(case=op.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
    @settings(max_examples=n_cases, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case):
        response = case.call_and_validate(base_url=live, checks=_CHECKS, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    call()
    assert sum(seen.values()) >= min(n_cases, 20)
    if mode == "positive":
        assert set(seen) <= {200}, seen
    else:
        assert set(seen) <= {400, 413, 415, 422}, seen


# ----------------------------------------------------------------------------- metrics contract
def test_metrics_are_the_series_alert_rules_use(saved):
    path, sha = saved
    app = serving.create_app(artefact=path, expected_sha256=sha, version="incident-predictor/4")
    with TestClient(app) as c:
        probs = [c.post("/predict", json={**GOOD, "error_pct": e}).json()["incident_probability"]
                 for e in (0.5, 2.0, 6.0)]
        c.post("/predict", json={**GOOD, "error_pct": "x"})
        r = c.get("/metrics")
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(r.text) for s in family.samples}
    v = (("model_version", "incident-predictor/4"),)
    assert samples[("http_requests_total", (("path", "/predict"), ("status", "200")))] == 3
    assert samples[("http_requests_total", (("path", "/predict"), ("status", "422")))] == 1
    assert samples[("http_request_duration_seconds_count", (("path", "/predict"),))] == 4
    assert samples[("predicted_probability_count", v)] == 3
    assert samples[("predicted_probability_sum", v)] == pytest.approx(sum(probs))
    assert samples[("predicted_probability_squares_total", v)] == pytest.approx(sum(p * p for p in probs))
    assert samples[("prediction_errors_total", v)] == 0


def test_a_failing_model_is_counted_and_answered_with_json(saved):
    class Broken:
        def predict_proba(self, X):
            raise ValueError("Input X contains NaN.")

    path, sha = saved
    app = serving.create_app(artefact=path, expected_sha256=sha, version="v9")
    with TestClient(app) as c:
        app.state.serving.model.model = Broken()
        r = c.post("/predict", json=GOOD)
        text = c.get("/metrics").text
    assert r.status_code == 500 and r.json()["error"] == "prediction_failed"
    assert 'prediction_errors_total{model_version="v9"} 1.0' in text


# ----------------------------------------------------------------------------- prediction log
class _MemoryLog:
    def __init__(self) -> None:
        self.records: list[dict] = []
        self.lock = threading.Lock()

    def write(self, record: dict) -> None:
        with self.lock:
            self.records.append(record)


class _BrokenLog:
    def __init__(self) -> None:
        self.calls = 0

    def write(self, record: dict) -> None:
        self.calls += 1
        raise OSError("disk full")


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the prediction log was not written in time"
        time.sleep(0.01)


def test_prediction_log_records_each_answer(saved):
    path, sha = saved
    log = _MemoryLog()
    app = serving.create_app(artefact=path, expected_sha256=sha, version="v5", prediction_log=log)
    with serving.run_server(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        one = c.post("/predict", json=GOOD)
        two = c.post("/predict", json={"instances": [GOOD, {**GOOD, "deploy_hour": 3}]})
        refused = c.post("/predict", json={**GOOD, "error_pct": 400.0})
        _wait_for(lambda: len(log.records) >= 2)
    assert refused.status_code == 422
    assert len(log.records) == 2                         # refusals are not predictions
    # Each record is written after its answer has gone, by a background task: two requests'
    # records may land in either order (seen on a busy machine), so they are matched by id.
    by_id = {record["request_id"]: record for record in log.records}
    assert one.headers["x-request-id"] == one.json()["request_id"] != two.headers["x-request-id"]
    assert set(by_id) == {one.headers["x-request-id"], two.headers["x-request-id"]}
    first, second = by_id[one.headers["x-request-id"]], by_id[two.headers["x-request-id"]]
    assert set(first) == {"request_id", "time", "model_version", "artefact_sha256", "inputs", "outputs"}
    assert first["model_version"] == "v5" and first["artefact_sha256"] == sha
    assert first["inputs"] == [GOOD] and first["outputs"] == [one.json()["incident_probability"]]
    assert second["inputs"][1]["deploy_hour"] == 3 and second["outputs"] == two.json()["incident_probability"]
    assert abs(first["time"] - time.time()) < 600


def test_a_failing_prediction_log_never_breaks_a_request(saved):
    path, sha = saved
    log = _BrokenLog()
    app = serving.create_app(artefact=path, expected_sha256=sha, prediction_log=log)
    with serving.run_server(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        answers = [c.post("/predict", json=GOOD) for _ in range(3)]
        _wait_for(lambda: log.calls >= 3)
        metrics = c.get("/metrics").text
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert "prediction_log_errors_total 3.0" in metrics
    assert 'status="500"' not in metrics


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_records_a_full_disk_refuses_are_counted_on_metrics(saved):
    # /dev/full refuses every write with ENOSPC: a disk that is full from the start.
    from mlops_companion import predlog

    path, sha = saved
    log = predlog.PredictionLog("/dev/full", flush_interval=0.05)
    app = serving.create_app(artefact=path, expected_sha256=sha, prediction_log=log)
    try:
        with serving.run_server(app) as url, httpx.Client(base_url=url, timeout=10) as c:
            answers = [c.post("/predict", json=GOOD) for _ in range(3)]
            _wait_for(lambda: log.n_failed >= 3)
            metrics = c.get("/metrics").text
    finally:
        log.close()
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert (log.n_written, log.n_failed) == (0, 3)
    assert "prediction_log_errors_total 3.0" in metrics
