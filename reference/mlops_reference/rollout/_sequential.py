"""The group-sequential machinery behind :class:`~mlops_reference.rollout.CanaryRule`.

Alpha-spending boundaries (Lan & DeMets), the probability of crossing them (recursive
integration on a Simpson grid, Jennison & Turnbull ch. 19), and the running state that
:meth:`CanaryRule.judge <mlops_reference.rollout.CanaryRule.judge>` updates, for one live
rollout or thousands of simulated ones at once. Private: :mod:`~mlops_reference.rollout.canary` and
:mod:`~mlops_reference.rollout.simulate` share it; readers meet it through ``CanaryRule``.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize, stats


SPENDING = ("pocock", "obrien-fleming")
ALTERNATIVES = ("two-sided", "less", "greater")


def spent(t: np.ndarray, alpha: float, spending: str) -> np.ndarray:
    """Cumulative false-rollback probability allowed by information fraction ``t``."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if spending == "pocock":  # Lan & DeMets' Pocock-type function: spends early
        return alpha * np.log1p((math.e - 1.0) * t)
    with np.errstate(divide="ignore"):  # O'Brien-Fleming type: spends almost nothing early
        return np.where(t > 0, 2.0 * stats.norm.sf(stats.norm.isf(alpha / 2) / np.sqrt(t)), 0.0)


def _simpson(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    n = n + 1 if n % 2 == 0 else n
    x = np.linspace(lo, hi, n)
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return x, w * (x[1] - x[0]) / 3.0


def _grid(lo: float, hi: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Simpson grid on [lo, hi] fine enough for Gaussian kernels of width ``scale``."""
    n = int(min(1201, max(61, math.ceil(6 * (hi - lo) / scale))))
    return _simpson(lo, hi, n)


class _Paths:
    """Sub-density of the paths of a Brownian motion still inside the continuation region.

    ``S_j`` has mean ``theta * info_j`` and independent increments of variance
    ``info_j - info_{j-1}``: the score statistic of a group-sequential test (Jennison &
    Turnbull, ch. 19). The density is carried look by look on a Simpson grid.
    """

    def __init__(self, theta: float) -> None:
        self.theta, self.info = theta, 0.0
        self.x = self.wf = None  # grid and weight * density; None before the first look

    def _kernel(self, info: float) -> tuple[float, float]:
        di = info - self.info
        return self.theta * di, math.sqrt(di)

    def crossing(self, info: float, lower: float, upper: float) -> tuple[float, float]:
        """P(still running, then above ``upper`` / below ``lower`` at the look with ``info``)."""
        mu, s = self._kernel(info)
        if self.wf is False:
            return 0.0, 0.0
        if self.x is None:
            return (float(stats.norm.sf((upper - mu) / s)), float(stats.norm.cdf((lower - mu) / s)))
        return (float(self.wf @ stats.norm.sf((upper - self.x - mu) / s)),
                float(self.wf @ stats.norm.cdf((lower - self.x - mu) / s)))

    def advance(self, info: float, lower: float, upper: float, next_info: float) -> None:
        """Move to the look with ``info``, keeping only the paths inside (lower, upper)."""
        mu, s = self._kernel(info)
        centre, spread = self.theta * info, math.sqrt(info)
        lo, hi = max(lower, centre - 8 * spread), min(upper, centre + 8 * spread)
        if self.wf is False or hi <= lo:
            self.wf, self.info = False, info
            return
        x, w = _grid(lo, hi, min(s, math.sqrt(max(next_info - info, 1e-300))))
        if self.x is None:
            f = stats.norm.pdf(x, loc=mu, scale=s)
        else:
            f = (self.wf @ stats.norm.pdf((x[None, :] - self.x[:, None] - mu) / s)) / s
        self.x, self.wf, self.info = x, w * f, info


def crossing_probabilities(info: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                            theta: float) -> tuple[np.ndarray, np.ndarray]:
    """P(first leaving (lower_j, upper_j) above / below at look j), for every look."""
    n = len(info)
    up, down = np.zeros(n), np.zeros(n)
    paths = _Paths(theta)
    for j in range(n):
        up[j], down[j] = paths.crossing(info[j], lower[j], upper[j])
        if j < n - 1:
            paths.advance(info[j], lower[j], upper[j], info[j + 1])
    return up, down


def boundaries(fractions: np.ndarray, alpha: float, spending: str) -> np.ndarray:
    """Critical values c_j (z scale) whose one-sided crossing probabilities follow the spending."""
    return np.array(_boundaries_cached(tuple(float(t) for t in fractions), float(alpha), spending))


@functools.lru_cache(maxsize=64)
def _boundaries_cached(fractions: tuple[float, ...], alpha: float, spending: str) -> tuple[float, ...]:
    fractions = np.asarray(fractions, dtype=float)
    target = np.diff(np.r_[0.0, spent(fractions, alpha, spending)])
    c = np.empty(len(fractions))
    paths = _Paths(0.0)
    for j, t in enumerate(fractions):
        root = math.sqrt(t)
        if target[j] <= 1e-15:
            c[j] = np.inf
        else:
            def excess(cj: float) -> float:
                return paths.crossing(t, -np.inf, cj * root)[0] - target[j]

            c[j] = optimize.brentq(excess, -5.0, 40.0, xtol=1e-10)
        if j < len(fractions) - 1:
            paths.advance(t, -np.inf, c[j] * root, fractions[j + 1])
    return tuple(float(v) for v in c)


class RuleState:
    """Running totals of the rule for ``n`` independent rollouts (one for a live monitor)."""

    def __init__(self, n: int) -> None:
        self.weight = np.zeros(n)
        self.weighted_diff = np.zeros(n)
        self.looks = np.zeros(n, dtype=int)
        self.streak = np.zeros(n, dtype=int)
        self.rolled = np.zeros(n, dtype=bool)
