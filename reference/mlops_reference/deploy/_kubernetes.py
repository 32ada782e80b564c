"""Kubernetes and Argo Rollouts manifests for the model server, as plain dicts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _utils
from ..rollout import CanaryRule
from ._promql import canary_analysis_query, check_rule, format_duration

#: Where the server answers, as :mod:`mlops_reference.serving` defines it.
HEALTH_PATH, READY_PATH, METRICS_PATH = "/healthz", "/readyz", "/metrics"

#: The unprivileged user the Dockerfile creates; the pod insists on it.
CONTAINER_UID = 10001

BOOK_CAPACITY = {
    # benchmarks/bench_serving.json, ours_1w.c8.requests_per_server_cpu_s (848.3, rounded down):
    # one uvicorn worker under 8 keep-alive connections on the 2-core build machine.
    "requests_per_cpu_second": 848.0,
    # An assumption, not a measurement: the peak the service is sized for.
    "peak_requests_per_second": 2000.0,
    "target_utilization": 0.6,
}
"""What ``deploy/k8s/autoscaler.yaml`` is sized from: measured throughput, assumed peak, CPU target."""


def _check_name(value: Any, name: str) -> str:
    ok = (isinstance(value, str) and 0 < len(value) <= 63 and value[0].isalnum() and value[-1].isalnum()
          and all(c.islower() or c.isdigit() or c == "-" for c in value))
    if not ok:
        raise ValueError(f"`{name}` must be a Kubernetes name (lower-case letters, digits and '-', "
                         f"at most 63 characters, starting and ending alphanumeric); got {value!r}.")
    return value


def _check_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError(f"`{name}` must be a non-empty string without spaces; got {value!r}.")
    return value


def _check_sha(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"`{name}` must be a SHA-256 digest (64 lower-case hexadecimal characters); "
                         f"got {value!r}. Take it from the artefact's manifest or the registry's tags.")
    return value


@dataclass(frozen=True)
class Release:
    """What one release of the model server is: image, model version, artefact and sizing.

    Parameters
    ----------
    name : str, default="incident-predictor"
        Name of every object (Kubernetes naming rules).
    image : str
        Container image built from ``deploy/Dockerfile``.
    model_version : str
        The version this release serves (the canary while the rollout runs).
    artefact_sha256 : str
        Trusted SHA-256 of the artefact, from the registry; the container refuses any other file.
    models_root : str, default="/models"
        Where the models volume (the claim ``models_claim``, read-only) is mounted. Every
        version has a folder of its own on it, and a release names its own file,
        :attr:`artefact_path` = ``<models_root>/<name>/<model_version>/model.joblib``: a
        new version is *added* beside the stable one, never written over it, so a stable
        pod that restarts during a canary, or after its abort, still finds its own bytes.
    replicas : int, default=4
    port : int, default=8000
    cpu, memory : str
        Requests; limits are set equal, so the pod gets the Guaranteed QoS class.
    host : str, default="incident-predictor.example.org"
        Host name the Ingress answers for; callers reach the server through it, so that the
        ingress controller, not the count of pods, sets the canary's share of requests.
    """

    name: str = "incident-predictor"
    image: str = "registry.example.org/incident-predictor:0.1.0"
    model_version: str = "v2"
    artefact_sha256: str = "0" * 64
    models_root: str = "/models"
    models_claim: str = "incident-predictor-models"
    host: str = "incident-predictor.example.org"
    replicas: int = 4
    port: int = 8000
    cpu: str = "500m"
    memory: str = "512Mi"

    def __post_init__(self) -> None:
        _check_name(self.name, "name")
        _check_name(self.models_claim, "models_claim")
        for field in ("image", "model_version", "models_root", "cpu", "memory", "host"):
            _check_text(getattr(self, field), field)
        _check_sha(self.artefact_sha256, "artefact_sha256")
        if not self.models_root.startswith("/") or self.models_root.rstrip("/") == "":
            raise ValueError(f"`models_root` must be an absolute path other than '/'; got {self.models_root!r}.")
        if "/" in self.model_version or self.model_version in (".", ".."):
            raise ValueError(f"`model_version` must name one folder (no '/', not '.' or '..'); "
                             f"got {self.model_version!r}.")
        _utils.check_int(self.replicas, "replicas", low=2)
        _utils.check_int(self.port, "port", low=1024, high=65535)

    @property
    def artefact_path(self) -> str:
        """The artefact of *this* version inside the container: one folder per name and version."""
        return f"{self.models_root.rstrip('/')}/{self.name}/{self.model_version}/model.joblib"

    @property
    def canary_service(self) -> str:
        """Name of the Service Argo Rollouts points at the canary's pods (the stable one is ``name``)."""
        return f"{self.name}-canary"

    @property
    def labels(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/component": "model-server"}


def _container(release: Release) -> dict[str, Any]:
    probe = lambda path, period, failures: {  # noqa: E731
        "httpGet": {"path": path, "port": "http"}, "periodSeconds": period,
        "timeoutSeconds": 2, "failureThreshold": failures}
    return {
        "name": "server",
        "image": release.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": release.port, "protocol": "TCP"}],
        "env": [
            {"name": "MODEL_ARTEFACT", "value": release.artefact_path},
            {"name": "MODEL_SHA256", "value": release.artefact_sha256},
            {"name": "MODEL_VERSION", "value": release.model_version},
            {"name": "PORT", "value": str(release.port)},
        ],
        # Start-up loads and hash-checks the artefact: give it up to 60 s before liveness counts.
        "startupProbe": probe(HEALTH_PATH, 2, 30),
        "livenessProbe": probe(HEALTH_PATH, 10, 3),
        "readinessProbe": probe(READY_PATH, 5, 2),
        "resources": {"requests": {"cpu": release.cpu, "memory": release.memory},
                      "limits": {"cpu": release.cpu, "memory": release.memory}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "models", "mountPath": release.models_root.rstrip("/"), "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _pod_template(release: Release) -> dict[str, Any]:
    return {
        "metadata": {"labels": dict(release.labels),
                     "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(release.port),
                                     "prometheus.io/path": METRICS_PATH}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": CONTAINER_UID,
                                "runAsGroup": CONTAINER_UID, "fsGroup": CONTAINER_UID,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "terminationGracePeriodSeconds": 30,
            "containers": [_container(release)],
            "volumes": [
                {"name": "models", "persistentVolumeClaim": {"claimName": release.models_claim, "readOnly": True}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            ],
        },
    }


def make_deployment_manifests(release: Release | None = None) -> list[dict[str, Any]]:
    """The Deployment, Service and PodDisruptionBudget of the model server.

    The Deployment probes ``/readyz`` for readiness (the artefact's example replays) and
    ``/healthz`` for liveness, runs as an unprivileged user on a read-only root file
    system with every capability dropped, and passes the artefact's path and trusted
    SHA-256 in the environment.

    Parameters
    ----------
    release : Release, default=None
        ``Release()`` when None.

    Returns
    -------
    list of dict
        Documents in apply order: Deployment, Service, PodDisruptionBudget.

    Examples
    --------
    Which paths do the probes call?

    >>> deployment, service, pdb = make_deployment_manifests()
    >>> c = deployment["spec"]["template"]["spec"]["containers"][0]
    >>> c["readinessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["path"]
    ('/readyz', '/healthz')
    >>> pdb["spec"]["maxUnavailable"]
    1
    """
    release = _check_release(release)
    meta = {"name": release.name, "labels": dict(release.labels)}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(meta),
        "spec": {
            "replicas": release.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": dict(release.labels)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": _pod_template(release),
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": dict(meta),
        "spec": {"type": "ClusterIP", "selector": dict(release.labels),
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
    }
    pdb = {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": dict(meta),
        # Voluntary disruptions (node drains, upgrades) take one pod at a time.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(release.labels)}},
    }
    return [deployment, service, pdb]


def make_traffic_manifests(release: Release | None = None) -> list[dict[str, Any]]:
    """The canary's Service and the Ingress through which Argo Rollouts splits requests by weight.

    Without a traffic router, Argo Rollouts can only approximate a ``setWeight`` with whole
    pods: on four replicas a 5 % step runs one canary pod beside three or four stable ones,
    a fifth to a quarter of the requests. With ``trafficRouting.nginx`` it keeps the
    Ingress below pointing at the stable Service (``release.name``, the Service of
    :func:`make_deployment_manifests`, to whose selector it adds the stable pods' hash),
    and creates a copy for the canary Service whose ``canary-weight`` annotation is the
    step's weight, so the NGINX ingress controller routes that share of requests whatever
    the number of pods.

    Returns
    -------
    list of dict
        The canary Service, then the Ingress.

    Examples
    --------
    >>> canary, ingress = make_traffic_manifests()
    >>> canary["metadata"]["name"], ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    ('incident-predictor-canary', 'incident-predictor')
    """
    release = _check_release(release)
    canary = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": release.canary_service, "labels": dict(release.labels)},
        "spec": {"type": "ClusterIP", "selector": dict(release.labels),
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": release.name, "labels": dict(release.labels)},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": release.host, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": release.name, "port": {"name": "http"}}}}]}}],
        },
    }
    return [canary, ingress]


def _check_release(release: Any) -> Release:
    if release is None:
        return Release()
    if not isinstance(release, Release):
        raise TypeError(f"`release` must be a deploy.Release; got {type(release).__name__}.")
    return release


def _check_schedule(rule: CanaryRule) -> tuple[tuple[float, ...], tuple[float, ...]]:
    schedule = rule.schedule
    if schedule is None:
        raise ValueError("`rule` must be planned from a schedule (`CanaryRule(schedule=..., window_size=...)`): "
                         "its steps are the Rollout's; got a rule planned from `looks`.")
    if schedule.shares[-1] != 1.0:
        raise ValueError(f"`rule.schedule.shares` must end at 1.0 (a complete rollout); got {schedule.shares[-1]!r}.")
    for share in schedule.shares[:-1]:
        if abs(share * 100 - round(share * 100)) > 1e-9:
            raise ValueError(f"`rule.schedule.shares` must be whole percentages (Argo's setWeight is an "
                             f"integer); got {share!r}.")
    return schedule.hours, schedule.shares


def _pause(hours: float) -> str:
    seconds = hours * 3600
    if abs(seconds - round(seconds)) > 1e-6:
        raise ValueError(f"`schedule.hours` must be whole seconds apart; got a step of {hours!r} h.")
    return format_duration(round(seconds))


def _looks(rule: CanaryRule) -> list[tuple[float, float]]:
    """(hour at which look j is taken, boundary c_j) for every planned look of ``rule``."""
    if rule.consecutive != 1:
        raise ValueError(f"`rule.consecutive` must be 1: an Argo step analysis judges each look once "
                         f"and cannot count breaches in a row; got {rule.consecutive}.")
    plan = rule.schedule.plan(rule.window_size, min_samples=rule.min_samples)
    # A window [h, h + 1) closes, and is judged, at h + 1.
    return [(float(h) + 1.0, float(c)) for h, c in zip(plan["hour"], rule.boundaries)]


def _steps(rule: CanaryRule, release: Release, template: str) -> list[dict[str, Any]]:
    """setWeight, then for each look in the step a pause until its window closes and an analysis."""
    hours, shares = _check_schedule(rule)
    looks = _looks(rule)
    first_window = looks[0][0] - 1.0
    steps: list[dict[str, Any]] = []
    for i in range(len(hours) - 1):
        steps.append({"setWeight": int(round(shares[i] * 100))})
        clock = hours[i]
        for at, boundary in looks:
            if not hours[i] < at <= hours[i + 1]:
                continue
            steps.append({"pause": {"duration": _pause(at - clock)}})
            steps.append({"analysis": {
                "templates": [{"templateName": template}],
                "args": [{"name": "canary-version", "value": release.model_version},
                         {"name": "boundary", "value": repr(boundary)},
                         {"name": "lookback", "value": format_duration(round((at - first_window) * 3600))}],
            }})
            clock = at
        if clock < hours[i + 1]:
            steps.append({"pause": {"duration": _pause(hours[i + 1] - clock)}})
    return steps


def _analysis_template(rule: CanaryRule, release: Release, name: str) -> dict[str, Any]:
    """The AnalysisTemplate: one measurement of the rule's statistic per look, against that look's c_j."""
    query = canary_analysis_query(rule, canary="{{args.canary-version}}", lookback="{{args.lookback}}")
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": name, "labels": dict(release.labels)},
        "spec": {
            "args": [{"name": "canary-version"}, {"name": "boundary"}, {"name": "lookback"}],
            "metrics": [{
                "name": "canary-divergence",
                # One measurement per look: the pooled margin statistic against this look's c_j.
                "successCondition": "result[0] <= {{args.boundary}}",
                "failureLimit": 0,
                "consecutiveErrorLimit": 4,
                "provider": {"prometheus": {"address": "http://prometheus.monitoring.svc:9090",
                                            "query": query}},
            }],
        },
    }


def make_rollout_manifests(rule: CanaryRule, *, release: Release | None = None) -> list[dict[str, Any]]:
    """The Argo Rollouts ``Rollout`` and ``AnalysisTemplate`` of a canary release.

    Everything the canary decides comes from ``rule``, a
    :class:`~mlops_reference.rollout.CanaryRule` planned from a schedule. For each step
    ``i`` of ``rule.schedule`` but the last, a ``setWeight`` of ``shares[i]`` (in percent),
    then, for every look ``j`` the rule plans within that step (one per hourly window), a
    ``pause`` until the window closes and a step ``analysis`` with the arguments
    ``boundary`` (the rule's :math:`c_j`) and ``lookback`` (the time since the first judged
    window opened); a last ``pause`` runs to ``hours[i + 1]``. After it Argo promotes the
    canary to 100 %. The weights are routed by the NGINX ingress controller
    (``trafficRouting.nginx``, over the Services and Ingress of
    :func:`make_traffic_manifests`), so each step's share of requests is the share the
    boundaries were computed for, not a whole number of pods. Each analysis takes one
    measurement of the rule's margin statistic of the canary against the other versions,
    pooled over the whole ``lookback``, and fails when it exceeds ``{{args.boundary}}``
    (``failureLimit`` 0): the rollout aborts and traffic returns to the stable version.
    The Rollout takes its pod template from the Deployment of
    :func:`make_deployment_manifests` (``workloadRef``), so the two cannot drift apart.

    Parameters
    ----------
    rule : rollout.CanaryRule
        Planned from a schedule whose shares are whole percentages; ``consecutive`` must be 1.
    release : Release, default=None

    Returns
    -------
    list of dict
        The AnalysisTemplate, then the Rollout.

    Examples
    --------
    Which weights does the default schedule set, and what is the first look's boundary?

    >>> from mlops_reference import rollout
    >>> rule = rollout.CanaryRule(window_size=2000, min_samples=50)
    >>> template, ro = make_rollout_manifests(rule)
    >>> steps = ro["spec"]["strategy"]["canary"]["steps"]
    >>> [s["setWeight"] for s in steps if "setWeight" in s]
    [0, 5, 10, 25, 50, 75]
    >>> first = next(s["analysis"] for s in steps if "analysis" in s)
    >>> {a["name"]: a["value"] for a in first["args"]}["boundary"][:5]
    '3.011'
    >>> template["spec"]["metrics"][0]["successCondition"]
    'result[0] <= {{args.boundary}}'
    """
    rule, release = check_rule(rule), _check_release(release)
    name = f"{release.name}-canary-divergence"
    steps = _steps(rule, release, name)
    template = _analysis_template(rule, release, name)
    ro = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": release.name, "labels": dict(release.labels)},
        "spec": {
            "replicas": release.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": dict(release.labels)},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": release.name,
                            "scaleDown": "progressively"},
            # Requests are split by the ingress controller at each step's weight, not by pod counts.
            "strategy": {"canary": {"canaryService": release.canary_service, "stableService": release.name,
                                    "trafficRouting": {"nginx": {"stableIngress": release.name}},
                                    "maxSurge": 1, "maxUnavailable": 0, "steps": steps}},
        },
    }
    return [template, ro]


def _seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text[i:i + 2] == "ms" else ch
        if unit not in units or not number:
            raise ValueError(f"`duration` must look like '90m' or '1h30m'; got {text!r}.")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        raise ValueError(f"`duration` must end with a unit (s, m, h); got {text!r}.")
    return total


def schedule_from_rollout(rollout_manifest: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Read a Rollout's canary steps back as a schedule's ``(hours, shares)``.

    The inverse of the steps :func:`make_rollout_manifests` writes; a test compares it with
    the book's :class:`~mlops_reference.rollout.CanarySchedule`, so a hand edit of the
    committed manifest that changes the schedule is caught.

    Examples
    --------
    >>> from mlops_reference import rollout
    >>> schedule = rollout.CanarySchedule(hours=(0, 2, 6), shares=(0.1, 0.5, 1.0))
    >>> _, ro = make_rollout_manifests(rollout.CanaryRule(schedule=schedule, min_samples=50))
    >>> schedule_from_rollout(ro)
    ((0.0, 2.0, 6.0), (0.1, 0.5, 1.0))
    """
    try:
        steps = rollout_manifest["spec"]["strategy"]["canary"]["steps"]
    except (KeyError, TypeError):
        raise ValueError("`rollout_manifest` must be an Argo Rollout with canary steps "
                         "(spec.strategy.canary.steps).") from None
    hours, shares, clock = [], [], 0.0
    for step in steps:
        if "setWeight" in step:
            hours.append(clock)
            shares.append(step["setWeight"] / 100)
        elif "pause" in step:
            clock += _seconds(step["pause"]["duration"]) / 3600
    hours.append(clock)
    shares.append(1.0)
    return tuple(float(h) for h in hours), tuple(float(s) for s in shares)



def _cpu_cores(quantity: str) -> float:
    """Kubernetes CPU quantity ("500m", "1", "1.5") in cores."""
    text = quantity.strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise ValueError(f"`release.cpu` must be a CPU quantity such as '500m' or '2'; got {quantity!r}.") from None


def make_autoscaler_manifests(release: Release | None = None, *, requests_per_cpu_second: float,
                              peak_requests_per_second: float,
                              target_utilization: float = 0.6) -> list[dict[str, Any]]:
    """A HorizontalPodAutoscaler (``autoscaling/v2``) on CPU for the Rollout, sized from a measurement.

    One pod serves ``requests_per_cpu_second`` times its CPU request at full use; the
    autoscaler keeps the average use at ``target_utilization``, so a pod carries that share
    of it. ``maxReplicas`` is the number of pods that carries ``peak_requests_per_second``
    at the target, never fewer than the release's replicas; ``minReplicas`` is the release's
    replicas (the PodDisruptionBudget and the canary steps assume them). The target is the
    Argo ``Rollout``, which owns the pods' count once it manages the Deployment.

    Parameters
    ----------
    release : Release, default=None
        What to scale; None means ``Release()``.
    requests_per_cpu_second : float
        Measured requests served per second of server CPU (``benchmarks/bench_serving.json``).
    peak_requests_per_second : float
        The peak load the service must carry.
    target_utilization : float, default=0.6
        Average CPU use, as a share of the request, that the autoscaler aims for; the rest is
        headroom for bursts while new pods start.

    Returns
    -------
    list of dict

    Examples
    --------
    How many pods of half a core carry 2,000 requests per second at 60% CPU?

    >>> (hpa,) = make_autoscaler_manifests(requests_per_cpu_second=850, peak_requests_per_second=2000)
    >>> hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    (4, 8)
    >>> hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]
    60
    >>> make_autoscaler_manifests(requests_per_cpu_second=850, peak_requests_per_second=2000,
    ...                           target_utilization=1.5)
    Traceback (most recent call last):
    ...
    ValueError: `target_utilization` must be in (0, 1]; got 1.5. ...
    """
    release = _check_release(release)
    per_cpu_s = _utils.check_positive_number(requests_per_cpu_second, "requests_per_cpu_second")
    peak = _utils.check_positive_number(peak_requests_per_second, "peak_requests_per_second")
    target = _utils.check_positive_number(target_utilization, "target_utilization")
    if target > 1:
        raise ValueError(f"`target_utilization` must be in (0, 1]; got {target_utilization!r}. "
                         "Pass the share of the CPU request to aim for, e.g. 0.6.")
    per_pod = per_cpu_s * _cpu_cores(release.cpu) * target
    max_replicas = max(release.replicas, -(-peak // per_pod))
    return [{
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": release.name, "labels": dict(release.labels)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": release.name},
            "minReplicas": release.replicas,
            "maxReplicas": int(max_replicas),
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": round(target * 100)}}}],
            # Scale up at once; scale down only after five quiet minutes, so a dip between
            # two bursts does not remove the pods the second burst needs.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }]
