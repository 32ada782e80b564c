"""The incident-prediction scenario that runs through the whole book.

An SRE team wants to predict, from five signals about a service, whether an incident
will follow. This module generates that data (training sets and production samples,
optionally drifted), describes its features, and builds the standard pipeline: a
``StandardScaler`` followed by a ``GradientBoostingClassifier``.

Out of scope: anything about storing, serving or monitoring the model; those live in
:mod:`mlops_reference.artefacts`, :mod:`~mlops_reference.serving` and
:mod:`~mlops_reference.drift`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops_reference import _utils
from mlops_reference._utils import check_rng
from mlops_reference.features import (CONTINUOUS_FEATURES, DISCRETE_FEATURES, FEATURE_SPECS, FEATURES, TARGET,
                                     FeatureSpec)

__all__ = [
    "FEATURES", "CONTINUOUS_FEATURES", "DISCRETE_FEATURES", "TARGET", "FEATURE_SPECS",
    "COEFFICIENTS", "DISTRIBUTIONS", "FeatureSpec", "Scenario", "make_incidents",
    "make_production_sample", "incident_probability", "make_pipeline", "fit_pipeline",
    "fit_candidate_without_rate", "make_scenario",
]


#: Log-odds of an incident: intercept plus one slope per feature (``deploy_hour`` plays no part).
COEFFICIENTS: Mapping[str, float] = {
    "intercept": -1.8,
    "request_rate": 0.005,
    "error_pct": 0.8,
    "p99_latency_ms": 0.002,
    "deploy_hour": 0.0,
    "is_weekend": 0.3,
}

#: How each feature is drawn, independently of the others: the distribution, its parameters,
#: and which parameter ``drift`` shifts (:func:`make_incidents`). The generator reads its
#: parameters from here, so what a chapter prints is what the data come from.
DISTRIBUTIONS: Mapping[str, Mapping[str, Any]] = {
    "request_rate": {"distribution": "exponential", "parameters": {"scale": 100.0},
                     "drift shifts": "scale"},
    "error_pct": {"distribution": "normal, clipped at 0", "parameters": {"mean": 2.0, "sd": 1.5},
                  "drift shifts": "mean"},
    "p99_latency_ms": {"distribution": "log-normal", "parameters": {"log_mean": 4.0, "log_sd": 0.8},
                       "drift shifts": "log_mean"},
    "deploy_hour": {"distribution": "uniform on 0..23", "parameters": {},
                    "drift shifts": "rotates the hours"},
    "is_weekend": {"distribution": "Bernoulli", "parameters": {"p": 2 / 7},
                   "drift shifts": "p"},
}


def _param(feature: str, name: str) -> float:
    return float(DISTRIBUTIONS[feature]["parameters"][name])


def _check_n(n_samples: int, name: str = "n_samples") -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {n_samples!r}.")
    return int(n_samples)


def _draw_features(n: int, rng: np.random.Generator, shift: Mapping[str, float]) -> pd.DataFrame:
    _utils.check_finite_mapping(shift, "drift", FEATURES)
    s = {name: float(shift.get(name, 0.0)) for name in FEATURES}
    p_weekend = _param("is_weekend", "p") + s["is_weekend"]
    if not 0.0 <= p_weekend <= 1.0:
        raise ValueError(
            f"`drift['is_weekend']` must keep the weekend probability in [0, 1]; "
            f"got a probability of {p_weekend:.3f}."
        )
    scale = _param("request_rate", "scale") + s["request_rate"]
    if scale <= 0:
        raise ValueError(
            f"`drift['request_rate']` must keep the mean request rate positive; got {scale}."
        )
    return pd.DataFrame({
        "request_rate": rng.exponential(scale, n),
        "error_pct": np.clip(rng.normal(_param("error_pct", "mean") + s["error_pct"],
                                        _param("error_pct", "sd"), n), 0, None),
        "p99_latency_ms": rng.lognormal(_param("p99_latency_ms", "log_mean") + s["p99_latency_ms"],
                                        _param("p99_latency_ms", "log_sd"), n),
        "deploy_hour": (rng.integers(0, 24, n) + round(s["deploy_hour"])) % 24,
        "is_weekend": rng.binomial(1, p_weekend, n),
    })


def incident_probability(X: pd.DataFrame, *, coefficients: Mapping[str, float] | None = None) -> np.ndarray:
    """True probability of an incident under the scenario's label model.

    Parameters
    ----------
    X : DataFrame with the columns of :data:`FEATURES`
        The observations.
    coefficients : mapping, default=None
        Log-odds coefficients; defaults to :data:`COEFFICIENTS`. Pass changed values to
        simulate concept drift (the same inputs, a different relationship to the label).

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    Does a higher error rate make an incident more likely?

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"request_rate": [100, 100], "error_pct": [0.5, 5.0],
    ...                      "p99_latency_ms": [50, 50], "deploy_hour": [12, 12],
    ...                      "is_weekend": [0, 0]})
    >>> incident_probability(rows).round(3)
    array([0.31 , 0.943])
    """
    coef = dict(COEFFICIENTS if coefficients is None else coefficients)
    missing = [name for name in ("intercept", *FEATURES) if name not in coef]
    if missing:
        raise ValueError(f"`coefficients` must give a value for every feature; missing {missing}.")
    absent = [name for name in FEATURES if name not in X.columns]
    if absent:
        raise ValueError(f"`X` must have the columns {list(FEATURES)}; missing {absent}.")
    log_odds = coef["intercept"] + sum(coef[name] * X[name].to_numpy(float) for name in FEATURES)
    return expit(log_odds)


def make_incidents(n_samples: int = 800, *, drift: Mapping[str, float] | None = None,
                   coefficients: Mapping[str, float] | None = None,
                   rng: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Generate labelled observations of the incident scenario.

    Parameters
    ----------
    n_samples : int, default=800
        Number of rows.
    drift : mapping of str to float, default=None
        Shift of each named feature's generating distribution: added to the exponential
        scale of ``request_rate``, the mean of ``error_pct``, the log-mean of
        ``p99_latency_ms`` and the probability of ``is_weekend``; ``deploy_hour`` is
        rotated by that many hours. ``None`` means no drift.
    coefficients : mapping of str to float, default=None
        Label model (see :func:`incident_probability`); change it to simulate concept drift.
    rng : int, Generator or None, default=None
        Seed or generator; the only source of randomness.

    Returns
    -------
    DataFrame with the columns of :data:`FEATURES` and :data:`TARGET`.

    Examples
    --------
    How often does an incident follow in the training scenario?

    >>> df = make_incidents(800, rng=42)
    >>> df.shape
    (800, 6)
    >>> round(float(df["incident"].mean()), 2)
    0.62
    """
    n = _check_n(n_samples)
    gen = check_rng(rng)
    X = _draw_features(n, gen, drift or {})
    X[TARGET] = gen.binomial(1, incident_probability(X, coefficients=coefficients))
    return X


def make_production_sample(n_samples: int = 300, *, drift: Mapping[str, float] | None = None,
                           rng: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Generate unlabelled production traffic, optionally drifted (see :func:`make_incidents`).

    Examples
    --------
    Does shifting ``error_pct`` by 2.5 move its mean by about that much?

    >>> calm = make_production_sample(5000, rng=0)
    >>> hot = make_production_sample(5000, drift={"error_pct": 2.5}, rng=0)
    >>> round(float(hot["error_pct"].mean() - calm["error_pct"].mean()), 1)
    2.4
    """
    n = _check_n(n_samples)
    return _draw_features(n, check_rng(rng), drift or {})


def make_pipeline(*, random_state: int = 42) -> Pipeline:
    """The book's standard, unfitted pipeline: scaling, then gradient-boosted trees.

    Examples
    --------
    Which steps does the pipeline chain, and how many trees does it grow?

    >>> pipe = make_pipeline()
    >>> [name for name, _ in pipe.steps]
    ['scaler', 'model']
    >>> pipe.named_steps["model"].n_estimators
    150
    """
    return Pipeline([
        ("scaler", StandardScaler()),
        ("model", GradientBoostingClassifier(
            n_estimators=150, max_depth=4, learning_rate=0.1, random_state=random_state,
        )),
    ])


def fit_pipeline(X: pd.DataFrame, y, *, random_state: int = 42) -> Pipeline:
    """Fit :func:`make_pipeline` on ``X`` (the :data:`FEATURES` columns, in order) and ``y``.

    Examples
    --------
    Does the fitted pipeline remember the feature names it was trained on?

    >>> df = make_incidents(200, rng=1)
    >>> pipe = fit_pipeline(df[list(FEATURES)], df[TARGET])
    >>> list(pipe.feature_names_in_) == list(FEATURES)
    True
    >>> fit_pipeline(df[["error_pct"]], df[TARGET])
    Traceback (most recent call last):
    ...
    ValueError: `X` must have exactly the columns [...] in that order; got ['error_pct'].
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"`X` must be a pandas DataFrame with columns {list(FEATURES)}; got {type(X).__name__}.")
    if list(X.columns) != list(FEATURES):
        raise ValueError(f"`X` must have exactly the columns {list(FEATURES)} in that order; got {list(X.columns)}.")
    if len(X) != len(y):
        raise ValueError(f"`X` and `y` must have the same length; got {len(X)} and {len(y)}.")
    return make_pipeline(random_state=random_state).fit(X, y)


def fit_candidate_without_rate(n_samples: int = 3000, *, rng: int | np.random.Generator | None = 7) -> Pipeline:
    """Chapter 07's candidate: the same kind of model, trained on more rows, blind to ``request_rate``.

    Gradient-boosted trees (150 of depth 2) fitted on ``n_samples`` fresh rows of
    :func:`make_incidents`, behind a ``ColumnTransformer`` that drops ``request_rate``, so it
    takes the :data:`FEATURES` columns like the book's pipeline. Better on all rows, worse on
    busy services: the chapter's case for a release gate on slices (and its exercise's).

    Examples
    --------
    Does the candidate ignore the request rate?

    >>> candidate = fit_candidate_without_rate(500)
    >>> rows = make_production_sample(5, rng=0)
    >>> same = candidate.predict_proba(rows) == candidate.predict_proba(rows.assign(request_rate=0.0))
    >>> bool(same.all())
    True
    """
    from sklearn.compose import ColumnTransformer

    rows = make_incidents(n_samples, rng=rng)
    kept = [name for name in FEATURES if name != "request_rate"]
    return Pipeline([
        ("select", ColumnTransformer([("keep", "passthrough", kept)])),
        ("model", GradientBoostingClassifier(n_estimators=150, max_depth=2, random_state=42)),
    ]).fit(rows[list(FEATURES)], rows[TARGET])


@dataclass(frozen=True)
class Scenario:
    """A train/test split of the scenario and the standard pipeline fitted on it."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    pipeline: Pipeline


def make_scenario(n_samples: int = 800, *, test_size: float = 0.2,
                  rng: int | np.random.Generator | None = 42) -> Scenario:
    """Generate the data, split it 80/20 (stratified) and fit the standard pipeline.

    Examples
    --------
    How many rows does the test set hold, and how accurate is the pipeline on it?

    >>> s = make_scenario()
    >>> len(s.X_test)
    160
    >>> 0.6 < s.pipeline.score(s.X_test, s.y_test) < 0.9
    True
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"`test_size` must be between 0 and 1 (exclusive); got {test_size!r}.")
    df = make_incidents(n_samples, rng=rng)
    X, y = df[list(FEATURES)], df[TARGET]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=42, stratify=y,
    )
    return Scenario(X_train, X_test, y_train, y_test, fit_pipeline(X_train, y_train))
