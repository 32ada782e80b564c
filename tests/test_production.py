"""The deploy package: generated manifests, rules and dashboard, the validators, the container."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlops_reference import deploy, rollout
from mlops_reference import _utils
from mlops_reference.deploy import _kubernetes, _promql

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
REGENERATE = "python -m mlops_reference.deploy generate deploy/"
HAVE_PROMTOOL = shutil.which("promtool") is not None
HAVE_K8S_VALIDATE = importlib.util.find_spec("kubernetes_validate") is not None
HAVE_ARGO_VALIDATOR = shutil.which("node") is not None and (
    DEPLOY / "validate" / "node_modules" / "@kubernetes-models" / "argo-rollouts").is_dir()


#: The rule every generated file is made from, as committed.
RULE = rollout.CanaryRule.from_json((DEPLOY / "canary-rule.json").read_text(encoding="utf-8"))


def _validator():
    spec = importlib.util.spec_from_file_location("validate_manifests", DEPLOY / "validate_manifests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- committed files
@pytest.mark.parametrize("relative", sorted(deploy.render_deploy_files(RULE)))
def test_committed_files_are_the_generated_ones(relative):
    generated = deploy.render_deploy_files(RULE)[relative]
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


def test_committed_rule_is_the_safe_deployment_chapters_sequential_rule():
    assert RULE.k is None and RULE.consecutive == 1 and RULE.spending == "pocock"
    assert RULE == rollout.CanaryRule(margin=RULE.margin, alpha=0.05, schedule=rollout.CanarySchedule(),
                                      window_size=2000, min_samples=50)


# ----------------------------------------------------------------------------- the derived rule
def _chapters_rule():
    """Chapter 05's derivation (the chapter asserts the same on its page): the seconds bug's shift
    and a score's spread on the chapter's week of traffic, through rollout.derive_rule."""
    from mlops_companion import data

    schedule = rollout.CanarySchedule()
    pipeline = data.make_scenario().pipeline
    traffic = data.make_production_sample(int(schedule.hours[-1]) * 2000, rng=11)
    p = pipeline.predict_proba(traffic)[:, 1]
    in_seconds = traffic.assign(p99_latency_ms=traffic["p99_latency_ms"] / 1000)
    shift = float(pipeline.predict_proba(in_seconds)[:, 1].mean() - p.mean())
    rule = rollout.derive_rule(schedule, shift=shift, sd=float(p.std()), power=0.9, alpha=0.05,
                               window_size=2000, min_samples=50)
    return rule, shift, float(p.std())


def test_committed_rule_is_the_one_derived_from_the_fault():
    rule, shift, sd = _chapters_rule()
    assert rule == RULE and 0 < rule.margin < abs(shift)
    # the widest margin at that resolution: one step wider loses the power the chapter asks for
    wider = rollout.CanaryRule(window_size=2000, min_samples=50, margin=rule.margin + 0.001)
    assert rule.rollback_probability(shift, sd=sd) >= 0.9 > wider.rollback_probability(shift, sd=sd)


def test_generated_files_carry_exactly_the_derived_margin():
    import re

    margin = RULE.margin
    for relative in ("k8s/rollout.yaml", "prometheus/rules.yml"):
        text = (DEPLOY / relative).read_text()
        found = {float(m) for m in re.findall(r"- ([0-9.]+), 0\)", text.replace("\n", " "))}
        assert found == {margin}, f"deploy/{relative} carries margins {found}, not the derived {margin}"
    tests = (DEPLOY / "prometheus" / "tests.yml").read_text()
    assert {float(m) for m in re.findall(r"- ([0-9.]+), 0\)", tests)} == {margin}


# ----------------------------------------------------------------------------- traffic actually routed
def _argo_basic_canary_pods(replicas, weight, max_surge):
    """Pods (canary, stable) Argo Rollouts runs for a weight when no traffic router is set.

    Without a router, a weight is approximated with whole pods: at least one canary pod for any
    weight above zero, the stable ReplicaSet kept at full size while the surge allows it.
    """
    import math

    canary = math.ceil(replicas * weight / 100)
    stable = replicas if canary <= max_surge else replicas - (canary - max_surge)
    return canary, stable


def _routed_weights(rollout_manifest):
    """For each setWeight step: (planned weight, weight of requests a cluster would route to the canary)."""
    spec = rollout_manifest["spec"]
    canary = spec["strategy"]["canary"]
    out = []
    for step in canary["steps"]:
        if "setWeight" not in step:
            continue
        w = step["setWeight"]
        if canary.get("trafficRouting"):
            routed = w  # the router (here the NGINX canary Ingress's weight annotation) splits requests
        else:
            pods, stable = _argo_basic_canary_pods(spec["replicas"], w, canary.get("maxSurge", 1))
            routed = 100 * pods / (pods + stable)  # a Service spreads connections over pods
        out.append((w, routed))
    return out


def test_each_canary_step_routes_the_weight_its_boundaries_were_computed_for():
    schedule, rule = RULE.schedule, RULE
    ro = _committed("Rollout")
    canary = ro["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"] == {"nginx": {"stableIngress": deploy.Release().name}}
    traffic = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "k8s" / "traffic.yaml").read_text())}
    app = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "k8s" / "app.yaml").read_text())}
    assert canary["canaryService"] == traffic["Service"]["metadata"]["name"]
    assert canary["stableService"] == app["Service"]["metadata"]["name"]
    backend = traffic["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert backend == canary["stableService"]  # Argo requires the stable Ingress to point at the stable Service
    routed = dict(_routed_weights(ro))  # setWeight -> share of requests routed to the canary (%)
    assert all(r == w for w, r in routed.items())
    # and every judged window's planned share (what its boundary assumed) is what is routed
    plan = schedule.plan(rule.window_size, min_samples=rule.min_samples)
    for share in plan["share"]:
        assert routed[round(100 * share)] == 100 * share


def test_without_a_traffic_router_the_early_weights_would_be_whole_pods():
    # The same Rollout with trafficRouting removed: the weights Argo could only approximate.
    ro = json.loads(json.dumps(_committed("Rollout")))
    del ro["spec"]["strategy"]["canary"]["trafficRouting"]
    routed = dict(_routed_weights(ro))
    assert routed[5] >= 20 and routed[10] >= 20  # 4x to 5x and 2x to 2.5x the plan
    assert any(w != r for w, r in routed.items() if w)


# ----------------------------------------------------------------------------- artefacts by version
def test_a_stable_pod_still_loads_its_own_artefact_through_a_canary_and_its_abort(tmp_path):
    from mlops_companion import data
    from mlops_reference import artefacts

    s = data.make_scenario()
    volume = tmp_path / "models"  # the claim, laid out as the pods see it under Release.models_root

    def publish(model, version):
        release = deploy.Release(model_version=version, artefact_sha256="0" * 64)
        on_volume = volume / release.artefact_path.removeprefix(release.models_root.rstrip("/") + "/")
        on_volume.parent.mkdir(parents=True)
        manifest = artefacts.save_artefact(model, on_volume, example_input=s.X_test.head(3))
        return deploy.Release(model_version=version, artefact_sha256=manifest.sha256)

    def pod_env(release):
        (deployment, *_) = deploy.make_deployment_manifests(release)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "models")
        env = {e["name"]: e["value"] for e in container["env"]}
        # the container path, mapped onto the tmp folder standing for the volume
        env["MODEL_ARTEFACT"] = str(volume / env["MODEL_ARTEFACT"].removeprefix(mount["mountPath"] + "/"))
        return env

    stable_rel = publish(s.pipeline, "v1")
    stable_env = pod_env(stable_rel)
    before = _utils.sha256_file(stable_env["MODEL_ARTEFACT"])
    # the canary: v2 is added to the volume and gets a pod template of its own
    refit = data.fit_pipeline(s.X_train.iloc[::2], s.y_train.iloc[::2])
    canary_rel = publish(refit, "v2")
    canary_env = pod_env(canary_rel)
    assert canary_env["MODEL_ARTEFACT"] != stable_env["MODEL_ARTEFACT"]
    assert canary_env["MODEL_SHA256"] != stable_env["MODEL_SHA256"]
    # abort: the stable ReplicaSet keeps (or restarts, or scales up with) its own template
    assert pod_env(stable_rel) == stable_env
    assert _utils.sha256_file(stable_env["MODEL_ARTEFACT"]) == before
    settings = deploy.check_environment(stable_env)
    loaded = artefacts.load_artefact(settings["artefact"], expected_sha256=settings["expected_sha256"])
    assert loaded.manifest.sha256 == stable_rel.artefact_sha256
    # and the canary's own file loads too
    deploy.check_environment(canary_env)


def test_one_shared_artefact_path_would_leave_no_healthy_version(tmp_path):
    # What versioned paths prevent: v2 written over the one file v1's pods were told to trust.
    from mlops_companion import data
    from mlops_reference import artefacts

    s = data.make_scenario()
    shared = tmp_path / "model.joblib"
    v1 = artefacts.save_artefact(s.pipeline, shared, example_input=s.X_test.head(3))
    refit = data.fit_pipeline(s.X_train.iloc[::2], s.y_train.iloc[::2])
    artefacts.save_artefact(refit, shared, example_input=s.X_test.head(3))
    with pytest.raises(deploy.StartupError, match="not the trusted"):
        deploy.check_environment({"MODEL_ARTEFACT": str(shared), "MODEL_SHA256": v1.sha256})


def test_committed_steps_carry_the_rules_boundaries_in_order():
    rule = RULE
    boundaries = _boundaries(_committed("Rollout"))
    assert boundaries == list(rule.boundaries)
    assert len(set(boundaries)) > 1  # a boundary per look, not one threshold


def test_committed_analysis_carries_the_chapters_rule():
    rule = RULE
    metric = _committed("AnalysisTemplate")["spec"]["metrics"][0]
    assert metric["successCondition"] == "result[0] <= {{args.boundary}}"
    assert metric["failureLimit"] == 0 and "interval" not in metric  # one measurement per look
    query = metric["provider"]["prometheus"]["query"]
    assert query == _promql.canary_analysis_query(rule, canary="{{args.canary-version}}", lookback="{{args.lookback}}")
    assert "analysis" not in _committed("Rollout")["spec"]["strategy"]["canary"]  # judged at the looks only
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    statistic = next(r for g in rules["groups"] for r in g["rules"]
                     if r.get("record") == _promql.statistic_name(600))
    assert f">= {rule.min_samples}" in statistic["expr"]


def test_each_look_is_analysed_when_its_window_closes_over_everything_so_far():
    schedule, rule = RULE.schedule, RULE
    plan = schedule.plan(rule.window_size, min_samples=rule.min_samples)
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
    rule = RULE
    query = _promql.canary_analysis_query(rule, canary="v2", lookback="3h")
    tests = yaml.safe_load((DEPLOY / "prometheus" / "tests.yml").read_text())
    exprs = [t["expr"] for case in tests["tests"] for t in case.get("promql_expr_test", ())
             if "increase(predicted_probability_count{model_version=" in t["expr"]]
    assert len(exprs) == 3 and all(query in e for e in exprs)


@pytest.mark.skipif(not HAVE_PROMTOOL, reason="promtool is not installed (deploy/ci-check.sh installs it)")
def test_promtool_analysis_cases_catch_a_looser_margin(tmp_path):
    rule = RULE
    shutil.copy(DEPLOY / "prometheus" / "rules.yml", tmp_path)
    text = (DEPLOY / "prometheus" / "tests.yml").read_text()
    kwargs = dict(canary="v2", lookback="3h")
    looser_rule = rollout.CanaryRule(margin=0.3, min_samples=rule.min_samples)  # 0.2 apart is now within it
    looser = _promql.canary_analysis_query(looser_rule, **kwargs)
    (tmp_path / "tests.yml").write_text(text.replace(
        _promql.canary_analysis_query(rule, **kwargs), looser))
    out = subprocess.run(["promtool", "test", "rules", "tests.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "exp: {} 4.8741E+01" in out.stdout + out.stderr


# ----------------------------------------------------------------------------- generators
@pytest.mark.parametrize("hours, shares", [
    ((0, 1, 2, 4, 8, 12, 18), (0.0, 0.05, 0.10, 0.25, 0.50, 0.75, 1.0)),
    ((0, 1, 3), (0.2, 0.6, 1.0)),
    ((0, 24), (0.1, 1.0)),
])
def test_schedule_round_trips_through_the_rollout(hours, shares):
    schedule = rollout.CanarySchedule(hours=hours, shares=shares)
    rule = rollout.CanaryRule(schedule=schedule, window_size=2000, min_samples=50)
    _, ro = deploy.make_rollout_manifests(rule)
    assert deploy.schedule_from_rollout(ro) == (schedule.hours, schedule.shares)
    assert _boundaries(ro) == list(rule.boundaries)


def test_rollout_follows_the_rule():
    rule = rollout.CanaryRule(window_size=4000, min_samples=40, margin=0.05, alpha=0.01)
    template, ro = deploy.make_rollout_manifests(rule)
    query = template["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    assert "- 0.05, 0)" in query and ">= 40" in query
    assert _boundaries(ro) == list(rule.boundaries)
    fixed = rollout.CanaryRule(window_size=2000, min_samples=50, k=2.5)
    assert set(_boundaries(deploy.make_rollout_manifests(fixed)[1])) == {2.5}


def test_margin_is_read_from_the_rule():
    rules = deploy.make_alert_rules(rollout.CanaryRule(k=3.0, consecutive=2, margin=0.02))
    statistic = next(r for g in rules["groups"] for r in g["rules"] if r.get("record", "").startswith(
        "model_version:canary_statistic"))
    assert "clamp_min(" in statistic["expr"] and "- 0.02, 0)" in statistic["expr"]
    plain = deploy.make_alert_rules(rollout.CanaryRule(k=3.0, margin=0.0))
    assert "clamp_min" not in json.dumps(plain)


def test_a_sequential_rules_alert_holds_its_strictest_boundary():
    rule = rollout.CanaryRule()  # group-sequential: one boundary per planned look
    assert rule.k is None
    rules = deploy.make_alert_rules(rule)
    alert = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "CanaryDivergence")
    strictest = max(b for b in rule.boundaries if np.isfinite(b))
    assert f"> {strictest:g} and" in alert["expr"]
    assert deploy.monitor_threshold(rule) == strictest


@pytest.mark.parametrize("generator", [deploy.make_alert_rules, deploy.make_rollout_manifests,
                                       deploy.make_grafana_dashboard, deploy.render_deploy_files,
                                       deploy.monitor_threshold, deploy.recording_rules])
def test_generators_take_a_typed_rule_and_nothing_duck_typed(generator):
    class LooksLikeARule:
        k, min_samples, consecutive, margin, boundaries = 3.0, 100, 1, 0.02, (3.0,)

    args = (LooksLikeARule(), 600) if generator is deploy.recording_rules else (LooksLikeARule(),)
    with pytest.raises(TypeError, match=r"`rule` must be a rollout.CanaryRule; got LooksLikeARule"):
        generator(*args)


def test_deployment_is_locked_down():
    deployment, service, pdb = deploy.make_deployment_manifests(deploy.Release(replicas=6))
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == _kubernetes.CONTAINER_UID
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
    ({"models_root": "models"}, ValueError, "`models_root` must be an absolute path"),
    ({"model_version": "../v1"}, ValueError, "`model_version` must name one folder"),
    ({"port": 80}, ValueError, "`port` must be an integer between 1024 and 65535"),
])
def test_release_checks_its_fields(kwargs, error, match):
    with pytest.raises(error, match=match):
        deploy.Release(**kwargs)


@pytest.mark.parametrize("rule, error, match", [
    (rollout.CanaryRule(schedule=rollout.CanarySchedule(hours=(0, 1), shares=(0.125, 1.0)), min_samples=10),
     ValueError, "whole percentages"),
    (rollout.CanaryRule(schedule=rollout.CanarySchedule(hours=(0, 1, 2), shares=(0.1, 0.5, 0.9)), min_samples=10),
     ValueError, "must end at 1.0"),
    (rollout.CanaryRule(k=3.0, consecutive=2), ValueError, "`rule.consecutive` must be 1"),
    (rollout.CanaryRule(looks=5), ValueError, "`rule` must be planned from a schedule"),
])
def test_rollout_generator_refuses_bad_input(rule, error, match):
    with pytest.raises(error, match=match):
        deploy.make_rollout_manifests(rule)


@pytest.mark.parametrize("kwargs, match", [
    ({"latency_slo": 0}, "`latency_slo` must be a number > 0"),
    ({"max_error_rate": 1.5}, "`max_error_rate` must be a number in"),
    ({"window": -1}, "`window` must be a number > 0"),
])
def test_alert_rules_refuse_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        deploy.make_alert_rules(rollout.CanaryRule(), **kwargs)


@pytest.mark.parametrize("seconds, text", [(600, "10m"), (5400, "1h30m"), (86400, "1d"), (15, "15s"),
                                           (0.25, "250ms")])
def test_format_duration(seconds, text):
    assert _promql.format_duration(seconds) == text


def test_format_duration_refuses_fractions_of_seconds_above_one():
    with pytest.raises(ValueError, match="whole seconds"):
        _promql.format_duration(1.5)


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
        deploy.dump_yaml([deploy.make_alert_rules(rollout.CanaryRule(k=20.0, min_samples=RULE.min_samples, margin=RULE.margin))]))
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
    assert kinds == ["AnalysisTemplate", "Deployment", "HorizontalPodAutoscaler", "Ingress", "PodDisruptionBudget",
                     "Rollout", "Service", "Service"]


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
    from mlops_companion import data
    from mlops_reference import artefacts

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


# ----------------------------------------------------------------------------- autoscaler
def test_autoscalers_capacity_is_the_committed_benchmarks():
    # The throughput the HPA is sized from is the serving benchmark's, one worker under load.
    measured = json.loads((ROOT / "benchmarks" / "bench_serving.json").read_text())
    per_cpu_s = measured["ours_1w"]["c8"]["requests_per_server_cpu_s"]
    assert deploy.BOOK_CAPACITY["requests_per_cpu_second"] == np.floor(per_cpu_s)


def test_autoscaler_carries_the_peak_at_its_target_and_scales_the_rollout():
    capacity = deploy.BOOK_CAPACITY
    (hpa,) = deploy.make_autoscaler_manifests(**capacity)
    spec, release = hpa["spec"], deploy.Release()
    per_pod = capacity["requests_per_cpu_second"] * 0.5 * capacity["target_utilization"]  # cpu "500m"
    assert spec["maxReplicas"] * per_pod >= capacity["peak_requests_per_second"]
    assert (spec["maxReplicas"] - 1) * per_pod < capacity["peak_requests_per_second"]
    assert spec["minReplicas"] == release.replicas
    assert spec["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": release.name}
    committed = list(yaml.safe_load_all((DEPLOY / "k8s" / "autoscaler.yaml").read_text()))
    assert committed == [hpa]


def test_autoscaler_never_goes_below_the_release_and_reads_whole_cores():
    small = deploy.make_autoscaler_manifests(requests_per_cpu_second=850, peak_requests_per_second=10)
    assert small[0]["spec"]["maxReplicas"] == deploy.Release().replicas
    two_cores = deploy.make_autoscaler_manifests(deploy.Release(cpu="2"), requests_per_cpu_second=850,
                                                 peak_requests_per_second=2000)
    assert two_cores[0]["spec"]["maxReplicas"] == deploy.Release().replicas  # 1,020 per pod: 2 needed


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"requests_per_cpu_second": 0, "peak_requests_per_second": 10}, ValueError, "requests_per_cpu_second"),
    ({"requests_per_cpu_second": 850, "peak_requests_per_second": -1}, ValueError, "peak_requests_per_second"),
    ({"requests_per_cpu_second": 850, "peak_requests_per_second": 10, "target_utilization": 1.5},
     ValueError, r"`target_utilization` must be in \(0, 1\]"),
    ({"release": "incident", "requests_per_cpu_second": 850, "peak_requests_per_second": 10}, TypeError, "release"),
])
def test_autoscaler_refuses_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        deploy.make_autoscaler_manifests(**kwargs)


@pytest.mark.skipif(not HAVE_K8S_VALIDATE, reason="kubernetes-validate is not installed (deploy/ci-check.sh)")
def test_committed_autoscaler_validates_offline():
    errors, checked = _validator().validate_files([DEPLOY / "k8s" / "autoscaler.yaml"])
    assert errors == [] and len(checked) == 1
