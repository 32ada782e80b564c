"""Self-checks for the exercise notebooks: behavioural tests a student runs on their own code.

After each coding exercise the notebook calls one function of this module with the
student's function, for example ``checks.validate_model(validate_model)``. The check runs a
handful of public test cases and prints one of three results:

* **passed**: every case behaved as the exercise asks;
* **not attempted yet**: the function still raises ``NotImplementedError`` (the stub);
* **failed**: the first case that went wrong, with its input, what was expected and what came.

Every check also returns a :class:`CheckResult`, so tests (and curious students) can assert
on it. ``checks.hint(name)`` prints a nudge for an exercise. All test cases are here, in the
open: reading them is allowed, and often instructive.

The same cases are the *contract* of each exercise: the book's own test suite runs them on
the worked solutions and, where the package implements the same idea, on the package too
(:func:`mlops_companion.validation.validate_model`,
:func:`mlops_companion.drift.detect_drift`, :func:`mlops_companion.artefacts.load_artefact`).

Out of scope: grading, servers, anything that needs a network. Checks only call the
function they are given, on small data generated with :mod:`mlops_companion.data`.
"""
from __future__ import annotations

import functools
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CheckResult",
    "PASSED",
    "FAILED",
    "NOT_ATTEMPTED",
    "EXERCISES",
    "hint",
    "validate_model",
    "wilson_interval",
    "detect_drift",
    "chi_square_drift",
    "save_load_verify",
    "load_verified",
    "rollback_version",
    "predict_in_batches",
    "shadow_report",
    "make_request_schema",
    "canary_decision",
    "first_alarm",
]

PASSED = "passed"
FAILED = "failed"
NOT_ATTEMPTED = "not attempted"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one self-check.

    Attributes
    ----------
    name : str
        The exercise, e.g. ``"validate_model"``.
    status : {"passed", "failed", "not attempted"}
        What happened.
    message : str
        The text the check printed: which case failed, with input, expectation and result.
    """

    name: str
    status: str
    message: str
    _printed: bool = field(default=False, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return self.status == PASSED

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        # The check already printed its message; showing the returned object as the
        # cell's value would print it twice.
        if not self._printed:
            print(self.message)


class _CaseFailed(Exception):
    """Raised inside a case: what went in, what the exercise expects and what came out."""

    def __init__(self, given: str, expected: str, got: str) -> None:
        super().__init__(expected)
        self.given, self.expected, self.got = given, expected, got


@dataclass(frozen=True)
class _Case:
    description: str
    run: Callable[[Callable[..., Any]], None]


def _call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # Students' code (and scikit-learn, and the functions under test that warn on purpose)
    # may warn; a check reports behaviour, so warnings never escape it as errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _call_recording(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = func(*args, **kwargs)
    return value, list(caught)


def _short(value: Any, limit: int = 160) -> str:
    if isinstance(value, np.generic):  # show 0.8, not np.float64(0.8)
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _run(name: str, func: Any, cases: Iterable[_Case], *, verbose: bool) -> CheckResult:
    if not callable(func):
        raise TypeError(
            f"`func` must be the function you wrote for the {name!r} exercise; got "
            f"{type(func).__name__} {_short(func, 60)}. Pass the function itself, without calling it."
        )
    cases = list(cases)
    status, message = PASSED, f"{name}: passed all {len(cases)} cases."
    for number, case in enumerate(cases, start=1):
        header = f'{name}: FAILED on case {number} of {len(cases)}, "{case.description}".'
        try:
            case.run(func)
        except NotImplementedError:
            status = NOT_ATTEMPTED
            message = (
                f"{name}: not attempted yet. The function still raises NotImplementedError; "
                "replace the stub with your code, run that cell, then run this check again."
            )
            break
        except _CaseFailed as failure:
            status = FAILED
            message = "\n".join([
                header,
                f"  input:    {failure.given}",
                f"  expected: {failure.expected}",
                f"  got:      {failure.got}",
                f'  Need a nudge? Run checks.hint("{name}").',
            ])
            break
        except Exception as error:  # the student's code raised something unexpected
            status = FAILED
            message = "\n".join([
                header,
                f"  your function raised {type(error).__name__}: {error}",
                f'  Need a nudge? Run checks.hint("{name}").',
            ])
            break
    if verbose:
        print(message)
    return CheckResult(name, status, message, _printed=verbose)


def _expect(condition: bool, given: str, expected: str, got: Any) -> None:
    if not condition:
        raise _CaseFailed(given, expected, got if isinstance(got, str) else _short(got))


def _expect_raises(func: Callable[..., Any], exc_type: type[BaseException], given: str,
                   *args: Any, **kwargs: Any) -> BaseException:
    try:
        value = _call(func, *args, **kwargs)
    except NotImplementedError:
        raise
    except exc_type as error:
        return error
    except Exception as error:
        raise _CaseFailed(given, f"{exc_type.__name__} (or a subclass) to be raised",
                          f"{type(error).__name__}: {error}") from None
    raise _CaseFailed(given, f"{exc_type.__name__} (or a subclass) to be raised",
                      f"no error; it returned {_short(value)}")


# --------------------------------------------------------------------------- hints

EXERCISES: Mapping[str, str] = {
    "validate_model": "07-ml-cicd",
    "wilson_interval": "07-ml-cicd",
    "detect_drift": "06-monitoring",
    "chi_square_drift": "06-monitoring",
    "save_load_verify": "01-artefacts",
    "load_verified": "01-artefacts",
    "rollback_version": "02-registry",
    "predict_in_batches": "03-patterns",
    "shadow_report": "03-patterns",
    "make_request_schema": "04-serving",
    "canary_decision": "05-safe-deployment",
    "first_alarm": "08-lifecycle",
}
"""Each self-checked exercise and the exercise set (chapter stem) it belongs to."""

_HINTS: Mapping[str, str] = {
    "validate_model": (
        "Loop over `thresholds.items()`; compute each metric with sklearn.metrics "
        "(accuracy_score, f1_score, ...) on model.predict(X), and store "
        "{'value': v, 'passed': v >= threshold}. Raise ValueError for a name you do not know. "
        "For the directional check, copy X, add 1 to 'error_pct', and compare the mean of "
        "model.predict_proba(...)[:, 1] before and after."
    ),
    "wilson_interval": (
        "z = scipy.stats.norm.ppf(1 - (1 - confidence) / 2). Centre: "
        "(p + z**2 / (2n)) / (1 + z**2 / n); half-width: "
        "z * sqrt(p (1 - p) / n + z**2 / (4 n**2)) / (1 + z**2 / n). "
        "Check `n` and `successes` first."
    ),
    "detect_drift": (
        "For each column, scipy.stats.ks_2samp(reference[col], current[col]) gives "
        "(statistic, pvalue). Build one row per column, set drifted = pvalue < alpha, and "
        "call warnings.warn(...) once, naming every drifted column, only if there is one."
    ),
    "chi_square_drift": (
        "Count every category of the UNION of both samples in each sample (np.unique on the "
        "concatenation gives the categories), stack the two rows of counts into a 2 x k "
        "table, and pass it to scipy.stats.chi2_contingency; it scales for the sample sizes."
    ),
    "save_load_verify": (
        "joblib.dump(model, path); os.path.getsize(path) is the size on disk; time "
        "joblib.load with time.perf_counter(); compare the ORIGINAL model's predictions with "
        "the LOADED model's (np.array_equal)."
    ),
    "load_verified": (
        "Read the file's bytes, hash them with hashlib.sha256, compare with "
        "hmac.compare_digest, and raise ValueError on a mismatch BEFORE calling joblib.load: "
        "unpickling runs code."
    ),
    "rollback_version": (
        "Sort the events by timestamp, keep those for `alias`, take the last version as the "
        "current one, then walk backwards to the first version that differs from it."
    ),
    "predict_in_batches": (
        "for start in range(0, len(X), batch_size): predict X.iloc[start:start + batch_size] "
        "(or X[start:...] for arrays); np.concatenate the pieces. Check batch_size first."
    ),
    "shadow_report": (
        "Turn both probability arrays into decisions first (proba >= threshold), then compare "
        "the decisions: agreement is their mean equality; primary_only counts rows where only "
        "the primary says 1. mean_abs_diff compares the probabilities themselves."
    ),
    "make_request_schema": (
        "Inside the function, define a pydantic BaseModel with "
        "model_config = ConfigDict(strict=True, extra='forbid'), one field per feature with "
        "Field(ge=..., le=...) from data.FEATURE_SPECS (float or int), and return the class."
    ),
    "canary_decision": (
        "Return 'insufficient' while canary_total < min_samples. Otherwise pool the error rate "
        "p = (errors_b + errors_c) / (n_b + n_c); z = (p_c - p_b) / sqrt(p (1 - p) (1/n_b + 1/n_c)); "
        "roll back only if z > z_crit (one-sided: a better canary never rolls back)."
    ),
    "first_alarm": (
        "Only full windows count: the first candidate index is window - 1. A cumulative sum "
        "makes every window's accuracy cheap: (c[i+1] - c[i+1-window]) / window. Alarm when it "
        "is strictly below the threshold."
    ),
}


def hint(name: str) -> None:
    """Print a hint for the exercise ``name``.

    Parameters
    ----------
    name : str
        One of :data:`EXERCISES`, e.g. ``"detect_drift"``.

    Examples
    --------
    Stuck on the drift detector?

    >>> hint("detect_drift")
    Hint for detect_drift: For each column, scipy.stats.ks_2samp(...)...
    """
    if name not in _HINTS:
        raise ValueError(f"`name` must be one of {sorted(_HINTS)}; got {name!r}.")
    print(f"Hint for {name}: {_HINTS[name]}")


# --------------------------------------------------------------------------- shared data

@functools.lru_cache(maxsize=1)
def _scenario():
    from mlops_companion import data

    return data.make_scenario()


@functools.lru_cache(maxsize=1)
def _reversed_model():
    """A fitted pipeline that learned the opposite of the truth: more errors, less risk."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    s = _scenario()
    return Pipeline([("scaler", StandardScaler()), ("model", LogisticRegression())]).fit(
        s.X_train, 1 - s.y_train)


# --------------------------------------------------------------------------- 07 validate_model

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
        _Case("an unknown metric is an error", unknown_metric),
    ]


def validate_model(func: Callable[..., Mapping], *, verbose: bool = True) -> CheckResult:
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
    >>> result = validate_model(lenient)
    validate_model: FAILED on case 1 of 5, "a good model passes lenient thresholds".
    ...
    >>> result.status
    'failed'
    """
    return _run("validate_model", func, _validate_model_cases(), verbose=verbose)


# --------------------------------------------------------------------------- 07 wilson_interval

def _wilson(successes: int, n: int, confidence: float) -> tuple[float, float]:
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _wilson_cases() -> list[_Case]:
    def value_case(successes, n, confidence):
        def run(func):
            kwargs = {} if confidence is None else {"confidence": confidence}
            given = f"successes={successes}, n={n}" + (
                f", confidence={confidence}" if confidence is not None else "")
            got = _call(func, successes, n, **kwargs)
            expected = _wilson(successes, n, 0.95 if confidence is None else confidence)
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
        _Case("the confidence level is used", value_case(8, 10, 0.9)),
        _Case("a large test set", value_case(1270, 1600, None)),
        _Case("impossible counts are errors", bad_input),
    ]


def wilson_interval(func: Callable[..., tuple[float, float]], *, verbose: bool = True) -> CheckResult:
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
    >>> result = wilson_interval(wald)
    wilson_interval: FAILED on case 1 of 6, "8 of 10 at 95%".
      input:    successes=8, n=10
      expected: (0.4902, 0.9433)
    ...
    """
    return _run("wilson_interval", func, _wilson_cases(), verbose=verbose)


# --------------------------------------------------------------------------- 06 detect_drift

@functools.lru_cache(maxsize=1)
def _drift_samples() -> dict[str, pd.DataFrame]:
    from mlops_companion import data

    return {
        "reference": data.make_production_sample(1000, rng=101),
        "drifted": data.make_production_sample(600, drift={"error_pct": 2.0}, rng=103),
        "calm": data.make_production_sample(600, rng=104),
        "mild": data.make_production_sample(600, drift={"request_rate": 25.0}, rng=115),
    }


def _drift_cases() -> list[_Case]:
    from scipy.stats import ks_2samp

    from mlops_companion import data

    def report_of(func, current_name, alpha, given):
        samples = _drift_samples()
        kwargs = {} if alpha is None else {"alpha": alpha}
        report, caught = _call_recording(func, samples["reference"], samples[current_name], **kwargs)
        _expect(isinstance(report, pd.DataFrame), given, "a pandas DataFrame",
                type(report).__name__)
        missing = [c for c in ("feature", "statistic", "pvalue", "drifted") if c not in report.columns]
        _expect(not missing, given, "columns feature, statistic, pvalue, drifted",
                f"columns {list(report.columns)}")
        _expect(sorted(report["feature"]) == sorted(data.FEATURES), given,
                f"one row per feature {list(data.FEATURES)}", list(report["feature"]))
        flagged = sorted(report.loc[report["drifted"].astype(bool), "feature"])
        user_warnings = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        return report.set_index("feature"), flagged, user_warnings

    def one_drifted(func):
        given = "1000 reference rows; 600 current rows with error_pct shifted up by 2.0"
        report, flagged, user_warnings = report_of(func, "drifted", None, given)
        _expect(flagged == ["error_pct"], given, "drifted only for ['error_pct']", str(flagged))
        _expect(any("error_pct" in m for m in user_warnings), given,
                "a UserWarning whose message names 'error_pct'",
                f"warnings {user_warnings}" if user_warnings else "no UserWarning")
        others = [f for f in data.FEATURES if f != "error_pct"]
        named = [f for f in others if any(f in m for m in user_warnings)]
        _expect(not named, given, "the warning names only drifted features",
                f"it also names {named}")

    def ks_for_continuous(func):
        given = "the same data; the statistic of each continuous feature"
        report, _, _ = report_of(func, "drifted", None, given)
        samples = _drift_samples()
        for feature in data.CONTINUOUS_FEATURES:
            expected = ks_2samp(samples["reference"][feature], samples["drifted"][feature]).statistic
            got = float(report.loc[feature, "statistic"])
            _expect(abs(got - expected) < 1e-9, given,
                    f"statistic for {feature!r} = {expected:.4f} (two-sample KS)", f"{got:.4f}")

    def calm(func):
        given = "1000 reference rows; 600 current rows from the same distribution"
        _, flagged, user_warnings = report_of(func, "calm", None, given)
        _expect(flagged == [], given, "no feature drifted", str(flagged))
        _expect(user_warnings == [], given, "no UserWarning", f"warnings {user_warnings}")

    def alpha_used(func):
        given = "request_rate's scale raised from 100 to 125; alpha=1e-6, then alpha=0.01"
        _, strict, _ = report_of(func, "mild", 1e-6, given)
        _, loose, _ = report_of(func, "mild", 0.01, given)
        _expect("request_rate" not in strict and "request_rate" in loose, given,
                "request_rate not drifted at alpha=1e-6 (p is about 1e-4) but drifted at 0.01",
                f"drifted at 1e-6: {strict}; at 0.01: {loose}")

    return [
        _Case("one drifted feature is flagged and named in a warning", one_drifted),
        _Case("continuous features use the two-sample KS test", ks_for_continuous),
        _Case("no drift, no flags, no warning", calm),
        _Case("alpha is the significance level", alpha_used),
    ]


def detect_drift(func: Callable[..., pd.DataFrame], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``detect_drift(reference, current, *, alpha=0.01)``.

    Given two DataFrames with the scenario's features, it must return a DataFrame with one
    row per feature and at least the columns ``feature, statistic, pvalue, drifted``, use the
    two-sample KS test on continuous features (discrete ones may use KS or chi-square),
    flag ``pvalue < alpha``, and emit one ``UserWarning`` naming the drifted features (none
    when nothing drifted).

    Examples
    --------
    A detector that never flags anything:

    >>> import pandas as pd
    >>> def silent(reference, current, *, alpha=0.01):
    ...     return pd.DataFrame({"feature": list(reference.columns), "statistic": 0.0,
    ...                          "pvalue": 1.0, "drifted": False})
    >>> result = detect_drift(silent)
    detect_drift: FAILED on case 1 of 4, "one drifted feature is flagged and named in a warning".
    ...
      expected: drifted only for ['error_pct']
      got:      []
    ...
    """
    return _run("detect_drift", func, _drift_cases(), verbose=verbose)


def _chi_square_cases() -> list[_Case]:
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(61)
    hours = rng.integers(0, 24, 1500)
    hours_later = rng.integers(0, 24, 700)
    office_hours = rng.integers(9, 18, 400)
    plans = np.array(["free"] * 500 + ["team"] * 300 + ["enterprise"] * 200)
    plans_new = np.array(["free"] * 100 + ["team"] * 90 + ["enterprise"] * 60 + ["trial"] * 50)
    weekend = rng.binomial(1, 2 / 7, 1000)
    weekend_later = rng.binomial(1, 0.45, 500)

    def expected_of(reference, current):
        categories = np.unique(np.concatenate([reference, current]))
        table = np.array([[np.sum(sample == c) for c in categories] for sample in (reference, current)])
        return [(r.statistic, r.pvalue) for r in
                (chi2_contingency(table), chi2_contingency(table, correction=False))]

    def case(reference, current, description):
        def run(func):
            given = description
            got = _call(func, reference.copy(), current.copy())
            if hasattr(got, "statistic") and hasattr(got, "pvalue"):
                got = (got.statistic, got.pvalue)
            _expect(isinstance(got, (tuple, list)) and len(got) == 2, given,
                    "(statistic, pvalue)", got)
            statistic, pvalue = float(got[0]), float(got[1])
            options = expected_of(reference, current)
            ok = any(math.isclose(statistic, s, rel_tol=1e-6, abs_tol=1e-9)
                     and math.isclose(pvalue, p, rel_tol=1e-6, abs_tol=1e-300) for s, p in options)
            s0, p0 = options[0]
            _expect(ok, given, f"statistic {s0:.4f}, pvalue {p0:.4g} (chi-square test of the "
                    "2 x k table of counts)", f"statistic {statistic:.4f}, pvalue {pvalue:.4g}")
        return run

    return [
        _Case("the same distribution of hours", case(
            hours, hours_later, "deploy hours 0-23 (1500 rows) vs deploy hours 0-23 (700 rows)")),
        _Case("deploys moved to office hours", case(
            hours, office_hours, "deploy hours 0-23 (1500 rows) vs hours 9-17 only (400 rows)")),
        _Case("a category that only the current data has", case(
            plans, plans_new, "plans free/team/enterprise (1000 rows) vs the same plus 'trial' (300 rows)")),
        _Case("a binary feature", case(
            weekend, weekend_later, "is_weekend at 2/7 (1000 rows) vs at 0.45 (500 rows)")),
    ]


def chi_square_drift(func: Callable[..., tuple[float, float]], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``chi_square_drift(reference, current)`` for one discrete feature.

    Given two 1-D arrays of category values (of any size), it must return
    ``(statistic, pvalue)`` (or an object with those attributes) of the chi-square test of
    homogeneity on the 2 x k table of counts over *every* category seen in either sample,
    as :func:`scipy.stats.chi2_contingency` computes it (with or without its continuity
    correction for a 2 x 2 table).

    Examples
    --------
    Using only the categories of the reference misses what is new:

    >>> import numpy as np
    >>> from scipy.stats import chi2_contingency
    >>> def reference_only(reference, current):
    ...     categories = np.unique(reference)
    ...     table = [[np.sum(s == c) for c in categories] for s in (reference, current)]
    ...     result = chi2_contingency(table)
    ...     return result.statistic, result.pvalue
    >>> result = chi_square_drift(reference_only)
    chi_square_drift: FAILED on case 3 of 4, "a category that only the current data has".
    ...
    """
    return _run("chi_square_drift", func, _chi_square_cases(), verbose=verbose)


# --------------------------------------------------------------------------- 01 artefacts

class _Shapeshifter:
    """A 'model' that predicts differently once it has been unpickled (a lost preprocessing step)."""

    def __init__(self) -> None:
        self.loaded = False

    def predict(self, X):
        n = len(X)
        return np.ones(n, dtype=int) if self.loaded else np.zeros(n, dtype=int)

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.loaded = True


def _touch(path: str) -> None:
    Path(path).write_text("unpickled\n", encoding="utf-8")


class _Tripwire:
    """Unpickling this object creates a marker file: proof that a loader ran the pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_touch, (self.marker,))


def _save_load_verify_cases() -> list[_Case]:
    def good(func):
        s = _scenario()
        with tempfile.TemporaryDirectory() as folder:
            given = "the book's fitted pipeline, its test set, an empty directory"
            info = _call(func, s.pipeline, s.X_test, folder)
            _expect(isinstance(info, Mapping), given, "a dict", type(info).__name__)
            for key in ("path", "size_bytes", "load_seconds", "identical"):
                _expect(key in info, given, f"the key {key!r}", f"keys {sorted(info)}")
            path = Path(info["path"])
            _expect(path.is_file() and path.resolve().parent == Path(folder).resolve(), given,
                    f"'path' to be a file inside {folder!r}", str(path))
            size = os.path.getsize(path)
            _expect(int(info["size_bytes"]) == size, given,
                    f"size_bytes = {size} (the file's size on disk)", info["size_bytes"])
            _expect(isinstance(info["load_seconds"], (float, int)) and 0 <= info["load_seconds"] < 60,
                    given, "load_seconds: a number of seconds, >= 0", info["load_seconds"])
            _expect(bool(info["identical"]) is True, given, "identical is True", info["identical"])

    def shapeshifter(func):
        with tempfile.TemporaryDirectory() as folder:
            X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
            given = "a model whose predictions change once it is loaded back"
            info = _call(func, _Shapeshifter(), X, folder)
            _expect(bool(info["identical"]) is False, given,
                    "identical is False (compare the original's predictions with the loaded copy's)",
                    info["identical"])

    return [
        _Case("the book's pipeline survives a round trip", good),
        _Case("a model that changes on loading is caught", shapeshifter),
    ]


def save_load_verify(func: Callable[..., Mapping], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``save_load_verify(model, X, directory)``.

    It must save ``model`` into ``directory`` (joblib), load it back, and return a dict with
    ``path`` (the file written), ``size_bytes`` (its size on disk), ``load_seconds`` and
    ``identical`` (whether the loaded model's predictions on ``X`` equal the original's).

    Examples
    --------
    A version that forgets to compare anything:

    >>> import joblib, os
    >>> def trusting(model, X, directory):
    ...     path = os.path.join(directory, "model.joblib")
    ...     joblib.dump(model, path)
    ...     return {"path": path, "size_bytes": os.path.getsize(path),
    ...             "load_seconds": 0.0, "identical": True}
    >>> result = save_load_verify(trusting)
    save_load_verify: FAILED on case 2 of 2, "a model that changes on loading is caught".
    ...
    """
    return _run("save_load_verify", func, _save_load_verify_cases(), verbose=verbose)


def _load_verified_cases() -> list[_Case]:
    import hashlib

    import joblib

    def write(folder, payload, name):
        path = os.path.join(folder, name)
        joblib.dump(payload, path)
        return path, hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def right_hash(func):
        payload = {"weights": [0.5, -1.25, 2.0], "version": 3}
        with tempfile.TemporaryDirectory() as folder:
            path, digest = write(folder, payload, "model.joblib")
            given = "a joblib file and its correct SHA-256"
            got = _call(func, path, expected_sha256=digest)
            _expect(got == payload, given, f"the loaded object {payload!r}", got)

    def wrong_hash(func):
        with tempfile.TemporaryDirectory() as folder:
            marker = os.path.join(folder, "UNPICKLED")
            path, digest = write(folder, _Tripwire(marker), "model.joblib")
            wrong = digest[::-1]
            given = "a joblib file and a SHA-256 that does not match it"
            _expect_raises(func, ValueError, given, path, expected_sha256=wrong)
            _expect(not os.path.exists(marker), given,
                    "the file NOT to be unpickled when the hash does not match",
                    "the pickle ran (it created its marker file): hash the bytes before loading")

    def tampered(func):
        payload = {"weights": [1.0, 2.0]}
        with tempfile.TemporaryDirectory() as folder:
            path, digest = write(folder, payload, "model.joblib")
            with open(path, "ab") as handle:  # one byte appended after the hash was taken
                handle.write(b"\x00")
            given = "a file changed by one byte after its hash was recorded"
            _expect_raises(func, ValueError, given, path, expected_sha256=digest)

    return [
        _Case("the right hash loads the object", right_hash),
        _Case("a wrong hash is refused before unpickling", wrong_hash),
        _Case("a tampered file is refused", tampered),
    ]


def load_verified(func: Callable[..., Any], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``load_verified(path, *, expected_sha256)``.

    It must return the object stored in the joblib file at ``path`` when the file's SHA-256
    equals ``expected_sha256``, and otherwise raise ``ValueError`` (a subclass is fine)
    *without unpickling the file*: a test pickle records whether it was run.

    Examples
    --------
    A loader that checks the hash only after loading:

    >>> import hashlib, joblib
    >>> def late(path, *, expected_sha256):
    ...     model = joblib.load(path)
    ...     with open(path, "rb") as handle:
    ...         if hashlib.sha256(handle.read()).hexdigest() != expected_sha256:
    ...             raise ValueError("hash mismatch")
    ...     return model
    >>> result = load_verified(late)
    load_verified: FAILED on case 2 of 3, "a wrong hash is refused before unpickling".
    ...
    """
    return _run("load_verified", func, _load_verified_cases(), verbose=verbose)


# --------------------------------------------------------------------------- 02 registry

def _event(day: int, alias: str, version: int) -> dict:
    return {"timestamp": f"2026-03-{day:02d}T09:00:00", "alias": alias, "version": version}


def _rollback_cases() -> list[_Case]:
    def case(log, expected, alias=None):
        def run(func):
            kwargs = {} if alias is None else {"alias": alias}
            shown = [(e["timestamp"][5:10], e["alias"], e["version"]) for e in log]
            given = f"events (date, alias, version) {shown}" + (f", alias={alias!r}" if alias else "")
            got = _call(func, [dict(e) for e in log], **kwargs)
            _expect(got == expected, given, f"version {expected}", got)
        return run

    def nothing_to_roll_back_to(func):
        log = [_event(1, "production", 4), _event(2, "production", 4)]
        _expect_raises(func, ValueError, "production only ever pointed at version 4", log)

    return [
        _Case("three promotions in a row", case(
            [_event(1, "production", 1), _event(5, "production", 2), _event(9, "production", 3)], 2)),
        _Case("versions are not consecutive", case(
            [_event(1, "production", 1), _event(5, "production", 3), _event(9, "production", 6)], 3)),
        _Case("other aliases are ignored", case(
            [_event(1, "production", 3), _event(5, "production", 6), _event(7, "staging", 7),
             _event(8, "staging", 8)], 3)),
        _Case("the log is not in time order", case(
            [_event(9, "production", 6), _event(1, "production", 2), _event(5, "production", 3)], 3)),
        _Case("re-assigning the same version is not a change", case(
            [_event(1, "production", 3), _event(5, "production", 5), _event(9, "production", 5)], 3)),
        _Case("the alias parameter is used", case(
            [_event(1, "staging", 2), _event(3, "production", 2), _event(4, "staging", 4),
             _event(6, "production", 4)], 2, alias="staging")),
        _Case("no earlier version is an error", nothing_to_roll_back_to),
    ]


def rollback_version(func: Callable[..., int], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``rollback_version(events, *, alias="production")``.

    ``events`` is a list of dicts ``{"timestamp": ISO string, "alias": str, "version": int}``,
    each recording that ``alias`` was set to ``version``, in any order. The function must
    return the most recent version, before the current one, that ``alias`` pointed to and
    that differs from the current one; and raise ``ValueError`` when there is none.

    Examples
    --------
    "Just subtract one":

    >>> def minus_one(events, *, alias="production"):
    ...     return max(e["version"] for e in events if e["alias"] == alias) - 1
    >>> result = rollback_version(minus_one)
    rollback_version: FAILED on case 2 of 7, "versions are not consecutive".
    ...
    """
    return _run("rollback_version", func, _rollback_cases(), verbose=verbose)


# --------------------------------------------------------------------------- 03 batching

class _RecordingModel:
    """Predicts the row's first value times two and records every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, X):
        values = np.asarray(X, dtype=float)
        self.batches.append(len(values))
        return values[:, 0] * 2


def _batching_cases() -> list[_Case]:
    def case(n_rows, batch_size):
        def run(func):
            X = pd.DataFrame({"a": np.arange(n_rows, dtype=float), "b": 1.0})
            model = _RecordingModel()
            given = f"a {n_rows}-row DataFrame, batch_size={batch_size}"
            got = _call(func, model, X, batch_size=batch_size)
            expected_batches = [min(batch_size, n_rows - start) for start in range(0, n_rows, batch_size)]
            _expect(isinstance(got, np.ndarray) and got.shape == (n_rows,), given,
                    f"an ndarray of shape ({n_rows},)",
                    f"{type(got).__name__} of shape {getattr(got, 'shape', '?')}")
            _expect(np.array_equal(got, X["a"].to_numpy() * 2), given,
                    "model.predict(X) on every row, in order", got)
            _expect(model.batches == expected_batches, given,
                    f"predict called on batches of {expected_batches}", f"batches of {model.batches}")
        return run

    def bad_size(func):
        X = pd.DataFrame({"a": [1.0, 2.0]})
        error = _expect_raises(func, ValueError, "batch_size=0", _RecordingModel(), X, batch_size=0)
        _expect("batch_size" in str(error), "batch_size=0", "the message to name `batch_size`",
                str(error))

    return [
        _Case("a last, partial batch", case(1000, 256)),
        _Case("rows divide evenly into batches", case(512, 256)),
        _Case("fewer rows than one batch", case(10, 100)),
        _Case("a batch size of zero is an error", bad_size),
    ]


def predict_in_batches(func: Callable[..., np.ndarray], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``predict_in_batches(model, X, *, batch_size=256)``.

    It must return ``model.predict`` of every row of the DataFrame ``X``, in order, as one
    ndarray, calling ``predict`` on consecutive chunks of at most ``batch_size`` rows (no
    empty chunk), and raise ``ValueError`` naming ``batch_size`` when it is below 1.

    Examples
    --------
    A version that forgets the last, partial chunk:

    >>> import numpy as np
    >>> def floor(model, X, *, batch_size=256):
    ...     n_full = len(X) // batch_size
    ...     return np.concatenate([model.predict(X.iloc[i * batch_size:(i + 1) * batch_size])
    ...                            for i in range(n_full)])
    >>> result = predict_in_batches(floor)
    predict_in_batches: FAILED on case 1 of 4, "a last, partial batch".
      input:    a 1000-row DataFrame, batch_size=256
      expected: an ndarray of shape (1000,)
      got:      ndarray of shape (768,)
    ...
    """
    return _run("predict_in_batches", func, _batching_cases(), verbose=verbose)


def _shadow_cases() -> list[_Case]:
    primary = [0.2, 0.7, 0.6, 0.4, 0.9]
    shadow = [0.3, 0.4, 0.8, 0.45, 0.95]

    def case(p, q, expected, **kwargs):
        def run(func):
            given = f"primary_proba={p}, shadow_proba={q}" + "".join(
                f", {k}={v}" for k, v in kwargs.items())
            got = _call(func, np.array(p), np.array(q), **kwargs)
            _expect(isinstance(got, Mapping), given, "a dict", type(got).__name__)
            for key, value in expected.items():
                ok = key in got and abs(float(got[key]) - value) < 1e-9
                _expect(ok, given, f"{key} = {value:g}", got.get(key, f"no key {key!r}"))
        return run

    def mismatch(func):
        error = _expect_raises(func, ValueError, "arrays of lengths 3 and 2",
                               np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2]))
        _expect("3" in str(error) and "2" in str(error), "arrays of lengths 3 and 2",
                "the message to give both lengths", str(error))

    return [
        _Case("two identical models agree everywhere", case(
            primary, primary, {"n": 5, "agreement": 1.0, "primary_only": 0, "shadow_only": 0,
                               "mean_abs_diff": 0.0})),
        _Case("decisions, not probabilities, are compared", case(
            primary, shadow, {"n": 5, "agreement": 0.8, "primary_only": 1, "shadow_only": 0,
                              "mean_abs_diff": 0.14})),
        _Case("the threshold is used", case(
            primary, shadow, {"agreement": 0.6, "primary_only": 1, "shadow_only": 1},
            threshold=0.42)),
        _Case("arrays of different lengths are an error", mismatch),
    ]


def shadow_report(func: Callable[..., Mapping], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``shadow_report(primary_proba, shadow_proba, *, threshold=0.5)``.

    Given the incident probabilities the primary and the shadow model gave the same
    requests, it must return a dict with ``n``, ``agreement`` (share of requests where the
    two *decisions*, ``proba >= threshold``, agree), ``primary_only`` and ``shadow_only``
    (requests only that model flags) and ``mean_abs_diff`` (mean absolute difference of
    the probabilities); and raise ``ValueError`` giving both lengths when they differ.

    Examples
    --------
    Comparing probabilities instead of decisions finds no agreement at all:

    >>> import numpy as np
    >>> def exact(primary_proba, shadow_proba, *, threshold=0.5):
    ...     same = np.asarray(primary_proba) == np.asarray(shadow_proba)
    ...     return {"n": len(same), "agreement": same.mean(), "primary_only": 0,
    ...             "shadow_only": 0, "mean_abs_diff": 0.0}
    >>> result = shadow_report(exact)
    shadow_report: FAILED on case 2 of 4, "decisions, not probabilities, are compared".
      input:    primary_proba=[0.2, 0.7, 0.6, 0.4, 0.9], shadow_proba=[0.3, 0.4, 0.8, 0.45, 0.95]
      expected: agreement = 0.8
      got:      0.0
    ...
    """
    return _run("shadow_report", func, _shadow_cases(), verbose=verbose)


# --------------------------------------------------------------------------- 04 serving

_VALID_REQUEST = {"request_rate": 120.5, "error_pct": 2.0, "p99_latency_ms": 85.0,
                  "deploy_hour": 14, "is_weekend": 0}


def _schema_cases() -> list[_Case]:
    def schema_of(func, given):
        schema = _call(func)
        _expect(isinstance(schema, type) and hasattr(schema, "model_validate"), given,
                "a pydantic BaseModel subclass (the class itself)", schema)
        return schema

    def accepts(payload, description):
        def run(func):
            given = f"make_request_schema().model_validate({payload})"
            schema = schema_of(func, given)
            try:
                parsed = schema.model_validate(payload)
            except ValueError as error:  # pydantic's ValidationError subclasses ValueError
                raise _CaseFailed(given, f"accepted ({description})",
                                  f"rejected: {str(error).splitlines()[0]}") from None
            for key, value in payload.items():
                _expect(getattr(parsed, key, None) == value, given,
                        f"the parsed object to have {key}={value!r}", getattr(parsed, key, None))
        return run

    def rejects(change, description):
        def run(func):
            payload = {k: v for k, v in {**_VALID_REQUEST, **change}.items() if v is not _MISSING}
            given = f"make_request_schema().model_validate({payload})"
            schema = schema_of(func, given)
            try:
                parsed = schema.model_validate(payload)
            except ValueError:
                return
            raise _CaseFailed(given, f"a ValidationError ({description})", f"accepted: {parsed!r}")
        return run

    return [
        _Case("a valid request is accepted", accepts(_VALID_REQUEST, "every field valid")),
        _Case("an int for a float field is accepted",
              accepts({**_VALID_REQUEST, "request_rate": 120}, "JSON has one number type")),
        _Case("a number sent as a string is rejected",
              rejects({"error_pct": "2.5"}, "strict types: no string-to-number coercion")),
        _Case("an extra field is rejected",
              rejects({"priority": "high"}, "unknown fields are an error, not ignored")),
        _Case("a missing field is rejected", rejects({"is_weekend": _MISSING}, "every field required")),
        _Case("an out-of-range percentage is rejected",
              rejects({"error_pct": 150.0}, "error_pct must be within [0, 100]")),
        _Case("an impossible hour is rejected",
              rejects({"deploy_hour": 24}, "deploy_hour must be within [0, 23]")),
        _Case("a negative rate is rejected",
              rejects({"request_rate": -5.0}, "request_rate must be at least 0")),
    ]


_MISSING = object()


def make_request_schema(func: Callable[[], type], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``make_request_schema()``, which returns a pydantic model class.

    The class must accept a valid request for the scenario's five features (an int where a
    float is expected is fine), and reject with a ``ValidationError`` a number sent as a
    string, an extra field, a missing field, and values outside ``data.FEATURE_SPECS``' ranges.

    Examples
    --------
    Plain pydantic, lax by default, turns "2.5" into 2.5:

    >>> from pydantic import BaseModel
    >>> def lax():
    ...     class Request(BaseModel):
    ...         request_rate: float
    ...         error_pct: float
    ...         p99_latency_ms: float
    ...         deploy_hour: int
    ...         is_weekend: int
    ...     return Request
    >>> result = make_request_schema(lax)
    make_request_schema: FAILED on case 3 of 8, "a number sent as a string is rejected".
    ...
    """
    return _run("make_request_schema", func, _schema_cases(), verbose=verbose)


# --------------------------------------------------------------------------- 05 canary

def _canary_cases() -> list[_Case]:
    def case(args, expected, **kwargs):
        def run(func):
            names = ("baseline_errors", "baseline_total", "canary_errors", "canary_total")
            given = ", ".join(f"{n}={v}" for n, v in zip(names, args))
            given += "".join(f", {k}={v}" for k, v in kwargs.items())
            got = _call(func, *args, **kwargs)
            _expect(got == expected, given, repr(expected), got)
        return run

    def bad_counts(func):
        _expect_raises(func, ValueError, "canary_errors=700 > canary_total=600", 200, 10_000, 700, 600)

    return [
        _Case("too little canary traffic", case((200, 10_000, 10, 100), "insufficient")),
        _Case("a clearly worse canary", case((200, 10_000, 30, 600), "rollback")),
        _Case("the same error rate", case((200, 10_000, 12, 600), "continue")),
        _Case("a better canary is never rolled back", case((200, 10_000, 2, 600), "continue")),
        _Case("a small, insignificant increase", case((200, 10_000, 15, 600), "continue")),
        _Case("z_crit is used (z is about 2.2)", case((200, 10_000, 20, 600), "rollback", z_crit=1.64)),
        _Case("the default z_crit of 2.33 (z is about 2.2)", case((200, 10_000, 20, 600), "continue")),
        _Case("no errors anywhere", case((0, 10_000, 0, 600), "continue")),
        _Case("min_samples is used", case((200, 10_000, 30, 600), "insufficient", min_samples=1000)),
        _Case("impossible counts are errors", bad_counts),
    ]


def canary_decision(func: Callable[..., str], *, verbose: bool = True) -> CheckResult:
    """Check ``canary_decision(baseline_errors, baseline_total, canary_errors, canary_total, *, min_samples=500, z_crit=2.33)``.

    It must return ``"insufficient"`` while the canary has fewer than ``min_samples``
    requests, ``"rollback"`` when a one-sided, pooled two-proportion z statistic (canary
    error rate minus baseline's) exceeds ``z_crit``, ``"continue"`` otherwise (also when
    there are no errors at all), and raise ``ValueError`` for counts outside ``[0, total]``.

    Examples
    --------
    Rolling back on any increase is too jumpy:

    >>> def jumpy(baseline_errors, baseline_total, canary_errors, canary_total, *,
    ...           min_samples=500, z_crit=2.33):
    ...     if canary_total < min_samples:
    ...         return "insufficient"
    ...     worse = canary_errors / canary_total > baseline_errors / baseline_total
    ...     return "rollback" if worse else "continue"
    >>> result = canary_decision(jumpy)
    canary_decision: FAILED on case 5 of 10, "a small, insignificant increase".
    ...
    """
    return _run("canary_decision", func, _canary_cases(), verbose=verbose)


# --------------------------------------------------------------------------- 08 lifecycle

def _first_alarm_reference(correct: np.ndarray, window: int, threshold: float) -> int | None:
    totals = np.convolve(correct.astype(float), np.ones(window), mode="valid")
    below = np.flatnonzero(totals < threshold * window - 1e-9)
    return None if below.size == 0 else int(below[0]) + window - 1


def _pattern(n: int, accuracy_tenths: int) -> np.ndarray:
    """``n`` outcomes, ``accuracy_tenths`` of every ten correct, spread evenly."""
    return np.array([i % 10 < accuracy_tenths for i in range(n)], dtype=bool)


def _first_alarm_cases() -> list[_Case]:
    def case(correct, window, threshold, description):
        def run(func):
            expected = _first_alarm_reference(correct, window, threshold)
            given = f"{description}; window={window}, threshold={threshold}"
            got = _call(func, correct.copy(), window=window, threshold=threshold)
            _expect(got == expected, given,
                    "None (no alarm)" if expected is None else f"index {expected}", got)
        return run

    def bad_window(func):
        error = _expect_raises(func, ValueError, "window=0", _pattern(20, 9), window=0, threshold=0.8)
        _expect("window" in str(error), "window=0", "the message to name `window`", str(error))

    steady = _pattern(500, 9)
    decline = np.concatenate([_pattern(400, 9), _pattern(200, 7)])
    late = np.concatenate([_pattern(3000, 9), _pattern(300, 7)])
    bad_start = np.concatenate([np.zeros(5, dtype=bool), _pattern(295, 9)])
    exactly = _pattern(300, 8)
    return [
        _Case("a steady 90% never alarms", case(steady, 50, 0.85, "500 outcomes, 90% correct")),
        _Case("a drop to 70% alarms", case(decline, 50, 0.85, "400 outcomes at 90%, then 200 at 70%")),
        _Case("a late drop after a long good run", case(
            late, 100, 0.85, "3000 outcomes at 90%, then 300 at 70%")),
        _Case("only full windows count", case(
            bad_start, 50, 0.85, "5 wrong outcomes, then 295 at 90%")),
        _Case("an accuracy equal to the threshold is not below it", case(
            exactly, 50, 0.8, "300 outcomes at exactly 80%")),
        _Case("window=0 is an error", bad_window),
    ]


def first_alarm(func: Callable[..., int | None], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``first_alarm(correct, *, window, threshold)``.

    ``correct`` is a boolean array, one entry per labelled prediction in time order. The
    function must return the index of the first prediction at which the accuracy over the
    last ``window`` predictions (full windows only) is strictly below ``threshold``, or
    ``None``; and raise ``ValueError`` naming ``window`` when it is below 1.

    Examples
    --------
    Cumulative accuracy reacts far too late:

    >>> import numpy as np
    >>> def cumulative(correct, *, window, threshold):
    ...     running = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    ...     hits = np.flatnonzero(running < threshold)
    ...     return int(hits[0]) if hits.size else None
    >>> result = first_alarm(cumulative)
    first_alarm: FAILED on case 2 of 6, "a drop to 70% alarms".
    ...
    """
    return _run("first_alarm", func, _first_alarm_cases(), verbose=verbose)
