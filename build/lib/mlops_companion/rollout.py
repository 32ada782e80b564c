"""Safe deployment: shadow, canary and blue/green rollouts, and a simulator for them.

Covers
    * :class:`ShadowDeployment`: both models score every request, only the current
      model's answer is returned, and their agreement is logged.
    * :class:`CanarySchedule`, :class:`TrafficSplit` and :class:`CanaryMonitor`: how much
      traffic the candidate gets and when, which request goes where, and the rollback
      rule "the canary's mean predicted probability differs from the baseline's by more
      than ``k`` standard errors, in ``consecutive`` windows in a row".
    * :class:`BlueGreen`: two environments, one switch, an instant flip back.
    * :func:`simulate_rollout`, :func:`false_rollback_rate` and
      :func:`false_rollback_table`: a seeded rollout against a traffic stream, and how
      often the rule rolls back a candidate identical to the current model.

Out of scope: HTTP (:mod:`mlops_companion.serving` calls :class:`TrafficSplit` and
:class:`CanaryMonitor`), load balancers, and business metrics beyond predicted
probabilities.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from .data import check_rng

__all__ = [
    "AgreementResult",
    "ShadowDeployment",
    "CanarySchedule",
    "TrafficSplit",
    "MonitorDecision",
    "CanaryMonitor",
    "BlueGreen",
    "RolloutResult",
    "simulate_rollout",
    "FalseRollbackResult",
    "false_rollback_rate",
    "false_rollback_table",
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


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    return int(value)


def _check_positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive finite number; got {value!r}.")
    return float(value)


def _check_share(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be a fraction between 0 and 1; got {value!r}.")
    return float(value)


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

    def __init__(self, current: Any, candidate: Any, *, threshold: float = 0.5) -> None:
        for model, name in ((current, "current"), (candidate, "candidate")):
            if not (hasattr(model, "predict_proba") or callable(model)):
                raise TypeError(
                    f"`{name}` must have a `predict_proba` method or be a callable; "
                    f"got {type(model).__name__}."
                )
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"`threshold` must be between 0 and 1 (exclusive); got {threshold!r}.")
        self.current, self.candidate, self.threshold = current, candidate, float(threshold)
        self._current: list[np.ndarray] = []
        self._candidate: list[np.ndarray] = []

    def predict(self, X: Any) -> np.ndarray:
        """Return the current model's probabilities; log the candidate's beside them."""
        live = _scores(self.current, X, "current")
        try:
            shadow = _scores(self.candidate, X, "candidate")
        except Exception:  # noqa: BLE001 - a failing shadow must never hurt the caller
            shadow = np.full_like(live, np.nan)
        self._current.append(live)
        self._candidate.append(shadow)
        return live

    @property
    def log(self) -> pd.DataFrame:
        """Every scored row so far: ``current`` and ``candidate`` probabilities."""
        if not self._current:
            return pd.DataFrame({"current": [], "candidate": []})
        return pd.DataFrame({"current": np.concatenate(self._current),
                             "candidate": np.concatenate(self._candidate)})

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
        shares = tuple(_check_share(s, "shares") for s in self.shares)
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
        self._share = _check_share(value, "candidate_share")

    def route(self) -> str:
        """Where the next request goes: ``"current"`` or ``"candidate"``."""
        return "candidate" if self._rng.random() < self._share else "current"

    def route_many(self, n: int) -> np.ndarray:
        """Boolean mask of ``n`` requests, True for those sent to the candidate."""
        return self._rng.random(_check_positive_int(n, "n")) < self._share


@dataclass(frozen=True)
class MonitorDecision:
    """One window's verdict: ``action`` is "continue", "rollback" or "insufficient"."""

    statistic: float
    breached: bool
    action: str


class CanaryMonitor:
    r"""The k-standard-error rollback rule, with a minimum sample and a streak requirement.

    For each window, with predicted probabilities :math:`b` (baseline, current model)
    and :math:`c` (canary), the statistic is

    .. math::  z = \frac{|\bar c - \bar b|}{\sqrt{s_c^2 / n_c + s_b^2 / n_b}}

    where :math:`s^2` are sample variances (``ddof=1``) and :math:`n` the window sizes:
    the difference of the means in units of its standard error. A window *breaches* when
    :math:`z > k`. The action is "insufficient" when either window holds fewer than
    ``min_samples`` scores (the streak is left unchanged), "rollback" once ``consecutive``
    windows in a row have breached (and from then on, until :meth:`reset`), else
    "continue".

    Parameters
    ----------
    k : float, default=3.0
    min_samples : int, default=100
    consecutive : int, default=2

    Examples
    --------
    Does a canary scoring 0.2 higher on average trip the rule in two windows?

    >>> import numpy as np
    >>> gen = np.random.default_rng(0)
    >>> monitor = CanaryMonitor(k=3.0, min_samples=100, consecutive=2)
    >>> for _ in range(2):
    ...     decision = monitor.update(gen.beta(3, 2, 500), gen.beta(3, 2, 500) + 0.2)
    >>> decision.breached, decision.action
    (True, 'rollback')
    """

    def __init__(self, *, k: float = 3.0, min_samples: int = 100, consecutive: int = 2) -> None:
        self.k = _check_positive_float(k, "k")
        self.min_samples = _check_positive_int(min_samples, "min_samples")
        if self.min_samples < 2:
            raise ValueError(f"`min_samples` must be at least 2 to estimate a variance; got {min_samples!r}.")
        self.consecutive = _check_positive_int(consecutive, "consecutive")
        self.reset()

    def reset(self) -> None:
        """Forget the breach streak and any rollback."""
        self.streak = 0
        self.rolled_back = False

    @staticmethod
    def statistic(baseline: Any, canary: Any) -> float:
        """The z statistic of the class docstring (0 when both windows are constant and equal)."""
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
        """Judge one window of baseline and canary predicted probabilities."""
        b, c = _as_scores(baseline, "baseline"), _as_scores(canary, "canary")
        if len(b) < self.min_samples or len(c) < self.min_samples:
            return MonitorDecision(float("nan"), False,
                                   "rollback" if self.rolled_back else "insufficient")
        z = self.statistic(b, c)
        breached = z > self.k
        self.streak = self.streak + 1 if breached else 0
        if self.streak >= self.consecutive:
            self.rolled_back = True
        return MonitorDecision(z, bool(breached), "rollback" if self.rolled_back else "continue")


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

    ``timeline`` has one row per monitoring window (one window per hour) with the columns
    ``step, hour, share, n_canary, statistic, decision``; ``decision`` is the monitor's
    action, "start" for the 0% step and "complete" once the share reaches 100%.
    """

    timeline: pd.DataFrame
    rolled_back: bool
    rollback_hour: float | None
    rollback_step: int | None
    final_share: float


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
    The monitor compares the two groups' predicted probabilities; on "rollback" the
    simulation stops and the share drops to 0.

    Parameters
    ----------
    current, candidate : classifier with ``predict_proba``, or callable
    traffic : DataFrame
        At least ``window_size`` rows per hour up to the schedule's last hour.
    schedule : CanarySchedule, default=None (the default schedule)
    monitor : CanaryMonitor, default=None (``CanaryMonitor()``); it is reset first.
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
    >>> result.rolled_back, result.rollback_hour, float(result.timeline["share"].max())
    (True, 5.0, 0.25)
    """
    schedule = CanarySchedule() if schedule is None else schedule
    if not isinstance(schedule, CanarySchedule):
        raise TypeError(f"`schedule` must be a CanarySchedule; got {type(schedule).__name__}.")
    monitor = CanaryMonitor() if monitor is None else monitor
    if not isinstance(monitor, CanaryMonitor):
        raise TypeError(f"`monitor` must be a CanaryMonitor; got {type(monitor).__name__}.")
    window_size = _check_positive_int(window_size, "window_size")
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
    rollback_hour = rollback_step = None
    for w, hour in enumerate(hours):
        step = int(np.searchsorted(schedule.hours, hour, side="right")) - 1
        share = schedule.shares[step]
        sl = slice(w * window_size, (w + 1) * window_size)
        mask = to_canary[sl] < share
        n_canary = int(mask.sum())
        if share == 0.0:
            rows.append(dict(step=step, hour=float(hour), share=share, n_canary=0,
                             statistic=np.nan, decision="start"))
            continue
        if share == 1.0:
            break
        decision = monitor.update(base_scores[sl][~mask], cand_scores[sl][mask])
        rows.append(dict(step=step, hour=float(hour), share=share, n_canary=n_canary,
                         statistic=decision.statistic, decision=decision.action))
        if decision.action == "rollback":
            rollback_hour, rollback_step = float(hour), step
            break
    rolled_back = rollback_hour is not None
    if not rolled_back:
        rows.append(dict(step=len(schedule.hours) - 1, hour=float(schedule.hours[-1]),
                         share=schedule.shares[-1], n_canary=0, statistic=np.nan,
                         decision="complete"))
    timeline = pd.DataFrame(rows, columns=["step", "hour", "share", "n_canary",
                                           "statistic", "decision"])
    return RolloutResult(timeline, rolled_back, rollback_hour, rollback_step,
                         0.0 if rolled_back else schedule.shares[-1])


@dataclass(frozen=True)
class FalseRollbackResult:
    """Estimated probability that the rule rolls back a candidate identical to the current model."""

    estimate: float
    ci_low: float
    ci_high: float
    n_simulations: int
    k: float
    consecutive: int
    n_windows: int


def _wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


_LOGIT_MEAN = 0.55  # expit(N(0.55, 1)) has mean 0.62, the scenario's incident rate


def _null_statistics(n_windows: int, window_size: int, canary_share: float,
                     n_simulations: int, gen: np.random.Generator,
                     scores: np.ndarray | None) -> np.ndarray:
    """z statistics of shape (n_simulations, n_windows) with both groups from one distribution."""
    n_c = round(canary_share * window_size)
    n_b = window_size - n_c
    if n_c < 2 or n_b < 2:
        raise ValueError(
            f"`canary_share` * `window_size` must leave at least 2 scores in each group; "
            f"got {n_c} canary and {n_b} baseline."
        )
    out = np.empty((n_simulations, n_windows))
    chunk = max(1, 1_000_000 // (n_windows * window_size))
    shape_of = lambda m: (m, n_windows, window_size)  # noqa: E731
    for start in range(0, n_simulations, chunk):
        m = min(chunk, n_simulations - start)
        if scores is None:  # logit-normal scores: mean about 0.62, like the scenario's
            draws = special.expit(gen.standard_normal(shape_of(m), dtype=np.float32)
                                  + np.float32(_LOGIT_MEAN))
        else:
            draws = scores[gen.integers(0, len(scores), size=shape_of(m))]
        c, b = draws[..., :n_c], draws[..., n_c:]
        se = np.sqrt(c.var(axis=-1, ddof=1, dtype=np.float64) / n_c
                     + b.var(axis=-1, ddof=1, dtype=np.float64) / n_b)
        diff = c.mean(axis=-1, dtype=np.float64) - b.mean(axis=-1, dtype=np.float64)
        out[start:start + m] = np.abs(diff) / se
    return out


def _any_run(breached: np.ndarray, consecutive: int) -> np.ndarray:
    """True for each row of ``breached`` holding ``consecutive`` True values in a row."""
    if consecutive > breached.shape[1]:
        return np.zeros(breached.shape[0], dtype=bool)
    csum = np.concatenate([np.zeros((breached.shape[0], 1), int),
                           np.cumsum(breached, axis=1)], axis=1)
    window_sums = csum[:, consecutive:] - csum[:, :-consecutive]
    return (window_sums == consecutive).any(axis=1)


def false_rollback_table(
    *,
    ks: Sequence[float] = (2.0, 3.0),
    consecutives: Sequence[int] = (1, 2, 3),
    n_windows: int = 18,
    window_size: int = 1000,
    canary_share: float = 0.1,
    n_simulations: int = 2000,
    scores: Any = None,
    rng: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """False-rollback rates for every (k, consecutive) pair, from one shared simulation.

    Both groups of every window are drawn from the same score distribution (logit-normal,
    ``expit(N(0.55, 1))`` with mean 0.62, unless ``scores`` gives probabilities to
    resample), with ``round(canary_share * window_size)`` canary scores per window, so
    any rollback is a false alarm. The statistic is the one of :class:`CanaryMonitor`.

    Returns
    -------
    DataFrame with columns ``k, consecutive, rate, ci_low, ci_high`` (95% Wilson interval).

    Examples
    --------
    Does demanding two breaches in a row lower the false-rollback rate at k = 2?

    >>> t = false_rollback_table(ks=[2.0], consecutives=[1, 2], n_simulations=500, rng=0)
    >>> bool(t["rate"].iloc[1] < t["rate"].iloc[0])
    True
    """
    n_windows = _check_positive_int(n_windows, "n_windows")
    window_size = _check_positive_int(window_size, "window_size")
    n_simulations = _check_positive_int(n_simulations, "n_simulations")
    canary_share = _check_share(canary_share, "canary_share")
    ks = [_check_positive_float(k, "k") for k in ks]
    consecutives = [_check_positive_int(c, "consecutive") for c in consecutives]
    pool = None if scores is None else _as_scores(scores, "scores")
    if pool is not None and len(pool) < 2:
        raise ValueError(f"`scores` must hold at least 2 probabilities; got {len(pool)}.")
    z = _null_statistics(n_windows, window_size, canary_share, n_simulations,
                         check_rng(rng), pool)
    rows = []
    for k in ks:
        breached = z > k
        for c in consecutives:
            hits = int(_any_run(breached, c).sum())
            lo, hi = _wilson(hits, n_simulations)
            rows.append(dict(k=k, consecutive=c, rate=hits / n_simulations, ci_low=lo, ci_high=hi))
    return pd.DataFrame(rows)


def false_rollback_rate(
    *,
    k: float = 3.0,
    consecutive: int = 2,
    n_windows: int = 18,
    window_size: int = 1000,
    n_simulations: int = 2000,
    canary_share: float = 0.1,
    scores: Any = None,
    rng: int | np.random.Generator | None = None,
) -> FalseRollbackResult:
    """How often the rule rolls back a candidate identical to the current model.

    Simulates ``n_simulations`` rollouts of ``n_windows`` windows each (see
    :func:`false_rollback_table` for the score distribution) and counts those in which
    ``consecutive`` windows in a row breach ``k``.

    Returns
    -------
    FalseRollbackResult, with a 95% Wilson confidence interval.

    Examples
    --------
    Is k = 2 with a single breach a noisy rule over 18 hourly windows?

    >>> r = false_rollback_rate(k=2.0, consecutive=1, n_simulations=500, rng=0)
    >>> r.estimate > 0.4
    True
    """
    table = false_rollback_table(ks=[k], consecutives=[consecutive], n_windows=n_windows,
                                 window_size=window_size, canary_share=canary_share,
                                 n_simulations=n_simulations, scores=scores, rng=rng)
    row = table.iloc[0]
    return FalseRollbackResult(float(row["rate"]), float(row["ci_low"]), float(row["ci_high"]),
                               int(n_simulations), float(k), int(consecutive), int(n_windows))
