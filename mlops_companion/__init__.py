"""Companion package of the book *Model deployment and MLOps*.

Each module is one concept the book teaches; import the module, not its names, so the
reader always sees where a function lives::

    from mlops_companion import data, drift
    report = drift.detect_drift(reference, current)

Core modules (``data``, ``artefacts``, ``validation``, ``drift``, ``rollout``, ``plots``,
``checks``, ``predlog``) need only the core dependencies. ``registry`` needs the ``registry``
extra (MLflow), ``batch`` and distributed ``drift`` the ``dask`` extra, ``serving`` the ``serve`` extra (FastAPI, uvicorn) and ``deploy``'s manifest
validation the ``deploy`` extra. Importing this package
starts nothing, seeds nothing and changes no global state.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

__all__ = [
    "artefacts",
    "batch",
    "checks",
    "data",
    "deploy",
    "drift",
    "lifecycle",
    "plots",
    "predlog",
    "registry",
    "rollout",
    "serving",
    "validation",
]


def __getattr__(name: str) -> ModuleType:
    # Submodules load on first use, so `import mlops_companion` stays cheap and never
    # imports MLflow or FastAPI unless a chapter asks for them.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
