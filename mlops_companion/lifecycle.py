"""Weeks of simulated production traffic, for closing the loop of the MLOps lifecycle.

The closing chapter runs a model through half a year of production: weekly traffic whose
inputs (data drift) and label model (concept drift) drift gradually, with labels that arrive
weeks late. Out of scope: what the loop *does* with the stream (drift detection, gates,
promotion live in :mod:`mlops_reference`); the chapter keeps that loop visible.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mlops_companion import data
from mlops_reference import _utils
from mlops_reference._utils import check_int, check_rng

__all__ = ["make_weekly_traffic", "labels_available"]


def _drift_ramp(week: int, *, n_weeks: int, onset: int = 0) -> float:
    """How far along its drift the world is in ``week``: 0 up to ``onset``, 1 in the last week (linear)."""
    n_weeks = check_int(n_weeks, "n_weeks", low=2)
    onset = check_int(onset, "onset", low=0)
    if onset >= n_weeks - 1:
        raise ValueError(
            f"`onset` must be smaller than `n_weeks - 1` ({n_weeks - 1}); got {onset}. "
            "Start the drift earlier or simulate more weeks."
        )
    week = check_int(week, "week", low=0)
    if week >= n_weeks:
        raise ValueError(f"`week` must be smaller than `n_weeks` ({n_weeks}); got {week}.")
    return max(0.0, (week - onset) / (n_weeks - 1 - onset))


def make_weekly_traffic(n_weeks: int = 26, *, n_per_week: int = 400, onset: int = 0,
                        drift: Mapping[str, float] | None = None,
                        coefficients: Mapping[str, float] | None = None,
                        rng: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Generate labelled weekly traffic whose inputs and label model drift gradually.

    Week ``w`` is drawn with :func:`mlops_companion.data.make_incidents`, with every
    feature shift in ``drift`` and every coefficient change towards ``coefficients``
    scaled linearly from none until ``onset`` to all of it in the last week.

    Parameters
    ----------
    n_weeks : int, default=26
        Number of weeks (half a year by default).
    n_per_week : int, default=400
        Rows of traffic per week.
    onset : int, default=0
        Last week before any drift starts.
    drift : mapping of str to float, default=None
        Feature shifts reached in the last week, as in
        :func:`~mlops_companion.data.make_incidents`; ``None`` means no data drift.
    coefficients : mapping of str to float, default=None
        Label model reached in the last week: any subset of the keys of
        :data:`~mlops_companion.data.COEFFICIENTS`, the rest staying as they are.
        ``None`` means no concept drift.
    rng : int, Generator or None, default=None
        Seed or generator; the only source of randomness.

    Returns
    -------
    DataFrame
        Columns ``week``, then :data:`~mlops_companion.data.FEATURES`, then
        :data:`~mlops_companion.data.TARGET`; ``n_weeks * n_per_week`` rows.

    Examples
    --------
    Does the mean ``error_pct`` creep up by about the requested 2 points over the weeks?

    >>> traffic = make_weekly_traffic(6, n_per_week=2000, drift={"error_pct": 2.0}, rng=0)
    >>> traffic.shape
    (12000, 7)
    >>> means = traffic.groupby("week")["error_pct"].mean()
    >>> round(float(means.iloc[-1] - means.iloc[0]), 1)
    2.0
    """
    n_weeks = check_int(n_weeks, "n_weeks", low=2)
    n_per_week = check_int(n_per_week, "n_per_week", low=1)
    _drift_ramp(0, n_weeks=n_weeks, onset=onset)  # validates `onset` against `n_weeks`
    drift = dict(drift or {})  # its keys and values are checked by data.make_incidents
    start = dict(data.COEFFICIENTS)
    end = dict(coefficients or {})
    end = _utils.check_finite_mapping(end, "coefficients", start)
    gen = check_rng(rng)
    weeks = []
    for week in range(n_weeks):
        share = _drift_ramp(week, n_weeks=n_weeks, onset=onset)
        coef = {name: value + share * (end.get(name, value) - value) for name, value in start.items()}
        batch = data.make_incidents(
            n_per_week,
            drift={name: share * shift for name, shift in drift.items()},
            coefficients=coef,
            rng=gen,
        )
        batch.insert(0, "week", week)
        weeks.append(batch)
    return pd.concat(weeks, ignore_index=True)


def labels_available(traffic: pd.DataFrame, week: int, *, delay: int) -> pd.DataFrame:
    """The rows of ``traffic`` whose labels have arrived by the end of ``week``.

    A label is known ``delay`` weeks after its prediction (0: the same week), so at the end
    of week ``w`` the labelled rows are those of weeks ``0 .. w - delay`` (possibly none).
    ``traffic`` is a frame with a ``week`` column, as :func:`make_weekly_traffic` returns.

    Examples
    --------
    With labels two weeks late, which weeks are labelled at the end of week 3?

    >>> traffic = make_weekly_traffic(5, n_per_week=10, rng=0)
    >>> sorted(labels_available(traffic, 3, delay=2)["week"].unique().tolist())
    [0, 1]
    >>> len(labels_available(traffic, 1, delay=2))
    0
    """
    if not isinstance(traffic, pd.DataFrame):
        raise TypeError(
            "`traffic` must be a DataFrame with a 'week' column, as make_weekly_traffic "
            f"returns; got {type(traffic).__name__}."
        )
    if "week" not in traffic.columns:
        raise ValueError(
            "`traffic` must have a 'week' column, as make_weekly_traffic returns; "
            f"got the columns {list(traffic.columns)}."
        )
    week = check_int(week, "week", low=0)
    delay = check_int(delay, "delay", low=0)
    return traffic[traffic["week"] <= week - delay]
