"""Model tests for the incident predictor: what CI runs before a model may be promoted.

Code tests ask whether the program is right; these ask whether the *model* is fit to
ship. They train the candidate the way the training job does, then check it on fresh
labelled data (2,000 rows, so that a metric's interval is narrow enough to decide
anything), on its behaviour, and on the artefact it will ship as.

Thresholds come from two reference points, not from a round number: the accuracy of
always predicting the majority class, and the best any model can do (the accuracy of
the true incident probabilities); chapter 07 measures both. Every gate is on the lower
bound of a 95% interval, so a pass means "good enough, even if we were unlucky", and a
comparison between two models on the same rows is a paired test (exact McNemar).
"""
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from mlops_companion import data
from mlops_reference import artefacts, validation

GATES = {"accuracy": 0.64, "roc_auc": 0.65, "recall": 0.75}


@pytest.fixture(scope="module")
def candidate():
    return data.make_scenario(rng=42)


@pytest.fixture(scope="module")
def fresh():
    rows = data.make_incidents(2000, rng=2024)  # never seen in training
    return rows[list(data.FEATURES)], rows[data.TARGET]


def test_performance_gates_on_the_lower_bound(candidate, fresh):
    X, y = fresh
    result = validation.validate_model(candidate.pipeline, X, y, GATES, gate="lower",
                                       X_reference=candidate.X_train)
    assert result.passed, "\n" + result.table.to_string()


def test_beats_the_majority_baseline_beyond_noise(candidate, fresh):
    """A paired test: both models answer the same rows, so compare them row by row.

    Two separate intervals computed on the same rows ignore that pairing; the exact
    McNemar test looks only at the rows where exactly one model is right.
    """
    X, y = fresh
    dummy = DummyClassifier(strategy="most_frequent").fit(candidate.X_train, candidate.y_train)
    paired = validation.compare_models_paired(candidate.pipeline, dummy, X, y)
    assert paired.pvalue < 0.01 and paired.ci_low > 0, paired


@pytest.mark.parametrize("is_weekend", [0, 1])
@pytest.mark.parametrize("p99_latency_ms", [30.0, 55.0, 120.0])
def test_more_errors_never_look_safer(candidate, is_weekend, p99_latency_ms):
    """Directional test in several contexts, all inside the training range."""
    typical = candidate.X_train.median()
    rows = pd.DataFrame([typical, typical])
    rows["deploy_hour"] = rows["deploy_hour"].round().astype(int)
    rows["is_weekend"], rows["p99_latency_ms"] = is_weekend, p99_latency_ms
    rows["error_pct"] = [0.5, 5.0]
    low, high = candidate.pipeline.predict_proba(rows)[:, 1]
    assert high > low, f"P(incident) fell from {low:.3f} to {high:.3f} as error_pct rose"


def test_predictions_are_spread_and_use_both_classes(candidate, fresh):
    X, _ = fresh
    proba = candidate.pipeline.predict_proba(X)[:, 1]
    assert set(np.unique(candidate.pipeline.predict(X))) == {0, 1}
    assert proba.max() - proba.min() > 0.3


def test_refuses_inputs_with_a_missing_feature(candidate, fresh):
    X, _ = fresh
    with pytest.raises(ValueError, match="is_weekend"):
        candidate.pipeline.predict_proba(X.drop(columns="is_weekend"))


def test_the_shipped_artefact_is_the_tested_model(candidate, fresh, tmp_path):
    X, _ = fresh
    path = tmp_path / "candidate.joblib"
    manifest = artefacts.save_artefact(candidate.pipeline, path, example_input=X.head(5))
    shipped = artefacts.load_artefact(path, expected_sha256=manifest.sha256).model
    assert np.array_equal(shipped.predict_proba(X), candidate.pipeline.predict_proba(X))
