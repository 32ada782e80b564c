"""Tests of mlops_reference.registry: versions, aliases, rollback, audit log, hash checks,
concurrency on SQLite, and the same flow through a real `mlflow server` on 127.0.0.1."""
from __future__ import annotations

import multiprocessing as mp
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from mlops_companion import data
from mlops_reference import artefacts, registry

NAME = "incident-predictor"


@pytest.fixture(scope="module")
def scenario():
    return data.make_scenario(400, rng=7)


@pytest.fixture(scope="module")
def filled(tmp_path_factory, scenario):
    """A registry holding two versions, v1 promoted then v2 promoted."""
    reg = registry.Registry(tmp_path_factory.mktemp("reg"))
    s = scenario
    v1 = reg.register(NAME, s.pipeline, training_data=s.X_train, example_input=s.X_test.head(3),
                      metrics={"accuracy": 0.8, "f1": 0.84})
    other = data.fit_pipeline(s.X_train, s.y_train, random_state=1)
    v2 = reg.register(NAME, other, training_data=s.X_train.iloc[:-1], example_input=s.X_test.head(3),
                      metrics={"accuracy": 0.7})
    reg.promote(NAME, 1, reason="first model")
    reg.promote(NAME, 2, reason="retrained")
    return reg, v1, v2


def test_public_surface():
    assert set(registry.__all__) == {"Registry", "ModelVersionInfo", "ARTEFACT_FILE"}


def test_versions_are_tagged_with_hashes_and_metrics(filled, scenario):
    reg, v1, v2 = filled
    assert (v1.version, v2.version) == (1, 2)
    assert v1.data_sha256 == registry._hash_dataframe(scenario.X_train)
    assert v2.data_sha256 != v1.data_sha256          # one row fewer, another hash
    assert v1.metrics == {"accuracy": 0.8, "f1": 0.84}
    assert len(v1.artefact_sha256) == 64 and v1.artefact_sha256 != v2.artefact_sha256
    assert [v.version for v in reg.versions(NAME)] == [1, 2]
    # Stored where we said: SQLite in root, artefacts under root/artifacts, nothing in the cwd.
    assert (reg.root / "mlflow.db").is_file()
    assert any((reg.root / "artifacts").rglob(registry.ARTEFACT_FILE))


def test_the_mlflow_model_serves_predict_proba(filled, scenario):
    import mlflow.pyfunc
    import warnings

    reg, v1, _ = filled
    env_before = os.environ.get("MLFLOW_TRACKING_URI")
    # The registry's own context points MLflow's fluent API at it and restores the
    # process-wide URIs (and environment variables) afterwards.
    with reg._fluent(), warnings.catch_warnings():  # MLflow's own chatter, see registry._quiet_mlflow
        warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
        model = mlflow.pyfunc.load_model(v1.model_uri)
        out = np.asarray(model.predict(scenario.X_test.head(4)))
    assert os.environ.get("MLFLOW_TRACKING_URI") == env_before
    np.testing.assert_allclose(out, scenario.pipeline.predict_proba(scenario.X_test.head(4)))


def test_promote_rollback_and_audit_log(tmp_path, scenario):
    reg = registry.Registry(tmp_path)
    s = scenario
    for _ in range(3):
        reg.register(NAME, s.pipeline, training_data=s.X_train, example_input=s.X_test.head(2))
    reg.promote(NAME, 1, reason="v1")
    reg.promote(NAME, 2, reason="v2")
    reg.promote(NAME, 3, reason="v3")
    reg.promote(NAME, 3, "challenger", reason="shadow it")
    assert reg.get(NAME, "champion").aliases == ("challenger", "champion")
    assert reg.rollback(NAME, reason="v3 bad").version == 2
    assert reg.rollback(NAME, reason="v2 bad too").version == 1     # walks back, not a toggle
    with pytest.raises(LookupError, match="Nothing to roll back to"):
        reg.rollback(NAME, reason="again")
    log = reg.audit_log(NAME)
    assert list(log.columns) == ["when", "name", "alias", "action", "from_version", "to_version", "reason", "user"]
    assert list(log["action"]) == ["promote"] * 4 + ["rollback"] * 2
    assert log["from_version"].tolist()[:3] == [pd.NA, 1, 2] or pd.isna(log["from_version"].iloc[0])
    assert log["to_version"].tolist() == [1, 2, 3, 3, 2, 1]
    assert log["when"].is_monotonic_increasing
    # Append-only: the table refuses edits and deletions.
    con = sqlite3.connect(reg.root / "audit.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute("DELETE FROM alias_moves")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute("UPDATE alias_moves SET reason = 'x'")
    finally:
        con.close()


def test_load_by_alias_gives_the_registered_model(filled, scenario):
    reg, _, v2 = filled
    model, info = reg.load(NAME, "champion")
    assert info.version == 2 and info.artefact_sha256 == v2.artefact_sha256
    model1, info1 = reg.load(NAME, 1)
    np.testing.assert_array_equal(model1.predict_proba(scenario.X_test),
                                  scenario.pipeline.predict_proba(scenario.X_test))


def test_tampered_artefact_is_refused_before_unpickling(tmp_path, scenario, monkeypatch):
    reg = registry.Registry(tmp_path)
    info = reg.register(NAME, scenario.pipeline, training_data=scenario.X_train,
                        example_input=scenario.X_test.head(2))
    stored = next((tmp_path / "artifacts").rglob(registry.ARTEFACT_FILE))
    with open(stored, "ab") as fh:
        fh.write(b"\x00")                      # one extra byte: a different file
    calls = []
    import joblib
    monkeypatch.setattr(joblib, "load", lambda *a, **k: calls.append(a))
    with pytest.raises(artefacts.ArtefactIntegrityError, match="SHA-256 must be"):
        reg.load(NAME, info.version)
    assert calls == []                         # never unpickled


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r: r.promote("", 1, reason="x"), ValueError, "`name` must be a non-empty string"),
        (lambda r: r.promote(NAME, 0, reason="x"), ValueError, "`version` must be a positive integer"),
        (lambda r: r.promote(NAME, 1, "latest", reason="x"), ValueError, r"`alias` must be .* not a number, 'latest'"),
        (lambda r: r.promote(NAME, 1, "v2", reason="x"), ValueError, r"`alias` must be .*; got 'v2'"),
        (lambda r: r.promote(NAME, 1, "prod env", reason="x"), ValueError, r"`alias` must be 1 to 255 letters"),
        (lambda r: r.rollback(NAME, "", reason="x"), ValueError, "`alias` must be a non-empty string"),
        (lambda r: r.versions("a/b"), ValueError, r"`name` must be free of '/', ':'"),
        (lambda r: r.versions("models:/x"), ValueError, r"`name` must be free of '/', ':'"),
        (lambda r: r.versions(" padded"), ValueError, "`name` must be free of leading and trailing spaces"),
        (lambda r: r.versions("x" * 300), ValueError, "`name` must be at most 256 characters"),
        (lambda r: r.versions("it's \"quoted\""), ValueError, "`name` must be free of either single or double"),
        (lambda r: r.promote("a\nb", 1, reason="x"), ValueError, "control characters"),
        (lambda r: r.audit_log(3), ValueError, "`name` must be a non-empty string; got 3"),
        (lambda r: r.promote(NAME, 1, reason=""), ValueError, "`reason` must be a non-empty string"),
        (lambda r: r.promote(NAME, 99, reason="x"), LookupError, "`alias_or_version` must name"),
        (lambda r: r.get(NAME, "nobody"), LookupError, "`alias_or_version` must name"),
        (lambda r: r.rollback(NAME, "nobody", reason="x"), LookupError, "points nowhere"),
        (lambda r: r.register(NAME, object(), training_data=pd.DataFrame({"a": [1]}),
                              example_input=pd.DataFrame({"a": [1]})), TypeError, "`model` must be"),
        (lambda r: r.register(NAME, data.make_pipeline(), training_data=[1, 2],
                              example_input=pd.DataFrame({"a": [1]})), TypeError, "`df` must be"),
    ],
)
def test_input_validation(filled, call, error, match):
    reg, _, _ = filled
    with pytest.raises(error, match=match):
        call(reg)


def test_a_lock_held_elsewhere_times_out_naming_the_lock(filled, monkeypatch):
    import filelock

    reg, _, _ = filled
    monkeypatch.setattr(reg._lock, "timeout", 0.05)
    with filelock.FileLock(str(reg.root / "registry.lock")):  # another writer holds it
        with pytest.raises(TimeoutError, match=r"the registry lock .*registry\.lock' must be free"):
            reg.rollback(NAME, reason="x")


def test_constructor_validation(tmp_path):
    with pytest.raises(TypeError, match="`root` must be a folder path"):
        registry.Registry(42)
    with pytest.raises(ValueError, match=r"`retries` must be an integer >= 0; got -1"):
        registry.Registry(tmp_path, retries=-1)
    with pytest.raises(TypeError, match=r"`retries` must be an integer; got 2.5"):
        registry.Registry(tmp_path, retries=2.5)
    with pytest.raises(ValueError, match="`metrics` must map names to finite numbers"):
        s = data.make_scenario(100, rng=1)
        registry.Registry(tmp_path).register(NAME, s.pipeline, training_data=s.X_train,
                                             example_input=s.X_test.head(1), metrics={"acc": float("nan")})


def test_hash_dataframe_is_deterministic_across_processes(scenario):
    code = ("from mlops_companion import data; from mlops_reference import registry; "
            "s = data.make_incidents(50, rng=3); print(registry._hash_dataframe(s))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == registry._hash_dataframe(data.make_incidents(50, rng=3))
    df = data.make_incidents(50, rng=3)
    assert registry._hash_dataframe(df) != registry._hash_dataframe(df.astype({"deploy_hour": float}))


def test_quoted_names_are_escaped_in_mlflow_filters(filled, scenario):
    reg, _, _ = filled
    assert reg.versions("it's") == []                       # quoted, not spliced into the filter
    assert reg.versions("x' OR name LIKE '%") == []
    s = scenario
    reg.register("it's", s.pipeline, training_data=s.X_train, example_input=s.X_test.head(2))
    reg.register('the "old" one', s.pipeline, training_data=s.X_train, example_input=s.X_test.head(2))
    assert [v.version for v in reg.versions("it's")] == [1]
    assert [v.version for v in reg.versions('the "old" one')] == [1]
    assert [v.version for v in reg.versions(NAME)] == [1, 2]


def _small_model():
    from sklearn.linear_model import LogisticRegression

    df = data.make_incidents(120, rng=0)
    X = df[list(data.FEATURES)]
    return LogisticRegression(max_iter=500).fit(X, df[data.TARGET]), X


def _register_some(root: str, n: int) -> list[int]:
    model, X = _small_model()
    reg = registry.Registry(root)
    return [reg.register(NAME, model, training_data=X, example_input=X.head(2)).version for _ in range(n)]


def _promote_some(root: str, seed: int, n: int) -> list[int]:
    rng = np.random.default_rng(seed)
    reg = registry.Registry(root)
    moved = []
    for _ in range(n):
        version = int(rng.integers(1, 6))
        reg.promote(NAME, version, reason=f"worker {seed}")
        moved.append(version)
    return moved


def _fork_pool(n: int):
    import warnings

    ctx = mp.get_context("fork")                # the children inherit the imports: no 5 s start-up each
    with warnings.catch_warnings():             # Python >= 3.12 warns about fork with threads
        warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks", category=DeprecationWarning)
        return ctx.Pool(n)


def _store_contents(db: Path) -> dict:
    """What an MLflow store holds, up to the order of constraints inside one table's SQL
    (MLflow's migrations write two CHECK constraints of `runs` in either order)."""
    with sqlite3.connect(db) as con:
        schema = {(kind, name): sorted(part.strip().rstrip(")") for part in
                                       re.split(r"[(,]\s*\n", sql or ""))
                  for kind, name, sql in con.execute("SELECT type, name, sql FROM sqlite_master")}
        rows = {table: con.execute(f'SELECT * FROM "{table}"').fetchall()
                for (kind, table) in schema if kind == "table" and table != "experiments"}
        rows["experiments"] = con.execute(  # all but the creation and update times
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, workspace "
            "FROM experiments ORDER BY experiment_id").fetchall()
    return {"schema": schema, "rows": rows}


def test_a_new_store_is_the_one_mlflow_makes(tmp_path, monkeypatch):
    """New registries after the first in a process copy one store migrated once; the copy
    holds what MLflow puts in a store it creates itself: schema, schema version, its Default
    experiment at the default location, and the registry's experiment."""
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow's default artefact location is relative to here
    first = registry.Registry(tmp_path / "first")
    copied = registry.Registry(tmp_path / "second")
    assert registry._empty_store is not None  # the second one was a copy
    uri = f"sqlite:///{tmp_path / 'plain.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment(copied.experiment, artifact_location=copied.artifact_root.as_uri())
    made_by_mlflow = _store_contents(tmp_path / "plain.db")
    assert _store_contents(copied.root / "mlflow.db") == made_by_mlflow
    default = made_by_mlflow["rows"]["experiments"][0]
    assert default[:3] == (0, "Default", str(tmp_path / "mlruns" / "0")), default
    assert _store_contents(first.root / "mlflow.db")["schema"] == made_by_mlflow["schema"]


@pytest.mark.slow
def test_four_processes_registering_into_a_folder_that_does_not_exist_yet(tmp_path):
    root = tmp_path / "not-yet" / "registry"    # no folder, no schema: all four race to create them
    with _fork_pool(4) as pool:
        results = pool.starmap(_register_some, [(str(root), 5)] * 4, chunksize=1)
    got = sorted(v for r in results for v in r)
    assert got == list(range(1, 21))            # twenty versions, none lost, none duplicated
    assert [v.version for v in registry.Registry(root).versions(NAME)] == got


@pytest.mark.slow
def test_concurrent_promotions_keep_the_audit_log_a_chain_and_rollback_right(tmp_path):
    model, X = _small_model()
    reg = registry.Registry(tmp_path)
    for _ in range(5):
        reg.register(NAME, model, training_data=X, example_input=X.head(2))
    with _fork_pool(4) as pool:
        moved = pool.starmap(_promote_some, [(str(tmp_path), seed, 5) for seed in range(4)], chunksize=1)
    log = reg.audit_log(NAME)
    assert len(log) == 20 and sorted(log["to_version"]) == sorted(v for m in moved for v in m)
    previous = [pd.NA] + log["to_version"].tolist()[:-1]
    assert pd.isna(log["from_version"].iloc[0])
    assert log["from_version"].tolist()[1:] == previous[1:]          # every link: from = previous to
    champion = reg.get(NAME, "champion").version
    assert champion == log["to_version"].iloc[-1]
    changes = log[log["from_version"].notna() & (log["from_version"] != log["to_version"])]
    if changes.empty:                           # every worker promoted the same version
        with pytest.raises(LookupError, match="Nothing to roll back to"):
            reg.rollback(NAME, reason="bad")
        return
    # the previous champion: where the alias was just before its last change (into the champion)
    expected = int(changes["from_version"].iloc[-1])
    assert changes["to_version"].iloc[-1] == champion
    assert reg.rollback(NAME, reason="bad").version == expected
    assert reg.get(NAME, "champion").version == expected


def test_the_audit_chain_is_enforced_by_the_database(tmp_path, scenario):
    reg = registry.Registry(tmp_path)
    for _ in range(2):
        reg.register(NAME, scenario.pipeline, training_data=scenario.X_train, example_input=scenario.X_test.head(2))
    reg.promote(NAME, 1, reason="first")
    con = sqlite3.connect(reg.root / "audit.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="chain"):
            with con:
                con.execute("INSERT INTO alias_moves (\"when\", name, alias, action, from_version, to_version, "
                            "reason, user) VALUES ('now', ?, 'champion', 'promote', 7, 2, 'forged', 'me')", (NAME,))
    finally:
        con.close()


def test_a_move_outside_the_registry_is_logged_and_rollback_follows_it(tmp_path, scenario):
    reg = registry.Registry(tmp_path)
    for _ in range(3):
        reg.register(NAME, scenario.pipeline, training_data=scenario.X_train, example_input=scenario.X_test.head(2))
    reg.promote(NAME, 1, reason="first")
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=reg.tracking_uri, registry_uri=reg.tracking_uri) \
        .set_registered_model_alias(NAME, "champion", "2")       # a plain MLflow call, no audit entry
    reg.promote(NAME, 3, reason="third")
    log = reg.audit_log(NAME)
    assert list(log["action"]) == ["promote", "external", "promote"]
    assert log["from_version"].tolist()[1:] == [1, 2] and log["to_version"].tolist() == [1, 2, 3]
    assert reg.rollback(NAME, reason="v3 bad").version == 2
    assert reg.rollback(NAME, reason="v2 bad").version == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.server
@pytest.mark.slow
def test_same_flow_through_an_mlflow_tracking_server(tmp_path, scenario):
    port = _free_port()
    backend = tmp_path / "server"
    backend.mkdir()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{backend / 'mlflow.db'}",
           "--artifacts-destination", str(backend / "artifacts")]
    log = open(tmp_path / "server.log", "wb")
    # A registry needs no job runner: without this, `mlflow server` also starts a runner and
    # seven Huey consumers (GenAI evaluation jobs), each a Python process importing MLflow.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300         # generous: mlflow server imports slowly on a loaded machine
        with httpx.Client(timeout=1) as probe:    # one client: `httpx.get` builds one per call
            while True:
                assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                try:
                    if probe.get(url + "/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "mlflow server did not start in 300 s"
                time.sleep(0.25)
        reg = registry.Registry(tmp_path / "client", tracking_uri=url)
        s = scenario
        v1 = reg.register(NAME, s.pipeline, training_data=s.X_train, example_input=s.X_test.head(2),
                          metrics={"accuracy": 0.8})
        v2 = reg.register(NAME, s.pipeline, training_data=s.X_train, example_input=s.X_test.head(2))
        reg.promote(NAME, v1.version, reason="first")
        reg.promote(NAME, v2.version, reason="second")
        assert reg.rollback(NAME, reason="bad").version == 1
        model, info = reg.load(NAME, "champion")
        assert info.metrics == {"accuracy": 0.8}
        np.testing.assert_array_equal(model.predict_proba(s.X_test), s.pipeline.predict_proba(s.X_test))
        # The artefacts went to the server's store, not to the client's folder.
        assert any((backend / "artifacts").rglob(registry.ARTEFACT_FILE))
        assert not (tmp_path / "client" / "mlflow.db").exists()
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)     # the server's own process group (gunicorn/uvicorn workers)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()
