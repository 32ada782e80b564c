"""Tests for mlops_reference.validation: metrics, intervals, gates and behavioural checks."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from mlops_companion import data
from mlops_reference import validation

ALL = {"accuracy": 0.6, "balanced_accuracy": 0.6, "precision": 0.6, "recall": 0.6, "f1": 0.6, "roc_auc": 0.6}


@pytest.fixture(scope="module")
def scenario():
    return data.make_scenario()


@pytest.fixture(scope="module")
def result(scenario):
    return validation.validate_model(scenario.pipeline, scenario.X_test, scenario.y_test, ALL)


def test_values_agree_with_scikit_learn(result, scenario):
    pred = scenario.pipeline.predict(scenario.X_test)
    proba = scenario.pipeline.predict_proba(scenario.X_test)[:, 1]
    y = scenario.y_test
    expected = {
        "accuracy": skm.accuracy_score(y, pred), "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred), "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred), "roc_auc": skm.roc_auc_score(y, proba),
    }
    for name, value in expected.items():
        assert result[name]["value"] == pytest.approx(value, abs=1e-12)
        assert result[name]["ci_low"] <= result[name]["value"] <= result[name]["ci_high"]


def test_table_shape_and_mapping_contract(result):
    assert list(result.table.columns) == ["name", "kind", "value", "threshold", "ci_low", "ci_high", "passed"]
    assert list(result.table["name"]) == [*ALL, "directional", "distribution"]
    for name in [*ALL, "directional", "distribution"]:
        assert {"value", "threshold", "passed"} <= set(result[name])
    assert "ci_low" in result["accuracy"] and "ci_high" in result["f1"]
    assert result.passed is True and result.failures() == []
    with pytest.raises(KeyError, match=r"`name` must be one of .*; got 'mse'"):
        result["mse"]
    with pytest.raises(Exception):  # frozen
        result.passed = False


@pytest.mark.parametrize(("k", "n"), [(112, 160), (0, 10), (10, 10), (1, 1), (700, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k, n, confidence):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = validation.wilson_interval(k, n, confidence=confidence)
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)


def test_accuracy_interval_is_wilson(result, scenario):
    pred = scenario.pipeline.predict(scenario.X_test)
    k = int((pred == scenario.y_test.to_numpy()).sum())
    assert (result["accuracy"]["ci_low"], result["accuracy"]["ci_high"]) == validation.wilson_interval(k, 160)
    assert result["accuracy"]["interval"] == "wilson" and result["f1"]["interval"] == "bootstrap"


def test_bootstrap_f1_and_auc_match_sklearn_per_resample(scenario):
    """The vectorised bootstrap computes the same F1 and AUC sklearn would on each resample."""
    y = scenario.y_test.to_numpy()
    pred = scenario.pipeline.predict(scenario.X_test)
    proba = scenario.pipeline.predict_proba(scenario.X_test)[:, 1]
    gen = np.random.default_rng(3)
    idx = np.random.default_rng(3).integers(0, len(y), size=(200, len(y)))
    f1 = validation._bootstrap_values("f1", y, pred, proba, gen, 200)
    auc = validation._bootstrap_values("roc_auc", y, pred, proba, np.random.default_rng(3), 200)
    for b in range(0, 200, 37):
        assert f1[b] == pytest.approx(skm.f1_score(y[idx[b]], pred[idx[b]]), abs=1e-12)
        assert auc[b] == pytest.approx(skm.roc_auc_score(y[idx[b]], proba[idx[b]]), abs=1e-12)


def test_bootstrap_gives_the_same_verdict_twice(scenario):
    args = (scenario.pipeline, scenario.X_test, scenario.y_test, {"f1": 0.5, "roc_auc": 0.6})
    a, b = validation.validate_model(*args), validation.validate_model(*args)
    assert a.table.equals(b.table)
    assert a.confidence == 0.95 and a["f1"]["ci_low"] < a["f1"]["value"] < a["f1"]["ci_high"]


def test_point_gate_passes_where_lower_gate_fails(scenario):
    """At ~160 rows the interval is ~14 points wide: a threshold just under the value passes
    on the point estimate and fails on the lower bound."""
    point = validation.validate_model(scenario.pipeline, scenario.X_test, scenario.y_test, {"accuracy": 0.70})
    lower = validation.validate_model(scenario.pipeline, scenario.X_test, scenario.y_test, {"accuracy": 0.70},
                                      gate="lower")
    acc = point["accuracy"]
    assert acc["value"] >= 0.70 > acc["ci_low"]
    assert point.passed and not lower.passed and lower.failures() == ["accuracy"]
    assert 0.12 < acc["ci_high"] - acc["ci_low"] < 0.16


def test_threshold_equal_to_value_passes_point_gate(scenario):
    value = validation.validate_model(scenario.pipeline, scenario.X_test, scenario.y_test, {"accuracy": 0.5})
    exact = value["accuracy"]["value"]
    again = validation.validate_model(scenario.pipeline, scenario.X_test, scenario.y_test, {"accuracy": exact})
    assert again["accuracy"]["passed"]


def test_dummy_classifier_fails_clearly(scenario):
    dummy = DummyClassifier(strategy="most_frequent").fit(scenario.X_train, scenario.y_train)
    res = validation.validate_model(dummy, scenario.X_test, scenario.y_test, {"accuracy": 0.70, "roc_auc": 0.6})
    assert not res.passed
    assert res.failures() == ["accuracy", "roc_auc", "directional", "distribution"]
    assert res["distribution"]["n_classes_predicted"] == 1
    assert res["distribution"]["value"] == 0.0
    assert res["directional"]["value"] == 0.0


def test_directional_catches_a_backwards_model(scenario):
    """A model trained on a flipped error_pct learns the opposite direction: accuracy alone would not say."""
    flipped = scenario.X_train.assign(error_pct=scenario.X_train["error_pct"].max() - scenario.X_train["error_pct"])
    backwards = data.fit_pipeline(flipped, scenario.y_train)
    res = validation.validate_model(backwards, scenario.X_test, scenario.y_test, {"accuracy": 0.0})
    assert res["accuracy"]["passed"]
    assert not res["directional"]["passed"]
    check = res["directional"]["checks"][0]
    assert check["p_high"] < check["p_low"] and check["change"] < 0


def test_no_directional_check_without_error_pct(scenario):
    lr = LogisticRegression().fit(scenario.X_train[["p99_latency_ms"]], scenario.y_train)
    res = validation.validate_model(lr, scenario.X_test[["p99_latency_ms"]], scenario.y_test, {"accuracy": 0.5})
    assert "directional" not in res and "distribution" in res


def test_numpy_input_is_named_after_the_model(scenario):
    res = validation.validate_model(scenario.pipeline, scenario.X_test.to_numpy(), scenario.y_test.to_numpy(),
                                    {"accuracy": 0.5})
    assert res.n_samples == len(scenario.X_test)


def test_model_fitted_on_arrays_gets_arrays(scenario):
    """No feature-name warning (an error under filterwarnings) for a model fitted on numpy."""
    lr = LogisticRegression().fit(scenario.X_train.to_numpy(), scenario.y_train)
    res = validation.validate_model(lr, scenario.X_test, scenario.y_test, {"accuracy": 0.5, "roc_auc": 0.5})
    assert res["directional"]["passed"]


def test_x_reference_defines_range(scenario):
    narrow = scenario.X_train[scenario.X_train["error_pct"].between(1.0, 3.0)]
    with pytest.raises(ValueError, match=r"`X_reference` must cover error_pct from 0.5 to 5.0 for the directional check"):
        validation.validate_model(scenario.pipeline, scenario.X_test, scenario.y_test, {"accuracy": 0.5},
                                  X_reference=narrow)


# ---------------------------------------------------------------- bad input
def _bad_x(scenario, kind):
    X = scenario.X_test.copy()
    if kind == "nan":
        X.iloc[3, 1] = np.nan
    elif kind == "inf":
        X.iloc[0, 2] = np.inf
    elif kind == "empty":
        X = X.iloc[:0]
    elif kind == "columns":
        X = X.drop(columns="is_weekend").assign(weekday=0)
    elif kind == "order":
        X = X[list(reversed(X.columns))]
    elif kind == "text":
        X = X.assign(is_weekend="no")
    elif kind == "list":
        X = X.to_numpy().tolist()
    elif kind == "narrow":
        X = X.to_numpy()[:, :3]
    return X


@pytest.mark.parametrize(
    ("kind", "error", "match"),
    [
        ("nan", ValueError, r"`X` must hold finite values only; got NaN or inf in columns \['error_pct'\]"),
        ("inf", ValueError, r"`X` must hold finite values only; got NaN or inf in columns \['p99_latency_ms'\]"),
        ("empty", ValueError, r"`X` must have at least one row and one column; got shape \(0, 5\)"),
        ("columns", ValueError, r"`X` must have the columns the model was fitted on.*missing \['is_weekend'\], unexpected \['weekday'\]"),
        ("order", ValueError, r"`X` must have the columns the model was fitted on"),
        ("text", TypeError, r"`X` must have numeric columns only; got non-numeric \['is_weekend'\]"),
        ("list", TypeError, r"`X` must be a pandas DataFrame or a 2-D numpy array; got list"),
        ("narrow", ValueError, r"`X` must have the model's 5 columns"),
    ],
)
def test_bad_x(scenario, kind, error, match):
    with pytest.raises(error, match=match):
        validation.validate_model(scenario.pipeline, _bad_x(scenario, kind), scenario.y_test, {"accuracy": 0.7})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"thresholds": {"mse": 0.1}}, ValueError, r"`thresholds` keys must be metric names .*; got unknown \['mse'\]"),
        ({"thresholds": {"accuracy": 1.5}}, ValueError, r"`thresholds\['accuracy'\]` must be a number in \[0, 1\]; got 1.5"),
        ({"thresholds": {"f1": -0.1}}, ValueError, r"`thresholds\['f1'\]` must be a number in \[0, 1\]; got -0.1"),
        ({"thresholds": {"f1": "high"}}, ValueError, r"`thresholds\['f1'\]` must be a number in \[0, 1\]"),
        ({"thresholds": {}}, TypeError, r"`thresholds` must be a non-empty mapping"),
        ({"thresholds": [0.7]}, TypeError, r"`thresholds` must be a non-empty mapping"),
        ({"y": "short"}, ValueError, r"`X` and `y` must have the same length; got 160 and 159"),
        ({"y": "labels"}, ValueError, r"`y` must hold binary labels 0 and 1"),
        ({"y": "2d"}, ValueError, r"`y` must be one-dimensional"),
        ({"y": "one_class"}, ValueError, r"`y` must contain both classes to compute roc_auc"),
        ({"gate": "upper"}, ValueError, r"`gate` must be 'point' or 'lower'; got 'upper'"),
        ({"model": object()}, TypeError, r"`model` must be a fitted classifier with predict and predict_proba; got object"),
        ({"X_reference": "narrow"}, ValueError, r"`X_reference` must cover error_pct from 0.5 to 5.0"),
    ],
)
def test_validate_model_bad_input(scenario, kwargs, error, match):
    y = scenario.y_test.to_numpy()
    ys = {"short": y[:-1], "labels": y * 2, "2d": y.reshape(-1, 1), "one_class": np.ones_like(y)}
    args = {"model": scenario.pipeline, "X": scenario.X_test, "y": y, "thresholds": {"accuracy": 0.7, "roc_auc": 0.6}}
    args.update(kwargs)
    if isinstance(args["y"], str):
        args["y"] = ys[args["y"]]
    if args.get("X_reference") == "narrow":  # error rates between 1% and 2% only
        args["X_reference"] = scenario.X_train[scenario.X_train["error_pct"].between(1, 2)]
    with pytest.raises(error, match=match):
        validation.validate_model(args.pop("model"), args.pop("X"), args.pop("y"), args.pop("thresholds"), **args)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((5, 0), {}, ValueError, r"`n` must be an integer >= 1; got 0"),
        ((11, 10), {}, ValueError, r"`successes` must be an integer between 0 and 10; got 11"),
        ((-1, 10), {}, ValueError, r"`successes` must be an integer between 0 and 10; got -1"),
        ((0.5, 10), {}, TypeError, r"`successes` must be an integer; got 0.5"),
        ((5, True), {}, TypeError, r"`n` must be an integer; got True"),
        ((5, 10), {"confidence": 0}, ValueError, r"`confidence` must be a number in \(0, 1\); got 0"),
    ],
)
def test_wilson_interval_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        validation.wilson_interval(*args, **kwargs)


def test_public_surface():
    assert sorted(validation.__all__) == sorted(
        ["METRICS", "ValidationResult", "validate_model",
         "wilson_interval", "PairedComparisonResult", "compare_models_paired"])
    for name in validation.__all__:
        assert hasattr(validation, name)


# --------------------------------------------------------------------------- paired comparison
class _Fixed:
    def __init__(self, pred):
        self.pred = np.asarray(pred)

    def predict(self, X):
        return self.pred

    def predict_proba(self, X):
        return np.c_[1 - self.pred, self.pred]


def _pair(n_fixed, n_new, n=400, n_both=0):
    y = np.r_[np.ones(n // 2, int), np.zeros(n // 2, int)]
    old, new = y.copy(), y.copy()
    old[:n_fixed] = 0
    new[n // 2:n // 2 + n_new] = 1
    if n_both:  # rows both models get wrong (the last ones, labelled 0)
        old[n - n_both:] = new[n - n_both:] = 1
    return _Fixed(new), _Fixed(old), np.zeros((n, 1)), y


def test_paired_comparison_is_the_exact_mcnemar_test():
    cand, base, X, y = _pair(30, 10, n_both=120)
    r = validation.compare_models_paired(cand, base, X, y)
    assert (r.statistic, r.n_candidate_only, r.n_baseline_only, r.n_samples) == (30, 30, 10, 400)
    assert r.pvalue == pytest.approx(stats.binomtest(30, 40, 0.5, alternative="greater").pvalue)
    assert r.difference == pytest.approx(r.accuracy_candidate - r.accuracy_baseline)
    assert r.ci_low < r.difference < r.ci_high
    two = validation.compare_models_paired(cand, base, X, y, alternative="two-sided")
    assert two.pvalue == pytest.approx(stats.binomtest(30, 40, 0.5).pvalue)
    # The pairing matters: the two accuracy intervals overlap although the test is decisive.
    lo_c, _ = validation.wilson_interval(int(r.accuracy_candidate * 400), 400)
    _, hi_b = validation.wilson_interval(int(r.accuracy_baseline * 400), 400)
    assert lo_c < hi_b and r.pvalue < 0.01


def test_paired_comparison_identical_models_and_errors():
    cand, _, X, y = _pair(30, 10)
    same = validation.compare_models_paired(cand, cand, X, y)
    assert same.pvalue == 1.0 and same.difference == 0.0 and same.statistic == 0
    with pytest.raises(ValueError, match=r"`alternative` must be one of"):
        validation.compare_models_paired(cand, cand, X, y, alternative="better")
    with pytest.raises(TypeError, match=r"`baseline` must be a fitted classifier with predict"):
        validation.compare_models_paired(cand, object(), X, y)
    with pytest.raises(ValueError, match=r"`X` and `y` must have the same length; got 3 and 400"):
        validation.compare_models_paired(cand, cand, X[:3], y)
