"""Serving a model behind an HTTP API: validated input, health, metrics, shadow and canary.

Covers
    * :func:`create_app`: a FastAPI app around a joblib artefact and the SHA-256 it must
      have (taken from a record the deployer controls, the registry or a deployment config,
      never from the manifest next to the file). ``POST /predict`` takes one observation or
      a bounded batch; ``GET /healthz`` (alive), ``/readyz`` (the stored example replays),
      ``/metrics`` (Prometheus) and ``/rollout`` (shadow or canary state).
      ``mode="shadow"`` and ``mode="canary"`` drive :mod:`mlops_reference.rollout`'s
      ``ShadowDeployment``, ``TrafficSplit`` and ``CanaryMonitor``.
    * :func:`create_app_from_registry`: the same, for the version a registry alias names.
    * :func:`run_server`: start it on a free 127.0.0.1 port (a thread, or worker
      processes), wait until ready, stop it cleanly; :func:`main`, the command line
      (``python -m mlops_reference.serving``).
    * :data:`Observation`, :func:`make_batch_model`: the request schemas, generated from
      :data:`mlops_reference.features.FEATURE_SPECS`.

Where things live
    ``_schema``   request schemas, the guarded body reader (415, 413, depth, duplicate
                  keys) and the OpenAPI document;
    ``_metrics``  the Prometheus series (a contract with alert rules) and their middleware;
    ``_app``      the application and the prediction log;
    ``_run``      running it: sockets, threads, worker processes, the command line.

Out of scope: authentication, TLS, autoscaling and request queues, which belong to the
platform in front of the process (an ingress, a service mesh, a load balancer).
"""
from __future__ import annotations

try:
    import fastapi as _fastapi  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("Serving needs FastAPI and friends: pip install 'mlops-companion[serve]'.") from exc

from ._app import MODES, create_app, create_app_from_registry
from ._run import main, run_server
from ._schema import Observation, make_batch_model

__all__ = [
    "Observation",
    "make_batch_model",
    "create_app",
    "create_app_from_registry",
    "run_server",
    "main",
    "MODES",
]
