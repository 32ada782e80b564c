"""Safe deployment: shadow, canary and blue/green rollouts, and a simulator for them.

Covers
    * :class:`ShadowDeployment`: both models score every request, only the current
      model's answer is returned, and their agreement is logged.
    * :class:`CanarySchedule`, :class:`TrafficSplit` and :class:`CanaryMonitor`: how much
      traffic the candidate gets and when, which request goes where, and the rollback
      rule, the book's one home for it: "roll back once the canary's mean is shown to
      differ from the baseline's by more than a margin", a group-sequential test whose
      false-rollback rate over the whole schedule is fixed by design
      (:meth:`CanaryMonitor.rollback_probability`, :meth:`CanaryMonitor.design`).
    * :class:`BlueGreen`: two environments, one switch, an instant flip back.
    * :func:`simulate_rollout` (one rollout on a stream of requests, driving the monitor),
      :func:`simulate_canary` and :func:`false_rollback_rate` (thousands of rollouts of
      the configured schedule, vectorised, through the same rule).
    * :func:`resample_canary`: the same rule on rollouts whose requests are drawn from real
      scores, which checks the normal model the theory and the simulator share.
    * :func:`derive_margin`: the margin, derived from the fault the canary must catch.

Out of scope: HTTP (:mod:`mlops_reference.serving` drives :class:`TrafficSplit`,
:class:`CanaryMonitor` and :class:`ShadowDeployment`), load balancers, and A/B tests on
business metrics (chapter 05 shows those on the page).
"""
from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ._utils import (check_int, check_level, check_number, check_one_of, check_fraction,
                     check_positive_int, check_positive_number, wilson_interval)
from ._utils import check_rng

__all__ = [
    "AgreementResult",
    "ShadowDeployment",
    "CanarySchedule",
    "TrafficSplit",
    "MonitorDecision",
    "CanaryRule",
    "CanaryMonitor",
    "BlueGreen",
    "RolloutResult",
    "simulate_rollout",
    "CanarySimulationResult",
    "simulate_canary",
    "simulate_windows",
    "FalseRollbackResult",
    "false_rollback_rate",
    "resample_canary",
    "derive_margin",
]


# ----------------------------------------------------------------------------- helpers
def _scores(model: Any, X: Any, name: str) -> np.ndarray:
    """Probability of the positive class from a classifier or a plain callable."""
    if hasattr(model, "predict_proba"):
        out = np.asarray(model.predict_proba(X), dtype=float)
        out = out[:, 1] if out.ndim == 2 else out
    elif callable(model):
        out = np.asarray(model(X), dtype=float).ravel()
    else:
        raise TypeError(
            f"`{name}` must have a `predict_proba` method or be a callable returning "
            f"probabilities; got {type(model).__name__}."
        )
    return out


def _as_scores(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"`{name}` must hold finite predicted probabilities; got NaN or inf.")
    return arr


# ----------------------------------------------------------------------------- shadow
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

    def __init__(self, current: Any, candidate: Any, *, threshold: float = 0.5,
                 max_rows: int | None = None) -> None:
        for model, name in ((current, "current"), (candidate, "candidate")):
            if not (hasattr(model, "predict_proba") or callable(model)):
                raise TypeError(
                    f"`{name}` must have a `predict_proba` method or be a callable; "
                    f"got {type(model).__name__}."
                )
        self.current, self.candidate = current, candidate
        self.threshold = check_level(threshold, "threshold")
        self.max_rows = None if max_rows is None else check_positive_int(max_rows, "max_rows")
        self._current: list[np.ndarray] = []
        self._candidate: list[np.ndarray] = []
        self._lock = threading.Lock()

    def predict(self, X: Any) -> np.ndarray:
        """Return the current model's probabilities; log the candidate's beside them."""
        live = _scores(self.current, X, "current")
        try:
            shadow = _scores(self.candidate, X, "candidate")
        except Exception:  # noqa: BLE001 - a failing shadow must never hurt the caller
            shadow = np.full_like(live, np.nan)
        with self._lock:
            self._current.append(live)
            self._candidate.append(shadow)
            if self.max_rows is not None:  # keep only the newest max_rows rows (a server runs for days)
                n = sum(len(a) for a in self._current)
                while n - len(self._current[0]) >= self.max_rows:
                    n -= len(self._current.pop(0))
                    self._candidate.pop(0)
        return live

    @property
    def log(self) -> pd.DataFrame:
        """Every scored row so far: ``current`` and ``candidate`` probabilities."""
        with self._lock:
            if not self._current:
                return pd.DataFrame({"current": [], "candidate": []})
            cur, cand = np.concatenate(self._current), np.concatenate(self._candidate)
        if self.max_rows is not None:
            cur, cand = cur[-self.max_rows:], cand[-self.max_rows:]
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


# ----------------------------------------------------------------------------- canary
@dataclass(frozen=True)
class CanarySchedule:
    """When the candidate's share of traffic rises, and to what.

    ``shares[i]`` (a fraction) applies from ``hours[i]`` until ``hours[i + 1]``; the last
    share (normally 1.0, a complete rollout) applies from the last hour on.

    Examples
    --------
    What share does the canary get three hours in, under the default schedule?

    >>> CanarySchedule().share_at(3)
    0.1
    """

    hours: tuple[float, ...] = (0, 1, 2, 4, 8, 12, 18)
    shares: tuple[float, ...] = (0.0, 0.05, 0.10, 0.25, 0.50, 0.75, 1.0)

    def __post_init__(self) -> None:
        hours = tuple(float(h) for h in self.hours)
        shares = tuple(check_fraction(s, "shares") for s in self.shares)
        if len(hours) != len(shares) or len(hours) < 2:
            raise ValueError(
                f"`hours` and `shares` must have the same length, at least 2; "
                f"got {len(hours)} and {len(shares)}."
            )
        if any(b <= a for a, b in zip(hours, hours[1:])) or hours[0] < 0:
            raise ValueError(f"`hours` must be non-negative and strictly increasing; got {self.hours}.")
        if any(b < a for a, b in zip(shares, shares[1:])):
            raise ValueError(f"`shares` must never decrease; got {self.shares}.")
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "shares", shares)

    def share_at(self, hour: float) -> float:
        """The candidate's share of traffic at ``hour``."""
        i = int(np.searchsorted(self.hours, hour, side="right")) - 1
        return self.shares[i] if i >= 0 else 0.0

    def plan(self, window_size: int = 2000, *, min_samples: int = 100) -> pd.DataFrame:
        """The windows a monitor will judge, with their expected sample sizes.

        One row per hourly window with a share strictly between 0 and 1 and, in
        expectation, at least ``min_samples`` requests in each group: ``hour, share,
        n_canary, n_baseline, n_eff, cumulative_n_eff``, where ``n_eff = n_b n_c / (n_b +
        n_c)`` is the sample size that gives a difference of means its standard error
        (``sd / sqrt(n_eff)``). These are the planned looks of :class:`CanaryMonitor`.

        Examples
        --------
        How many windows does the default schedule judge at 2,000 requests an hour?

        >>> plan = CanarySchedule().plan(2000, min_samples=50)
        >>> len(plan), float(plan["n_canary"].iloc[0])
        (17, 100.0)
        """
        window_size = check_positive_int(window_size, "window_size")
        min_samples = check_int(min_samples, "min_samples", low=2)
        hours = np.arange(self.hours[0], self.hours[-1])
        shares = np.array([self.share_at(h) for h in hours])
        n_c, n_b = shares * window_size, (1 - shares) * window_size
        keep = (shares > 0) & (shares < 1) & (n_c >= min_samples) & (n_b >= min_samples)
        if not keep.any():
            raise ValueError(
                f"`window_size` must give both groups at least `min_samples` ({min_samples}) "
                f"requests in some window; got {window_size}. Use larger windows."
            )
        n_eff = n_c * n_b / window_size
        return pd.DataFrame({"hour": hours[keep].astype(float), "share": shares[keep],
                             "n_canary": n_c[keep], "n_baseline": n_b[keep],
                             "n_eff": n_eff[keep], "cumulative_n_eff": np.cumsum(n_eff[keep])})

    def to_frame(self) -> pd.DataFrame:
        """The schedule as a table: ``step``, ``hour``, ``share``."""
        return pd.DataFrame({"step": range(len(self.hours)), "hour": self.hours,
                             "share": self.shares})


class TrafficSplit:
    """Route each request to ``"current"`` or ``"candidate"`` at random.

    Parameters
    ----------
    candidate_share : float
        Probability that a request goes to the candidate, in [0, 1]; may be changed later
        (``split.candidate_share = 0.25``) as the schedule advances.
    rng : int, Generator or None, default=None

    Examples
    --------
    Roughly what share of 10,000 requests reaches a 5% canary?

    >>> split = TrafficSplit(0.05, rng=0)
    >>> routes = [split.route() for _ in range(10_000)]
    >>> round(routes.count("candidate") / len(routes), 2)
    0.05
    """

    def __init__(self, candidate_share: float, rng: int | np.random.Generator | None = None) -> None:
        self.candidate_share = candidate_share
        self._rng = check_rng(rng)

    @property
    def candidate_share(self) -> float:
        return self._share

    @candidate_share.setter
    def candidate_share(self, value: float) -> None:
        self._share = check_fraction(value, "candidate_share")

    def route(self) -> str:
        """Where the next request goes: ``"current"`` or ``"candidate"``."""
        return "candidate" if self._rng.random() < self._share else "current"

    def route_many(self, n: int) -> np.ndarray:
        """Boolean mask of ``n`` requests, True for those sent to the candidate."""
        return self._rng.random(check_positive_int(n, "n")) < self._share


@dataclass(frozen=True)
class MonitorDecision:
    """One window's verdict: ``action`` is "continue", "rollback" or "insufficient".

    ``statistic`` is the margin statistic of :class:`CanaryMonitor` (NaN when the window
    was insufficient), ``estimate`` the cumulative difference canary minus baseline,
    ``boundary`` the critical value it was compared with and ``look`` the number of
    judged windows so far.
    """

    statistic: float
    breached: bool
    action: str
    estimate: float = float("nan")
    boundary: float = float("nan")
    look: int = 0


SPENDING = ("pocock", "obrien-fleming")
ALTERNATIVES = ("two-sided", "less", "greater")


def _spent(t: np.ndarray, alpha: float, spending: str) -> np.ndarray:
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


def _crossing_probabilities(info: np.ndarray, lower: np.ndarray, upper: np.ndarray,
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


def _boundaries(fractions: np.ndarray, alpha: float, spending: str) -> np.ndarray:
    """Critical values c_j (z scale) whose one-sided crossing probabilities follow the spending."""
    return np.array(_boundaries_cached(tuple(float(t) for t in fractions), float(alpha), spending))


@functools.lru_cache(maxsize=64)
def _boundaries_cached(fractions: tuple[float, ...], alpha: float, spending: str) -> tuple[float, ...]:
    fractions = np.asarray(fractions, dtype=float)
    target = np.diff(np.r_[0.0, _spent(fractions, alpha, spending)])
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


@dataclass(frozen=True)
class CanaryRule:
    """Everything that defines a canary rollback rule (what :class:`CanaryMonitor` applies).

    A frozen record, so a :class:`RolloutResult`, a report or a manifest generator can carry
    the exact rule that was used. ``looks`` are the planned cumulative effective sample sizes
    (requests) at each judged window, ``boundaries`` the critical value of the margin
    statistic at each of them; ``k`` is set only for a fixed, hand-chosen boundary.
    """

    margin: float
    alpha: float
    alternative: str
    spending: str | None
    k: float | None
    min_samples: int
    consecutive: int
    looks: tuple[float, ...]
    boundaries: tuple[float, ...]
    window_size: int | None = None
    schedule: CanarySchedule | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rule as plain JSON-ready values (for a manifest, a log line or a report).

        Examples
        --------
        Which keys does a manifest generator get?

        >>> rule = CanaryMonitor.for_schedule(window_size=2000, min_samples=50).rule
        >>> d = rule.to_dict()
        >>> d["margin"], d["alpha"], len(d["boundaries"]), d["schedule"]["shares"][1]
        (0.02, 0.05, 17, 0.05)
        """
        out = {name: getattr(self, name) for name in (
            "margin", "alpha", "alternative", "spending", "k", "min_samples", "consecutive",
            "window_size")}
        out["looks"] = [float(v) for v in self.looks]
        out["boundaries"] = [float(v) if math.isfinite(v) else None for v in self.boundaries]
        out["schedule"] = (None if self.schedule is None else
                           {"hours": list(self.schedule.hours), "shares": list(self.schedule.shares)})
        return out


class CanaryMonitor:
    r"""A group-sequential canary rule: roll back once the canary is shown to differ by more than a margin.

    Each judged window adds the difference of the two groups' means, :math:`d_h = \bar c_h
    - \bar b_h`, with its variance :math:`v_h = s_{c,h}^2/n_{c,h} + s_{b,h}^2/n_{b,h}`. At
    look :math:`j` the windows so far are pooled by inverse variance,

    .. math:: \hat\Delta_j = \frac{\sum_h d_h / v_h}{\sum_h 1/v_h}, \qquad
              \mathrm{SE}_j = \Big(\sum_h 1/v_h\Big)^{-1/2},

    (pooling within windows keeps hour-of-day effects out), and the *margin statistic* is

    .. math:: Z_j = \frac{|\hat\Delta_j| - \delta}{\mathrm{SE}_j}

    (``alternative="less"``: :math:`(-\hat\Delta_j - \delta)/\mathrm{SE}_j`, for a quantity
    where only a drop is harmful). A look *breaches* when :math:`Z_j > c_j`. The margin
    :math:`\delta` is the difference that matters, in the quantity's own units: a shift of
    the mean predicted probability smaller than it is never a reason to roll back, however
    much traffic the canary gets. The boundaries :math:`c_j` are computed once, from the
    planned looks, so that a candidate exactly :math:`\delta` away is rolled back with
    probability ``alpha`` over the *whole* rollout (an alpha-spending boundary, Lan &
    DeMets; Pocock-type by default, which spends early to catch gross faults in the first
    hours). A candidate closer than :math:`\delta` is rolled back less often than that.

    The action is "insufficient" when either group holds fewer than ``min_samples`` scores
    (the window is not a look and the streak is unchanged), "rollback" once ``consecutive``
    looks in a row have breached (and from then on, until :meth:`reset`), else "continue".
    Looks beyond the planned ones have no error left to spend and never breach (with a
    fixed ``k``, every look is judged against ``k``).

    Parameters
    ----------
    margin : float, default=0.02
        :math:`\delta`, in the units of the scores (0.02: two percentage points of mean
        predicted probability).
    alpha : float, default=0.05
        Largest probability of rolling back a candidate within the margin, over all looks.
    alternative : {"two-sided", "less", "greater"}, default="two-sided"
    looks : int or sequence of float, default=None
        Planned cumulative effective sample sizes :math:`n_b n_c / (n_b + n_c)`, summed
        over windows, one per judged window (see :meth:`CanarySchedule.plan`); an int means
        that many equally informative looks. None: the default schedule with windows of
        2,000 requests (:meth:`for_schedule` builds it for any other).
    spending : {"pocock", "obrien-fleming"}, default="pocock"
    k : float, default=None
        A fixed critical value at every look instead of the spending boundary (the error
        rate is then whatever it is: :meth:`rollback_probability` tells).
    min_samples : int, default=100
    consecutive : int, default=1
        Breaching looks in a row before rolling back. The spending guarantee is exact for
        1 and conservative above it.

    Examples
    --------
    A canary 10 points of probability below the baseline: is it rolled back at once?

    >>> import numpy as np
    >>> gen = np.random.default_rng(0)
    >>> monitor = CanaryMonitor(margin=0.02, looks=10)
    >>> d = monitor.update(gen.beta(3, 2, 2000), gen.beta(3, 2, 500) - 0.1)
    >>> d.action, round(d.estimate, 2), bool(d.statistic > d.boundary)
    ('rollback', -0.1, True)

    And one 0.5 points above it, within the margin?

    >>> monitor.reset()
    >>> monitor.update(gen.beta(3, 2, 2000), gen.beta(3, 2, 500) + 0.005).action
    'continue'
    """

    def __init__(self, *, margin: float = 0.02, alpha: float = 0.05,
                 alternative: str = "two-sided", looks: int | Sequence[float] | None = None,
                 spending: str = "pocock", k: float | None = None, min_samples: int = 100,
                 consecutive: int = 1) -> None:
        self.margin = check_number(margin, "margin", low=0.0)
        self.alpha = check_level(alpha, "alpha")
        self.alternative = check_one_of(alternative, "alternative", ALTERNATIVES)
        self.spending = check_one_of(spending, "spending", SPENDING)
        self.k = None if k is None else check_positive_number(k, "k")
        self.min_samples = check_int(min_samples, "min_samples", low=2)
        self.consecutive = check_positive_int(consecutive, "consecutive")
        if looks is None:
            if self.min_samples > 1000:
                raise ValueError(
                    f"`looks` must be given when `min_samples` exceeds the default plan's "
                    f"windows of 2000 requests; got min_samples={self.min_samples}. Use "
                    "`CanaryMonitor.for_schedule(schedule, window_size=...)` or pass `looks`."
                )
            looks = tuple(CanarySchedule().plan(2000, min_samples=self.min_samples)["cumulative_n_eff"])
        if isinstance(looks, (int, np.integer)) and not isinstance(looks, bool):
            self._planned = np.arange(1, check_positive_int(looks, "looks") + 1, dtype=float)
            self._sizes_known = False
        else:
            planned = np.asarray(looks, dtype=float).ravel()
            if planned.size == 0 or not np.isfinite(planned).all() or (planned <= 0).any() \
                    or (np.diff(planned) <= 0).any():
                raise ValueError(
                    "`looks` must be a positive integer or a non-empty, strictly increasing "
                    f"sequence of positive sample sizes; got {looks!r}."
                )
            self._planned, self._sizes_known = planned, True
        self._window_size: int | None = None
        self._schedule: CanarySchedule | None = None
        fractions = self._planned / self._planned[-1]
        self.boundaries = (np.full(len(fractions), self.k) if self.k is not None
                           else _boundaries(fractions, self.alpha, self.spending))
        # A fixed k applies to every look; a spending boundary has nothing left after the plan.
        self._beyond = self.k if self.k is not None else np.inf
        self.reset()

    @classmethod
    def for_schedule(cls, schedule: CanarySchedule | None = None, *, window_size: int = 2000,
                     min_samples: int = 100, **kwargs: Any) -> "CanaryMonitor":
        """A monitor whose looks are the windows of ``schedule`` at ``window_size`` requests.

        Examples
        --------
        How many looks does the default schedule give, and where is the first boundary?

        >>> m = CanaryMonitor.for_schedule(window_size=2000, min_samples=50)
        >>> len(m.boundaries), round(float(m.boundaries[0]), 2)
        (17, 3.01)
        """
        schedule = CanarySchedule() if schedule is None else schedule
        if not isinstance(schedule, CanarySchedule):
            raise TypeError(f"`schedule` must be a CanarySchedule; got {type(schedule).__name__}.")
        plan = schedule.plan(window_size, min_samples=min_samples)
        monitor = cls(looks=tuple(plan["cumulative_n_eff"]), min_samples=min_samples, **kwargs)
        monitor._window_size, monitor._schedule = check_positive_int(window_size, "window_size"), schedule
        return monitor

    @property
    def rule(self) -> CanaryRule:
        """The rule as a frozen record (for results, reports and manifest generators)."""
        return CanaryRule(self.margin, self.alpha, self.alternative,
                          None if self.k is not None else self.spending, self.k,
                          self.min_samples, self.consecutive,
                          tuple(float(v) for v in self._planned),
                          tuple(float(v) for v in self.boundaries),
                          self._window_size, self._schedule)

    def reset(self) -> None:
        """Forget every look, the breach streak, any rollback and any half-filled window."""
        self._state = _RuleState(1)
        self._window: dict[str, list[np.ndarray]] = {"baseline": [], "canary": []}

    @property
    def streak(self) -> int:
        """Breaching looks in a row so far."""
        return int(self._state.streak[0])

    @property
    def rolled_back(self) -> bool:
        return bool(self._state.rolled[0])

    @property
    def looks_taken(self) -> int:
        return int(self._state.looks[0])

    def observe(self, role: str, scores: Any) -> MonitorDecision | None:
        """Feed scores as they arrive; judge a window once both sides hold ``min_samples``.

        This is the streaming face of :meth:`update`, the one a server drives request by
        request: ``role`` is ``"baseline"`` or ``"canary"``. Returns the decision when a
        window closes (both buffers are then emptied), else None.
        """
        if role not in self._window:
            raise ValueError(f"`role` must be 'baseline' or 'canary'; got {role!r}.")
        self._window[role].append(_as_scores(scores, "scores"))
        sizes = {r: sum(len(a) for a in parts) for r, parts in self._window.items()}
        if min(sizes.values()) < self.min_samples:
            return None
        b = np.concatenate(self._window["baseline"])
        c = np.concatenate(self._window["canary"])
        self._window = {"baseline": [], "canary": []}
        return self.update(b, c)

    @staticmethod
    def statistic(baseline: Any, canary: Any) -> float:
        """One window's Welch statistic ``|mean(c) - mean(b)| / SE`` (no margin, no pooling)."""
        b, c = _as_scores(baseline, "baseline"), _as_scores(canary, "canary")
        if len(b) < 2 or len(c) < 2:
            raise ValueError(
                f"`baseline` and `canary` must each hold at least 2 scores; got {len(b)} and {len(c)}."
            )
        diff = abs(c.mean() - b.mean())
        se = math.sqrt(c.var(ddof=1) / len(c) + b.var(ddof=1) / len(b))
        if se == 0.0:
            return 0.0 if diff == 0.0 else math.inf
        return float(diff / se)

    def update(self, baseline: Any, canary: Any) -> MonitorDecision:
        """Judge one window of baseline and canary scores (the quantity the margin is in)."""
        b, c = _as_scores(baseline, "baseline"), _as_scores(canary, "canary")
        n_b, n_c = len(b), len(c)
        ok = n_b >= self.min_samples and n_c >= self.min_samples
        d = c.mean() - b.mean() if ok else np.nan
        v = c.var(ddof=1) / n_c + b.var(ddof=1) / n_b if ok else np.nan
        out = _step(self._state, np.array([d]), np.array([v]), np.array([ok]),
                    margin=self.margin, alternative=self.alternative,
                    boundaries=self.boundaries, consecutive=self.consecutive,
                    beyond=self._beyond)
        if not ok:
            return MonitorDecision(float("nan"), False,
                                   "rollback" if self.rolled_back else "insufficient",
                                   look=self.looks_taken)
        return MonitorDecision(float(out["statistic"][0]), bool(out["breached"][0]),
                               "rollback" if self.rolled_back else "continue",
                               float(out["estimate"][0]), float(out["boundary"][0]),
                               self.looks_taken)

    # ------------------------------------------------------------------ theory
    def _information(self, sd: float) -> np.ndarray:
        if not self._sizes_known:
            raise ValueError(
                "This monitor's `looks` is a number of looks, not planned sample sizes; build it "
                "with `looks=<cumulative sample sizes>` or `CanaryMonitor.for_schedule` to compute "
                "error rates and power."
            )
        sd = check_positive_number(sd, "sd")
        return self._planned / sd ** 2

    def rollback_probability(self, delta: float, *, sd: float, by_look: bool = False) -> Any:
        r"""P(rollback over the planned looks) when the true difference is ``delta``.

        Exact under the normal model (``consecutive=1``; an upper bound otherwise), from the
        joint distribution of the pooled estimates, whose correlation between looks
        :math:`i < j` is :math:`\sqrt{n_i / n_j}`. ``sd`` is the standard deviation of a
        single score. At ``delta = ±margin`` this is the false-rollback rate the rule
        was designed for; far from the margin it is the power.

        Examples
        --------
        How often is a candidate identical to the current model rolled back, and one
        five points off?

        >>> m = CanaryMonitor.for_schedule(window_size=2000, min_samples=50)
        >>> round(m.rollback_probability(0.0, sd=0.3), 6), round(m.rollback_probability(0.05, sd=0.3), 3)
        (0.0, 1.0)
        """
        delta = check_number(delta, "delta")
        info = self._information(sd)
        c = np.asarray(self.boundaries, dtype=float)
        edge = self.margin * info + c * np.sqrt(info)  # |S_j| beyond this: rollback
        inf = np.full(len(info), np.inf)
        if self.alternative == "two-sided":
            lower, upper = -edge, edge
        elif self.alternative == "less":
            lower, upper = -edge, inf
        else:
            lower, upper = -inf, edge
        up, down = _crossing_probabilities(info, lower, upper, delta)
        per_look = up + down
        return np.cumsum(per_look) if by_look else float(min(1.0, per_look.sum()))

    def false_rollback_rate(self, *, sd: float) -> float:
        """The designed worst case: P(rollback) for a candidate exactly ``margin`` away."""
        sign = -1.0 if self.alternative == "less" else 1.0
        return self.rollback_probability(sign * self.margin, sd=sd)

    def design(self, *, sd: float, power: float = 0.8) -> pd.DataFrame:
        """The plan, look by look: sample size, boundary, error spent and detectable effect.

        Columns ``look, n_eff, boundary, alpha_spent, se, mde``: ``se`` is the standard error
        of the pooled difference at that look, ``mde`` the smallest true difference that this
        look alone would flag with probability ``power`` (``margin + (boundary + z) * se``).

        Examples
        --------
        Does the detectable effect shrink towards the margin as the canary grows?

        >>> m = CanaryMonitor.for_schedule(window_size=2000, min_samples=50)
        >>> t = m.design(sd=0.3)
        >>> bool(t["mde"].iloc[-1] < t["mde"].iloc[0]), bool(t["mde"].iloc[-1] > m.margin)
        (True, True)
        """
        info = self._information(sd)
        power = check_level(power, "power")
        se = 1.0 / np.sqrt(info)
        c = np.asarray(self.boundaries, dtype=float)
        spent = (_spent(self._planned / self._planned[-1], self.alpha, self.spending)
                 if self.k is None else np.full(len(c), np.nan))
        return pd.DataFrame({"look": np.arange(1, len(c) + 1), "n_eff": self._planned,
                             "boundary": c, "alpha_spent": spent, "se": se,
                             "mde": self.margin + (c + stats.norm.ppf(power)) * se})


class _RuleState:
    """Running totals of the rule for ``n`` independent rollouts (one for a live monitor)."""

    def __init__(self, n: int) -> None:
        self.weight = np.zeros(n)
        self.weighted_diff = np.zeros(n)
        self.looks = np.zeros(n, dtype=int)
        self.streak = np.zeros(n, dtype=int)
        self.rolled = np.zeros(n, dtype=bool)


def _step(state: _RuleState, d: np.ndarray, v: np.ndarray, ok: np.ndarray, *, margin: float,
          alternative: str, boundaries: np.ndarray, consecutive: int,
          beyond: float = np.inf) -> dict[str, np.ndarray]:
    """Apply one window to every rollout in ``state``: THE canary rule, in one place.

    ``d``, ``v`` and ``ok`` hold, per rollout, the window's difference of means, its
    variance and whether both groups reached ``min_samples``. Both :class:`CanaryMonitor`
    (one rollout) and :func:`simulate_canary` (thousands, vectorised) call this. Looks
    beyond the planned ones are judged against ``beyond``.
    """
    ok = ok & ~state.rolled
    wgt = np.where(ok, 1.0 / np.maximum(np.where(ok, v, 1.0), 1e-300), 0.0)
    state.weight += wgt
    state.weighted_diff += np.where(ok, wgt * np.where(ok, d, 0.0), 0.0)
    state.looks += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = state.weighted_diff / state.weight
        se = 1.0 / np.sqrt(state.weight)
        if alternative == "two-sided":
            excess = np.abs(estimate) - margin
        elif alternative == "less":
            excess = -estimate - margin
        else:
            excess = estimate - margin
        statistic = np.where(ok, excess / se, np.nan)
    idx = np.clip(state.looks - 1, 0, len(boundaries) - 1)
    boundary = np.where(state.looks <= len(boundaries), np.asarray(boundaries)[idx], beyond)
    breached = ok & (statistic > boundary)
    state.streak = np.where(ok, np.where(breached, state.streak + 1, 0), state.streak)
    state.rolled |= ok & (state.streak >= consecutive)
    return {"estimate": estimate, "statistic": statistic, "boundary": boundary,
            "breached": breached}


# ----------------------------------------------------------------------------- blue/green
class BlueGreen:
    """Two complete environments; one serves, the other waits; a switch flips them.

    Examples
    --------
    After switching to green and rolling back, which environment serves?

    >>> bg = BlueGreen(blue="model v3", green="model v4")
    >>> bg.switch(); bg.live
    'green'
    >>> bg.rollback(); bg.live, bg.model
    ('blue', 'model v3')
    >>> [event for event, _ in bg.history]
    ['start', 'switch', 'rollback']
    """

    def __init__(self, blue: Any, green: Any, *, live: str = "blue") -> None:
        if live not in ("blue", "green"):
            raise ValueError(f"`live` must be 'blue' or 'green'; got {live!r}.")
        self.environments = {"blue": blue, "green": green}
        self._live = live
        self._previous: list[str] = []
        self._history: list[tuple[str, str]] = [("start", live)]

    @property
    def live(self) -> str:
        """Name of the environment receiving all traffic."""
        return self._live

    @property
    def idle(self) -> str:
        return "green" if self._live == "blue" else "blue"

    @property
    def model(self) -> Any:
        """The model in the live environment."""
        return self.environments[self._live]

    @property
    def history(self) -> tuple[tuple[str, str], ...]:
        """``(event, live environment afterwards)`` pairs, oldest first."""
        return tuple(self._history)

    def deploy(self, model: Any) -> None:
        """Install ``model`` in the idle environment (the live one is never touched)."""
        self.environments[self.idle] = model
        self._history.append(("deploy", self._live))

    def switch(self) -> None:
        """Send all traffic to the idle environment."""
        self._previous.append(self._live)
        self._live = self.idle
        self._history.append(("switch", self._live))

    def rollback(self) -> None:
        """Flip back to the environment that was live before the latest switch."""
        if not self._previous:
            raise RuntimeError("Nothing to roll back: `switch()` has not been called yet.")
        self._live = self._previous.pop()
        self._history.append(("rollback", self._live))


# ----------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class RolloutResult:
    """Outcome of :func:`simulate_rollout`.

    ``timeline`` has one row per hourly window with the columns ``step, hour, share,
    n_canary, window_statistic, estimate, statistic, boundary, decision``; ``hour`` is the
    window's start, ``window_statistic`` that window's own Welch statistic
    (:meth:`CanaryMonitor.statistic`, for comparison with a per-window rule),
    ``decision`` the monitor's action, "start" for the 0% step and "complete" once the
    share reaches 100%. ``rollback_at_hour`` is the *end* of the window whose look rolled
    the candidate back (the moment traffic returns to the current model), None if it was
    not. ``rule`` is the rule that decided.
    """

    timeline: pd.DataFrame
    rolled_back: bool
    rollback_at_hour: float | None
    rollback_step: int | None
    final_share: float
    rule: CanaryRule


def simulate_rollout(
    current: Any,
    candidate: Any,
    traffic: pd.DataFrame,
    *,
    schedule: CanarySchedule | None = None,
    monitor: CanaryMonitor | None = None,
    window_size: int = 2000,
    rng: int | np.random.Generator | None = None,
) -> RolloutResult:
    """Run a canary rollout on a stream of requests and let the monitor decide.

    Each hour is one window of ``window_size`` consecutive rows of ``traffic``; every row
    is routed to the candidate with the probability the schedule gives for that hour.
    The monitor judges the two groups' predicted probabilities; on "rollback" the
    simulation stops and the share drops to 0.

    Parameters
    ----------
    current, candidate : classifier with ``predict_proba``, or callable
    traffic : DataFrame
        At least ``window_size`` rows per hour up to the schedule's last hour.
    schedule : CanarySchedule, default=None (the default schedule)
    monitor : CanaryMonitor, default=None
        ``CanaryMonitor.for_schedule(schedule, window_size=window_size)``; it is reset first.
    window_size : int, default=2000
    rng : int, Generator or None, default=None

    Returns
    -------
    RolloutResult

    Examples
    --------
    Is a candidate whose scores are 0.15 too high rolled back, and when?

    >>> import numpy as np, pandas as pd
    >>> traffic = pd.DataFrame({"x": np.random.default_rng(1).random(18 * 1000)})
    >>> good = lambda X: X["x"].to_numpy()
    >>> bad = lambda X: np.clip(X["x"].to_numpy() + 0.15, 0, 1)
    >>> result = simulate_rollout(good, bad, traffic, window_size=1000, rng=0)
    >>> result.rolled_back, result.rollback_at_hour, result.rule.margin
    (True, 5.0, 0.02)
    """
    schedule = CanarySchedule() if schedule is None else schedule
    if not isinstance(schedule, CanarySchedule):
        raise TypeError(f"`schedule` must be a CanarySchedule; got {type(schedule).__name__}.")
    window_size = check_positive_int(window_size, "window_size")
    if monitor is None:
        monitor = CanaryMonitor.for_schedule(schedule, window_size=window_size)
    if not isinstance(monitor, CanaryMonitor):
        raise TypeError(f"`monitor` must be a CanaryMonitor; got {type(monitor).__name__}.")
    if not isinstance(traffic, pd.DataFrame):
        raise TypeError(f"`traffic` must be a pandas DataFrame; got {type(traffic).__name__}.")
    hours = np.arange(schedule.hours[0], schedule.hours[-1])
    needed = len(hours) * window_size
    if len(traffic) < needed:
        raise ValueError(
            f"`traffic` must hold at least {needed} rows ({len(hours)} hourly windows of "
            f"{window_size}); got {len(traffic)}. Generate more or lower `window_size`."
        )
    gen = check_rng(rng)
    monitor.reset()
    used = traffic.iloc[:needed]
    base_scores = _scores(current, used, "current")
    cand_scores = _scores(candidate, used, "candidate")
    to_canary = gen.random(needed)

    rows: list[dict[str, Any]] = []
    rollback_at = rollback_step = None
    for w, hour in enumerate(hours):
        step = int(np.searchsorted(schedule.hours, hour, side="right")) - 1
        share = schedule.shares[step]
        sl = slice(w * window_size, (w + 1) * window_size)
        mask = to_canary[sl] < share
        if share == 0.0:
            rows.append(dict(step=step, hour=float(hour), share=share, n_canary=0,
                             window_statistic=np.nan, estimate=np.nan, statistic=np.nan,
                             boundary=np.nan, decision="start"))
            continue
        if share == 1.0:
            break
        b, c = base_scores[sl][~mask], cand_scores[sl][mask]
        decision = monitor.update(b, c)
        judged = decision.action != "insufficient" and not np.isnan(decision.statistic)
        rows.append(dict(step=step, hour=float(hour), share=share, n_canary=int(mask.sum()),
                         window_statistic=CanaryMonitor.statistic(b, c) if judged else np.nan,
                         estimate=decision.estimate, statistic=decision.statistic,
                         boundary=decision.boundary, decision=decision.action))
        if decision.action == "rollback":
            rollback_at, rollback_step = float(hour) + 1.0, step
            break
    rolled_back = rollback_at is not None
    if not rolled_back:
        rows.append(dict(step=len(schedule.hours) - 1, hour=float(schedule.hours[-1]),
                         share=schedule.shares[-1], n_canary=0, window_statistic=np.nan,
                         estimate=np.nan,
                         statistic=np.nan, boundary=np.nan, decision="complete"))
    timeline = pd.DataFrame(rows, columns=["step", "hour", "share", "n_canary",
                                           "window_statistic", "estimate", "statistic",
                                           "boundary", "decision"])
    return RolloutResult(timeline, rolled_back, rollback_at, rollback_step,
                         0.0 if rolled_back else schedule.shares[-1], monitor.rule)


def simulate_windows(
    schedule: CanarySchedule,
    window_size: int,
    *,
    delta: float,
    sd: float,
    n_simulations: int = 20_000,
    min_samples: int = 100,
    rng: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window evidence of many simulated rollouts: the input every canary rule reads.

    For each rollout and each monitored hour of ``schedule`` (share strictly between 0 and
    1), ``window_size`` requests are routed at random, so the canary's count is binomial;
    each group's mean is drawn from its sampling distribution (normal with standard
    deviation ``sd / sqrt(n)``, the canary's ``delta`` above the baseline's) and its
    variance from ``sd**2 * chi2(n - 1) / (n - 1)``.

    Returns
    -------
    d, v, ok : arrays of shape (n_simulations, n_windows)
        Difference of means (canary minus baseline), its variance ``s_c^2/n_c + s_b^2/n_b``,
        and whether both groups reached ``min_samples``.

    Examples
    --------
    How often does a single window's Welch statistic exceed 2 for an identical candidate?

    >>> d, v, ok = simulate_windows(CanarySchedule(), 2000, delta=0.0, sd=0.3, rng=0)
    >>> d.shape, round(float(np.mean(np.abs(d) / np.sqrt(v) > 2)), 3)
    ((20000, 17), 0.046)
    """
    if not isinstance(schedule, CanarySchedule):
        raise TypeError(f"`schedule` must be a CanarySchedule; got {type(schedule).__name__}.")
    window_size = check_positive_int(window_size, "window_size")
    delta = check_number(delta, "delta")
    sd = check_positive_number(sd, "sd")
    n_simulations = check_positive_int(n_simulations, "n_simulations")
    min_samples = check_int(min_samples, "min_samples", low=2)
    gen = check_rng(rng)
    shares = _monitored_windows(schedule)
    shape = (n_simulations, len(shares))
    n_c = gen.binomial(window_size, shares, size=shape)
    n_b = window_size - n_c
    ok = (n_c >= min_samples) & (n_b >= min_samples)
    nc, nb = np.maximum(n_c, 2), np.maximum(n_b, 2)
    mean_c = delta + sd * gen.standard_normal(shape) / np.sqrt(nc)
    mean_b = sd * gen.standard_normal(shape) / np.sqrt(nb)
    var_c = sd ** 2 * gen.chisquare(nc - 1) / (nc - 1)
    var_b = sd ** 2 * gen.chisquare(nb - 1) / (nb - 1)
    return mean_c - mean_b, var_c / nc + var_b / nb, ok


def _judge_windows(monitor: CanaryMonitor, d: np.ndarray, v: np.ndarray,
                   ok: np.ndarray) -> tuple[_RuleState, np.ndarray]:
    """Run ``monitor``'s rule over windows of shape (rollouts, windows), all rollouts at once.

    Returns the final state and, per rollout, the look that rolled it back (0: none).
    """
    state = _RuleState(d.shape[0])
    first = np.zeros(d.shape[0], dtype=int)
    for h in range(d.shape[1]):
        before = state.rolled.copy()
        _step(state, d[:, h], v[:, h], ok[:, h], margin=monitor.margin,
              alternative=monitor.alternative, boundaries=monitor.boundaries,
              consecutive=monitor.consecutive, beyond=monitor._beyond)
        new = state.rolled & ~before
        first[new] = state.looks[new]
    return state, first


@dataclass(frozen=True)
class CanarySimulationResult:
    """Share of simulated rollouts the rule rolled back, beside the exact normal theory.

    ``rate`` with its 95% Wilson Monte Carlo interval ``ci_low, ci_high`` over
    ``n_simulations`` rollouts of a candidate whose mean differs by ``delta``; ``theory`` is
    :meth:`CanaryMonitor.rollback_probability` for the same rule (an upper bound when
    ``consecutive > 1``); ``rollback_look`` counts rollbacks by look (index 0: look 1).
    """

    rate: float
    ci_low: float
    ci_high: float
    n_simulations: int
    theory: float
    delta: float
    rollback_look: np.ndarray = field(repr=False)


def _monitored_windows(schedule: CanarySchedule) -> np.ndarray:
    """Share of each hourly window with a share strictly between 0 and 1."""
    hours = np.arange(schedule.hours[0], schedule.hours[-1])
    shares = np.array([schedule.share_at(h) for h in hours])
    return shares[(shares > 0) & (shares < 1)]


def simulate_canary(
    monitor: CanaryMonitor,
    *,
    delta: float,
    sd: float,
    n_simulations: int = 20_000,
    schedule: CanarySchedule | None = None,
    window_size: int | None = None,
    rng: int | np.random.Generator | None = None,
) -> CanarySimulationResult:
    """Simulate many rollouts of the configured schedule and count the rule's rollbacks.

    Every hour of every rollout routes ``window_size`` requests at random (so the canary's
    count is binomial and may fall under ``min_samples``); each group's window mean is drawn
    from its sampling distribution (normal, standard deviation ``sd / sqrt(n)``) and its
    variance from ``sd**2 * chi2(n - 1) / (n - 1)``; the canary's true mean is ``delta``
    above the baseline's. The windows then go through the very function that
    :meth:`CanaryMonitor.update` uses, for all rollouts at once.

    Parameters
    ----------
    monitor : CanaryMonitor
    delta : float
        True difference canary minus baseline, in the scores' units.
    sd : float
        Standard deviation of a single score.
    n_simulations : int, default=20000
    schedule, window_size : default=None
        The monitor's own, when it was built with :meth:`CanaryMonitor.for_schedule`.
    rng : int, Generator or None, default=None

    Returns
    -------
    CanarySimulationResult

    Examples
    --------
    Does the simulated false-rollback rate at the margin match the theory?

    >>> m = CanaryMonitor.for_schedule(window_size=2000, min_samples=50)
    >>> r = simulate_canary(m, delta=m.margin, sd=0.3, n_simulations=20_000, rng=0)
    >>> round(r.theory, 3), bool(r.ci_low <= r.theory <= r.ci_high)
    (0.05, True)
    """
    if not isinstance(monitor, CanaryMonitor):
        raise TypeError(f"`monitor` must be a CanaryMonitor; got {type(monitor).__name__}.")
    delta = check_number(delta, "delta")
    sd = check_positive_number(sd, "sd")
    n_simulations = check_positive_int(n_simulations, "n_simulations")
    schedule = monitor._schedule if schedule is None else schedule
    window_size = monitor._window_size if window_size is None else window_size
    if schedule is None or window_size is None:
        raise ValueError(
            "`schedule` and `window_size` must be given for a monitor not built with "
            "`CanaryMonitor.for_schedule`; got None."
        )
    if not isinstance(schedule, CanarySchedule):
        raise TypeError(f"`schedule` must be a CanarySchedule; got {type(schedule).__name__}.")
    window_size = check_positive_int(window_size, "window_size")
    d, v, ok = simulate_windows(schedule, window_size, delta=delta, sd=sd,
                                n_simulations=n_simulations, min_samples=monitor.min_samples,
                                rng=rng)
    state, first = _judge_windows(monitor, d, v, ok)
    hits = int(state.rolled.sum())
    low, high = wilson_interval(hits, n_simulations)
    by_look = np.bincount(first[state.rolled] - 1, minlength=len(monitor.boundaries))
    return CanarySimulationResult(hits / n_simulations, low, high, n_simulations,
                                  monitor.rollback_probability(delta, sd=sd), delta, by_look)


def _resampled_windows(schedule: CanarySchedule, window_size: int, baseline: np.ndarray, canary: np.ndarray,
                       n_simulations: int, min_samples: int, gen: np.random.Generator,
                       chunk: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`simulate_windows`, with each request's score drawn from real scores."""
    shares = _monitored_windows(schedule)
    d = np.empty((n_simulations, len(shares)))
    v, ok = np.empty_like(d), np.empty(d.shape, dtype=bool)
    for start in range(0, n_simulations, chunk):
        rows = slice(start, min(start + chunk, n_simulations))
        size = (rows.stop - rows.start, window_size)
        for h, share in enumerate(shares):
            to_canary = gen.random(size) < share
            x = np.where(to_canary, canary[gen.integers(0, len(canary), size)],
                         baseline[gen.integers(0, len(baseline), size)])
            n_c = to_canary.sum(axis=1)
            n_b = window_size - n_c
            ok[rows, h] = (n_c >= min_samples) & (n_b >= min_samples)
            nc, nb = np.maximum(n_c, 2), np.maximum(n_b, 2)
            sum_c, sq_c = (x * to_canary).sum(axis=1), (x * x * to_canary).sum(axis=1)
            sum_b, sq_b = x.sum(axis=1) - sum_c, (x * x).sum(axis=1) - sq_c
            var_c = np.maximum(sq_c - sum_c ** 2 / nc, 0.0) / (nc - 1)
            var_b = np.maximum(sq_b - sum_b ** 2 / nb, 0.0) / (nb - 1)
            d[rows, h] = sum_c / nc - sum_b / nb
            v[rows, h] = var_c / nc + var_b / nb
    return d, v, ok


def resample_canary(
    monitor: CanaryMonitor,
    baseline: Any,
    canary: Any,
    *,
    n_simulations: int = 4000,
    rng: int | np.random.Generator | None = None,
) -> CanarySimulationResult:
    """Simulate rollouts whose requests are scores drawn from real ones, not from a normal model.

    :func:`simulate_canary` draws each window's mean and variance from the normal model
    that :meth:`CanaryMonitor.rollback_probability` also assumes, so their agreement checks
    the arithmetic, not the model. Here every request of every window of the monitor's
    schedule is routed at random and gets a score drawn, with replacement, from
    ``baseline`` (the current model's scores on production traffic) or ``canary`` (the
    candidate's), and the window's means and ``ddof=1`` variances are computed from those
    draws, then judged by the same rule. Skewed, bounded or lumpy scores show up as a
    difference from ``theory``, the normal-model value at the observed shift
    ``mean(canary) - mean(baseline)`` with the baseline's standard deviation.

    Parameters
    ----------
    monitor : CanaryMonitor
        Built with :meth:`CanaryMonitor.for_schedule`.
    baseline, canary : array-like of shape (n_scores,)
        Scores to draw requests from; shift ``canary`` (``baseline + margin``) to test a
        candidate exactly at the margin.
    n_simulations : int, default=4000
        Every one draws ``window_size`` requests per window: 4,000 rollouts of the default
        schedule draw about 136 million scores.
    rng : int, Generator or None, default=None

    Returns
    -------
    CanarySimulationResult

    Examples
    --------
    Scores far from normal (a quarter near 0.9, the rest near 0.1): does the rule still roll
    back a candidate exactly at the margin about as often as designed?

    >>> gen = np.random.default_rng(0)
    >>> scores = np.where(gen.random(10_000) < 0.25, 0.9, 0.1) + gen.normal(0, 0.02, 10_000)
    >>> m = CanaryMonitor.for_schedule(window_size=2000, min_samples=50)
    >>> r = resample_canary(m, scores, scores + m.margin, n_simulations=1000, rng=1)
    >>> round(r.theory, 3), bool(r.ci_low < 0.05 < r.ci_high)
    (0.05, True)
    """
    if not isinstance(monitor, CanaryMonitor):
        raise TypeError(f"`monitor` must be a CanaryMonitor; got {type(monitor).__name__}.")
    if monitor._schedule is None or monitor._window_size is None:
        raise ValueError("`monitor` must be built with `CanaryMonitor.for_schedule`, so that its schedule "
                         "and window size are known; got a monitor without them.")
    baseline, canary = _as_scores(baseline, "baseline"), _as_scores(canary, "canary")
    for values, name in ((baseline, "baseline"), (canary, "canary")):
        if len(values) < 2:
            raise ValueError(f"`{name}` must hold at least two scores; got {len(values)}.")
    n_simulations = check_positive_int(n_simulations, "n_simulations")
    gen = check_rng(rng)
    d, v, ok = _resampled_windows(monitor._schedule, monitor._window_size, baseline, canary,
                                  n_simulations, monitor.min_samples, gen)
    state, first = _judge_windows(monitor, d, v, ok)
    hits = int(state.rolled.sum())
    low, high = wilson_interval(hits, n_simulations)
    by_look = np.bincount(first[state.rolled] - 1, minlength=len(monitor.boundaries))
    delta = float(canary.mean() - baseline.mean())
    return CanarySimulationResult(hits / n_simulations, low, high, n_simulations,
                                  monitor.rollback_probability(delta, sd=float(baseline.std())), delta, by_look)


@dataclass(frozen=True)
class FalseRollbackResult:
    """The schedule-wide false-rollback rate of a rule: designed, exact and simulated.

    ``alpha`` is what the rule was designed for, ``theory`` the exact normal-theory rate
    at ``delta`` (by default the margin, the worst case) and ``estimate`` the simulated
    rate with its 95% Monte Carlo interval.
    """

    estimate: float
    ci_low: float
    ci_high: float
    n_simulations: int
    theory: float
    alpha: float
    margin: float
    delta: float


def false_rollback_rate(
    monitor: CanaryMonitor | None = None,
    *,
    sd: float,
    delta: float | None = None,
    n_simulations: int = 20_000,
    rng: int | np.random.Generator | None = None,
) -> FalseRollbackResult:
    """How often the rule rolls back a candidate within the margin, over the whole schedule.

    Parameters
    ----------
    monitor : CanaryMonitor, default=None
        Built with :meth:`CanaryMonitor.for_schedule`; None: the default schedule with
        windows of 2,000 requests.
    sd : float
        Standard deviation of a single score.
    delta : float, default=None
        The candidate's true difference; None means the margin itself, the worst case
        the boundary was designed for (0 gives an identical candidate).
    n_simulations : int, default=20000
    rng : int, Generator or None, default=None

    Examples
    --------
    Is the designed 5% what theory and 20,000 simulated rollouts give?

    >>> r = false_rollback_rate(sd=0.3, rng=1)
    >>> r.alpha, round(r.theory, 3), bool(r.ci_low < 0.05 < r.ci_high)
    (0.05, 0.05, True)
    """
    monitor = CanaryMonitor.for_schedule() if monitor is None else monitor
    if not isinstance(monitor, CanaryMonitor):
        raise TypeError(f"`monitor` must be a CanaryMonitor; got {type(monitor).__name__}.")
    if delta is None:
        delta = -monitor.margin if monitor.alternative == "less" else monitor.margin
    r = simulate_canary(monitor, delta=delta, sd=sd, n_simulations=n_simulations, rng=rng)
    return FalseRollbackResult(r.rate, r.ci_low, r.ci_high, r.n_simulations, r.theory,
                               monitor.alpha, monitor.margin, float(delta))


def derive_margin(schedule: CanarySchedule | None = None, *, shift: float, sd: float,
                  power: float = 0.9, window_size: int = 2000, min_samples: int = 50,
                  alpha: float = 0.05, resolution: float = 0.001) -> float:
    r"""The widest margin whose rule still catches a fault of size ``shift`` with ``power``.

    A wider margin passes more healthy candidates, so the rule takes the widest
    :math:`\delta` at which the group-sequential monitor of ``schedule`` (windows of
    ``window_size`` requests, judged from ``min_samples`` per group, false-rollback rate
    ``alpha`` at the margin) rolls back a candidate ``shift`` away with probability
    ``power`` over the whole rollout (:meth:`CanaryMonitor.rollback_probability`, solved
    with Brent's method), rounded *down* to ``resolution`` so the power stays above
    ``power``. The safe-deployment chapter derives the book's margin with it, and
    :func:`mlops_reference.deploy.book_rule` gets the rule of ``deploy/`` from it.

    Parameters
    ----------
    schedule : CanarySchedule, default=None
        ``CanarySchedule()`` when None.
    shift : float
        True shift of the mean predicted probability that the fault causes (its sign is ignored).
    sd : float
        Standard deviation of a single score.
    power : float, default=0.9
    window_size, min_samples : int, default=2000, 50
    alpha : float, default=0.05
    resolution : float, default=0.001

    Returns
    -------
    float
        The margin, a multiple of ``resolution``.

    Examples
    --------
    Which margin still catches a shift of three points 90% of the time, when a score's
    standard deviation is 0.3?

    >>> m = derive_margin(shift=0.03, sd=0.3)
    >>> m
    0.017
    >>> monitor = CanaryMonitor.for_schedule(window_size=2000, min_samples=50, margin=m)
    >>> bool(monitor.rollback_probability(0.03, sd=0.3) >= 0.9)
    True
    """
    schedule = CanarySchedule() if schedule is None else schedule
    if not isinstance(schedule, CanarySchedule):
        raise TypeError(f"`schedule` must be a CanarySchedule; got {type(schedule).__name__}.")
    shift = abs(check_number(shift, "shift"))
    sd = check_positive_number(sd, "sd")
    power = check_level(power, "power")
    resolution = check_positive_number(resolution, "resolution")

    def power_at(margin: float) -> float:
        monitor = CanaryMonitor.for_schedule(schedule, window_size=window_size, min_samples=min_samples,
                                             margin=margin, alpha=alpha)
        return monitor.rollback_probability(shift, sd=sd)

    lowest = min(resolution, shift) / 10
    if shift == 0 or power_at(lowest) < power:
        raise ValueError(f"`shift` must be large enough for the schedule to catch it with power {power}; "
                         f"got {shift!r}, which even a margin of {lowest:g} catches with probability "
                         f"{power_at(lowest) if shift else 0.0:.3f}. Lengthen the schedule or lower `power`.")
    widest = optimize.brentq(lambda m: power_at(m) - power, lowest, shift)
    return round(math.floor(widest / resolution + 1e-9) * resolution, 12)
