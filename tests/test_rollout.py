"""Tests of mlops_companion.rollout: shadow, canary monitor, blue/green, simulators."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlops_companion import rollout


def test_public_surface():
    assert set(rollout.__all__) == {
        "AgreementResult", "ShadowDeployment", "CanarySchedule", "TrafficSplit",
        "MonitorDecision", "CanaryMonitor", "BlueGreen", "RolloutResult", "simulate_rollout",
        "FalseRollbackResult", "false_rollback_rate", "false_rollback_table",
    }


# ----------------------------------------------------------------------------- shadow
class _Proba:
    def __init__(self, p):
        self.p = p

    def predict_proba(self, X):
        p = np.full(len(X), self.p)
        return np.column_stack([1 - p, p])


def test_shadow_returns_current_and_logs_both():
    shadow = rollout.ShadowDeployment(_Proba(0.8), lambda X: np.linspace(0.2, 0.9, len(X)))
    out = shadow.predict(np.zeros((8, 5)))
    assert np.allclose(out, 0.8)
    shadow.predict(np.zeros((2, 5)))
    log = shadow.log
    assert len(log) == 10 and list(log.columns) == ["current", "candidate"]
    summary = shadow.agreement()
    cand = np.r_[np.linspace(0.2, 0.9, 8), np.linspace(0.2, 0.9, 2)]
    assert summary.n_requests == 10
    assert summary.agreement == pytest.approx(np.mean(cand >= 0.5))
    assert summary.mean_abs_diff == pytest.approx(np.mean(np.abs(0.8 - cand)))


def test_shadow_failure_never_reaches_the_caller():
    def broken(X):
        raise RuntimeError("candidate crashed")

    shadow = rollout.ShadowDeployment(_Proba(0.3), broken)
    assert np.allclose(shadow.predict(np.zeros((4, 5))), 0.3)
    assert shadow.agreement().agreement == 0.0


def test_shadow_bad_input():
    with pytest.raises(TypeError, match=r"`candidate` must have a `predict_proba` method"):
        rollout.ShadowDeployment(_Proba(0.3), 42)
    with pytest.raises(ValueError, match=r"`threshold` must be between 0 and 1"):
        rollout.ShadowDeployment(_Proba(0.3), _Proba(0.3), threshold=1.0)
    with pytest.raises(RuntimeError, match=r"No requests were scored yet"):
        rollout.ShadowDeployment(_Proba(0.3), _Proba(0.3)).agreement()


# ----------------------------------------------------------------------------- canary
def test_default_schedule_matches_the_book():
    s = rollout.CanarySchedule()
    assert s.hours == (0, 1, 2, 4, 8, 12, 18)
    assert s.shares == (0.0, 0.05, 0.10, 0.25, 0.50, 0.75, 1.0)
    assert s.share_at(0.5) == 0.0 and s.share_at(5) == 0.25 and s.share_at(30) == 1.0
    assert list(s.to_frame().columns) == ["step", "hour", "share"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(hours=(0, 1), shares=(0.0,)), r"`hours` and `shares` must have the same length"),
        (dict(hours=(0, 2, 1), shares=(0, 0.5, 1)), r"`hours` must be non-negative and strictly increasing"),
        (dict(hours=(0, 1, 2), shares=(0, 0.5, 0.2)), r"`shares` must never decrease"),
        (dict(hours=(0, 1), shares=(0, 50)), r"`shares` must be a fraction between 0 and 1; got 50"),
    ],
)
def test_schedule_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rollout.CanarySchedule(**kwargs)


def test_traffic_split_share_and_validation():
    split = rollout.TrafficSplit(0.25, rng=1)
    routes = [split.route() for _ in range(4000)]
    assert set(routes) == {"current", "candidate"}
    assert abs(routes.count("candidate") / 4000 - 0.25) < 0.03
    split.candidate_share = 0.0
    assert {split.route() for _ in range(100)} == {"current"}
    assert rollout.TrafficSplit(1.0, rng=0).route_many(50).all()
    with pytest.raises(ValueError, match=r"`candidate_share` must be a fraction between 0 and 1; got 1.5"):
        rollout.TrafficSplit(1.5)
    with pytest.raises(TypeError, match=r"`rng` must be an int seed"):
        rollout.TrafficSplit(0.1, rng="seed")


def test_monitor_statistic_formula():
    g = np.random.default_rng(0)
    b, c = g.beta(3, 2, 400), g.beta(3, 2, 150) + 0.05
    se = math.sqrt(b.var(ddof=1) / len(b) + c.var(ddof=1) / len(c))
    z = abs(c.mean() - b.mean()) / se
    assert rollout.CanaryMonitor.statistic(b, c) == pytest.approx(z, rel=1e-12)
    # Same as Welch's t statistic.
    assert z == pytest.approx(abs(stats.ttest_ind(c, b, equal_var=False).statistic), rel=1e-10)


def test_monitor_actions_and_streak():
    g = np.random.default_rng(1)
    m = rollout.CanaryMonitor(k=3.0, min_samples=100, consecutive=2)
    same = lambda: (g.beta(3, 2, 500), g.beta(3, 2, 500))  # noqa: E731
    shifted = lambda: (g.beta(3, 2, 500), g.beta(3, 2, 500) + 0.2)  # noqa: E731
    assert m.update(g.random(50), g.random(500)).action == "insufficient"
    first = m.update(*shifted())
    assert first.breached and first.action == "continue"
    calm = m.update(*same())
    assert not calm.breached and calm.action == "continue" and m.streak == 0
    m.update(*shifted())
    assert m.update(g.random(500), g.random(20)).action == "insufficient"  # streak kept
    second = m.update(*shifted())
    assert second.action == "rollback"
    assert m.update(*same()).action == "rollback"  # latched until reset
    m.reset()
    assert m.update(*same()).action == "continue"


def test_monitor_constant_windows():
    m = rollout.CanaryMonitor(min_samples=2, consecutive=1)
    assert m.update(np.full(10, 0.5), np.full(10, 0.5)).statistic == 0.0
    d = m.update(np.full(10, 0.5), np.full(10, 0.75))
    assert math.isinf(d.statistic) and d.action == "rollback"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=0), r"`k` must be a positive finite number; got 0"),
        (dict(k=float("nan")), r"`k` must be a positive finite number"),
        (dict(min_samples=0), r"`min_samples` must be a positive integer; got 0"),
        (dict(min_samples=1), r"`min_samples` must be at least 2"),
        (dict(consecutive=1.5), r"`consecutive` must be a positive integer; got 1.5"),
    ],
)
def test_monitor_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rollout.CanaryMonitor(**kwargs)


def test_monitor_bad_scores():
    with pytest.raises(ValueError, match=r"`canary` must hold finite predicted probabilities"):
        rollout.CanaryMonitor().update(np.ones(200), np.r_[np.ones(199), np.nan])


# ----------------------------------------------------------------------------- blue/green
def test_blue_green_switch_and_rollback():
    bg = rollout.BlueGreen(blue="v3", green="v4")
    assert bg.live == "blue" and bg.idle == "green" and bg.model == "v3"
    bg.switch()
    assert bg.live == "green" and bg.model == "v4"
    bg.rollback()
    assert bg.live == "blue"
    bg.deploy("v5")
    assert bg.environments["green"] == "v5" and bg.live == "blue"
    assert [e for e, _ in bg.history] == ["start", "switch", "rollback", "deploy"]
    with pytest.raises(RuntimeError, match=r"Nothing to roll back"):
        bg.rollback()
    with pytest.raises(ValueError, match=r"`live` must be 'blue' or 'green'; got 'red'"):
        rollout.BlueGreen("a", "b", live="red")


# ----------------------------------------------------------------------------- simulation
def _traffic(n, seed=1):
    return pd.DataFrame({"x": np.random.default_rng(seed).random(n)})


def _good(X):
    return X["x"].to_numpy()


def test_identical_candidate_completes_the_rollout():
    result = rollout.simulate_rollout(_good, _good, _traffic(18 * 1500), window_size=1500, rng=0)
    assert not result.rolled_back and result.final_share == 1.0
    tl = result.timeline
    assert list(tl.columns) == ["step", "hour", "share", "n_canary", "statistic", "decision"]
    assert tl["decision"].iloc[0] == "start" and tl["decision"].iloc[-1] == "complete"
    assert (tl["statistic"].dropna() < 3.0).all()  # same model: no window breaches
    assert tl["hour"].is_monotonic_increasing


def test_faulty_candidate_is_rolled_back_early():
    bad = lambda X: np.clip(X["x"].to_numpy() + 0.2, 0, 1)  # noqa: E731
    result = rollout.simulate_rollout(_good, bad, _traffic(18 * 2000), window_size=2000,
                                      monitor=rollout.CanaryMonitor(k=3, consecutive=2), rng=3)
    assert result.rolled_back and result.final_share == 0.0
    assert result.rollback_hour is not None and result.rollback_hour < 8
    assert result.timeline["decision"].iloc[-1] == "rollback"
    assert result.timeline["share"].max() <= 0.25


def test_simulate_rollout_bad_input():
    with pytest.raises(ValueError, match=r"`traffic` must hold at least 18000 rows"):
        rollout.simulate_rollout(_good, _good, _traffic(100), window_size=1000)
    with pytest.raises(TypeError, match=r"`traffic` must be a pandas DataFrame"):
        rollout.simulate_rollout(_good, _good, np.zeros((100, 1)))
    with pytest.raises(TypeError, match=r"`schedule` must be a CanarySchedule"):
        rollout.simulate_rollout(_good, _good, _traffic(100), schedule=[0, 1])
    with pytest.raises(ValueError, match=r"`window_size` must be a positive integer; got 0"):
        rollout.simulate_rollout(_good, _good, _traffic(100), window_size=0)


def _normal_theory(k, consecutive, n_windows):
    """P(at least `consecutive` breaches in a row in `n_windows`) with per-window p = 2(1-Phi(k))."""
    p = 2 * stats.norm.sf(k)
    state = np.zeros(consecutive + 1)
    state[0] = 1.0
    for _ in range(n_windows):
        new = np.zeros_like(state)
        new[0] = state[:consecutive].sum() * (1 - p)
        new[1:consecutive] = state[:consecutive - 1] * p
        new[consecutive] = state[consecutive] + state[consecutive - 1] * p
        state = new
    return state[consecutive]


def test_false_rollback_table_agrees_with_normal_theory():
    # Its speed is measured by benchmarks, not asserted here.
    table = rollout.false_rollback_table(ks=(2.0, 3.0), consecutives=(1, 2, 3),
                                         n_simulations=2000, rng=0)
    assert len(table) == 6
    for row in table.itertuples():
        theory = _normal_theory(row.k, row.consecutive, 18)
        assert row.ci_low - 0.02 <= theory <= row.ci_high + 0.02
    k2 = table[(table["k"] == 2.0) & (table["consecutive"] == 1)]["rate"].iloc[0]
    assert k2 > 0.4  # k = 2 over 18 windows: far from small


def test_false_rollback_rate_result_and_validation():
    r = rollout.false_rollback_rate(k=3.0, consecutive=1, n_windows=10, window_size=400,
                                    n_simulations=800, rng=2)
    assert isinstance(r, rollout.FalseRollbackResult)
    assert r.ci_low <= r.estimate <= r.ci_high
    assert r.ci_low <= _normal_theory(3.0, 1, 10) + 0.01
    with pytest.raises(ValueError, match=r"`n_simulations` must be a positive integer"):
        rollout.false_rollback_rate(n_simulations=0)
    with pytest.raises(ValueError, match=r"`canary_share` \* `window_size` must leave at least 2"):
        rollout.false_rollback_rate(canary_share=0.001, window_size=100)
    with pytest.raises(ValueError, match=r"`scores` must hold finite"):
        rollout.false_rollback_rate(scores=[0.1, np.nan])


def test_false_rollback_resamples_given_scores():
    scores = np.random.default_rng(0).beta(5, 2, 1000)
    r = rollout.false_rollback_rate(k=2.0, consecutive=1, n_windows=5, window_size=300,
                                    n_simulations=600, scores=scores, rng=1)
    assert r.ci_low <= _normal_theory(2.0, 1, 5) + 0.02
