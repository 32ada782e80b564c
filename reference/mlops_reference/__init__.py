"""The production reference implementation the book *Model deployment and MLOps* deploys.

What runs in production, hardened: verified artefacts (``artefacts``), the MLflow registry
(``registry``), validation gates (``validation``), shadow, canary and blue/green rollouts
(``rollout``), drift detection (``drift``), the HTTP model server (``serving``), batch
scoring (``batch``) and the container, Kubernetes and Prometheus files (``deploy``). The
model server's container installs this package alone.

The book's own scaffolding (the incident scenario, figures, the lifecycle simulation, the
prediction log helpers and the exercise checks) is the separate, small ``mlops_companion``
package, which depends on this one; this package never imports it.

Import the module, not its names, so the reader always sees where a function lives::

    from mlops_reference import drift
    report = drift.detect_drift(reference, current)

``registry`` needs the ``registry`` extra (MLflow), ``batch`` and distributed ``drift`` the
``dask`` extra, ``serving`` the ``serve`` extra (FastAPI, uvicorn). Importing this package
starts nothing, seeds nothing and changes no global state.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

__all__ = [
    "artefacts",
    "batch",
    "deploy",
    "drift",
    "features",
    "registry",
    "rollout",
    "serving",
    "validation",
]


def __getattr__(name: str) -> ModuleType:
    # Submodules load on first use: `import mlops_reference` never imports MLflow or FastAPI.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
