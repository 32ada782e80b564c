"""The reader's kit for the book *Model deployment and MLOps*: the book's own scaffolding.

The incident scenario every chapter uses (``data``), the book's figures (``plots``), the
year-long lifecycle simulation (``lifecycle``), the prediction-log helpers the monitoring
chapters read and write (``predlog``) and the exercises' self-checks (``checks``).

What the book deploys (artefacts, registry, validation, rollout, drift, serving, batch
scoring and the deployment files) is the separate production reference, ``mlops_reference``,
which this package depends on and which the model server's container installs alone::

    from mlops_companion import data          # the book's scenario
    from mlops_reference import drift         # the production code
    report = drift.detect_drift(data.make_production_sample(500, rng=1), current)

Import the module, not its names, so the reader always sees where a function lives.
Importing this package starts nothing, seeds nothing and changes no global state.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

__all__ = ["checks", "data", "lifecycle", "plots", "predlog"]


def __getattr__(name: str) -> ModuleType:
    # Submodules load on first use, so `import mlops_companion` stays cheap.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
