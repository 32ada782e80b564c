"""Self-checks of chapter 07, testing models in CI/CD (exercise set ``07-ml-cicd``)."""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ._harness import (
    CheckResult, Case, CaseFailed, call, exercise, expect, expect_raises, run, scenario,
)


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
    "`assert`, so that pytest reports a failure, not an error.",
)
_HINT_SLICE_GATE = (
    "correct = (np.asarray(pred) == np.asarray(y)); accuracy in a mask is correct[mask].mean(). "
    "Start with reasons = []; add 'all rows' when the candidate's overall accuracy is below the "
    "champion's, then each name in `important` whose drop (champion minus candidate) is "
    "greater than `tolerance`. Check first that every important name is a key of `slices`.",
)
_HINT_MAKE_FEATURE_SCHEMA = (
    "import pandera.pandas as pa; return pa.DataFrameSchema({name: pa.Column(float or int, "
    "pa.Check.in_range(low, high), nullable=False) for each feature}, strict=True). "
    "data.FEATURE_SPECS gives each feature's dtype, low and high; leave coerce at False, "
    "or a float hour would be quietly turned into an int.",
)

# --------------------------------------------------------------------------- validate_model
@functools.lru_cache(maxsize=1)
def _reversed_model():
    """A fitted pipeline that learned the opposite of the truth: more errors, less risk."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    s = scenario()
    return Pipeline([("scaler", StandardScaler()), ("model", LogisticRegression())]).fit(
        s.X_train, 1 - s.y_train)


def _rows_with_accuracy(n_right: int, n_wrong: int) -> tuple[pd.DataFrame, pd.Series]:
    """The first ``n_right`` test rows the book's pipeline gets right and ``n_wrong`` it gets wrong."""
    s = scenario()
    right = np.asarray(s.pipeline.predict(s.X_test) == s.y_test)
    index = np.sort(np.concatenate([np.flatnonzero(right)[:n_right],
                                    np.flatnonzero(~right)[:n_wrong]]))
    return s.X_test.iloc[index], s.y_test.iloc[index]


def _result_of(func, model, X, y, thresholds, given):
    """The student's result, checked to hold an entry with 'passed' for each threshold."""
    result = call(func, model, X, y, thresholds)
    expect(hasattr(result, "__getitem__"), given,
           "a mapping (dict) of check name -> details", type(result).__name__)
    for key in (*thresholds, "directional"):
        try:
            entry = result[key]
        except (KeyError, IndexError, TypeError) as error:
            raise CaseFailed(given, f"the result to have the key {key!r}",
                             f"{type(error).__name__}: {error}") from None
        expect(isinstance(entry, Mapping) and "passed" in entry, given,
               f"result[{key!r}] to be a mapping with a 'passed' entry", entry)
    return result


def _validate_model_cases() -> list[Case]:
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import accuracy_score, f1_score

    def good_model(func):
        s = scenario()
        thresholds = {"accuracy": 0.5, "f1": 0.5}
        given = f"the book's fitted pipeline on its test set, thresholds={thresholds}"
        result = _result_of(func, s.pipeline, s.X_test, s.y_test, thresholds, given)
        y_pred = s.pipeline.predict(s.X_test)
        for name, metric in (("accuracy", accuracy_score), ("f1", f1_score)):
            expected = float(metric(s.y_test, y_pred))
            got = result[name].get("value")
            expect(got is not None and abs(float(got) - expected) < 1e-3, given,
                   f"result[{name!r}]['value'] = {expected:.4f}", got)
            expect(bool(result[name]["passed"]) is True, given,
                   f"result[{name!r}]['passed'] is True ({expected:.3f} >= 0.5)", result[name]["passed"])
        expect(bool(result["directional"]["passed"]) is True, given,
               "result['directional']['passed'] is True: this model's risk rises with error_pct",
               result["directional"]["passed"])

    def strict_threshold(func):
        s = scenario()
        thresholds = {"accuracy": 0.99}
        given = f"the book's fitted pipeline, thresholds={thresholds}"
        result = _result_of(func, s.pipeline, s.X_test, s.y_test, thresholds, given)
        acc = accuracy_score(s.y_test, s.pipeline.predict(s.X_test))
        expect(bool(result["accuracy"]["passed"]) is False, given,
               f"result['accuracy']['passed'] is False (accuracy {acc:.3f} < 0.99)",
               result["accuracy"]["passed"])

    def dummy(func):
        s = scenario()
        model = DummyClassifier(strategy="most_frequent").fit(s.X_train, s.y_train)
        thresholds = {"accuracy": 0.7, "f1": 0.5}
        given = f"DummyClassifier(strategy='most_frequent'), thresholds={thresholds}"
        result = _result_of(func, model, s.X_test, s.y_test, thresholds, given)
        acc = accuracy_score(s.y_test, model.predict(s.X_test))
        expect(bool(result["accuracy"]["passed"]) is False, given,
               f"result['accuracy']['passed'] is False (accuracy {acc:.3f} < 0.7)",
               result["accuracy"]["passed"])

    def reversed_direction(func):
        s = scenario()
        thresholds = {"accuracy": 0.0}
        given = ("a logistic regression fitted on flipped labels (its risk FALLS as error_pct "
                 f"rises), thresholds={thresholds}")
        result = _result_of(func, _reversed_model(), s.X_test, s.y_test, thresholds, given)
        expect(bool(result["directional"]["passed"]) is False, given,
               "result['directional']['passed'] is False", result["directional"]["passed"])

    def at_the_threshold(func):
        # A metric exactly equal to its minimum passes (`>=`), one just above it fails; the
        # rows are chosen so that accuracy is exactly 0.75 whatever formula computes it.
        X, y = _rows_with_accuracy(30, 10)
        for minimum, expected in ((0.75, True), (0.76, False), (0.7, True)):
            thresholds = {"accuracy": minimum}
            given = (f"40 test rows the pipeline gets 30 of right (accuracy exactly 0.75), "
                     f"thresholds={thresholds}")
            result = _result_of(func, scenario().pipeline, X, y, thresholds, given)
            verdict = "at least" if expected else "below"
            expect(bool(result["accuracy"]["passed"]) is expected, given,
                   f"result['accuracy']['passed'] is {expected} (0.75 is {verdict} {minimum})",
                   result["accuracy"]["passed"])

    def unknown_metric(func):
        s = scenario()
        given = "thresholds={'acuracy': 0.7} (a typo)"
        error = expect_raises(func, ValueError, given, s.pipeline, s.X_test, s.y_test,
                              {"acuracy": 0.7})
        expect("acuracy" in str(error), given, "the error message to name 'acuracy'", str(error))

    return [
        Case("a good model passes lenient thresholds", good_model),
        Case("thresholds are enforced", strict_threshold),
        Case("a DummyClassifier fails", dummy),
        Case("the directional check catches a reversed model", reversed_direction),
        Case("a metric equal to its threshold passes", at_the_threshold),
        Case("an unknown metric is an error", unknown_metric),
    ]


@exercise("validate_model", STEM, _HINT_VALIDATE_MODEL)
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
    return run("validate_model", func, _validate_model_cases(), verbose=verbose)


# --------------------------------------------------------------------------- wilson_interval
def _wilson_cases() -> list[Case]:
    from mlops_reference import validation

    def value_case(successes, n, confidence):
        def run(func):
            kwargs = {} if confidence is None else {"confidence": confidence}
            given = f"successes={successes}, n={n}" + (
                f", confidence={confidence}" if confidence is not None else "")
            got = call(func, successes, n, **kwargs)
            expected = validation.wilson_interval(
                successes, n, confidence=0.95 if confidence is None else confidence)
            ok = (isinstance(got, (tuple, list)) and len(got) == 2
                  and all(abs(float(g) - e) < 1e-4 for g, e in zip(got, expected)))
            expect(ok, given, f"({expected[0]:.4f}, {expected[1]:.4f})", got)
        return run

    def bad_input(func):
        expect_raises(func, ValueError, "successes=5, n=0", 5, 0)
        expect_raises(func, ValueError, "successes=11, n=10", 11, 10)

    return [
        Case("8 of 10 at 95%", value_case(8, 10, None)),
        Case("10 of 10: a perfect score still has an interval", value_case(10, 10, None)),
        Case("0 of 10", value_case(0, 10, None)),
        Case("a single trial is a valid test set", value_case(1, 1, None)),
        Case("the confidence level is used", value_case(8, 10, 0.9)),
        Case("a large test set", value_case(1270, 1600, None)),
        Case("impossible counts are errors", bad_input),
    ]


@exercise("wilson_interval", STEM, _HINT_WILSON_INTERVAL)
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
    return run("wilson_interval", func, _wilson_cases(), verbose=verbose)


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


def _model_test_cases() -> list[Case]:
    from sklearn.dummy import DummyClassifier

    def passes_on(given, rows=_fresh_rows):
        def run(func):
            X, y = rows()
            try:
                call(func, scenario().pipeline, (X, y))
            except AssertionError as error:
                raise CaseFailed(given, "the test to pass (no AssertionError)",
                                 f"AssertionError: {error}") from None
        return run

    passes = passes_on("the book's pipeline on 2000 fresh rows (accuracy's lower bound is about 0.65)")

    def fails(model_of, description, rows=None):
        def run(func):
            X, y = rows() if rows else _fresh_rows()
            expect_raises(func, AssertionError, description, model_of(), (X, y))
        return run

    def dummy():
        s = scenario()
        return DummyClassifier(strategy="most_frequent").fit(s.X_train, s.y_train)

    return [
        Case("the book's pipeline passes", passes),
        Case("a majority-class dummy fails", fails(
            dummy, "DummyClassifier(strategy='most_frequent') on 2000 fresh rows")),
        Case("a model whose risk falls as errors rise fails", fails(
            lambda: _Contrarian(scenario().pipeline),
            "the pipeline's decisions, but P(incident) falls as error_pct rises")),
        Case("an accuracy of 0.70 on 40 rows is not evidence", fails(
            lambda: scenario().pipeline,
            "40 test rows the pipeline gets 28 of right (0.70; lower bound about 0.55)",
            rows=lambda: _rows_with_accuracy(28, 12))),
        # Either side of the gate, close to it: a gate on another confidence level (90%,
        # 99%) or another threshold (0.60) gives the other answer on one of the two.
        Case("an accuracy just below the gate fails", fails(
            lambda: scenario().pipeline,
            "110 test rows the pipeline gets 80 of right (0.727; 95% lower bound 0.637, "
            "below 0.64; the 90% one would be 0.653)",
            rows=lambda: _rows_with_accuracy(80, 30))),
        Case("an accuracy just above the gate passes", passes_on(
            "130 test rows the pipeline gets 94 of right (0.723; 95% lower bound 0.641, "
            "above 0.64; the 99% one would be 0.613)",
            rows=lambda: _rows_with_accuracy(94, 36))),
    ]


@exercise("test_candidate", STEM, _HINT_TEST_CANDIDATE)
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
    return run("test_candidate", func, _model_test_cases(), verbose=verbose)


# --------------------------------------------------------------------------- slice_gate
@functools.lru_cache(maxsize=1)
def _busy_candidate() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The chapter's set-up: labels, champion and candidate predictions, and slices."""
    from mlops_companion import data

    s = scenario()
    features = list(data.FEATURES)
    busy_from = float(s.X_train["request_rate"].quantile(0.9))
    evaluation = data.make_incidents(4000, rng=2025)
    candidate = data.fit_candidate_without_rate(3000, rng=7)
    rate, weekend = evaluation["request_rate"].to_numpy(), evaluation["is_weekend"].to_numpy()
    slices = {"weekday": weekend == 0, "weekend": weekend == 1,
              "quiet services": rate < busy_from, "busy services": rate >= busy_from}
    return (evaluation[data.TARGET].to_numpy(), s.pipeline.predict(evaluation[features]),
            candidate.predict(evaluation[features]), slices)


def _blocks(*blocks: tuple[str, int, int, int]):
    """Labels, two models' predictions and slices from (name, rows, champion right, candidate right)."""
    y, champion, candidate, slices, start = [], [], [], {}, 0
    total = sum(rows for _, rows, _, _ in blocks)
    for name, rows, right_a, right_b in blocks:
        y += [0] * rows
        champion += [0] * right_a + [1] * (rows - right_a)
        candidate += [0] * right_b + [1] * (rows - right_b)
        mask = np.zeros(total, dtype=bool)
        mask[start:start + rows] = True
        slices[name] = mask
        start += rows
    return np.array(y), np.array(champion), np.array(candidate), slices


def _slice_gate_cases() -> list[Case]:
    def verdict(func, given, expected, y, a, b, slices, **kwargs):
        got = call(func, y, a, b, slices, **kwargs)
        expect(isinstance(got, (list, tuple)), given, "a list of slice names", got)
        expect(sorted(got) == sorted(expected), given,
               f"the blocking slices {sorted(expected)} (in any order)", list(got))

    def chapter(func):
        y, a, b, slices = _busy_candidate()
        given = ("the chapter's champion and its candidate without request_rate on 4000 fresh "
                 "rows, important=['busy services', 'weekend']: better on all rows, 8 points "
                 "worse on busy services, better on weekends")
        verdict(func, given, ["busy services"], y, a, b, slices,
                important=["busy services", "weekend"])

    def identical(func):
        y, a, _, slices = _busy_candidate()
        verdict(func, "the champion's predictions as the candidate's, important=['busy services']",
                [], y, a, a.copy(), slices, important=["busy services"])

    def unimportant(func):
        y, a, b, slices = _blocks(("busy", 200, 150, 170), ("quiet", 800, 600, 560))
        # Overall: champion 750/1000, candidate 730/1000: worse on all rows as well.
        y2, a2, b2, slices2 = _blocks(("busy", 200, 150, 185), ("quiet", 800, 600, 570))
        verdict(func, "busy 150 -> 185 of 200 right, quiet 600 -> 570 of 800 (overall better), "
                "important=['busy']", [], y2, a2, b2, slices2, important=["busy"])
        verdict(func, "busy 150 -> 170 of 200 right, quiet 600 -> 560 of 800 (overall worse), "
                "important=['busy']", ["all rows"], y, a, b, slices, important=["busy"])

    def improvement(func):
        y, a, b, slices = _blocks(("busy", 500, 300, 400), ("quiet", 500, 400, 400))
        verdict(func, "busy 300 -> 400 of 500 right (a large improvement), quiet unchanged, "
                "important=['busy']", [], y, a, b, slices, important=["busy"])

    def tolerance(func):
        # 1000 rows in the slice: a drop of 19 rows is 0.019, of 21 rows 0.021.
        for lost, tol, blocked in ((19, 0.02, False), (21, 0.02, True), (19, 0.01, True),
                                   (21, 0.03, False)):
            y, a, b, slices = _blocks(("busy", 1000, 800, 800 - lost), ("quiet", 3000, 2000, 2100))
            given = (f"busy 800 -> {800 - lost} of 1000 right (a drop of {lost / 1000:.3f}), "
                     f"quiet better, important=['busy'], tolerance={tol}")
            verdict(func, given, ["busy"] if blocked else [], y, a, b, slices,
                    important=["busy"], tolerance=tol)

    def overall(func):
        y, a, b, slices = _blocks(("busy", 1000, 800, 800), ("quiet", 1000, 800, 790))
        verdict(func, "no important slice; 1600 -> 1590 of 2000 right on all rows (a drop of "
                "0.005, within tolerance=0.02)", ["all rows"], y, a, b, slices, important=[],
                tolerance=0.02)

    def unknown(func):
        y, a, b, slices = _blocks(("busy", 100, 80, 80), ("quiet", 100, 80, 80))
        given = "important=['bussy'] (a typo: the slices are 'busy' and 'quiet')"
        error = expect_raises(func, ValueError, given, y, a, b, slices, important=["bussy"])
        expect("bussy" in str(error), given, "the error message to name 'bussy'", str(error))

    return [
        Case("the chapter's candidate is blocked on busy services", chapter),
        Case("identical predictions are released", identical),
        Case("only important slices block", unimportant),
        Case("an improvement never blocks", improvement),
        Case("the tolerance is used", tolerance),
        Case("any drop on all rows blocks", overall),
        Case("an unknown slice is an error", unknown),
    ]


@exercise("slice_gate", STEM, _HINT_SLICE_GATE)
def check_slice_gate(func: Callable[..., list], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``slice_gate(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02)``.

    ``slices`` maps names to boolean masks over the rows. The function returns the reasons
    to block the candidate as a list of names: ``"all rows"`` when its accuracy on all rows
    is below the champion's, and each name in ``important`` whose accuracy drops by more
    than ``tolerance`` (champion minus candidate). An empty list releases the candidate.
    A name in ``important`` that is not a slice raises ``ValueError`` naming it.

    Examples
    --------
    A gate on all rows only lets the chapter's candidate through:

    >>> import numpy as np
    >>> def whole_set(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    ...     worse = np.mean(candidate_pred == y) < np.mean(champion_pred == y)
    ...     return ["all rows"] if worse else []
    >>> result = check_slice_gate(whole_set)
    slice_gate: FAILED on case 1 of ..., "the chapter's candidate is blocked on busy services".
    ...
    """
    return run("slice_gate", func, _slice_gate_cases(), verbose=verbose)


# --------------------------------------------------------------------------- make_feature_schema
def _edge_rows() -> pd.DataFrame:
    """A batch with two rows at the edges of every feature's range appended."""
    from mlops_companion import data

    batch = data.make_production_sample(300, rng=11)
    edges = pd.DataFrame({name: [spec.low, spec.high] for name, spec in data.FEATURE_SPECS.items()})
    edges = edges.astype({name: "int64" if spec.dtype == "int" else "float64"
                          for name, spec in data.FEATURE_SPECS.items()})
    return pd.concat([batch, edges], ignore_index=True)


def _feature_schema_cases() -> list[Case]:
    from mlops_companion import data

    def schema_of(func):
        schema = call(func)
        expect(hasattr(schema, "validate"), "make_feature_schema()",
               "a pandera schema (DataFrameSchema or a DataFrameModel class)", schema)
        return schema

    def accepts(frame_of, given):
        def run(func):
            schema = schema_of(func)
            try:
                call(schema.validate, frame_of())
            except Exception as error:
                raise CaseFailed(given, "the frame to be accepted",
                                 f"{type(error).__name__}: {str(error)[:200]}") from None
        return run

    def rejects(frames_of, given_of):
        def run(func):
            import pandera.errors as pa_errors

            schema = schema_of(func)
            for label, frame in frames_of():
                given = given_of(label)
                try:
                    call(schema.validate, frame)
                except (pa_errors.SchemaError, pa_errors.SchemaErrors):
                    continue
                except Exception as error:
                    raise CaseFailed(given, "pandera's SchemaError (or SchemaErrors)",
                                     f"{type(error).__name__}: {str(error)[:200]}") from None
                raise CaseFailed(given, "pandera's SchemaError (or SchemaErrors)",
                                 "the frame was accepted")
        return run

    def clean():
        return data.make_production_sample(300, rng=11)

    def missing_column():
        return [("is_weekend dropped", clean().drop(columns="is_weekend"))]

    def wrong_type():
        frame = clean()
        return [("deploy_hour as float64 (12.0 for 12)",
                 frame.assign(deploy_hour=frame["deploy_hour"].astype(float))),
                ("is_weekend as strings ('0', '1')",
                 frame.assign(is_weekend=frame["is_weekend"].astype(str)))]

    def out_of_range():
        frames = []
        for name, spec in data.FEATURE_SPECS.items():
            for value, side in ((spec.high + 1, "above"), (spec.low - 1, "below")):
                frame = clean()
                frame.loc[frame.index[0], name] = value
                frames.append((f"{name} = {value:g} in the first row ({side} its range)", frame))
        return frames

    def missing_value():
        frame = clean()
        frame.loc[frame.index[:2], "p99_latency_ms"] = np.nan
        return [("two missing values in p99_latency_ms", frame)]

    def extra_column():
        return [("an extra column 'incident' (the label, left in by mistake)",
                 clean().assign(incident=1))]

    return [
        Case("a clean batch is accepted", accepts(clean, "300 rows of data.make_production_sample")),
        Case("the edges of every range are accepted", accepts(
            _edge_rows, "a clean batch plus two rows at the low and high end of every feature's range")),
        Case("a missing column is rejected", rejects(missing_column, str)),
        Case("a wrong type is rejected", rejects(wrong_type, str)),
        Case("an out-of-range value is rejected", rejects(out_of_range, str)),
        Case("a missing value is rejected", rejects(missing_value, str)),
        Case("an extra column is rejected", rejects(extra_column, str)),
    ]


@exercise("make_feature_schema", STEM, _HINT_MAKE_FEATURE_SCHEMA)
def check_make_feature_schema(func: Callable[[], object], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``make_feature_schema()``, which returns a pandera schema.

    The schema must accept a clean batch and rows at the edges of every feature's range in
    ``data.FEATURE_SPECS``, and reject, with pandera's ``SchemaError`` or ``SchemaErrors``,
    a missing column, a wrong type (no coercion), a value just outside any feature's range,
    a missing value and an extra column.

    Examples
    --------
    A schema with types but no ranges lets an error rate of 101% through:

    >>> import pandera.pandas as pa
    >>> from mlops_companion import data
    >>> def types_only():
    ...     return pa.DataFrameSchema({name: pa.Column(float if spec.dtype == "float" else int)
    ...                                for name, spec in data.FEATURE_SPECS.items()}, strict=True)
    >>> result = check_make_feature_schema(types_only)
    make_feature_schema: FAILED on case 5 of ..., "an out-of-range value is rejected".
    ...
    """
    return run("make_feature_schema", func, _feature_schema_cases(), verbose=verbose)
