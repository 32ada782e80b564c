"""The deploy package: generated manifests, rules and dashboard, the validators, the container."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlops_companion import deploy, rollout

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
REGENERATE = "python -m mlops_companion.deploy generate deploy/"
HAVE_PROMTOOL = shutil.which("promtool") is not None
HAVE_K8S_VALIDATE = importlib.util.find_spec("kubernetes_validate") is not None
HAVE_ARGO_VALIDATOR = shutil.which("node") is not None and (
    DEPLOY / "validate" / "node_modules" / "@kubernetes-models" / "argo-rollouts").is_dir()


def _validator():
    spec = importlib.util.spec_from_file_location("validate_manifests", DEPLOY / "validate_manifests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- committed files
@pytest.mark.parametrize("relative", sorted(deploy.render_deploy_files(*deploy.book_rule())))
def test_committed_files_are_the_generated_ones(relative):
    generated = deploy.render_deploy_files(*deploy.book_rule())[relative]
    committed = (DEPLOY / relative).read_text(encoding="utf-8")
    assert committed == generated, f"deploy/{relative} differs from the generator's output; run `{REGENERATE}`."


def test_committed_rollout_carries_the_chapters_schedule():
    # The safe-deployment chapter simulates rollout.CanarySchedule(); the cluster must run the same.
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "rollout.yaml").read_text()))
    ro = next(d for d in docs if d["kind"] == "Rollout")
    schedule = rollout.CanarySchedule()
    assert deploy.schedule_from_rollout(ro) == (schedule.hours, schedule.shares)


def _boundaries(rollout_manifest):
    """The ``boundary`` argument of each step analysis, in step order."""
    steps = rollout_manifest["spec"]["strategy"]["canary"]["steps"]
    return [float(a["value"]) for s in steps if "analysis" in s
            for a in s["analysis"]["args"] if a["name"] == "boundary"]


def _committed(kind):
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "rollout.yaml").read_text()))
    return next(d for d in docs if d["kind"] == kind)


def test_book_rule_is_the_safe_deployment_chapters_sequential_monitor():
    schedule, monitor = deploy.book_rule()
    chapter05 = rollout.CanaryMonitor.for_schedule(schedule, window_size=2000, min_samples=50)
    assert monitor.k is None and monitor.consecutive == 1
    assert monitor.rule == chapter05.rule


def test_committed_steps_carry_the_monitors_boundaries_in_order():
    _, monitor = deploy.book_rule()
    boundaries = _boundaries(_committed("Rollout"))
    assert boundaries == list(monitor.rule.boundaries)
    assert len(set(boundaries)) > 1  # a boundary per look, not one threshold


def test_committed_analysis_carries_the_chapters_rule():
    _, monitor = deploy.book_rule()
    metric = _committed("AnalysisTemplate")["spec"]["metrics"][0]
    assert metric["successCondition"] == "result[0] <= {{args.boundary}}"
    assert metric["failureLimit"] == 0 and "interval" not in metric  # one measurement per look
    query = metric["provider"]["prometheus"]["query"]
    assert query == deploy.canary_analysis_query(canary="{{args.canary-version}}", lookback="{{args.lookback}}",
                                                 min_samples=monitor.min_samples, margin=monitor.margin)
    assert "analysis" not in _committed("Rollout")["spec"]["strategy"]["canary"]  # judged at the looks only
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    statistic = next(r for g in rules["groups"] for r in g["rules"]
                     if r.get("record") == deploy.statistic_name(600))
    assert f">= {monitor.min_samples}" in statistic["expr"]


def test_each_look_is_analysed_when_its_window_closes_over_everything_so_far():
    schedule, monitor = deploy.book_rule()
    plan = schedule.plan(2000, min_samples=monitor.min_samples)
    steps = _committed("Rollout")["spec"]["strategy"]["canary"]["steps"]
    clock, seen = 0.0, []
    for step in steps:
        if "pause" in step:
            clock += deploy._kubernetes._seconds(step["pause"]["duration"]) / 3600
        elif "analysis" in step:
            args = {a["name"]: a["value"] for a in step["analysis"]["args"]}
            lookback = deploy._kubernetes._seconds(args["lookback"]) / 3600
            seen.append((clock, lookback, args["canary-version"]))
    first = float(plan["hour"].iloc[0])
    assert seen == [(h + 1, h + 1 - first, deploy.Release().model_version) for h in plan["hour"]]


def test_promtool_cases_evaluate_the_generated_analysis_query():
    _, monitor = deploy.book_rule()
    query = deploy.canary_analysis_query(canary="v2", lookback="3h", min_samples=monitor.min_samples,
                                         margin=monitor.margin)
    tests = yaml.safe_load((DEPLOY / "prometheus" / "tests.yml").read_text())
    exprs = [t["expr"] for case in tests["tests"] for t in case.get("promql_expr_test", ())
             if "increase(predicted_probability_count{model_version=" in t["expr"]]
    assert len(exprs) == 3 and all(query in e for e in exprs)


@pytest.mark.skipif(not HAVE_PROMTOOL, reason="promtool is not installed (deploy/ci-check.sh installs it)")
def test_promtool_analysis_cases_catch_a_looser_margin(tmp_path):
    _, monitor = deploy.book_rule()
    shutil.copy(DEPLOY / "prometheus" / "rules.yml", tmp_path)
    text = (DEPLOY / "prometheus" / "tests.yml").read_text()
    kwargs = dict(canary="v2", lookback="3h", min_samples=monitor.min_samples)
    looser = deploy.canary_analysis_query(**kwargs, margin=0.3)  # 0.2 apart is now within the margin
    (tmp_path / "tests.yml").write_text(text.replace(
        deploy.canary_analysis_query(**kwargs, margin=monitor.margin), looser))
    out = subprocess.run(["promtool", "test", "rules", "tests.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "exp: {} 4.9289E+01" in out.stdout + out.stderr


# ----------------------------------------------------------------------------- generators
@pytest.mark.parametrize("hours, shares", [
    ((0, 1, 2, 4, 8, 12, 18), (0.0, 0.05, 0.10, 0.25, 0.50, 0.75, 1.0)),
    ((0, 1, 3), (0.2, 0.6, 1.0)),
    ((0, 24), (0.1, 1.0)),
])
def test_schedule_round_trips_through_the_rollout(hours, shares):
    schedule = rollout.CanarySchedule(hours=hours, shares=shares)
    monitor = rollout.CanaryMonitor.for_schedule(schedule, window_size=2000, min_samples=50)
    _, ro = deploy.make_rollout_manifests(schedule, monitor)
    assert deploy.schedule_from_rollout(ro) == (schedule.hours, schedule.shares)
    assert _boundaries(ro) == list(monitor.rule.boundaries)


def test_rollout_follows_the_monitor():
    schedule = rollout.CanarySchedule()
    monitor = rollout.CanaryMonitor.for_schedule(schedule, window_size=4000, min_samples=40, margin=0.05,
                                                 alpha=0.01)
    template, ro = deploy.make_rollout_manifests(schedule, monitor)
    query = template["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    assert "- 0.05, 0)" in query and ">= 40" in query
    assert _boundaries(ro) == list(monitor.rule.boundaries)
    fixed = rollout.CanaryMonitor.for_schedule(schedule, window_size=2000, min_samples=50, k=2.5)
    assert set(_boundaries(deploy.make_rollout_manifests(schedule, fixed)[1])) == {2.5}


class _MonitorWithMargin:
    k, min_samples, consecutive, margin = 3.0, 100, 2, 0.02


def test_margin_is_read_when_the_monitor_has_one():
    rules = deploy.make_alert_rules(_MonitorWithMargin())
    statistic = next(r for g in rules["groups"] for r in g["rules"] if r.get("record", "").startswith(
        "model_version:canary_statistic"))
    assert "clamp_min(" in statistic["expr"] and "- 0.02, 0)" in statistic["expr"]
    plain = deploy.make_alert_rules(rollout.CanaryMonitor(k=3.0, margin=0.0))
    assert "clamp_min" not in json.dumps(plain)


def test_a_sequential_monitors_alert_holds_its_strictest_boundary():
    monitor = rollout.CanaryMonitor()  # group-sequential: one boundary per planned look
    assert monitor.k is None
    rules = deploy.make_alert_rules(monitor)
    alert = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "CanaryDivergence")
    strictest = max(b for b in monitor.boundaries if np.isfinite(b))
    assert f"> {strictest:g} and" in alert["expr"]


def test_deployment_is_locked_down():
    deployment, service, pdb = deploy.make_deployment_manifests(deploy.Release(replicas=6))
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == deploy.CONTAINER_UID
    assert container["securityContext"]["readOnlyRootFilesystem"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"] == container["resources"]["requests"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert set(env) >= {"MODEL_ARTEFACT", "MODEL_SHA256"}
    assert pdb["spec"]["maxUnavailable"] == 1 and service["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"name": "Incident_Predictor"}, ValueError, "`name` must be a Kubernetes name"),
    ({"artefact_sha256": "abc"}, ValueError, "`artefact_sha256` must be a SHA-256 digest"),
    ({"replicas": 1}, ValueError, "`replicas` must be an integer >= 2"),
    ({"artefact_path": "model.joblib"}, ValueError, "`artefact_path` must be an absolute path"),
    ({"port": 80}, ValueError, "`port` must be an integer between 1024 and 65535"),
])
def test_release_checks_its_fields(kwargs, error, match):
    with pytest.raises(error, match=match):
        deploy.Release(**kwargs)


@pytest.mark.parametrize("schedule, monitor, error, match", [
    ("hourly", rollout.CanaryMonitor(), TypeError, "`schedule` must be a rollout.CanarySchedule"),
    (rollout.CanarySchedule(hours=(0, 1), shares=(0.125, 1.0)), rollout.CanaryMonitor(), ValueError,
     "whole percentages"),
    (rollout.CanarySchedule(hours=(0, 1), shares=(0.1, 0.5)), rollout.CanaryMonitor(), ValueError,
     "must end at 1.0"),
    (rollout.CanarySchedule(), object(), TypeError, "`monitor` must be a rollout.CanaryMonitor"),
    (rollout.CanarySchedule(), rollout.CanaryMonitor(k=3.0, consecutive=2), ValueError,
     "`monitor.consecutive` must be 1"),
    (rollout.CanarySchedule(), rollout.CanaryMonitor(looks=5), ValueError, "one look per window"),
])
def test_rollout_generator_refuses_bad_input(schedule, monitor, error, match):
    with pytest.raises(error, match=match):
        deploy.make_rollout_manifests(schedule, monitor)


@pytest.mark.parametrize("kwargs, match", [
    ({"latency_slo": 0}, "`latency_slo` must be a number > 0"),
    ({"max_error_rate": 1.5}, "`max_error_rate` must be a number in"),
    ({"window": -1}, "`window` must be a number > 0"),
])
def test_alert_rules_refuse_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        deploy.make_alert_rules(rollout.CanaryMonitor(), **kwargs)


@pytest.mark.parametrize("seconds, text", [(600, "10m"), (5400, "1h30m"), (86400, "1d"), (15, "15s"),
                                           (0.25, "250ms")])
def test_format_duration(seconds, text):
    assert deploy.format_duration(seconds) == text


def test_format_duration_refuses_fractions_of_seconds_above_one():
    with pytest.raises(ValueError, match="whole seconds"):
        deploy.format_duration(1.5)


# ----------------------------------------------------------------------------- dashboard
def test_dashboard_structure():
    board = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    assert {"uid", "title", "schemaVersion", "panels", "templating", "time"} <= set(board)
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and len(ids) == len(deploy.dashboard_queries())
    boxes = set()
    for panel in board["panels"]:
        assert panel["type"] == "timeseries" and panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
        assert (g["x"], g["y"]) not in boxes
        boxes.add((g["x"], g["y"]))
        (target,) = panel["targets"]
        assert target["refId"] == "A" and target["expr"] == deploy.dashboard_queries()[panel["title"]]


@pytest.mark.skipif(not HAVE_PROMTOOL, reason="promtool is not installed (deploy/ci-check.sh installs it)")
def test_dashboard_queries_parse(tmp_path):
    # promtool has no offline query parser, but it parses every rule's expression.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel{i}", "expr": expr}
        for i, expr in enumerate(deploy.dashboard_queries().values())]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


# ----------------------------------------------------------------------------- prometheus rules
@pytest.mark.skipif(not HAVE_PROMTOOL, reason="promtool is not installed (deploy/ci-check.sh installs it)")
def test_promtool_unit_tests_pass():
    out = subprocess.run(["promtool", "test", "rules", "tests.yml"], cwd=DEPLOY / "prometheus",
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@pytest.mark.skipif(not HAVE_PROMTOOL, reason="promtool is not installed (deploy/ci-check.sh installs it)")
def test_promtool_unit_tests_catch_a_looser_rule(tmp_path):
    # The same tests against rules with k = 20: the canary alert must no longer fire, and the tests fail.
    (tmp_path / "rules.yml").write_text(
        deploy.dump_yaml([deploy.make_alert_rules(rollout.CanaryMonitor(k=20.0, min_samples=100))]))
    shutil.copy(DEPLOY / "prometheus" / "tests.yml", tmp_path)
    out = subprocess.run(["promtool", "test", "rules", "tests.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "CanaryDivergence" in out.stdout + out.stderr


@pytest.mark.skipif(not HAVE_PROMTOOL, reason="promtool is not installed (deploy/ci-check.sh installs it)")
def test_promtool_names_file_and_line_of_a_broken_rule(tmp_path):
    text = (DEPLOY / "prometheus" / "rules.yml").read_text()
    broken = text.replace("> 0.1\n", "> > 0.1\n", 1)
    assert broken != text
    path = tmp_path / "rules.yml"
    path.write_text(broken)
    line = next(i for i, s in enumerate(broken.splitlines(), 1) if "expr: histogram_quantile" in s)
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"{path}:{line}:" in (out.stdout + out.stderr).replace(f"{path}: {line}:", f"{path}:{line}:")


# ----------------------------------------------------------------------------- manifest validation
@pytest.mark.skipif(not (HAVE_K8S_VALIDATE and HAVE_ARGO_VALIDATOR),
                    reason="kubernetes-validate or the npm Argo Rollouts validator is not installed "
                           "(deploy/ci-check.sh installs both)")
def test_committed_manifests_validate():
    errors, checked = _validator().validate_files(sorted((DEPLOY / "k8s").glob("*.yaml")))
    assert errors == []
    kinds = sorted(line.split(": ")[1].split("/")[0] for line in checked)
    assert kinds == ["AnalysisTemplate", "Deployment", "PodDisruptionBudget", "Rollout", "Service"]


@pytest.mark.skipif(not (HAVE_K8S_VALIDATE and HAVE_ARGO_VALIDATOR),
                    reason="kubernetes-validate or the npm Argo Rollouts validator is not installed "
                           "(deploy/ci-check.sh installs both)")
def test_invalid_manifests_are_reported_with_file_and_line(tmp_path):
    app = (DEPLOY / "k8s" / "app.yaml").read_text().replace("runAsNonRoot: true\n        runAsUser",
                                                             "runAsNonRoot: yes-please\n        runAsUser", 1)
    ro = (DEPLOY / "k8s" / "rollout.yaml").read_text().replace("setWeight: 25", "setWeight: quarter")
    (tmp_path / "app.yaml").write_text(app)
    (tmp_path / "rollout.yaml").write_text(ro)
    errors, _ = _validator().validate_files([tmp_path / "app.yaml", tmp_path / "rollout.yaml"])
    line_app = next(i for i, s in enumerate(app.splitlines(), 1) if "yes-please" in s)
    line_ro = next(i for i, s in enumerate(ro.splitlines(), 1) if "quarter" in s)
    assert any(e.startswith(f"{tmp_path / 'app.yaml'}:{line_app}: Deployment/") and "runAsNonRoot" in e
               for e in errors), errors
    assert any(e.startswith(f"{tmp_path / 'rollout.yaml'}:{line_ro}: Rollout/") and "setWeight" in e
               for e in errors), errors


@pytest.mark.skipif(not HAVE_K8S_VALIDATE, reason="kubernetes-validate is not installed (deploy/ci-check.sh)")
def test_broken_yaml_is_reported_with_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n")
    errors, _ = _validator().validate_files([path])
    assert len(errors) == 1 and errors[0].startswith(f"{path}:") and "not valid YAML" in errors[0]


# ----------------------------------------------------------------------------- the container
IMAGE = "localhost/incident-predictor:test"
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": str(DEPLOY / "containers.conf")}
ROW = {"request_rate": 120.0, "error_pct": 4.0, "p99_latency_ms": 90.0, "deploy_hour": 14, "is_weekend": 0}


def _podman(*args, timeout=120, check=True):
    out = subprocess.run(["podman", *args], env=PODMAN_ENV, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return out


@pytest.fixture(scope="module")
def image():
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (deploy/ci-check.sh installs it with apt-get)")
    built = os.environ.get("MLOPS_TEST_IMAGE")  # deploy/ci-check.sh has just built (and timed) it
    if built and _podman("image", "exists", built, check=False).returncode == 0:
        return built
    out = subprocess.run(["bash", str(DEPLOY / "build-image.sh"), IMAGE], cwd=ROOT, env=PODMAN_ENV,
                         capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return IMAGE


@pytest.fixture()
def models(tmp_path):
    """An artefact and its manifest in a folder the container's unprivileged user can read."""
    from mlops_companion import artefacts, data

    folder = tmp_path / "models"
    folder.mkdir()
    s = data.make_scenario()
    manifest = artefacts.save_artefact(s.pipeline, folder / "model.joblib", example_input=s.X_test.head(3))
    folder.chmod(0o755)
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder, manifest.sha256


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_detached(image, folder, sha, port, name):
    return _podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000",
                   "-v", f"{folder}:/models:ro", "-e", f"MODEL_SHA256={sha}", "-e", "MODEL_VERSION=v1",
                   image).stdout.strip()


@pytest.mark.slow
@pytest.mark.server
def test_container_serves_and_refuses_hostile_input(image, models):
    import httpx

    folder, sha = models
    port, name = _free_port(), f"mlops-test-{os.getpid()}"
    _run_detached(image, folder, sha, port, name)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline, last = __import__("time").monotonic() + 180, "no answer"
        while __import__("time").monotonic() < deadline:
            try:
                r = httpx.get(url + "/readyz", timeout=2)
                if r.status_code == 200:
                    break
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            state = _podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            assert state == "running", f"container {state}: {_podman('logs', name, check=False).stderr[-2000:]}"
            __import__("time").sleep(0.5)
        else:
            raise AssertionError(f"the container never became ready: {last}")

        good = httpx.post(url + "/predict", json=ROW, timeout=10)
        assert good.status_code == 200, good.text
        body = good.json()
        assert body["model_version"] == "v1" and body["model_sha256"] == sha
        assert 0.0 <= body["incident_probability"] <= 1.0

        # NaN is not JSON a strict parser accepts, and the extra field is not in the schema.
        hostile = ('{"request_rate": NaN, "error_pct": 4.0, "p99_latency_ms": 90.0, "deploy_hour": 14, '
                   '"is_weekend": 0, "debug": true}')
        bad = httpx.post(url + "/predict", content=hostile, headers={"content-type": "application/json"},
                         timeout=10)
        assert bad.status_code == 422, bad.text
        fields = {d["field"] for d in bad.json()["detail"]}
        assert {"request_rate", "debug"} <= fields

        assert _podman("exec", name, "id", "-u").stdout.strip() == "10001"
        assert _podman("healthcheck", "run", name, check=False).returncode == 0
    finally:
        _podman("rm", "-f", "-t", "5", name, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("case, status, message", [
    ("tampered", 3, "has SHA-256 [0-9a-f]{64}, not the trusted"),
    ("missing", 3, "which does not exist"),
    ("no-sha", 2, "MODEL_SHA256 must be the artefact's trusted SHA-256"),
])
def test_container_refuses_to_start_without_the_trusted_artefact(image, models, case, status, message):
    import re

    folder, sha = models
    env = ["-e", f"MODEL_SHA256={sha}"]
    if case == "tampered":
        with open(folder / "model.joblib", "ab") as fh:
            fh.write(b"\0")
    elif case == "missing":
        (folder / "model.joblib").unlink()
    else:
        env = []
    out = _podman("run", "--rm", "-v", f"{folder}:/models:ro", *env, image, timeout=180, check=False)
    assert out.returncode == status, out.stdout + out.stderr
    assert "refusing to start" in out.stderr and re.search(message, out.stderr), out.stderr
