"""Simulated rollouts: one on a stream of requests, and thousands at once through the same rule.

* :func:`simulate_rollout`: one canary rollout on a stream of requests, judged by a
  :class:`~mlops_reference.rollout.CanaryMonitor`, as a timeline.
* :func:`simulate_windows` and :func:`simulate_canary`: many rollouts of a rule's schedule,
  each window's evidence drawn from the normal model the rule's theory also assumes, then
  judged by the very function the monitor uses, for all rollouts at once.
* :func:`resample_canary`: the same with every request's score drawn from real scores,
  which checks that normal model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._utils import check_int, check_number, check_positive_int, check_positive_number, check_rng, wilson_interval
from . import _sequential
from ._scores import as_scores, model_scores
from .canary import CanaryMonitor, CanaryRule, CanarySchedule

__all__ = ["RolloutResult", "simulate_rollout", "simulate_windows", "CanarySimulationResult",
           "simulate_canary", "resample_canary"]

_TIMELINE = ["step", "hour", "share", "n_canary", "window_statistic", "estimate", "statistic", "boundary",
             "decision"]


@dataclass(frozen=True)
class RolloutResult:
    """Outcome of :func:`simulate_rollout`.

    ``timeline`` has one row per hourly window with the columns ``step, hour, share,
    n_canary, window_statistic, estimate, statistic, boundary, decision``; ``hour`` is the
    window's start, ``window_statistic`` that window's own Welch statistic
    ``|mean(c) - mean(b)| / SE`` (for comparison with a per-window rule), ``decision`` the
    monitor's action, "start" for the 0% step and "complete" once the share reaches 100%.
    ``rollback_at_hour`` is the *end* of the window whose look rolled the candidate back
    (the moment traffic returns to the current model), None if it was not. ``rule`` is the
    rule that decided.
    """

    timeline: pd.DataFrame
    rolled_back: bool
    rollback_at_hour: float | None
    rollback_step: int | None
    final_share: float
    rule: CanaryRule


def _welch(b: np.ndarray, c: np.ndarray) -> float:
    """One window's Welch statistic ``|mean(c) - mean(b)| / SE`` (no margin, no pooling)."""
    diff = abs(c.mean() - b.mean())
    se = math.sqrt(c.var(ddof=1) / len(c) + b.var(ddof=1) / len(b))
    if se == 0.0:
        return 0.0 if diff == 0.0 else math.inf
    return float(diff / se)


def _row(step: int, hour: float, share: float, decision: str, n_canary: int = 0, **numbers: float) -> dict:
    empty = dict.fromkeys(("window_statistic", "estimate", "statistic", "boundary"), np.nan)
    return {"step": step, "hour": float(hour), "share": share, "n_canary": n_canary, **empty, **numbers,
            "decision": decision}


def _check_rollout_inputs(schedule: Any, monitor: Any, traffic: Any, window_size: int) -> tuple:
    schedule = CanarySchedule() if schedule is None else schedule
    if not isinstance(schedule, CanarySchedule):
        raise TypeError(f"`schedule` must be a CanarySchedule; got {type(schedule).__name__}.")
    window_size = check_positive_int(window_size, "window_size")
    monitor = CanaryMonitor.for_schedule(schedule, window_size=window_size) if monitor is None else monitor
    if not isinstance(monitor, CanaryMonitor):
        raise TypeError(f"`monitor` must be a CanaryMonitor; got {type(monitor).__name__}.")
    if not isinstance(traffic, pd.DataFrame):
        raise TypeError(f"`traffic` must be a pandas DataFrame; got {type(traffic).__name__}.")
    n_windows = int(len(np.arange(schedule.hours[0], schedule.hours[-1])))
    if len(traffic) < n_windows * window_size:
        raise ValueError(
            f"`traffic` must hold at least {n_windows * window_size} rows ({n_windows} hourly windows of "
            f"{window_size}); got {len(traffic)}. Generate more or lower `window_size`."
        )
    return schedule, monitor, window_size


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
    schedule, monitor, window_size = _check_rollout_inputs(schedule, monitor, traffic, window_size)
    hours = np.arange(schedule.hours[0], schedule.hours[-1])
    used = traffic.iloc[:len(hours) * window_size]
    base, cand = model_scores(current, used, "current"), model_scores(candidate, used, "candidate")
    to_canary = check_rng(rng).random(len(used))
    monitor.reset()
    rows: list[dict[str, Any]] = []
    for w, hour in enumerate(hours):
        step = int(np.searchsorted(schedule.hours, hour, side="right")) - 1
        share = schedule.shares[step]
        if share == 1.0:
            break
        if share == 0.0:
            rows.append(_row(step, hour, share, "start"))
            continue
        window = slice(w * window_size, (w + 1) * window_size)
        mask = to_canary[window] < share
        b, c = base[window][~mask], cand[window][mask]
        decision = monitor.update(b, c)
        judged = decision.action != "insufficient" and not np.isnan(decision.statistic)
        rows.append(_row(step, hour, share, decision.action, int(mask.sum()),
                         window_statistic=_welch(b, c) if judged else np.nan, estimate=decision.estimate,
                         statistic=decision.statistic, boundary=decision.boundary))
        if decision.action == "rollback":
            return RolloutResult(pd.DataFrame(rows, columns=_TIMELINE), True, float(hour) + 1.0, step, 0.0,
                                 monitor.rule)
    rows.append(_row(len(schedule.hours) - 1, schedule.hours[-1], schedule.shares[-1], "complete"))
    return RolloutResult(pd.DataFrame(rows, columns=_TIMELINE), False, None, None, schedule.shares[-1],
                         monitor.rule)


def _monitored_windows(schedule: CanarySchedule) -> np.ndarray:
    """Share of each hourly window with a share strictly between 0 and 1."""
    hours = np.arange(schedule.hours[0], schedule.hours[-1])
    shares = np.array([schedule.share_at(h) for h in hours])
    return shares[(shares > 0) & (shares < 1)]


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


@dataclass(frozen=True)
class CanarySimulationResult:
    """Share of simulated rollouts the rule rolled back, beside the exact normal theory.

    ``rate`` with its 95% Wilson Monte Carlo interval ``ci_low, ci_high`` over
    ``n_simulations`` rollouts of a candidate whose mean differs by ``delta``; ``theory`` is
    :meth:`CanaryRule.rollback_probability` for the same rule (an upper bound when
    ``consecutive > 1``); ``rollback_look`` counts rollbacks by look (index 0: look 1).
    """

    rate: float
    ci_low: float
    ci_high: float
    n_simulations: int
    theory: float
    delta: float
    rollback_look: np.ndarray = field(repr=False)


def _check_planned(rule: Any) -> CanaryRule:
    if not isinstance(rule, CanaryRule):
        raise TypeError(f"`rule` must be a rollout.CanaryRule; got {type(rule).__name__}.")
    if rule.schedule is None:
        raise ValueError("`rule` must be planned from a schedule (`CanaryRule(schedule=..., window_size=...)`), "
                         "so that its windows are known; got a rule planned from `looks`.")
    return rule


def _judged(rule: CanaryRule, d: np.ndarray, v: np.ndarray, ok: np.ndarray, delta: float,
            sd: float) -> CanarySimulationResult:
    """Run ``rule`` over windows of shape (rollouts, windows), all rollouts at once, and count."""
    state = _sequential.RuleState(d.shape[0])
    first = np.zeros(d.shape[0], dtype=int)  # the look that rolled each rollout back (0: none)
    for h in range(d.shape[1]):
        before = state.rolled.copy()
        rule.judge(state, d[:, h], v[:, h], ok[:, h])
        new = state.rolled & ~before
        first[new] = state.looks[new]
    hits, n = int(state.rolled.sum()), d.shape[0]
    low, high = wilson_interval(hits, n)
    by_look = np.bincount(first[state.rolled] - 1, minlength=len(rule.boundaries))
    return CanarySimulationResult(hits / n, low, high, n, rule.rollback_probability(delta, sd=sd), delta, by_look)


def simulate_canary(rule: CanaryRule, *, delta: float, sd: float, n_simulations: int = 20_000,
                    rng: int | np.random.Generator | None = None) -> CanarySimulationResult:
    """Simulate many rollouts of the rule's schedule and count the rule's rollbacks.

    Every hour of every rollout routes ``rule.window_size`` requests at random
    (:func:`simulate_windows`); the canary's true mean is ``delta`` above the baseline's.
    The windows then go through the very function :meth:`CanaryMonitor.update` uses, for
    all rollouts at once.

    Parameters
    ----------
    rule : CanaryRule
        Planned from a schedule.
    delta : float
        True difference canary minus baseline, in the scores' units.
    sd : float
        Standard deviation of a single score.
    n_simulations : int, default=20000
    rng : int, Generator or None, default=None

    Returns
    -------
    CanarySimulationResult

    Examples
    --------
    Does the simulated false-rollback rate at the margin match the theory?

    >>> rule = CanaryRule(window_size=2000, min_samples=50)
    >>> r = simulate_canary(rule, delta=rule.margin, sd=0.3, n_simulations=20_000, rng=0)
    >>> round(r.theory, 3), bool(r.ci_low <= r.theory <= r.ci_high)
    (0.05, True)
    """
    rule = _check_planned(rule)
    delta, sd = check_number(delta, "delta"), check_positive_number(sd, "sd")
    d, v, ok = simulate_windows(rule.schedule, rule.window_size, delta=delta, sd=sd,
                                n_simulations=n_simulations, min_samples=rule.min_samples, rng=rng)
    return _judged(rule, d, v, ok, delta, sd)


def _resampled_windows(rule: CanaryRule, baseline: np.ndarray, canary: np.ndarray, n_simulations: int,
                       gen: np.random.Generator, chunk: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`simulate_windows`, with each request's score drawn from real scores."""
    shares, window_size = _monitored_windows(rule.schedule), rule.window_size
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
            ok[rows, h] = (n_c >= rule.min_samples) & (n_b >= rule.min_samples)
            nc, nb = np.maximum(n_c, 2), np.maximum(n_b, 2)
            sum_c, sq_c = (x * to_canary).sum(axis=1), (x * x * to_canary).sum(axis=1)
            sum_b, sq_b = x.sum(axis=1) - sum_c, (x * x).sum(axis=1) - sq_c
            var_c = np.maximum(sq_c - sum_c ** 2 / nc, 0.0) / (nc - 1)
            var_b = np.maximum(sq_b - sum_b ** 2 / nb, 0.0) / (nb - 1)
            d[rows, h] = sum_c / nc - sum_b / nb
            v[rows, h] = var_c / nc + var_b / nb
    return d, v, ok


def resample_canary(rule: CanaryRule, baseline: Any, canary: Any, *, n_simulations: int = 4000,
                    rng: int | np.random.Generator | None = None) -> CanarySimulationResult:
    """Simulate rollouts whose requests are scores drawn from real ones, not from a normal model.

    :func:`simulate_canary` draws each window's mean and variance from the normal model
    that :meth:`CanaryRule.rollback_probability` also assumes, so their agreement checks
    the arithmetic, not the model. Here every request of every window of the rule's
    schedule is routed at random and gets a score drawn, with replacement, from
    ``baseline`` (the current model's scores on production traffic) or ``canary`` (the
    candidate's), and the window's means and ``ddof=1`` variances are computed from those
    draws, then judged by the same rule. Skewed, bounded or lumpy scores show up as a
    difference from ``theory``, the normal-model value at the observed shift
    ``mean(canary) - mean(baseline)`` with the baseline's standard deviation.

    Parameters
    ----------
    rule : CanaryRule
        Planned from a schedule.
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
    >>> rule = CanaryRule(window_size=2000, min_samples=50)
    >>> r = resample_canary(rule, scores, scores + rule.margin, n_simulations=1000, rng=1)
    >>> round(r.theory, 3), bool(r.ci_low < 0.05 < r.ci_high)
    (0.05, True)
    """
    rule = _check_planned(rule)
    baseline, canary = as_scores(baseline, "baseline"), as_scores(canary, "canary")
    for values, name in ((baseline, "baseline"), (canary, "canary")):
        if len(values) < 2:
            raise ValueError(f"`{name}` must hold at least two scores; got {len(values)}.")
    n_simulations = check_positive_int(n_simulations, "n_simulations")
    d, v, ok = _resampled_windows(rule, baseline, canary, n_simulations, check_rng(rng))
    return _judged(rule, d, v, ok, float(canary.mean() - baseline.mean()), float(baseline.std()))
