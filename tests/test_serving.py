"""Tests of mlops_reference.serving: the schema, every kind of bad input (TestClient and the
real server on 127.0.0.1), health/readiness, metrics, a bounded load run, tampered artefacts,
and the container's entry point serving in the foreground."""
from __future__ import annotations

import json
import math
import threading
import time

import warnings

import httpx
import numpy as np
import pytest

with warnings.catch_warnings():
    # Starlette now prefers the `httpx2` fork for its test client and says so on import;
    # the client works the same with httpx, which the book already depends on.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from mlops_companion import data
from mlops_reference import artefacts, serving
from mlops_reference.serving import _run, _schema

GOOD = {"request_rate": 120.0, "error_pct": 4.0, "p99_latency_ms": 90.0, "deploy_hour": 14, "is_weekend": 0}


@pytest.fixture(scope="module")
def scenario():
    return data.make_scenario(400, rng=11)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, scenario):
    """Current and candidate artefacts: (path, sha256) each."""
    folder = tmp_path_factory.mktemp("serving")
    s = scenario
    cur = artefacts.save_artefact(s.pipeline, folder / "current.joblib", example_input=s.X_test.head(3))
    other = data.fit_pipeline(s.X_train, s.y_train, random_state=3)
    cand = artefacts.save_artefact(other, folder / "candidate.joblib", example_input=s.X_test.head(3))
    return (folder / "current.joblib", cur.sha256), (folder / "candidate.joblib", cand.sha256)


@pytest.fixture(scope="module")
def client(saved):
    (path, sha), _ = saved
    with TestClient(serving.create_app(artefact=path, expected_sha256=sha, version="v7", max_batch=4)) as c:
        yield c


def _bad_cases():
    """(name, raw body bytes, expected status, text the error must contain)."""
    def body(**changes):
        d = {**GOOD, **changes}
        return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()

    return [
        ("missing field", body(is_weekend=...), 422, "is_weekend"),
        ("wrong type", body(deploy_hour=[1]), 422, "deploy_hour"),
        ("fraction for an int", body(deploy_hour=14.5), 422, "deploy_hour"),
        ("boolean for an int", body(is_weekend=True), 422, "is_weekend"),
        ("number as string", body(error_pct="4.0"), 422, "error_pct"),
        ("NaN", body(error_pct=float("nan")), 422, "error_pct"),
        ("Infinity", body(p99_latency_ms=float("inf")), 422, "p99_latency_ms"),
        ("-Infinity", body(request_rate=-math.inf), 422, "request_rate"),
        ("out of range high", body(error_pct=100.5), 422, "error_pct"),
        ("out of range low", body(request_rate=-1.0), 422, "request_rate"),
        ("hour 24", body(deploy_hour=24), 422, "deploy_hour"),
        ("extra field", body(region="eu"), 422, "region"),
        ("empty body", b"", 400, "empty"),
        ("whitespace body", b"   ", 400, "empty"),
        ("malformed JSON", b'{"request_rate": 1,', 400, "valid JSON"),
        ("not UTF-8", b"\xff\xfe{", 400, "valid JSON"),
        ("JSON list", b"[1, 2]", 422, "JSON object"),
        ("JSON null", b"null", 422, "JSON object"),
        ("1 MB body", b'{"pad": "' + b"x" * (1 << 20) + b'"}', 413, "at most"),
        ("oversized batch", json.dumps({"instances": [GOOD] * 5}).encode(), 422, "instances"),
        ("empty batch", json.dumps({"instances": []}).encode(), 422, "instances"),
        ("bad row in batch", json.dumps({"instances": [GOOD, {**GOOD, "error_pct": -3.0}]}).encode(), 422,
         "error_pct"),
        ("batch with extra key", json.dumps({"instances": [GOOD], "x": 1}).encode(), 422, "x"),
        ("1e400 overflows to infinity", body().replace(b"120.0", b"1e400"), 422, "request_rate"),
        ("integer too large for a float", body().replace(b"120.0", b"1" + b"0" * 400), 422, "request_rate"),
        ("integer with 5,000 digits", body().replace(b"120.0", b"1" + b"0" * 5000), 400, "valid JSON"),
        ("deep nesting, 1,000 levels", b"[" * 1000 + b"]" * 1000, 400, "nest at most"),
        ("deep nesting inside a field", body().replace(b"120.0", b"[" * 1000 + b"]" * 1000), 400, "nest at most"),
        ("deep objects", b'{"a":' * 500 + b"1" + b"}" * 500, 400, "nest at most"),
        ("duplicate key", b'{"request_rate": 1.0, "request_rate": 2.0, "error_pct": 1.0}', 400, "once"),
        ("duplicate key in a batch row",
         b'{"instances": [{"deploy_hour": 1, "deploy_hour": 2}]}', 400, "deploy_hour"),
        ("lone surrogate key", body().replace(b'"is_weekend"', b'"\\udc80"'), 422, "unicode"),
        ("unicode junk field", json.dumps({**GOOD, "\u202e\u0000\U0001F4A5": "\ufeff"}).encode(), 422,
         "validation_error"),
        ("huge batch", json.dumps({"instances": [GOOD] * 300}).encode(), 422, "instances"),
        ("brackets inside a string do not count", json.dumps({**GOOD, "note": "[" * 100}).encode(), 422,
         "note"),
    ]


BAD = _bad_cases()


def test_public_surface():
    assert set(serving.__all__) == {"create_app", "run_server"}


def test_schema_follows_feature_specs():
    schema = _schema.Observation.model_json_schema()
    assert list(schema["properties"]) == list(data.FEATURES)
    assert schema["additionalProperties"] is False
    for name, spec in data.FEATURE_SPECS.items():
        prop = schema["properties"][name]
        assert prop["type"] == ("integer" if spec.dtype == "int" else "number")
        assert (prop["minimum"], prop["maximum"]) == (spec.low, spec.high)


def test_predict_one_and_a_batch(client, scenario):
    r = client.post("/predict", json=GOOD)
    assert r.status_code == 200
    out = r.json()
    assert out["model_version"] == "v7" and r.headers["x-model-version"] == "v7"
    assert len(out["model_sha256"]) == 64
    expected = scenario.pipeline.predict_proba(
        __import__("pandas").DataFrame([GOOD], columns=list(data.FEATURES)))[0, 1]
    assert out["incident_probability"] == pytest.approx(expected, abs=1e-12)
    r = client.post("/predict", json={"instances": [GOOD, {**GOOD, "error_pct": 0.0}]})
    probs = r.json()["incident_probability"]
    assert r.status_code == 200 and len(probs) == 2 and probs[0] > probs[1]


@pytest.mark.parametrize(("name", "raw", "status", "needle"), BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_a_4xx_json_error_naming_the_problem(client, name, raw, status, needle):
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] and body["message"] and needle in json.dumps(body)
    if status == 422 and needle in (*data.FEATURES, "instances", "region", "x", "note"):
        assert needle in [d["field"] for d in body["detail"]]
    assert len(r.headers["x-request-id"]) == 32


NOT_JSON = [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
            "application/jsonx", "text/json"]


@pytest.mark.parametrize("content_type", NOT_JSON, ids=[str(c) for c in NOT_JSON])
def test_a_body_not_sent_as_json_gets_415(client, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    r = client.post("/predict", content=json.dumps(GOOD).encode(), headers=headers)
    assert r.status_code == 415, r.text
    assert "application/json" in r.json()["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/merge-patch+json"])
def test_json_content_types_are_accepted(client, content_type):
    r = client.post("/predict", content=json.dumps(GOOD).encode(), headers={"content-type": content_type})
    assert r.status_code == 200, r.text


def test_a_whole_number_written_as_a_float_is_an_integer(client):
    # JSON Schema, which the OpenAPI document speaks, counts 14.0 as an integer.
    a = client.post("/predict", json={**GOOD, "deploy_hour": 14.0}).json()["incident_probability"]
    b = client.post("/predict", json=GOOD).json()["incident_probability"]
    assert a == b


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"]["current"]["model_version"] == "v7"
    assert client.get("/rollout").status_code == 404  # no rollout modes: the cluster runs canaries
    client.post("/predict", json=GOOD)
    client.post("/predict", json={**GOOD, "error_pct": 101.0})
    text = client.get("/metrics").text
    assert 'http_requests_total{path="/predict",status="200"}' in text
    assert 'http_requests_total{path="/predict",status="422"}' in text
    assert "http_request_duration_seconds_bucket" in text
    assert 'predicted_probability_count{model_version="v7"}' in text
    assert 'predicted_probability_squares_total{model_version="v7"}' in text
    assert 'prediction_errors_total{model_version="v7"} 0.0' in text


def test_two_apps_in_one_process_keep_separate_metrics(saved):
    (path, sha), _ = saved
    a = serving.create_app(artefact=path, expected_sha256=sha)
    b = serving.create_app(artefact=path, expected_sha256=sha)
    with TestClient(a) as ca, TestClient(b) as cb:
        for _ in range(3):
            ca.post("/predict", json=GOOD)
        assert 'status="200"} 3.0' in ca.get("/metrics").text
        assert 'path="/predict"' not in cb.get("/metrics").text


def test_model_loads_at_startup_not_at_creation(saved, monkeypatch):
    (path, sha), _ = saved
    calls = []
    real = artefacts.load_artefact
    monkeypatch.setattr(artefacts, "load_artefact", lambda *a, **k: calls.append(1) or real(*a, **k))
    app = serving.create_app(artefact=path, expected_sha256=sha)
    assert calls == []
    with TestClient(app):
        assert calls == [1]


def test_tampered_artefact_is_refused_at_startup(saved, tmp_path, monkeypatch):
    (path, sha), _ = saved
    bad = tmp_path / "current.joblib"
    bad.write_bytes(path.read_bytes() + b"\x00")
    (tmp_path / "current.joblib.manifest.json").write_bytes(
        artefacts.manifest_path(path).read_bytes())
    import joblib

    calls = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: calls.append(a))
    app = serving.create_app(artefact=bad, expected_sha256=sha)
    with pytest.raises(artefacts.ArtefactIntegrityError):
        with TestClient(app):
            pass
    assert calls == []
    with pytest.raises(artefacts.ArtefactIntegrityError):
        with serving.run_server(serving.create_app(artefact=bad, expected_sha256=sha), timeout=20):
            pass
    assert calls == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"expected_sha256": "abc"}, ValueError, "`expected_sha256` must be a SHA-256"),
        ({"artefact": "/nonexistent/model.joblib"}, FileNotFoundError, "`artefact` must be an existing"),
        ({"artefact": 3}, TypeError, "`artefact` must be a path"),
        ({"max_batch": 0}, ValueError, "`max_batch` must be an integer >= 1"),
        ({"max_body_bytes": 1.5}, TypeError, "`max_body_bytes` must be an integer"),
        ({"prediction_log": print}, TypeError, "`prediction_log` must have a `write"),
        ({"mode": "shadow"}, TypeError, "unexpected keyword argument 'mode'"),
    ],
)
def test_create_app_validation(saved, kwargs, error, match):
    (path, sha), _ = saved
    with pytest.raises(error, match=match):
        serving.create_app(**{"artefact": path, "expected_sha256": sha, **kwargs})


def test_run_server_and_batch_model_validation(saved):
    (path, sha), _ = saved
    app = serving.create_app(artefact=path, expected_sha256=sha)
    with pytest.raises(ValueError, match="`port` must be an integer between 0 and 65535"):
        with serving.run_server(app, port=70000):
            pass
    with pytest.raises(TypeError, match="`app` must be a FastAPI app from `serving.create_app`; got dict"):
        with serving.run_server({"artefact": path, "expected_sha256": sha}):
            pass
    with pytest.raises(ValueError, match="`max_batch` must be an integer >= 1"):
        _schema.make_batch_model(-1)


# ----------------------------------------------------------------------------- real server
@pytest.fixture(scope="module")
def live(saved):
    (path, sha), _ = saved
    app = serving.create_app(artefact=path, expected_sha256=sha, version="v7", max_batch=4)
    with serving.run_server(app) as url:
        assert url.startswith("http://127.0.0.1:")
        yield url


@pytest.mark.server
def test_real_server_refuses_every_bad_input_and_keeps_answering(live):
    with httpx.Client(base_url=live, timeout=10) as c:
        for name, raw, status, needle in BAD:
            r = c.post("/predict", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == status, (name, r.text)
            assert r.headers["content-type"].startswith("application/json"), name
            assert needle in r.text, name
            assert len(r.headers["x-request-id"]) == 32, name
            ok = c.post("/predict", json=GOOD)              # still answering after each one
            assert ok.status_code == 200, name
        for content_type in NOT_JSON:
            headers = {} if content_type is None else {"content-type": content_type}
            r = c.post("/predict", content=json.dumps(GOOD).encode(), headers=headers)
            assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type", content_type
        # A 1 MB body declared honestly is refused from its Content-Length, before reading it;
        # one sent chunked (no Content-Length) is refused while streaming.
        def chunks():
            for _ in range(64):
                yield b"x" * (1 << 14)
        r = c.post("/predict", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.get("/healthz").status_code == 200
        metrics = c.get("/metrics").text
    assert 'status="500"' not in metrics


@pytest.mark.server
@pytest.mark.slow
def test_bounded_load_run_has_no_errors(live):
    duration, n_clients = 4.0, 8  # eight concurrent clients for a few seconds (bounded)
    counts = [0] * n_clients
    errors: list[str] = []
    stop = time.monotonic() + duration

    def worker(i: int) -> None:
        gen = np.random.default_rng(i)
        with httpx.Client(base_url=live, timeout=10) as c:
            while time.monotonic() < stop and counts[i] < 5000:
                row = {**GOOD, "error_pct": float(gen.uniform(0, 10)), "deploy_hour": int(gen.integers(0, 24))}
                try:
                    r = c.post("/predict", json=row)
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:100]}")
                except httpx.HTTPError as exc:   # timeouts, resets: all count as errors
                    errors.append(repr(exc))
                counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sum(counts) > 100 and min(counts) > 0


@pytest.mark.server
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_accepted_connections_have_tcp_nodelay(saved, loop):
    # Without TCP_NODELAY a response written in two segments waits for the client's delayed
    # ACK (about 40 ms on loopback). asyncio sets it on accepted connections only when the
    # listening socket was created as TCP (protocol IPPROTO_TCP, not 0): check the server side.
    import socket

    import uvicorn

    (path, sha), _ = saved
    sock = _run._listening_socket("127.0.0.1", None)
    server = uvicorn.Server(uvicorn.Config(serving.create_app(artefact=path, expected_sha256=sha),
                                           log_level="warning", loop=loop))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=10) as c:
            assert c.post("/predict", json=GOOD).status_code == 200
            options = [conn.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                       for conn in server.server_state.connections]
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
    assert options and all(options), options


@pytest.mark.server
@pytest.mark.slow
def test_the_containers_entry_point_serves_in_the_foreground(saved):
    # `python -m mlops_reference.deploy serve`, what the image runs, outside the image.
    import os
    import signal
    import socket
    import subprocess
    import sys

    (path, sha), _ = saved
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MODEL_ARTEFACT": str(path), "MODEL_SHA256": sha, "MODEL_VERSION": "cli",
           "PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "mlops_reference.deploy", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=2) as probe:  # one client: `httpx.post` builds one per call
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                try:
                    r = probe.post(f"http://127.0.0.1:{port}/predict", json=GOOD)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start in 60 s"
                    time.sleep(0.1)
        assert r.status_code == 200 and r.json()["model_version"] == "cli"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        proc.stderr.close()
