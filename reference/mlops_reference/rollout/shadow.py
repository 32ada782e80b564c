"""Shadow deployment: both models score every request, only the current one answers.

The candidate's failures never reach the caller; they are logged as disagreement.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._utils import check_level
from ._scores import model_scores

__all__ = ["AgreementResult", "ShadowDeployment"]


@dataclass(frozen=True)
class AgreementResult:
    """How closely a shadow candidate agreed with the current model."""

    n_requests: int
    agreement: float  #: share of rows where both models make the same 0/1 decision
    mean_abs_diff: float
    max_abs_diff: float
    mean_current: float
    mean_candidate: float


class ShadowDeployment:
    """Score every request with both models; answer with the current model only.

    Parameters
    ----------
    current, candidate : classifier with ``predict_proba``, or callable
        The live model and the model under evaluation.
    threshold : float, default=0.5
        Probability at which a score becomes a positive decision, for the agreement rate.

    Examples
    --------
    Does the caller only ever see the current model's answer?

    >>> import numpy as np
    >>> shadow = ShadowDeployment(lambda X: np.full(len(X), 0.7),
    ...                           lambda X: np.full(len(X), 0.4))
    >>> shadow.predict(np.zeros((3, 5))).tolist()
    [0.7, 0.7, 0.7]
    >>> shadow.agreement().agreement
    0.0
    """

    def __init__(self, current: Any, candidate: Any, *, threshold: float = 0.5) -> None:
        for model, name in ((current, "current"), (candidate, "candidate")):
            if not (hasattr(model, "predict_proba") or callable(model)):
                raise TypeError(
                    f"`{name}` must have a `predict_proba` method or be a callable; "
                    f"got {type(model).__name__}."
                )
        self.current, self.candidate = current, candidate
        self.threshold = check_level(threshold, "threshold")
        self._current: list[np.ndarray] = []
        self._candidate: list[np.ndarray] = []
        self._lock = threading.Lock()

    def predict(self, X: Any) -> np.ndarray:
        """Return the current model's probabilities; log the candidate's beside them."""
        live = model_scores(self.current, X, "current")
        try:
            shadow = model_scores(self.candidate, X, "candidate")
        except Exception:  # noqa: BLE001 - a failing shadow must never hurt the caller
            shadow = np.full_like(live, np.nan)
        with self._lock:
            self._current.append(live)
            self._candidate.append(shadow)
        return live

    @property
    def log(self) -> pd.DataFrame:
        """Every scored row so far: ``current`` and ``candidate`` probabilities."""
        with self._lock:
            if not self._current:
                return pd.DataFrame({"current": [], "candidate": []})
            cur, cand = np.concatenate(self._current), np.concatenate(self._candidate)
        return pd.DataFrame({"current": cur, "candidate": cand})

    def agreement(self) -> AgreementResult:
        """Summarise the logged comparison (rows where the shadow failed count as disagreement)."""
        log = self.log
        if log.empty:
            raise RuntimeError("No requests were scored yet; call `predict` first.")
        cur, cand = log["current"].to_numpy(), log["candidate"].to_numpy()
        same = (cur >= self.threshold) == (cand >= self.threshold)
        same &= np.isfinite(cand)
        diff = np.abs(cur - cand)
        return AgreementResult(
            n_requests=len(log),
            agreement=float(same.mean()),
            mean_abs_diff=float(np.nanmean(diff)) if np.isfinite(diff).any() else float("nan"),
            max_abs_diff=float(np.nanmax(diff)) if np.isfinite(diff).any() else float("nan"),
            mean_current=float(cur.mean()),
            mean_candidate=float(np.nanmean(cand)) if np.isfinite(cand).any() else float("nan"),
        )
