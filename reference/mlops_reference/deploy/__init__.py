"""From the laptop to a cluster: manifests, alert rules and a dashboard generated from the book's objects.

The canary schedule (:class:`mlops_reference.rollout.CanarySchedule`) and rollback rule
(:class:`mlops_reference.rollout.CanaryMonitor`) that the safe-deployment chapter tunes
become, here, the files a platform team applies:

- :func:`make_deployment_manifests`: Deployment (readiness on ``/readyz``, liveness on
  ``/healthz``, resources, a restrictive security context), Service, PodDisruptionBudget;
- :func:`make_rollout_manifests`: an Argo Rollouts ``Rollout`` whose steps are the schedule
  and an ``AnalysisTemplate`` whose Prometheus query is the monitor's statistic;
  :func:`make_traffic_manifests`: the canary Service and the NGINX Ingress through which
  the Rollout routes each step's weight of requests;
- :func:`make_autoscaler_manifests`: a HorizontalPodAutoscaler on CPU for the Rollout, its
  ceiling sized from the measured requests per CPU-second and a peak load (:data:`BOOK_CAPACITY`);
- :func:`make_alert_rules`: Prometheus alerts (latency SLO, error rate, canary divergence,
  input drift, a stale drift job); :func:`dashboard_queries` and
  :func:`make_grafana_dashboard`: the PromQL behind a Grafana dashboard;
- :func:`write_deploy_files` writes them all (``python -m mlops_reference.deploy generate
  deploy/``); :func:`schedule_from_rollout` reads a Rollout's steps back;
- :func:`serve_from_environment`: the container's entry point (``python -m
  mlops_reference.deploy serve``), which refuses to start, with exit status 2 or 3, unless
  the artefact named by ``MODEL_ARTEFACT`` has the SHA-256 given in ``MODEL_SHA256``.

Out of scope: applying anything to a cluster, building images (``deploy/Dockerfile``),
and validating the files against their schemas (``deploy/validate_manifests.py``, which
needs tools outside Python).
"""
import functools

from ._container import EXIT_ARTEFACT, EXIT_CONFIG, StartupError, check_environment, serve_from_environment
from ._files import dump_yaml, make_grafana_dashboard, render_deploy_files, write_deploy_files
from ._kubernetes import (BOOK_CAPACITY, CONTAINER_UID, Release, make_autoscaler_manifests, make_deployment_manifests,
                          make_rollout_manifests, make_traffic_manifests, schedule_from_rollout)
from ._promql import (canary_analysis_query, dashboard_queries, format_duration,
                      make_alert_rules, monitor_threshold, recorded_names, recording_rules, statistic_name,
                      version_divergence_query)

__all__ = [
    "Release",
    "CONTAINER_UID",
    "make_deployment_manifests",
    "make_rollout_manifests",
    "make_traffic_manifests",
    "make_autoscaler_manifests",
    "BOOK_CAPACITY",
    "schedule_from_rollout",
    "format_duration",
    "monitor_threshold",
    "recorded_names",
    "recording_rules",
    "statistic_name",
    "canary_analysis_query",
    "version_divergence_query",
    "dashboard_queries",
    "make_alert_rules",
    "make_grafana_dashboard",
    "dump_yaml",
    "render_deploy_files",
    "write_deploy_files",
    "StartupError",
    "EXIT_CONFIG",
    "EXIT_ARTEFACT",
    "check_environment",
    "serve_from_environment",
    "book_rule",
    "BOOK_CANARY",
    "main",
]


#: What the safe-deployment chapter derives its rule from: windows of this many requests an
#: hour, judged from this many per group, the false-rollback rate at the margin, the power
#: against the fault, and the seed of the week of traffic it scores.
BOOK_CANARY = {"window_size": 2000, "min_samples": 50, "alpha": 0.05, "power": 0.9, "traffic_rng": 11}


def book_rule() -> tuple:
    """The canary schedule and rule that ``deploy/`` is generated from (the safe-deployment chapter's).

    The group-sequential monitor of that chapter: looks at the schedule's hourly windows of
    2,000 requests, judged once both groups hold 50, one alpha-spending boundary per look,
    and the margin that chapter derives with :func:`mlops_reference.rollout.derive_margin`
    from the smaller known fault, ``p99_latency_ms`` sent in seconds: its shift of the mean
    predicted probability and the spread of a single score, measured on the same week of
    traffic the chapter scores. The chapter asserts that its rule is this one.

    Examples
    --------
    >>> schedule, monitor = book_rule()
    >>> schedule.shares[-1], monitor.k, len(monitor.rule.boundaries), monitor.margin
    (1.0, None, 17, 0.022)
    """
    from mlops_reference import rollout

    c = BOOK_CANARY
    schedule = rollout.CanarySchedule()
    return schedule, rollout.CanaryMonitor.for_schedule(
        schedule, window_size=c["window_size"], min_samples=c["min_samples"], margin=_book_margin(),
        alpha=c["alpha"])


@functools.lru_cache(maxsize=1)
def _book_margin() -> float:
    """The chapter's derivation, run once per process (a monitor holds state, so only the number is kept)."""
    from mlops_companion import data
    from mlops_reference import rollout

    c = BOOK_CANARY
    schedule = rollout.CanarySchedule()
    pipeline = data.make_scenario().pipeline
    traffic = data.make_production_sample(int(schedule.hours[-1]) * c["window_size"], rng=c["traffic_rng"])
    p = pipeline.predict_proba(traffic)[:, 1]
    seconds = traffic.assign(p99_latency_ms=traffic["p99_latency_ms"] / 1000)
    shift = float(pipeline.predict_proba(seconds)[:, 1].mean() - p.mean())
    return rollout.derive_margin(schedule, shift=shift, sd=float(p.std()), power=c["power"],
                                 window_size=c["window_size"], min_samples=c["min_samples"], alpha=c["alpha"])


def main(argv: list[str] | None = None) -> None:
    """Command line: ``generate DIR`` writes the deploy files; ``serve`` runs the container's server.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = tempfile.mkdtemp()
    >>> main(["generate", out])
    wrote 6 files under ...
    >>> (pathlib.Path(out) / "k8s" / "rollout.yaml").read_text().startswith("# Generated by")
    True
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mlops_reference.deploy", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write k8s/, prometheus/ and grafana/ files under DIR")
    gen.add_argument("directory")
    sub.add_parser("serve", help="serve MODEL_ARTEFACT after checking it against MODEL_SHA256")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve_from_environment()
        return
    paths = write_deploy_files(args.directory, *book_rule())
    print(f"wrote {len(paths)} files under {args.directory}")
