"""Self-checks of chapter 07, testing models in CI/CD (exercise set ``07-ml-cicd``)."""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ._harness import (
    CheckResult,
    _Case,
    _CaseFailed,
    _call,
    _exercise,
    _expect,
    _expect_raises,
    _run,
    _scenario,
)

__all__ = ["check_validate_model", "check_wilson_interval", "check_test_candidate"]

STEM = "07-ml-cicd"

_HINT_VALIDATE_MODEL = (
    'Loop over `thresholds.items()`; compute each metric with sklearn.metrics '
    "(accuracy_score, f1_score, ...) on model.predict(X), and store {'value': v, "
    "'passed': v >= threshold}. Raise ValueError for a name you do not know. For the "
    "directional check, copy X, add 1 to 'error_pct', and compare the mean of "
    'model.predict_proba(...)[:, 1] before and after.'
)
_HINT_WILSON_INTERVAL = (
    'z = scipy.stats.norm.ppf(1 - (1 - confidence) / 2). Centre: (p + z**2 / (2n)) / (1 + '
    'z**2 / n); half-width: z * sqrt(p (1 - p) / n + z**2 / (4 n**2)) / (1 + z**2 / n). '
    'Check `n` and `successes` first.'
)
_HINT_TEST_CANDIDATE = (
    "Unpack X, y = fresh; count correct = int((model.predict(X) == y).sum()); assert "
    "validation.wilson_interval(correct, len(y))[0] >= GATE with a message giving the bound. "
    "Then riskier = X.assign(error_pct=X['error_pct'] + 1) and assert "
    "model.predict_proba(riskier)[:, 1].mean() > model.predict_proba(X)[:, 1].mean(). Use "
    "`assert`, so that pytest reports a failure, not an error."
)

# --------------------------------------------------------------------------- validate_model

@functools.lru_cache(maxsize=1)
def _reversed_model():
    """A fitted pipeline that learned the opposite of the truth: more errors, less risk."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    s = _scenario()
    return Pipeline([("scaler", StandardScaler()), ("model", LogisticRegression())]).fit(
        s.X_train, 1 - s.y_train)


def _rows_with_accuracy(n_right: int, n_wrong: int) -> tuple[pd.DataFrame, pd.Series]:
    """The first ``n_right`` test rows the book's pipeline gets right and ``n_wrong`` it gets wrong."""
    s = _scenario()
    right = np.asarray(s.pipeline.predict(s.X_test) == s.y_test)
    index = np.sort(np.concatenate([np.flatnonzero(right)[:n_right],
                                    np.flatnonzero(~right)[:n_wrong]]))
    return s.X_test.iloc[index], s.y_test.iloc[index]


def _validate_model_cases() -> list[_Case]:
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import accuracy_score, f1_score

    def result_of(func, model, X, y, thresholds, given):
        result = _call(func, model, X, y, thresholds)
        _expect(hasattr(result, "__getitem__"), given,
                "a mapping (dict) of check name -> details", type(result).__name__)
        for key in (*thresholds, "directional"):
            try:
                entry = result[key]
            except (KeyError, IndexError, TypeError) as error:
                raise _CaseFailed(given, f"the result to have the key {key!r}",
                                  f"{type(error).__name__}: {error}") from None
            _expect(isinstance(entry, Mapping) and "passed" in entry, given,
                    f"result[{key!r}] to be a mapping with a 'passed' entry", entry)
        return result

    def good_model(func):
        s = _scenario()
        thresholds = {"accuracy": 0.5, "f1": 0.5}
        given = (f"the book's fitted pipeline on its test set, thresholds={thresholds}")
        result = result_of(func, s.pipeline, s.X_test, s.y_test, thresholds, given)
        y_pred = s.pipeline.predict(s.X_test)
        for name, metric in (("accuracy", accuracy_score), ("f1", f1_score)):
            expected = float(metric(s.y_test, y_pred))
            got = result[name].get("value")
            _expect(got is not None and abs(float(got) - expected) < 1e-3, given,
                    f"result[{name!r}]['value'] = {expected:.4f}", got)
            _expect(bool(result[name]["passed"]) is True, given,
                    f"result[{name!r}]['passed'] is True ({expected:.3f} >= 0.5)",
                    result[name]["passed"])
        _expect(bool(result["directional"]["passed"]) is True, given,
                "result['directional']['passed'] is True: this model's risk rises with error_pct",
                result["directional"]["passed"])

    def strict_threshold(func):
        s = _scenario()
        thresholds = {"accuracy": 0.99}
        given = f"the book's fitted pipeline, thresholds={thresholds}"
        result = result_of(func, s.pipeline, s.X_test, s.y_test, thresholds, given)
        acc = accuracy_score(s.y_test, s.pipeline.predict(s.X_test))
        _expect(bool(result["accuracy"]["passed"]) is False, given,
                f"result['accuracy']['passed'] is False (accuracy {acc:.3f} < 0.99)",
                result["accuracy"]["passed"])

    def dummy(func):
        s = _scenario()
        model = DummyClassifier(strategy="most_frequent").fit(s.X_train, s.y_train)
        thresholds = {"accuracy": 0.7, "f1": 0.5}
        given = f"DummyClassifier(strategy='most_frequent'), thresholds={thresholds}"
        result = result_of(func, model, s.X_test, s.y_test, thresholds, given)
        acc = accuracy_score(s.y_test, model.predict(s.X_test))
        _expect(bool(result["accuracy"]["passed"]) is False, given,
                f"result['accuracy']['passed'] is False (accuracy {acc:.3f} < 0.7)",
                result["accuracy"]["passed"])

    def reversed_direction(func):
        s = _scenario()
        thresholds = {"accuracy": 0.0}
        given = ("a logistic regression fitted on flipped labels (its risk FALLS as error_pct "
                 f"rises), thresholds={thresholds}")
        result = result_of(func, _reversed_model(), s.X_test, s.y_test, thresholds, given)
        _expect(bool(result["directional"]["passed"]) is False, given,
                "result['directional']['passed'] is False", result["directional"]["passed"])

    def at_the_threshold(func):
        # A metric exactly equal to its minimum passes (`>=`), one just above it fails; the
        # rows are chosen so that accuracy is exactly 0.75 whatever formula computes it.
        X, y = _rows_with_accuracy(30, 10)
        for minimum, expected in ((0.75, True), (0.76, False), (0.7, True)):
            thresholds = {"accuracy": minimum}
            given = (f"40 test rows the pipeline gets 30 of right (accuracy exactly 0.75), "
                     f"thresholds={thresholds}")
            result = result_of(func, _scenario().pipeline, X, y, thresholds, given)
            verdict = "at least" if expected else "below"
            _expect(bool(result["accuracy"]["passed"]) is expected, given,
                    f"result['accuracy']['passed'] is {expected} (0.75 is {verdict} {minimum})",
                    result["accuracy"]["passed"])

    def unknown_metric(func):
        s = _scenario()
        given = "thresholds={'acuracy': 0.7} (a typo)"
        error = _expect_raises(func, ValueError, given, s.pipeline, s.X_test, s.y_test,
                               {"acuracy": 0.7})
        _expect("acuracy" in str(error), given, "the error message to name 'acuracy'", str(error))

    return [
        _Case("a good model passes lenient thresholds", good_model),
        _Case("thresholds are enforced", strict_threshold),
        _Case("a DummyClassifier fails", dummy),
        _Case("the directional check catches a reversed model", reversed_direction),
        _Case("a metric equal to its threshold passes", at_the_threshold),
        _Case("an unknown metric is an error", unknown_metric),
    ]


@_exercise("validate_model", STEM, _HINT_VALIDATE_MODEL)
def check_validate_model(func: Callable[..., Mapping], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``validate_model(model, X, y, thresholds)``.

    The function must return a mapping with, for each metric named in ``thresholds``
    (at least ``"accuracy"`` and ``"f1"``), ``{"value": float, "passed": bool}`` where a
    metric passes when its value is at least its threshold, plus ``"directional"`` ->
    ``{"passed": bool}``: adding 1 to ``error_pct`` must raise the mean predicted
    probability of an incident. An unknown metric name raises ``ValueError`` naming it.

    Parameters
    ----------
    func : callable
        The student's function.
    verbose : bool, default=True
        Print the result.

    Returns
    -------
    CheckResult

    Examples
    --------
    Does a validator that ignores its thresholds get through?

    >>> def lenient(model, X, y, thresholds):
    ...     return {**{name: {"value": 1.0, "passed": True} for name in thresholds},
    ...             "directional": {"passed": True}}
    >>> result = check_validate_model(lenient)
    validate_model: FAILED on case 1 of ..., "a good model passes lenient thresholds".
    ...
    >>> result.status
    'failed'
    """
    return _run("validate_model", func, _validate_model_cases(), verbose=verbose)


# --------------------------------------------------------------------------- wilson_interval

def _wilson_cases() -> list[_Case]:
    from mlops_companion import validation

    def value_case(successes, n, confidence):
        def run(func):
            kwargs = {} if confidence is None else {"confidence": confidence}
            given = f"successes={successes}, n={n}" + (
                f", confidence={confidence}" if confidence is not None else "")
            got = _call(func, successes, n, **kwargs)
            expected = validation.wilson_interval(
                successes, n, confidence=0.95 if confidence is None else confidence)
            ok = (isinstance(got, (tuple, list)) and len(got) == 2
                  and all(abs(float(g) - e) < 1e-4 for g, e in zip(got, expected)))
            _expect(ok, given, f"({expected[0]:.4f}, {expected[1]:.4f})", got)
        return run

    def bad_input(func):
        _expect_raises(func, ValueError, "successes=5, n=0", 5, 0)
        _expect_raises(func, ValueError, "successes=11, n=10", 11, 10)

    return [
        _Case("8 of 10 at 95%", value_case(8, 10, None)),
        _Case("10 of 10: a perfect score still has an interval", value_case(10, 10, None)),
        _Case("0 of 10", value_case(0, 10, None)),
        _Case("a single trial is a valid test set", value_case(1, 1, None)),
        _Case("the confidence level is used", value_case(8, 10, 0.9)),
        _Case("a large test set", value_case(1270, 1600, None)),
        _Case("impossible counts are errors", bad_input),
    ]


@_exercise("wilson_interval", STEM, _HINT_WILSON_INTERVAL)
def check_wilson_interval(func: Callable[..., tuple[float, float]], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``wilson_interval(successes, n, *, confidence=0.95)``.

    It must return ``(low, high)``, the Wilson score interval for a proportion, within
    1e-4, and raise ``ValueError`` when ``n < 1`` or ``successes`` is outside ``[0, n]``.

    Examples
    --------
    Is the textbook (Wald) interval good enough?

    >>> import math
    >>> def wald(successes, n, *, confidence=0.95):
    ...     p = successes / n
    ...     half = 1.96 * math.sqrt(p * (1 - p) / n)
    ...     return p - half, p + half
    >>> result = check_wilson_interval(wald)
    wilson_interval: FAILED on case 1 of ..., "8 of 10 at 95%".
      input:    successes=8, n=10
      expected: (0.4902, 0.9433)
    ...
    """
    return _run("wilson_interval", func, _wilson_cases(), verbose=verbose)




# --------------------------------------------------------------------------- model_test

#: The gate of the model-test exercise: the lower bound of accuracy's 95% interval.
MODEL_TEST_GATE = 0.64


@functools.lru_cache(maxsize=1)
def _fresh_rows() -> tuple[pd.DataFrame, pd.Series]:
    from mlops_companion import data

    rows = data.make_incidents(2000, rng=2024)
    return rows[list(data.FEATURES)], rows[data.TARGET]


class _Contrarian:
    """The book's pipeline for decisions, but its risk *falls* as error_pct rises."""

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline

    def predict(self, X):
        return self.pipeline.predict(X)

    def predict_proba(self, X):
        return self.pipeline.predict_proba(X.assign(error_pct=10.0 - X["error_pct"]))


def _model_test_cases() -> list[_Case]:
    from sklearn.dummy import DummyClassifier

    def passes_on(given, rows=_fresh_rows):
        def run(func):
            X, y = rows()
            try:
                _call(func, _scenario().pipeline, (X, y))
            except AssertionError as error:
                raise _CaseFailed(given, "the test to pass (no AssertionError)",
                                  f"AssertionError: {error}") from None
        return run

    passes = passes_on("the book's pipeline on 2000 fresh rows (accuracy's lower bound is about 0.65)")

    def fails(model_of, description, rows=None):
        def run(func):
            X, y = rows() if rows else _fresh_rows()
            _expect_raises(func, AssertionError, description, model_of(), (X, y))
        return run

    def dummy():
        s = _scenario()
        return DummyClassifier(strategy="most_frequent").fit(s.X_train, s.y_train)

    return [
        _Case("the book's pipeline passes", passes),
        _Case("a majority-class dummy fails", fails(
            dummy, "DummyClassifier(strategy='most_frequent') on 2000 fresh rows")),
        _Case("a model whose risk falls as errors rise fails", fails(
            lambda: _Contrarian(_scenario().pipeline),
            "the pipeline's decisions, but P(incident) falls as error_pct rises")),
        _Case("an accuracy of 0.70 on 40 rows is not evidence", fails(
            lambda: _scenario().pipeline,
            "40 test rows the pipeline gets 28 of right (0.70; lower bound about 0.55)",
            rows=lambda: _rows_with_accuracy(28, 12))),
        # Either side of the gate, close to it: a gate on another confidence level (90%,
        # 99%) or another threshold (0.60) gives the other answer on one of the two.
        _Case("an accuracy just below the gate fails", fails(
            lambda: _scenario().pipeline,
            "110 test rows the pipeline gets 80 of right (0.727; 95% lower bound 0.637, "
            "below 0.64; the 90% one would be 0.653)",
            rows=lambda: _rows_with_accuracy(80, 30))),
        _Case("an accuracy just above the gate passes", passes_on(
            "130 test rows the pipeline gets 94 of right (0.723; 95% lower bound 0.641, "
            "above 0.64; the 99% one would be 0.613)",
            rows=lambda: _rows_with_accuracy(94, 36))),
    ]


@_exercise("test_candidate", STEM, _HINT_TEST_CANDIDATE)
def check_test_candidate(func: Callable[..., None], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's pytest test ``test_candidate(model, fresh)``.

    ``fresh`` is a tuple ``(X, y)`` of labelled rows the model never saw. The test must
    return quietly for a model whose accuracy's 95% Wilson lower bound on ``fresh`` is at
    least ``MODEL_TEST_GATE`` (0.64) and whose predicted risk rises with ``error_pct``; and
    fail, raising ``AssertionError`` as pytest expects, for a majority-class dummy, for a
    model whose risk falls as ``error_pct`` rises, and for a point estimate of 0.70 on only
    40 rows. Two cases sit either side of the gate (95% lower bounds 0.637 and 0.641), so
    a gate at another confidence level or threshold fails one of them.

    Examples
    --------
    A test on the point estimate lets 40 lucky rows through:

    >>> def point(model, fresh):
    ...     X, y = fresh
    ...     assert (model.predict(X) == y).mean() >= 0.64
    >>> result = check_test_candidate(point)
    test_candidate: FAILED on case 3 of ..., "a model whose risk falls as errors rise fails".
    ...
    """
    return _run("test_candidate", func, _model_test_cases(), verbose=verbose)
