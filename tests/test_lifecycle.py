"""Tests for mlops_companion.lifecycle: the weekly traffic stream of the closing chapter."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_companion import data, lifecycle


def test_public_surface():
    assert sorted(lifecycle.__all__) == ["labels_available", "make_weekly_traffic"]
    import mlops_companion

    assert "lifecycle" in mlops_companion.__all__


def test_drift_ramps_up_linearly_after_the_onset():
    traffic = lifecycle.make_weekly_traffic(6, n_per_week=4000, onset=1, drift={"error_pct": 4.0}, rng=0)
    shift = traffic.groupby("week")["error_pct"].mean() - traffic.loc[traffic["week"] == 0, "error_pct"].mean()
    # no drift up to the onset, then 1, 2, 3, 4 points (the clip at 0 trims a little)
    assert shift.to_numpy() == pytest.approx([0.0, 0.0, 1.0, 2.0, 3.0, 4.0], abs=0.15)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_weeks": 1}, ValueError, r"`n_weeks` must be an integer >= 2; got 1"),
        ({"n_weeks": 5, "onset": 4}, ValueError, r"`onset` must be smaller than"),
        ({"n_weeks": 5, "onset": True}, TypeError, r"`onset` must be an integer; got True"),
    ],
)
def test_onset_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        lifecycle.make_weekly_traffic(n_per_week=10, rng=0, **kwargs)


def test_traffic_shape_columns_and_weeks():
    traffic = lifecycle.make_weekly_traffic(4, n_per_week=50, rng=1)
    assert list(traffic.columns) == ["week", *data.FEATURES, data.TARGET]
    assert len(traffic) == 200
    assert traffic["week"].value_counts().to_dict() == {0: 50, 1: 50, 2: 50, 3: 50}


def test_traffic_is_seeded():
    a = lifecycle.make_weekly_traffic(3, n_per_week=30, drift={"error_pct": 1.0}, rng=5)
    b = lifecycle.make_weekly_traffic(3, n_per_week=30, drift={"error_pct": 1.0}, rng=5)
    c = lifecycle.make_weekly_traffic(3, n_per_week=30, drift={"error_pct": 1.0}, rng=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_no_drift_before_onset_then_gradual_data_drift():
    traffic = lifecycle.make_weekly_traffic(
        8, n_per_week=3000, onset=3, drift={"error_pct": 3.0}, rng=2
    )
    means = traffic.groupby("week")["error_pct"].mean().to_numpy()
    calm = data.make_production_sample(3000 * 4, rng=3)["error_pct"].mean()
    # Weeks 0..3 look like the training data; then the mean climbs to about +3.
    assert np.allclose(means[:4], calm, atol=0.15)
    assert means[-1] - means[0] == pytest.approx(3.0, abs=0.2)
    assert np.all(np.diff(means[3:]) > 0)


def test_concept_drift_changes_labels_not_inputs():
    # Same seed, same inputs; a far larger intercept at the end makes incidents near-certain.
    plain = lifecycle.make_weekly_traffic(3, n_per_week=2000, rng=4)
    drifted = lifecycle.make_weekly_traffic(3, n_per_week=2000, coefficients={"intercept": 6.0}, rng=4)
    pd.testing.assert_frame_equal(plain[list(data.FEATURES)], drifted[list(data.FEATURES)])
    first = drifted.query("week == 0")[data.TARGET].mean()
    last = drifted.query("week == 2")[data.TARGET].mean()
    assert first == pytest.approx(plain.query("week == 0")[data.TARGET].mean())
    assert last > 0.98 > first


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_weeks": 0}, ValueError, r"`n_weeks` must be an integer >= 2; got 0"),
        ({"n_per_week": 0}, ValueError, r"`n_per_week` must be an integer >= 1; got 0"),
        ({"onset": 30}, ValueError, r"`onset` must be smaller than `n_weeks - 1` \(25\); got 30"),
        ({"drift": {"cpu": 1.0}}, ValueError, r"`drift` keys must be among .*\['cpu'\]"),
        ({"coefficients": {"slope": 1.0}}, ValueError, r"`coefficients` keys must be among .*\['slope'\]"),
        ({"coefficients": {"intercept": float("nan")}}, ValueError, r"`coefficients\['intercept'\]` must be a finite"),
        ({"rng": "seed"}, TypeError, r"`rng` must be an int seed"),
    ],
)
def test_make_weekly_traffic_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        lifecycle.make_weekly_traffic(**kwargs)


def test_labels_available_respects_delay():
    traffic = lifecycle.make_weekly_traffic(6, n_per_week=5, rng=0)
    assert lifecycle.labels_available(traffic, 5, delay=0)["week"].max() == 5
    assert sorted(lifecycle.labels_available(traffic, 5, delay=3)["week"].unique()) == [0, 1, 2]
    assert lifecycle.labels_available(traffic, 2, delay=3).empty


@pytest.mark.parametrize(
    ("traffic", "kwargs", "error", "match"),
    [
        ([1, 2], {"week": 1, "delay": 0}, TypeError, r"`traffic` must be a DataFrame .*got list"),
        (pd.DataFrame({"x": [1]}), {"week": 1, "delay": 0}, ValueError, r"`traffic` must have a 'week' column.*\['x'\]"),
        (pd.DataFrame({"week": [0]}), {"week": -2, "delay": 0}, ValueError, r"`week` must be an integer >= 0; got -2"),
        (pd.DataFrame({"week": [0]}), {"week": 1, "delay": -1}, ValueError, r"`delay` must be an integer >= 0; got -1"),
    ],
)
def test_labels_available_validation(traffic, kwargs, error, match):
    with pytest.raises(error, match=match):
        lifecycle.labels_available(traffic, **kwargs)


def test_the_chapters_drift_hurts_a_static_model_and_retraining_recovers():
    # The closing chapter's lesson rests on this: under its end-of-year world the book's
    # pipeline loses accuracy, and a model refitted on recent weeks wins most of it back.
    scenario = data.make_scenario()
    traffic = lifecycle.make_weekly_traffic(
        6, n_per_week=1000, onset=1, drift={"error_pct": 2.0},
        coefficients={"intercept": -5.0, "error_pct": 0.3, "p99_latency_ms": 0.06}, rng=3,
    )
    features = list(data.FEATURES)
    first, recent, last = (traffic[traffic["week"] == w] for w in (0, 4, 5))
    acc_first = scenario.pipeline.score(first[features], first[data.TARGET])
    acc_last = scenario.pipeline.score(last[features], last[data.TARGET])
    refit = data.fit_pipeline(recent[features], recent[data.TARGET])
    acc_refit = refit.score(last[features], last[data.TARGET])
    assert acc_first - acc_last > 0.08
    assert acc_refit - acc_last > 0.08
