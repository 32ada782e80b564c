"""Tests for mlops_companion.data: the scenario's shape, its label model, drift and the pipeline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_companion import data


def test_features_and_specs_agree():
    assert data.FEATURES == ("request_rate", "error_pct", "p99_latency_ms", "deploy_hour", "is_weekend")
    assert set(data.CONTINUOUS_FEATURES) | set(data.DISCRETE_FEATURES) == set(data.FEATURES)
    for name, spec in data.FEATURE_SPECS.items():
        assert spec.name == name and spec.low < spec.high
        assert spec.kind in {"continuous", "discrete"} and spec.dtype in {"float", "int"}


def test_make_incidents_is_seeded_and_in_range():
    a = data.make_incidents(2000, rng=1)
    b = data.make_incidents(2000, rng=1)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [*data.FEATURES, data.TARGET]
    for name, spec in data.FEATURE_SPECS.items():
        assert a[name].between(spec.low, spec.high).all(), name
    assert set(a["deploy_hour"]) <= set(range(24))
    assert not data.make_incidents(50, rng=2).equals(data.make_incidents(50, rng=3))


def test_incident_rate_is_about_62_percent():
    rate = data.make_incidents(20_000, rng=0)[data.TARGET].mean()
    assert 0.59 < rate < 0.65


def test_label_model_matches_coefficients():
    X = data.make_production_sample(5, rng=0)
    c = data.COEFFICIENTS
    log_odds = c["intercept"] + sum(c[f] * X[f] for f in data.FEATURES)
    np.testing.assert_allclose(data.incident_probability(X), 1 / (1 + np.exp(-log_odds)))


def test_concept_drift_changes_labels_not_inputs():
    coef = {**data.COEFFICIENTS, "error_pct": 0.0}
    a = data.make_incidents(3000, rng=5)
    b = data.make_incidents(3000, coefficients=coef, rng=5)
    pd.testing.assert_frame_equal(a[list(data.FEATURES)], b[list(data.FEATURES)])
    assert b[data.TARGET].mean() < a[data.TARGET].mean()


def test_drift_shifts_the_named_feature_only():
    calm = data.make_production_sample(20_000, rng=0)
    hot = data.make_production_sample(20_000, drift={"request_rate": 50.0}, rng=0)
    assert hot["request_rate"].mean() == pytest.approx(1.5 * calm["request_rate"].mean(), rel=0.05)
    rotated = data.make_production_sample(20_000, drift={"deploy_hour": 3}, rng=0)
    np.testing.assert_array_equal(rotated["deploy_hour"], (calm["deploy_hour"] + 3) % 24)
    for name in ("error_pct", "p99_latency_ms", "is_weekend"):
        assert hot[name].mean() == pytest.approx(calm[name].mean(), rel=0.05), name


def test_scenario_split_and_pipeline():
    s = data.make_scenario()
    assert (len(s.X_train), len(s.X_test)) == (640, 160)
    assert s.y_train.mean() == pytest.approx(s.y_test.mean(), abs=0.01)  # stratified
    assert list(s.pipeline.named_steps) == ["scaler", "model"]
    assert list(s.pipeline.feature_names_in_) == list(data.FEATURES)
    assert 0.6 < s.pipeline.score(s.X_test, s.y_test) < 0.9


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: data.make_incidents(0), ValueError, r"`n_samples` must be a positive integer; got 0"),
        (lambda: data.make_incidents(2.5), ValueError, r"`n_samples` must be a positive integer; got 2.5"),
        (lambda: data.make_incidents(True), ValueError, r"`n_samples` must be a positive integer; got True"),
        (lambda: data.make_incidents(10, rng="x"), TypeError, r"`rng` must be an int seed"),
        (lambda: data.make_incidents(10, rng=True), TypeError, r"`rng` must be an int seed"),
        (lambda: data.make_incidents(10, drift={"cpu": 1}), ValueError, r"`drift` keys must be among .*\['cpu'\]"),
        (lambda: data.make_incidents(10, drift={"error_pct": np.nan}), ValueError, r"`drift\['error_pct'\]` must be a finite number"),
        (lambda: data.make_incidents(10, drift={"is_weekend": 0.9}), ValueError, r"weekend probability in \[0, 1\]"),
        (lambda: data.make_incidents(10, drift={"request_rate": -100}), ValueError, r"mean request rate positive"),
        (lambda: data.make_incidents(10, coefficients={"intercept": 0}), ValueError, r"`coefficients` must give a value for every feature"),
        (lambda: data.incident_probability(pd.DataFrame({"error_pct": [1.0]})), ValueError, r"`X` must have the columns .*missing"),
        (lambda: data.make_production_sample(-1), ValueError, r"`n_samples` must be a positive integer; got -1"),
        (lambda: data.make_scenario(test_size=1.0), ValueError, r"`test_size` must be between 0 and 1 \(exclusive\); got 1.0"),
        (lambda: data.fit_pipeline(np.zeros((4, 5)), [0, 1, 0, 1]), TypeError, r"`X` must be a pandas DataFrame"),
        (lambda: data.fit_pipeline(pd.DataFrame({"a": [1, 2]}), [0, 1]), ValueError, r"`X` must have exactly the columns"),
        (lambda: data.fit_pipeline(data.make_production_sample(4, rng=0), [0, 1]), ValueError, r"`X` and `y` must have the same length; got 4 and 2"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_public_surface():
    for name in data.__all__:
        assert hasattr(data, name)
    assert "make_scenario" in data.__all__ and "check_rng" not in data.__all__  # the reference's own
