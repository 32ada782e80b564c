"""Model validation gates: metrics with confidence intervals, and behavioural checks.

Covers :func:`validate_model`, which a CI pipeline runs before a model may be promoted:
each requested metric (accuracy, balanced accuracy, precision, recall, F1, ROC AUC) with
its threshold, a confidence interval and a pass/fail verdict; a *directional* check
(raising a feature that should raise the risk must raise the predicted probability, at
values inside the observed range); and a *distribution* check (more than one class
predicted, probabilities spread over a minimum range). Also :func:`wilson_interval`,
the interval used for metrics that are proportions, and :func:`compare_models_paired`,
which decides whether a challenger beats the serving model on the *same* rows (exact
McNemar test on the rows where exactly one of them is right).

Why intervals: with the ~160 rows of the book's test set an accuracy of 0.70 is known to
within about seven points either way, so a gate at exactly 0.70 passes or fails on the
luck of the split. ``gate="lower"`` makes a metric pass only when its interval's lower
bound clears the threshold.

Out of scope: data validation and drift (:mod:`mlops_reference.drift`), and fairness or
calibration metrics.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm


from mlops_reference import _utils

__all__ = [
    "METRICS",
    "ValidationResult",
    "validate_model",
    "wilson_interval",
    "PairedComparisonResult",
    "compare_models_paired",
]

#: Metric name -> how its confidence interval is computed.
METRICS: Mapping[str, str] = MappingProxyType({
    "accuracy": "wilson",
    "balanced_accuracy": "bootstrap",
    "precision": "wilson",
    "recall": "wilson",
    "f1": "bootstrap",
    "roc_auc": "bootstrap",
})


#: The directional check (feature, low, high): raising the error rate from 0.5% to 5% must
#: raise the predicted incident probability, the other features held at their medians.
_DIRECTIONAL = ("error_pct", 0.5, 5.0)
#: The distribution check: more than one predicted class, and max(p) - min(p) above this.
_MIN_PROB_RANGE = 0.3
#: Level of the gate's intervals; bootstrap resamples, and their seed (the same verdict twice).
_CONFIDENCE, _N_BOOTSTRAP, _BOOTSTRAP_SEED = 0.95, 1000, 0
_COLUMNS = ["name", "kind", "value", "threshold", "ci_low", "ci_high", "passed"]


@dataclass(frozen=True)
class ValidationResult:
    """Outcome of :func:`validate_model`.

    Attributes
    ----------
    passed : bool
        Every metric and every check passed.
    table : DataFrame
        One row per metric or check: ``name, kind, value, threshold, ci_low, ci_high,
        passed`` (the intervals are NaN for checks).
    gate : str
        ``"point"`` or ``"lower"``: what a metric had to clear its threshold with.
    confidence : float
        Level of the intervals.
    n_samples : int
        Rows the metrics were computed on.
    details : mapping
        Per name, the row as a mapping plus check-specific details.
    """

    passed: bool
    table: pd.DataFrame = field(repr=False)
    gate: str
    confidence: float
    n_samples: int
    details: Mapping[str, Mapping[str, Any]] = field(repr=False)

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        try:
            return self.details[name]
        except KeyError:
            raise KeyError(
                f"`name` must be one of {list(self.details)}; got {name!r}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.details

    def failures(self) -> list[str]:
        """Names of the metrics and checks that failed."""
        return [str(n) for n in self.table.loc[~self.table["passed"], "name"]]


def _check_confidence(confidence: Any) -> float:
    return _utils.check_level(confidence, "confidence")


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``.

    Better behaved than the textbook ``p +/- z*sqrt(p(1-p)/n)`` near 0 and 1 and for small
    ``n``; it is the interval :func:`scipy.stats.binomtest` calls ``"wilson"``.

    Parameters
    ----------
    successes : int
        Number of successes (e.g. correct predictions), ``0 <= successes <= n``.
    n : int
        Number of trials, at least 1.
    confidence : float, default=0.95
        Coverage of the interval.

    Returns
    -------
    (float, float)
        Lower and upper bound.

    Examples
    --------
    How sure is an accuracy of 112 correct out of 160 (0.70)?

    >>> low, high = wilson_interval(112, 160)
    >>> round(low, 3), round(high, 3)
    (0.625, 0.766)
    """
    return _utils.wilson_interval(successes, n, confidence=confidence)


# --------------------------------------------------------------------------- input checks
def _check_inputs(model: Any, X: Any, y: Any) -> tuple[pd.DataFrame, np.ndarray]:
    if not callable(getattr(model, "predict_proba", None)) or not callable(getattr(model, "predict", None)):
        raise TypeError(
            f"`model` must be a fitted classifier with predict and predict_proba; got {type(model).__name__}."
        )
    names = getattr(model, "feature_names_in_", None)
    if isinstance(X, pd.DataFrame):
        frame = X
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        if names is not None and X.shape[1] != len(names):
            raise ValueError(
                f"`X` must have the model's {len(names)} columns {list(names)}; got an array with {X.shape[1]}."
            )
        frame = pd.DataFrame(X, columns=list(names) if names is not None else None)
    else:
        raise TypeError(f"`X` must be a pandas DataFrame or a 2-D numpy array; got {type(X).__name__}.")
    if len(frame) == 0 or frame.shape[1] == 0:
        raise ValueError(f"`X` must have at least one row and one column; got shape {frame.shape}.")
    if names is not None and list(frame.columns) != [str(n) for n in names]:
        missing = [n for n in names if n not in frame.columns]
        extra = [c for c in frame.columns if c not in set(names)]
        raise ValueError(
            f"`X` must have the columns the model was fitted on, {list(names)}, in that order; "
            f"got {list(frame.columns)} (missing {missing}, unexpected {extra})."
        )
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                   or pd.api.types.is_bool_dtype(frame[c])]
    if non_numeric:
        raise TypeError(f"`X` must have numeric columns only; got non-numeric {non_numeric}.")
    values = frame.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = [str(c) for c, ok in zip(frame.columns, np.isfinite(values).all(axis=0)) if not ok]
        raise ValueError(f"`X` must hold finite values only; got NaN or inf in columns {bad}. Impute or drop those rows.")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise ValueError(f"`y` must be one-dimensional; got shape {y_arr.shape}.")
    if len(y_arr) != len(frame):
        raise ValueError(f"`X` and `y` must have the same length; got {len(frame)} and {len(y_arr)}.")
    if not np.isin(y_arr, [0, 1]).all():
        raise ValueError(f"`y` must hold binary labels 0 and 1; got values {sorted(pd.unique(y_arr).tolist())[:5]}.")
    return frame, y_arr.astype(int)


def _check_thresholds(thresholds: Any) -> dict[str, float]:
    if not isinstance(thresholds, Mapping) or not thresholds:
        raise TypeError(
            f"`thresholds` must be a non-empty mapping of metric name to minimum value, "
            f"e.g. {{'accuracy': 0.7}}; got {thresholds!r}."
        )
    unknown = [k for k in thresholds if k not in METRICS]
    if unknown:
        raise ValueError(f"`thresholds` keys must be metric names {list(METRICS)}; got unknown {unknown}.")
    out = {}
    for k, v in thresholds.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"`thresholds[{k!r}]` must be a number in [0, 1]; got {v!r}.")
        out[k] = float(v)
    return out


def _model_input(model: Any, frame: pd.DataFrame) -> pd.DataFrame | np.ndarray:
    """A model fitted on a plain array gets a plain array (scikit-learn warns otherwise)."""
    return frame if getattr(model, "feature_names_in_", None) is not None else frame.to_numpy()


# --------------------------------------------------------------------------- metrics
def _point_metric(name: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray) -> float:
    if name == "accuracy":
        return float(skm.accuracy_score(y, pred))
    if name == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y, pred))
    if name == "precision":
        return float(skm.precision_score(y, pred, zero_division=0))
    if name == "recall":
        return float(skm.recall_score(y, pred, zero_division=0))
    if name == "f1":
        return float(skm.f1_score(y, pred, zero_division=0))
    return float(skm.roc_auc_score(y, proba))


def _bootstrap_values(name: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray,
                      gen: np.random.Generator, n_bootstrap: int) -> np.ndarray:
    """The metric on ``n_bootstrap`` resamples of the rows, vectorised over resamples."""
    idx = gen.integers(0, len(y), size=(n_bootstrap, len(y)))
    yb, pb = y[idx].astype(bool), pred[idx].astype(bool)
    pos = yb.sum(axis=1)
    neg = yb.shape[1] - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "roc_auc":
            ranks = stats.rankdata(proba[idx], axis=1)  # ties share the mean rank, as AUC requires
            u = np.where(yb, ranks, 0.0).sum(axis=1) - pos * (pos + 1) / 2
            values = u / (pos * neg)
        else:
            tp = (yb & pb).sum(axis=1)
            fp = (~yb & pb).sum(axis=1)
            fn = (yb & ~pb).sum(axis=1)
            tn = (~yb & ~pb).sum(axis=1)
            if name == "f1":
                values = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
            else:  # balanced accuracy
                values = (tp / pos + tn / neg) / 2
    values = values.astype(float)
    return values[np.isfinite(values)]


def _wilson_counts(name: str, y: np.ndarray, pred: np.ndarray) -> tuple[int, int]:
    if name == "accuracy":
        return int((y == pred).sum()), len(y)
    if name == "precision":
        return int(((pred == 1) & (y == 1)).sum()), int((pred == 1).sum())
    return int(((pred == 1) & (y == 1)).sum()), int((y == 1).sum())  # recall


def _metric_interval(name: str, y, pred, proba, conf, gen, n_bootstrap) -> tuple[float, float]:
    if METRICS[name] == "wilson":
        k, n = _wilson_counts(name, y, pred)
        return wilson_interval(k, n, confidence=conf) if n > 0 else (0.0, 1.0)
    values = _bootstrap_values(name, y, pred, proba, gen, n_bootstrap)
    if len(values) == 0:
        return float("nan"), float("nan")
    alpha = (1 - conf) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def _metric(name: str, threshold: float, y: np.ndarray, pred: np.ndarray, proba: np.ndarray,
            gate: str, gen: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """A metric's row (value, interval, verdict under ``gate``) and details."""
    value = _point_metric(name, y, pred, proba)
    low, high = _metric_interval(name, y, pred, proba, _CONFIDENCE, gen, _N_BOOTSTRAP)
    passed = bool((value if gate == "point" else low) >= threshold)
    row = {"name": name, "kind": "metric", "value": value, "threshold": threshold,
           "ci_low": low, "ci_high": high, "passed": passed}
    return row, {"interval": METRICS[name]}


def _directional(model: Any, reference: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """The directional check's row and details: does more ``error_pct`` mean more risk?"""
    feature, low, high = _DIRECTIONAL
    lo, hi = float(reference[feature].min()), float(reference[feature].max())
    if not (lo <= low and high <= hi):
        raise ValueError(
            f"`X_reference` must cover {feature} from {low} to {high} for the directional check; "
            f"its range is [{lo:.3g}, {hi:.3g}]. Pass the training data as `X_reference`."
        )
    probe = pd.DataFrame([reference.median(), reference.median()])
    for col in probe.columns:  # keep integer features integral
        if pd.api.types.is_integer_dtype(reference[col]):
            probe[col] = probe[col].round().astype(reference[col].dtype)
    probe[feature] = [low, high]
    p_low, p_high = np.asarray(model.predict_proba(_model_input(model, probe)), dtype=float)[:, 1]
    change = float(p_high - p_low)
    outcome = {"feature": feature, "low": low, "high": high, "direction": "increase",
               "p_low": float(p_low), "p_high": float(p_high), "change": change, "passed": change > 0}
    row = {"name": "directional", "kind": "check", "value": change, "threshold": 0.0,
           "ci_low": np.nan, "ci_high": np.nan, "passed": change > 0}
    return row, {"checks": (outcome,)}


def _distribution(pred: np.ndarray, proba: np.ndarray, min_prob_range: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The distribution check's row and details: more than one class, probabilities spread."""
    n_classes = int(len(np.unique(pred)))
    prob_range = float(proba.max() - proba.min())
    row = {"name": "distribution", "kind": "check", "value": prob_range, "threshold": min_prob_range,
           "ci_low": np.nan, "ci_high": np.nan, "passed": bool(n_classes > 1 and prob_range > min_prob_range)}
    return row, {"n_classes_predicted": n_classes, "prob_min": float(proba.min()),
                 "prob_max": float(proba.max())}


# --------------------------------------------------------------------------- the gate
def validate_model(
    model: Any,
    X: pd.DataFrame | np.ndarray,
    y: Any,
    thresholds: Mapping[str, float],
    *,
    X_reference: pd.DataFrame | None = None,
    gate: str = "point",
) -> ValidationResult:
    """Run a model's performance gates and behavioural checks, with confidence intervals.

    Parameters
    ----------
    model : fitted binary classifier with ``predict`` and ``predict_proba``
    X : DataFrame or 2-D array of shape (n_samples, n_features)
        Held-out inputs, with the columns the model was fitted on, all finite.
    y : array-like of shape (n_samples,)
        True labels, 0 or 1.
    thresholds : mapping of str to float
        Minimum value of each metric, each in [0, 1]; names from :data:`METRICS`.
    X_reference : DataFrame, default=None
        The directional check (when ``X`` has an ``error_pct`` column: raising it from 0.5
        to 5.0 must raise the incident probability) holds the other features at the
        medians of these rows, usually the training set, and must stay within their range
        (trees do not extrapolate); ``None`` uses ``X``.
    gate : {"point", "lower"}, default="point"
        ``"point"``: a metric passes when its value is at least its threshold.
        ``"lower"``: when the lower bound of its 95% interval is (Wilson for accuracy,
        precision and recall; a percentile bootstrap of 1000 resamples, seeded so a gate
        gives the same verdict twice, for the others).

    Returns
    -------
    ValidationResult
        ``result.passed``, ``result.table`` and ``result[name]`` for each metric and for
        ``"directional"`` (its ``value`` is the change of probability, threshold 0) and
        ``"distribution"`` (more than one predicted class, and ``max(p) - min(p)`` above 0.3).

    Examples
    --------
    Does the book's pipeline clear the accuracy gate, and how wide is the interval?

    >>> from mlops_companion import data
    >>> s = data.make_scenario()
    >>> result = validate_model(s.pipeline, s.X_test, s.y_test, {"accuracy": 0.70})
    >>> result["accuracy"]["passed"], result["directional"]["passed"]
    (True, True)
    >>> round(result["accuracy"]["ci_high"] - result["accuracy"]["ci_low"], 2)
    0.13

    A model that always predicts the majority class fails, and says why:

    >>> from sklearn.dummy import DummyClassifier
    >>> dummy = DummyClassifier().fit(s.X_train, s.y_train)
    >>> bad = validate_model(dummy, s.X_test, s.y_test, {"accuracy": 0.70})
    >>> bad.passed, bad.failures()
    (False, ['accuracy', 'directional', 'distribution'])
    """
    frame, y_arr = _check_inputs(model, X, y)
    limits = _check_thresholds(thresholds)
    if gate not in ("point", "lower"):
        raise ValueError(f"`gate` must be 'point' or 'lower'; got {gate!r}.")
    reference = frame if X_reference is None else _check_inputs(
        model, X_reference, np.zeros(len(X_reference), dtype=int))[0]
    if "roc_auc" in limits and len(np.unique(y_arr)) < 2:
        raise ValueError("`y` must contain both classes to compute roc_auc; got a single class.")
    pred = np.asarray(model.predict(_model_input(model, frame))).astype(int)
    proba = np.asarray(model.predict_proba(_model_input(model, frame)), dtype=float)[:, 1]
    gen = np.random.default_rng(_BOOTSTRAP_SEED)
    results = [_metric(name, threshold, y_arr, pred, proba, gate, gen)
               for name, threshold in limits.items()]
    if _DIRECTIONAL[0] in frame.columns:
        results.append(_directional(model, reference))
    results.append(_distribution(pred, proba, _MIN_PROB_RANGE))
    table = pd.DataFrame([row for row, _ in results], columns=_COLUMNS)
    details = {row["name"]: MappingProxyType({**row, **extra}) for row, extra in results}
    return ValidationResult(
        passed=bool(table["passed"].all()), table=table, gate=gate, confidence=_CONFIDENCE,
        n_samples=len(frame), details=MappingProxyType(details),
    )


# --------------------------------------------------------------------------- paired comparison
@dataclass(frozen=True)
class PairedComparisonResult:
    """Outcome of :func:`compare_models_paired`.

    Attributes
    ----------
    statistic : int
        Rows only the candidate got right (the McNemar count ``b``).
    pvalue : float
        Exact McNemar p-value: a binomial test of ``b`` among the ``b + c`` discordant rows
        with probability 1/2, in the direction of ``alternative``.
    n_candidate_only, n_baseline_only : int
        Discordant rows: right only for the candidate (``b``), only for the baseline (``c``).
    n_samples : int
    accuracy_candidate, accuracy_baseline : float
    difference : float
        ``accuracy_candidate - accuracy_baseline``, which equals ``(b - c) / n_samples``.
    ci_low, ci_high : float
        Interval for the difference at ``confidence`` (the Wilson interval for the share of
        discordant rows won by the candidate, mapped to a difference of accuracies).
    alternative : str
    confidence : float
    """

    statistic: int
    pvalue: float
    n_candidate_only: int
    n_baseline_only: int
    n_samples: int
    accuracy_candidate: float
    accuracy_baseline: float
    difference: float
    ci_low: float
    ci_high: float
    alternative: str
    confidence: float


def compare_models_paired(
    candidate: Any,
    baseline: Any,
    X: Any,
    y: Any,
    *,
    alternative: str = "greater",
    confidence: float = 0.95,
) -> PairedComparisonResult:
    """Is the candidate more accurate than the baseline on the same rows? (exact McNemar)

    Both models are scored on the *same* rows, so their errors are paired: comparing two
    separate intervals ignores that most rows are right (or wrong) for both and wastes the
    evidence. Only the discordant rows carry information about which model is better:
    ``b`` rows right only for the candidate, ``c`` right only for the baseline. Under "no
    difference" each discordant row is a fair coin, so :func:`scipy.stats.binomtest` of
    ``b`` out of ``b + c`` is the exact McNemar test.

    Parameters
    ----------
    candidate, baseline : fitted classifiers with ``predict``
    X : DataFrame or 2-D array
    y : array-like of shape (n_samples,), binary
    alternative : {"greater", "two-sided", "less"}, default="greater"
        "greater": the candidate is more accurate (the question a promotion asks).
    confidence : float, default=0.95

    Returns
    -------
    PairedComparisonResult

    Examples
    --------
    Does a model that fixes 30 of its rival's mistakes and makes 10 new ones win?

    >>> import numpy as np
    >>> class Fixed:
    ...     def __init__(self, pred): self.pred = np.asarray(pred)
    ...     def predict(self, X): return self.pred
    ...     def predict_proba(self, X): return np.c_[1 - self.pred, self.pred]
    >>> y = np.r_[np.ones(200, int), np.zeros(200, int)]
    >>> old = y.copy(); old[:30] = 0                 # 30 mistakes the candidate fixes
    >>> new = y.copy(); new[200:210] = 1             # 10 mistakes of its own
    >>> X = np.zeros((400, 1))
    >>> r = compare_models_paired(Fixed(new), Fixed(old), X, y)
    >>> r.statistic, r.n_baseline_only, round(r.difference, 3), round(r.pvalue, 4)
    (30, 10, 0.05, 0.0011)
    """
    alternative = _utils.check_one_of(alternative, "alternative", ("greater", "two-sided", "less"))
    conf = _check_confidence(confidence)
    right = []
    for model, name in ((candidate, "candidate"), (baseline, "baseline")):
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"`{name}` must be a fitted classifier with predict; got {type(model).__name__}.")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or len(y_arr) == 0:
        raise ValueError(f"`y` must be a non-empty one-dimensional array; got shape {y_arr.shape}.")
    if len(X) != len(y_arr):
        raise ValueError(f"`X` and `y` must have the same length; got {len(X)} and {len(y_arr)}.")
    for model in (candidate, baseline):
        right.append(np.asarray(model.predict(X)) == y_arr)
    cand_right, base_right = right
    b = int(np.sum(cand_right & ~base_right))
    c = int(np.sum(~cand_right & base_right))
    n = len(y_arr)
    if b + c == 0:
        pvalue, share_low, share_high = 1.0, 0.0, 1.0
    else:
        pvalue = float(stats.binomtest(b, b + c, 0.5, alternative=alternative).pvalue)
        share_low, share_high = _utils.wilson_interval(b, b + c, confidence=conf)
    # difference = (b - c) / n = (b + c) / n * (2 * share - 1)
    scale = (b + c) / n
    return PairedComparisonResult(
        statistic=b, pvalue=pvalue, n_candidate_only=b, n_baseline_only=c, n_samples=n,
        accuracy_candidate=float(cand_right.mean()), accuracy_baseline=float(base_right.mean()),
        difference=(b - c) / n, ci_low=scale * (2 * share_low - 1),
        ci_high=scale * (2 * share_high - 1), alternative=alternative, confidence=conf,
    )
