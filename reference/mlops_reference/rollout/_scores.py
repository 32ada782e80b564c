"""Predicted probabilities from a model or from an array: shared by the shadow and the simulators."""
from __future__ import annotations

from typing import Any

import numpy as np


def model_scores(model: Any, X: Any, name: str) -> np.ndarray:
    """Probability of the positive class from a classifier or a plain callable."""
    if hasattr(model, "predict_proba"):
        out = np.asarray(model.predict_proba(X), dtype=float)
        return out[:, 1] if out.ndim == 2 else out
    if callable(model):
        return np.asarray(model(X), dtype=float).ravel()
    raise TypeError(
        f"`{name}` must have a `predict_proba` method or be a callable returning "
        f"probabilities; got {type(model).__name__}."
    )


def as_scores(values: Any, name: str) -> np.ndarray:
    """``values`` as a flat float array of finite scores."""
    arr = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"`{name}` must hold finite predicted probabilities; got NaN or inf.")
    return arr
