"""Canary deployment: the schedule, the traffic split, the rollback rule and its monitor.

:class:`CanaryRule` is the rule, the book's one home for it: "roll back once the canary's
mean is shown to differ from the baseline's by more than a margin", a group-sequential
test whose false-rollback rate over the whole schedule is fixed by design. It is a frozen
record, so the chapter that derives it (:func:`derive_rule`), the simulators, the
monitor and the generators of ``deploy/`` all read the same object; ``to_json`` and
``from_json`` carry it between them as a file (``deploy/canary-rule.json``).
:class:`CanaryMonitor` applies a rule to windows as they arrive.
"""
from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._utils import (check_fraction, check_int, check_level, check_number, check_one_of,
                      check_positive_int, check_positive_number, check_rng)
from . import _sequential
from ._scores import as_scores

__all__ = ["CanarySchedule", "TrafficSplit", "MonitorDecision", "CanaryRule", "CanaryMonitor",
           "derive_rule"]


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


@dataclass(frozen=True)
class CanaryRule:
    r"""A group-sequential canary rule: roll back once the canary is shown to differ by more than a margin.

    Each judged window adds the difference of the two groups' means, :math:`d_h = \bar c_h
    - \bar b_h`, with its variance :math:`v_h = s_{c,h}^2/n_{c,h} + s_{b,h}^2/n_{b,h}`. At
    look :math:`j` the windows so far are pooled by inverse variance,
    :math:`\hat\Delta_j = \sum_h (d_h / v_h) / \sum_h (1/v_h)` with
    :math:`\mathrm{SE}_j = (\sum_h 1/v_h)^{-1/2}`, and the *margin statistic*
    :math:`Z_j = (|\hat\Delta_j| - \delta) / \mathrm{SE}_j` (``alternative="less"``:
    :math:`(-\hat\Delta_j - \delta)/\mathrm{SE}_j`) breaches when it exceeds the look's
    boundary :math:`c_j`. The boundaries are computed once, from the planned looks, so that
    a candidate exactly :math:`\delta` away is rolled back with probability ``alpha`` over
    the *whole* rollout (an alpha-spending boundary, Lan & DeMets; Pocock-type by default).
    A window is judged only when both groups hold ``min_samples`` scores; ``consecutive``
    breaching looks in a row roll back (the guarantee is exact for 1, conservative above).

    Parameters
    ----------
    margin : float, default=0.02
        :math:`\delta`, in the units of the scores.
    alpha : float, default=0.05
        Largest probability of rolling back a candidate within the margin, over all looks.
    schedule : CanarySchedule, default=None
        The looks are the schedule's hourly windows of ``window_size`` requests
        (:meth:`CanarySchedule.plan`). None, without ``looks``: ``CanarySchedule()``.
    window_size : int, default=None
        Requests per hourly window; None means 2000.
    min_samples : int, default=100
    looks : int or sequence of float, default=()
        Instead of a schedule: planned cumulative effective sample sizes, or a number of
        equally informative looks (error rates and power then cannot be computed).
    spending : {"pocock", "obrien-fleming"}, default="pocock"
    alternative : {"two-sided", "less", "greater"}, default="two-sided"
    k : float, default=None
        A fixed critical value at every look (and beyond) instead of the spending boundary.
    consecutive : int, default=1

    Attributes
    ----------
    looks : tuple of float
        The planned cumulative effective sample sizes, one per judged window.
    boundaries : tuple of float
        The critical value :math:`c_j` of each look.

    Examples
    --------
    How many looks does the default schedule give at 2,000 requests an hour, and where
    is the first boundary?

    >>> rule = CanaryRule(window_size=2000, min_samples=50)
    >>> len(rule.boundaries), round(rule.boundaries[0], 2)
    (17, 3.01)
    """

    margin: float = 0.02
    alpha: float = 0.05
    schedule: CanarySchedule | None = None
    window_size: int | None = None
    min_samples: int = 100
    looks: int | Sequence[float] = ()
    spending: str = "pocock"
    alternative: str = "two-sided"
    k: float | None = None
    consecutive: int = 1
    boundaries: tuple[float, ...] = field(init=False)
    information_known: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        put = functools.partial(object.__setattr__, self)
        put("margin", check_number(self.margin, "margin", low=0.0))
        put("alpha", check_level(self.alpha, "alpha"))
        put("min_samples", check_int(self.min_samples, "min_samples", low=2))
        put("spending", check_one_of(self.spending, "spending", _sequential.SPENDING))
        put("alternative", check_one_of(self.alternative, "alternative", _sequential.ALTERNATIVES))
        put("k", None if self.k is None else check_positive_number(self.k, "k"))
        put("consecutive", check_positive_int(self.consecutive, "consecutive"))
        looks, known = self._planned_looks()
        put("looks", looks)
        put("information_known", known)
        fractions = np.asarray(looks) / looks[-1]
        c = (np.full(len(looks), self.k) if self.k is not None
             else _sequential.boundaries(fractions, self.alpha, self.spending))
        put("boundaries", tuple(float(v) for v in c))

    def _planned_looks(self) -> tuple[tuple[float, ...], bool]:
        looks = self.looks
        if isinstance(looks, (int, np.integer)) and not isinstance(looks, bool):
            self._refuse_schedule_with_looks()
            return tuple(float(i) for i in range(1, check_positive_int(looks, "looks") + 1)), False
        planned = np.asarray(looks, dtype=float).ravel()
        if planned.size:
            self._refuse_schedule_with_looks()
            if not np.isfinite(planned).all() or (planned <= 0).any() or (np.diff(planned) <= 0).any():
                raise ValueError("`looks` must be a positive integer or a strictly increasing sequence "
                                 f"of positive sample sizes; got {looks!r}.")
            return tuple(float(v) for v in planned), True
        schedule = CanarySchedule() if self.schedule is None else self.schedule
        if not isinstance(schedule, CanarySchedule):
            raise TypeError(f"`schedule` must be a CanarySchedule; got {type(schedule).__name__}.")
        window_size = 2000 if self.window_size is None else check_positive_int(self.window_size, "window_size")
        object.__setattr__(self, "schedule", schedule)
        object.__setattr__(self, "window_size", window_size)
        plan = schedule.plan(window_size, min_samples=self.min_samples)
        return tuple(float(v) for v in plan["cumulative_n_eff"]), True

    def _refuse_schedule_with_looks(self) -> None:
        if self.schedule is not None or self.window_size is not None:
            raise ValueError("`looks` must not be given with `schedule` or `window_size`, which plan "
                             f"the looks themselves; got looks={self.looks!r}. Pass one or the other.")

    # ------------------------------------------------------------------ theory
    def _information(self, sd: float) -> np.ndarray:
        if not self.information_known:
            raise ValueError("This rule's `looks` is a number of looks, not planned sample sizes; "
                             "plan it from a schedule or pass the sample sizes to compute error rates.")
        return np.asarray(self.looks) / check_positive_number(sd, "sd") ** 2

    def rollback_probability(self, delta: float, *, sd: float, by_look: bool = False) -> Any:
        r"""P(rollback over the planned looks) when the true difference is ``delta``.

        Exact under the normal model (``consecutive=1``; an upper bound otherwise), from
        the joint distribution of the pooled estimates, whose correlation between looks
        :math:`i < j` is :math:`\sqrt{n_i / n_j}`. ``sd`` is the standard deviation of a
        single score. At ``delta = ±margin`` this is the false-rollback rate the rule was
        designed for; far from the margin it is the power. ``by_look=True`` gives the
        cumulative probability at each look.

        Examples
        --------
        How often is a candidate identical to the current model rolled back, and one
        five points off?

        >>> rule = CanaryRule(window_size=2000, min_samples=50)
        >>> round(rule.rollback_probability(0.0, sd=0.3), 6), round(rule.rollback_probability(0.05, sd=0.3), 3)
        (0.0, 1.0)
        """
        delta = check_number(delta, "delta")
        info = self._information(sd)
        edge = self.margin * info + np.asarray(self.boundaries) * np.sqrt(info)  # |S_j| beyond: rollback
        inf = np.full(len(info), np.inf)
        lower = inf * -1 if self.alternative == "greater" else -edge
        upper = inf if self.alternative == "less" else edge
        up, down = _sequential.crossing_probabilities(info, lower, upper, delta)
        per_look = up + down
        return np.cumsum(per_look) if by_look else float(min(1.0, per_look.sum()))

    def false_rollback_rate(self, *, sd: float) -> float:
        """The designed worst case: P(rollback) for a candidate exactly ``margin`` away.

        Examples
        --------
        >>> round(CanaryRule(window_size=2000, min_samples=50).false_rollback_rate(sd=0.3), 3)
        0.05
        """
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

        >>> rule = CanaryRule(window_size=2000, min_samples=50)
        >>> t = rule.design(sd=0.3)
        >>> bool(t["mde"].iloc[-1] < t["mde"].iloc[0]), bool(t["mde"].iloc[-1] > rule.margin)
        (True, True)
        """
        info = self._information(sd)
        power = check_level(power, "power")
        se = 1.0 / np.sqrt(info)
        c = np.asarray(self.boundaries)
        looks = np.asarray(self.looks)
        spent = (_sequential.spent(looks / looks[-1], self.alpha, self.spending)
                 if self.k is None else np.full(len(c), np.nan))
        return pd.DataFrame({"look": np.arange(1, len(c) + 1), "n_eff": looks, "boundary": c,
                             "alpha_spent": spent, "se": se,
                             "mde": self.margin + (c + stats.norm.ppf(power)) * se})

    # ------------------------------------------------------------------ as a file
    def judge(self, state: _sequential.RuleState, d: np.ndarray, v: np.ndarray,
              ok: np.ndarray) -> dict[str, np.ndarray]:
        """Apply one window to every rollout in ``state``: THE canary rule, in one place.

        ``d``, ``v`` and ``ok`` hold, per rollout, the window's difference of means, its
        variance and whether both groups reached ``self.min_samples``. Both
        :class:`~mlops_reference.rollout.CanaryMonitor` (one rollout) and the simulators
        (thousands, vectorised) call this. Looks beyond the planned ones are judged against
        ``self.k`` when the rule has a fixed one, and never breach otherwise.
        """
        ok = ok & ~state.rolled
        wgt = np.where(ok, 1.0 / np.maximum(np.where(ok, v, 1.0), 1e-300), 0.0)
        state.weight += wgt
        state.weighted_diff += np.where(ok, wgt * np.where(ok, d, 0.0), 0.0)
        state.looks += ok
        with np.errstate(invalid="ignore", divide="ignore"):
            estimate = state.weighted_diff / state.weight
            se = 1.0 / np.sqrt(state.weight)
            if self.alternative == "two-sided":
                excess = np.abs(estimate) - self.margin
            elif self.alternative == "less":
                excess = -estimate - self.margin
            else:
                excess = estimate - self.margin
            statistic = np.where(ok, excess / se, np.nan)
        planned = np.asarray(self.boundaries)
        beyond = self.k if self.k is not None else np.inf
        idx = np.clip(state.looks - 1, 0, len(planned) - 1)
        boundary = np.where(state.looks <= len(planned), planned[idx], beyond)
        breached = ok & (statistic > boundary)
        state.streak = np.where(ok, np.where(breached, state.streak + 1, 0), state.streak)
        state.rolled |= ok & (state.streak >= self.consecutive)
        return {"estimate": estimate, "statistic": statistic, "boundary": boundary,
                "breached": breached}

    def to_json(self) -> str:
        """The rule as JSON: its parameters, then the looks and boundaries they give (for review).

        Examples
        --------
        >>> text = CanaryRule(window_size=2000, min_samples=50).to_json()
        >>> CanaryRule.from_json(text) == CanaryRule(window_size=2000, min_samples=50)
        True
        """
        if not self.information_known:
            raise ValueError("A rule planned from a number of looks cannot be written as a file; "
                             "plan it from a schedule.")
        out: dict[str, Any] = {name: getattr(self, name) for name in _PARAMETERS}
        out["schedule"] = (None if self.schedule is None else
                           {"hours": list(self.schedule.hours), "shares": list(self.schedule.shares)})
        out["looks"] = list(self.looks)
        out["boundaries"] = [v if math.isfinite(v) else None for v in self.boundaries]
        return json.dumps(out, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CanaryRule:
        """Read :meth:`to_json`'s text back; refuse looks or boundaries its parameters do not give.

        Examples
        --------
        A hand-edited boundary is refused:

        >>> import json
        >>> d = json.loads(CanaryRule(window_size=2000, min_samples=50).to_json())
        >>> d["boundaries"][0] = 2.0
        >>> CanaryRule.from_json(json.dumps(d))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `boundaries` must be the ones the rule's parameters give; ...
        """
        stored = json.loads(text)
        kwargs = {name: stored[name] for name in _PARAMETERS}
        if stored["schedule"] is None:
            kwargs["looks"] = tuple(stored["looks"])
        else:
            kwargs["schedule"] = CanarySchedule(tuple(stored["schedule"]["hours"]),
                                                tuple(stored["schedule"]["shares"]))
        rule = cls(**kwargs)
        for name in ("looks", "boundaries"):
            given = np.array([np.inf if v is None else v for v in stored[name]], dtype=float)
            if given.shape != (len(getattr(rule, name)),) or not np.allclose(given, getattr(rule, name),
                                                                               rtol=1e-9, atol=0):
                raise ValueError(f"`{name}` must be the ones the rule's parameters give; got {stored[name]!r}. "
                                 "Write the file from the rule (`rule.to_json()`), never by hand.")
        return rule


#: The parameters that define a rule, as written by :meth:`CanaryRule.to_json`.
_PARAMETERS = ("margin", "alpha", "window_size", "min_samples", "spending", "alternative", "k", "consecutive")


class CanaryMonitor:
    """Apply a :class:`CanaryRule` to windows of baseline and canary scores as they arrive.

    The action of each window is "insufficient" when either group holds fewer than
    ``rule.min_samples`` scores (the window is not a look), "rollback" once
    ``rule.consecutive`` looks in a row have breached (and from then on, until
    :meth:`reset`), else "continue". The decision is taken by the same function the
    simulators use, so one rollout here and thousands there agree.

    Parameters
    ----------
    rule : CanaryRule, default=None
        The rule; None builds ``CanaryRule(**parameters)``.
    **parameters
        The parameters of a :class:`CanaryRule`, when no ``rule`` is given.

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

    def __init__(self, rule: CanaryRule | None = None, /, **parameters: Any) -> None:
        if rule is None:
            rule = CanaryRule(**parameters)
        elif parameters:
            raise TypeError(f"pass a `rule` or the parameters of one, not both; got a rule and {sorted(parameters)}.")
        elif not isinstance(rule, CanaryRule):
            raise TypeError(f"`rule` must be a rollout.CanaryRule; got {type(rule).__name__}.")
        self.rule = rule
        self.reset()

    @classmethod
    def for_schedule(cls, schedule: CanarySchedule | None = None, *, window_size: int = 2000,
                     min_samples: int = 100, **parameters: Any) -> CanaryMonitor:
        """A monitor of ``CanaryRule(schedule=schedule, window_size=..., min_samples=..., ...)``.

        Examples
        --------
        >>> m = CanaryMonitor.for_schedule(window_size=1000, min_samples=40)
        >>> m.rule.window_size, len(m.rule.boundaries)
        (1000, 17)
        """
        return cls(CanaryRule(schedule=CanarySchedule() if schedule is None else schedule,
                              window_size=window_size, min_samples=min_samples, **parameters))

    @property
    def alpha(self) -> float:
        """The rule's false-rollback rate at the margin, over the whole schedule."""
        return self.rule.alpha

    @property
    def min_samples(self) -> int:
        """The rule's smallest group that makes a window a look."""
        return self.rule.min_samples

    def reset(self) -> None:
        """Forget every look, the breach streak and any rollback."""
        self._state = _sequential.RuleState(1)

    @property
    def rolled_back(self) -> bool:
        return bool(self._state.rolled[0])

    @property
    def looks_taken(self) -> int:
        return int(self._state.looks[0])

    def update(self, baseline: Any, canary: Any) -> MonitorDecision:
        """Judge one window of baseline and canary scores (the quantity the margin is in)."""
        b, c = as_scores(baseline, "baseline"), as_scores(canary, "canary")
        n_b, n_c = len(b), len(c)
        ok = n_b >= self.rule.min_samples and n_c >= self.rule.min_samples
        d = c.mean() - b.mean() if ok else np.nan
        v = c.var(ddof=1) / n_c + b.var(ddof=1) / n_b if ok else np.nan
        out = self.rule.judge(self._state, np.array([d]), np.array([v]), np.array([ok]))
        if not ok:
            return MonitorDecision(float("nan"), False, "rollback" if self.rolled_back else "insufficient",
                                   look=self.looks_taken)
        return MonitorDecision(float(out["statistic"][0]), bool(out["breached"][0]),
                               "rollback" if self.rolled_back else "continue",
                               float(out["estimate"][0]), float(out["boundary"][0]), self.looks_taken)


def derive_rule(schedule: CanarySchedule | None = None, *, shift: float, sd: float, power: float = 0.9,
                alpha: float = 0.05, window_size: int = 2000, min_samples: int = 50,
                resolution: float = 0.001) -> CanaryRule:
    r"""The rule whose margin is the widest that still catches a fault of size ``shift`` with ``power``.

    Three stated numbers make the rule: the boundaries come from ``alpha`` (the accepted
    false-rollback rate at the margin) and the looks ``schedule`` plans at ``window_size``
    requests an hour; the margin from the fault. A wider margin passes more healthy
    candidates, so the rule takes the widest :math:`\delta` at which it rolls back a
    candidate ``shift`` away with probability ``power`` over the whole rollout
    (:meth:`CanaryRule.rollback_probability`, solved with Brent's method), rounded *down*
    to ``resolution`` so the power stays above ``power``. The safe-deployment chapter
    derives the book's rule with it; ``deploy/canary-rule.json`` stores the result.

    Parameters
    ----------
    schedule : CanarySchedule, default=None
        ``CanarySchedule()`` when None.
    shift : float
        True shift of the mean predicted probability that the fault causes (its sign is ignored).
    sd : float
        Standard deviation of a single score.
    power : float, default=0.9
    alpha : float, default=0.05
    window_size, min_samples : int, default=2000, 50
    resolution : float, default=0.001

    Returns
    -------
    CanaryRule

    Examples
    --------
    Which margin still catches a shift of three points 90% of the time, when a score's
    standard deviation is 0.3?

    >>> rule = derive_rule(shift=0.03, sd=0.3)
    >>> rule.margin, bool(rule.rollback_probability(0.03, sd=0.3) >= 0.9)
    (0.017, True)
    """
    schedule = CanarySchedule() if schedule is None else schedule
    shift = abs(check_number(shift, "shift"))
    sd = check_positive_number(sd, "sd")
    power = check_level(power, "power")
    resolution = check_positive_number(resolution, "resolution")

    def rule_at(margin: float) -> CanaryRule:
        return CanaryRule(margin=margin, alpha=alpha, schedule=schedule, window_size=window_size,
                          min_samples=min_samples)

    lowest = min(resolution, shift) / 10
    reached = rule_at(lowest).rollback_probability(shift, sd=sd) if shift else 0.0
    if reached < power:
        raise ValueError(f"`shift` must be large enough for the schedule to catch it with power {power}; "
                         f"got {shift!r}, which even a margin of {lowest:g} catches with probability "
                         f"{reached:.3f}. Lengthen the schedule or lower `power`.")
    widest = optimize.brentq(lambda m: rule_at(m).rollback_probability(shift, sd=sd) - power, lowest, shift)
    return rule_at(round(math.floor(widest / resolution + 1e-9) * resolution, 12))
