"""Tests of mlops_reference.rollout: shadow, canary monitor, blue/green, simulators."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlops_reference import rollout
from mlops_reference.rollout import _sequential


def test_public_surface():
    assert set(rollout.__all__) == {
        "AgreementResult", "ShadowDeployment", "CanarySchedule", "TrafficSplit",
        "MonitorDecision", "CanaryRule", "CanaryMonitor", "BlueGreen", "RolloutResult",
        "simulate_rollout", "CanarySimulationResult", "simulate_canary", "simulate_windows",
        "derive_rule", "resample_canary",
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
    with pytest.raises(ValueError, match=r"`threshold` must be a number in \(0, 1\)"):
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
        (dict(hours=(0, 1), shares=(0, 50)), r"`shares` must be a number in \[0, 1\]; got 50"),
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
    assert all(rollout.TrafficSplit(1.0, rng=0).route() == "candidate" for _ in range(50))
    with pytest.raises(ValueError, match=r"`candidate_share` must be a number in \[0, 1\]; got 1.5"):
        rollout.TrafficSplit(1.5)
    with pytest.raises(TypeError, match=r"`rng` must be an int seed"):
        rollout.TrafficSplit(0.1, rng="seed")


def test_window_statistic_of_the_timeline_is_welchs():
    g = np.random.default_rng(0)
    traffic = pd.DataFrame({"x": g.beta(3, 2, 18 * 400)})
    result = rollout.simulate_rollout(lambda X: X["x"].to_numpy(), lambda X: X["x"].to_numpy() + 0.01,
                                      traffic, window_size=400, rng=1,
                                      monitor=rollout.CanaryMonitor.for_schedule(window_size=400, min_samples=10))
    row = result.timeline.dropna(subset=["window_statistic"]).iloc[0]
    to_canary = np.random.default_rng(1).random(18 * 400)[int(row["hour"]) * 400:(int(row["hour"]) + 1) * 400]
    x = traffic["x"].to_numpy()[int(row["hour"]) * 400:(int(row["hour"]) + 1) * 400]
    mask = to_canary < row["share"]
    welch = stats.ttest_ind(x[mask] + 0.01, x[~mask], equal_var=False).statistic
    assert row["window_statistic"] == pytest.approx(abs(welch), rel=1e-10)


def test_monitor_pools_windows_by_inverse_variance_with_a_margin():
    g = np.random.default_rng(3)
    m = rollout.CanaryMonitor(margin=0.01, looks=5, min_samples=10)
    windows = [(g.beta(3, 2, 300), g.beta(3, 2, n) + 0.02) for n in (50, 120, 200)]
    for b, c in windows:
        decision = m.update(b, c)
    d = np.array([c.mean() - b.mean() for b, c in windows])
    v = np.array([c.var(ddof=1) / len(c) + b.var(ddof=1) / len(b) for b, c in windows])
    pooled, se = np.sum(d / v) / np.sum(1 / v), np.sum(1 / v) ** -0.5
    assert decision.estimate == pytest.approx(pooled, rel=1e-12)
    assert decision.statistic == pytest.approx((abs(pooled) - 0.01) / se, rel=1e-10)
    assert decision.look == 3 and decision.boundary == pytest.approx(m.rule.boundaries[2])


def test_monitor_actions_and_streak():
    g = np.random.default_rng(1)
    m = rollout.CanaryMonitor(k=3.0, margin=0.0, looks=10, min_samples=100, consecutive=2)
    same = lambda: (g.beta(3, 2, 500), g.beta(3, 2, 500))  # noqa: E731
    shifted = lambda: (g.beta(3, 2, 500), g.beta(3, 2, 500) + 0.2)  # noqa: E731
    assert m.update(g.random(50), g.random(500)).action == "insufficient"
    first = m.update(*shifted())
    assert first.breached and first.action == "continue"
    assert m.update(g.random(500), g.random(20)).action == "insufficient"  # streak kept
    second = m.update(*shifted())
    assert second.action == "rollback"
    assert m.update(*same()).action == "rollback"  # latched until reset
    m.reset()
    assert m.update(*same()).action == "continue" and m.looks_taken == 1


def test_monitor_constant_windows():
    m = rollout.CanaryMonitor(looks=3, min_samples=2)
    d = m.update(np.full(10, 0.5), np.full(10, 0.5))
    assert d.action == "continue" and d.statistic < 0
    d = m.update(np.full(10, 0.5), np.full(10, 0.75))
    assert d.action == "rollback"


def test_looks_beyond_the_plan_never_breach():
    m = rollout.CanaryMonitor(looks=1, min_samples=10)
    assert m.update(np.zeros(20) + np.arange(20) / 100, np.arange(20) / 100).action == "continue"
    d = m.update(np.zeros(20), np.ones(20))
    assert math.isinf(d.boundary) and d.action == "continue"
    fixed = rollout.CanaryMonitor(k=3.0, looks=1, min_samples=10)  # a fixed k never runs out
    fixed.update(np.arange(20) / 100, np.arange(20) / 100)
    d = fixed.update(np.zeros(20), np.ones(20))
    assert d.boundary == 3.0 and d.action == "rollback"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(k=0), ValueError, r"`k` must be a number > 0; got 0"),
        (dict(k=float("nan")), TypeError, r"`k` must be a finite number"),
        (dict(min_samples=1), ValueError, r"`min_samples` must be an integer >= 2; got 1"),
        (dict(consecutive=1.5), TypeError, r"`consecutive` must be an integer; got 1.5"),
        (dict(margin=-0.1), ValueError, r"`margin` must be a number >= 0; got -0.1"),
        (dict(alpha=1.0), ValueError, r"`alpha` must be a number in \(0, 1\); got 1.0"),
        (dict(alternative="both"), ValueError, r"`alternative` must be one of"),
        (dict(spending="linear"), ValueError, r"`spending` must be one of"),
        (dict(looks=[3, 2]), ValueError, r"`looks` must be a positive integer or a strictly"),
        (dict(looks=0), ValueError, r"`looks` must be an integer >= 1; got 0"),
        (dict(looks=3, window_size=2000), ValueError, r"`looks` must not be given with `schedule`"),
        (dict(min_samples=5000), ValueError, r"`window_size` must give both groups at least `min_samples`"),
        (dict(schedule="hourly"), TypeError, r"`schedule` must be a CanarySchedule"),
    ],
)
def test_rule_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        rollout.CanaryRule(**kwargs)
    with pytest.raises(error, match=match):
        rollout.CanaryMonitor(**kwargs)


def test_monitor_takes_a_rule_or_its_parameters_not_both():
    rule = rollout.CanaryRule(min_samples=50)
    assert rollout.CanaryMonitor(rule).rule is rule
    assert rollout.CanaryMonitor(min_samples=50).rule == rule  # a frozen record: equal by value
    with pytest.raises(TypeError, match=r"pass a `rule` or the parameters of one, not both"):
        rollout.CanaryMonitor(rule, margin=0.03)
    with pytest.raises(TypeError, match=r"`rule` must be a rollout.CanaryRule; got dict"):
        rollout.CanaryMonitor({"margin": 0.02})


def test_monitor_bad_scores():
    with pytest.raises(ValueError, match=r"`canary` must hold finite predicted probabilities"):
        rollout.CanaryMonitor().update(np.ones(200), np.r_[np.ones(199), np.nan])


def test_theory_needs_planned_sizes():
    with pytest.raises(ValueError, match=r"`looks` is a number of looks"):
        rollout.CanaryRule(looks=5).rollback_probability(0.0, sd=0.3)
    with pytest.raises(ValueError, match=r"`sd` must be a number > 0"):
        rollout.CanaryRule().rollback_probability(0.0, sd=0.0)


# ----------------------------------------------------------------------------- theory
@pytest.mark.parametrize("spending", ["pocock", "obrien-fleming"])
def test_boundaries_spend_alpha_as_designed(spending):
    """Three looks: the crossing probabilities, from scipy's multivariate normal, match the spending."""
    looks = np.array([100.0, 250.0, 400.0])
    m = rollout.CanaryRule(margin=0.0, alternative="greater", looks=looks, spending=spending, alpha=0.05)
    t = looks / looks[-1]
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    c = m.boundaries
    no_cross = [stats.multivariate_normal(np.zeros(j), corr[:j, :j], seed=1).cdf(c[:j])
                if j > 1 else stats.norm.cdf(c[0]) for j in (1, 2, 3)]
    spent = 1 - np.array(no_cross)
    assert spent == pytest.approx(m.design(sd=1.0)["alpha_spent"].to_numpy(), abs=2e-4)
    assert spent[-1] == pytest.approx(0.05, abs=2e-4)


def test_exact_error_rate_at_the_margin_is_alpha():
    m = rollout.CanaryRule(window_size=2000, min_samples=50)
    assert m.false_rollback_rate(sd=0.31) == pytest.approx(0.05, abs=1e-3)
    assert m.rollback_probability(0.0, sd=0.31) < 0.005  # identical candidate: rarely
    by_look = m.rollback_probability(0.05, sd=0.31, by_look=True)
    assert np.all(np.diff(by_look) >= -1e-12) and by_look[-1] > 0.99


def test_theory_and_simulation_agree_within_the_monte_carlo_interval():
    m = rollout.CanaryRule(window_size=2000, min_samples=50)
    for delta in (0.02, 0.03, 0.0):
        r = rollout.simulate_canary(m, delta=delta, sd=0.31, n_simulations=20_000, rng=7)
        assert r.n_simulations == 20_000 and r.rollback_look.sum() == round(r.rate * 20_000)
        # Monte Carlo interval, widened by 0.002 for the grid integration and the estimated variances.
        assert r.ci_low - 0.002 <= r.theory <= r.ci_high + 0.002, r


def test_derive_rule_takes_the_widest_margin_that_keeps_the_power():
    rule = rollout.derive_rule(shift=-0.03, sd=0.3, power=0.9)  # the sign of the shift does not matter
    assert rule == rollout.derive_rule(shift=0.03, sd=0.3, power=0.9)
    assert rule == rollout.CanaryRule(margin=rule.margin, window_size=2000, min_samples=50)
    wider = rollout.CanaryRule(margin=rule.margin + 0.001, window_size=2000, min_samples=50)
    assert rule.rollback_probability(0.03, sd=0.3) >= 0.9 > wider.rollback_probability(0.03, sd=0.3)
    assert rollout.derive_rule(shift=0.03, sd=0.3, power=0.5).margin > rule.margin  # less power, wider margin


@pytest.mark.parametrize("kwargs, error, match", [
    ({"shift": 0.0, "sd": 0.3}, ValueError, "`shift` must be large enough"),
    ({"shift": 0.001, "sd": 0.3}, ValueError, "`shift` must be large enough"),
    ({"shift": 0.03, "sd": 0.0}, ValueError, "`sd` must be"),
    ({"shift": 0.03, "sd": 0.3, "power": 1.5}, ValueError, "`power` must be"),
    ({"shift": 0.03, "sd": 0.3, "schedule": "daily"}, TypeError, "`schedule` must be a CanarySchedule"),
])
def test_derive_rule_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        rollout.derive_rule(**kwargs)


def test_resampled_rollouts_of_normal_scores_agree_with_the_theory():
    m = rollout.CanaryRule(window_size=2000, min_samples=50)
    scores = np.random.default_rng(3).normal(0.4, 0.3, 50_000)
    r = rollout.resample_canary(m, scores, scores + m.margin, n_simulations=2000, rng=4)
    assert r.ci_low <= 0.05 <= r.ci_high and r.delta == pytest.approx(m.margin)
    assert r.rollback_look.sum() == round(r.rate * r.n_simulations)


@pytest.mark.parametrize("args, kwargs, error, match", [
    (("rule", [0.1, 0.2], [0.1, 0.2]), {}, TypeError, "`rule` must be a rollout.CanaryRule"),
    ((None, [0.1], [0.1, 0.2]), {}, ValueError, "`baseline` must hold at least two scores"),
    ((None, [0.1, 0.2], [0.1, np.nan]), {}, ValueError, "`canary`"),
    ((None, [0.1, 0.2], [0.1, 0.2]), {"n_simulations": 0}, ValueError, "`n_simulations`"),
])
def test_resample_canary_bad_input(args, kwargs, error, match):
    rule = rollout.CanaryRule(window_size=200, min_samples=20)
    args = (rule if args[0] is None else args[0], *args[1:])
    with pytest.raises(error, match=match):
        rollout.resample_canary(*args, **kwargs)
    with pytest.raises(ValueError, match="`rule` must be planned from a schedule"):
        rollout.resample_canary(rollout.CanaryRule(looks=(10.0, 20.0)), [0.1, 0.2], [0.1, 0.2])


def test_simulate_canary_result_and_bad_input():
    rule = rollout.CanaryRule(min_samples=50)
    r = rollout.simulate_canary(rule, delta=rule.margin, sd=0.3, n_simulations=20_000, rng=4)
    assert r.delta == 0.02 and r.ci_low <= r.rate <= r.ci_high
    assert r.ci_low - 0.002 <= r.theory <= r.ci_high + 0.002
    with pytest.raises(ValueError, match=r"`n_simulations` must be an integer >= 1"):
        rollout.simulate_canary(rule, delta=0.0, sd=0.3, n_simulations=0)
    with pytest.raises(ValueError, match=r"`rule` must be planned from a schedule"):
        rollout.simulate_canary(rollout.CanaryRule(looks=3), delta=0.0, sd=0.3)
    with pytest.raises(TypeError, match=r"`rule` must be a rollout.CanaryRule; got CanaryMonitor"):
        rollout.simulate_canary(rollout.CanaryMonitor(rule), delta=0.0, sd=0.3)


def test_monitor_and_vectorised_simulator_decide_identically():
    """The same stream of windows through CanaryMonitor.update and the vectorised rule."""
    g = np.random.default_rng(11)
    schedule = rollout.CanarySchedule()
    m = rollout.CanaryMonitor.for_schedule(schedule, window_size=600, min_samples=40,
                                           consecutive=2)
    shares = schedule.plan(600, min_samples=2)["share"].to_numpy()
    n_runs = 60
    d = np.full((n_runs, len(shares)), np.nan)
    v, ok = np.full_like(d, np.nan), np.zeros_like(d, dtype=bool)
    per_window = []
    for r in range(n_runs):
        shift = (0.0, 0.02, 0.04, 0.08)[r % 4]
        actions = []
        m.reset()
        for h, share in enumerate(shares):
            to_canary = g.random(600) < share
            scores = g.beta(2, 1.2, 600)
            b, c = scores[~to_canary], scores[to_canary] + shift
            if len(b) >= 40 and len(c) >= 40:
                d[r, h] = c.mean() - b.mean()
                v[r, h] = c.var(ddof=1) / len(c) + b.var(ddof=1) / len(b)
                ok[r, h] = True
            actions.append(m.update(b, c).action)
        per_window.append(actions)
    state = _sequential.RuleState(n_runs)
    first = np.zeros(n_runs, dtype=int)
    for h in range(d.shape[1]):  # what the simulators do, window by window, for all runs at once
        before = state.rolled.copy()
        m.rule.judge(state, d[:, h], v[:, h], ok[:, h])
        first[state.rolled & ~before] = state.looks[state.rolled & ~before]
    monitor_rolled = np.array(["rollback" in a for a in per_window])
    assert np.array_equal(monitor_rolled, state.rolled)
    assert 0 < monitor_rolled.sum() < n_runs  # both outcomes occur
    for r, actions in enumerate(per_window):
        if state.rolled[r]:
            looks_before = sum(a != "insufficient" for a in actions[:actions.index("rollback") + 1])
            assert first[r] == looks_before


# ----------------------------------------------------------------------------- blue/green
def test_blue_green_switch_and_rollback():
    bg = rollout.BlueGreen(blue="v3", green="v4")
    assert bg.live == "blue" and bg.idle == "green" and bg.model == "v3"
    bg.switch()
    assert bg.live == "green" and bg.model == "v4"
    bg.rollback()
    assert bg.live == "blue"
    assert [e for e, _ in bg.history] == ["start", "switch", "rollback"]
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
    assert result.rollback_at_hour is None and isinstance(result.rule, rollout.CanaryRule)
    tl = result.timeline
    assert list(tl.columns) == ["step", "hour", "share", "n_canary", "window_statistic",
                                "estimate", "statistic", "boundary", "decision"]
    assert tl["decision"].iloc[0] == "start" and tl["decision"].iloc[-1] == "complete"
    judged = tl["statistic"].notna()
    assert (tl.loc[judged, "statistic"] < tl.loc[judged, "boundary"]).all()
    assert tl["hour"].is_monotonic_increasing


def test_faulty_candidate_is_rolled_back_early_with_its_rule():
    bad = lambda X: np.clip(X["x"].to_numpy() + 0.2, 0, 1)  # noqa: E731
    monitor = rollout.CanaryMonitor.for_schedule(window_size=2000, min_samples=50, consecutive=2)
    result = rollout.simulate_rollout(_good, bad, _traffic(18 * 2000), window_size=2000,
                                      monitor=monitor, rng=3)
    assert result.rolled_back and result.final_share == 0.0
    last = result.timeline.iloc[-1]
    assert last["decision"] == "rollback"
    assert result.rollback_at_hour == last["hour"] + 1  # the end of the breaching window
    assert result.rollback_at_hour <= 3
    assert result.rule == monitor.rule and result.rule.consecutive == 2


def test_simulate_rollout_bad_input():
    with pytest.raises(ValueError, match=r"`traffic` must hold at least 18000 rows"):
        rollout.simulate_rollout(_good, _good, _traffic(100), window_size=1000)
    with pytest.raises(TypeError, match=r"`traffic` must be a pandas DataFrame"):
        rollout.simulate_rollout(_good, _good, np.zeros((100, 1)))
    with pytest.raises(TypeError, match=r"`schedule` must be a CanarySchedule"):
        rollout.simulate_rollout(_good, _good, _traffic(100), schedule=[0, 1])
    with pytest.raises(ValueError, match=r"`window_size` must be an integer >= 1; got 0"):
        rollout.simulate_rollout(_good, _good, _traffic(100), window_size=0)


# --------------------------------------------------------------- the book's candidates
@pytest.fixture(scope="module")
def book():
    from mlops_companion import data

    scenario = data.make_scenario()
    pipe = scenario.pipeline
    fresh = data.make_incidents(800, rng=2024)
    healthy = data.fit_pipeline(fresh[list(data.FEATURES)], fresh[data.TARGET])

    def seconds(X):
        X = X.copy()
        X["p99_latency_ms"] = X["p99_latency_ms"] / 1000
        return pipe.predict_proba(X)[:, 1]

    return pipe, healthy, seconds, data


def _precomputed(scores):
    return lambda X: scores[X.index.to_numpy()]


@pytest.mark.parametrize("factor", [1, 10])
def test_healthy_retrain_is_not_rolled_back_as_traffic_grows(book, factor):
    pipe, healthy, _, data = book
    window = 2000 * factor
    traffic = data.make_production_sample(18 * window, rng=11)
    monitor = rollout.CanaryMonitor.for_schedule(window_size=window, min_samples=50)
    base, cand = _precomputed(pipe.predict_proba(traffic)[:, 1]), _precomputed(
        healthy.predict_proba(traffic)[:, 1])
    results = [rollout.simulate_rollout(base, cand, traffic, monitor=monitor,
                                        window_size=window, rng=seed) for seed in range(5)]
    assert not any(r.rolled_back for r in results)
    judged = results[0].timeline["statistic"].dropna()
    assert judged.iloc[-1] < 0  # the pooled difference sits inside the margin


def test_seconds_unit_bug_is_caught_in_at_least_90_percent_of_rollouts(book):
    pipe, _, seconds, data = book
    monitor = rollout.CanaryMonitor.for_schedule(window_size=2000, min_samples=50)
    caught = 0
    for t in range(4):
        traffic = data.make_production_sample(18 * 2000, rng=100 + t)
        base = _precomputed(pipe.predict_proba(traffic)[:, 1])
        bug = _precomputed(seconds(traffic))
        caught += sum(rollout.simulate_rollout(base, bug, traffic, monitor=monitor,
                                               window_size=2000, rng=seed).rolled_back
                      for seed in range(25))
    assert caught >= 90, caught


def test_rule_round_trips_through_json_and_refuses_hand_edits():
    import json

    rule = rollout.CanaryRule(window_size=2000, min_samples=50, consecutive=2)
    text = rule.to_json()
    assert rollout.CanaryRule.from_json(text) == rule
    stored = json.loads(text)
    assert stored["boundaries"] == pytest.approx(list(rule.boundaries))
    assert stored["schedule"]["hours"] == list(rollout.CanarySchedule().hours)
    for name in ("looks", "boundaries"):
        edited = dict(stored, **{name: [v * 1.01 for v in stored[name]]})
        with pytest.raises(ValueError, match=f"`{name}` must be the ones the rule's parameters give"):
            rollout.CanaryRule.from_json(json.dumps(edited))
    with pytest.raises(ValueError, match="cannot be written as a file"):
        rollout.CanaryRule(looks=4).to_json()


def test_committed_rule_reproduces_from_its_parameters():
    from pathlib import Path

    rule = rollout.CanaryRule.from_json((Path(__file__).parents[1] / "deploy" / "canary-rule.json").read_text())
    assert rule.schedule == rollout.CanarySchedule() and rule.window_size == 2000 and rule.min_samples == 50


def test_one_sided_rule_for_a_quantity_where_only_a_drop_hurts():
    rule = rollout.CanaryRule(window_size=2000, min_samples=50, alternative="less", margin=0.01)
    assert rule.false_rollback_rate(sd=0.45) == pytest.approx(0.05, abs=1e-3)
    assert rule.rollback_probability(+0.2, sd=0.45) < 1e-9  # better is (practically) never rolled back
    r = rollout.simulate_canary(rule, delta=-0.01, sd=0.45, n_simulations=20_000, rng=3)
    assert r.ci_low - 0.002 <= r.theory <= r.ci_high + 0.002
    g = np.random.default_rng(0)
    m = rollout.CanaryMonitor(rule)
    assert m.update(g.random(1900), g.random(100) * 0.5 + 0.5).action == "continue"


def test_whole_schedule_error_rate_matches_scipys_multivariate_normal():
    """All 17 looks of the book's schedule at once: 1 - P(no crossing) from scipy's Genz integration."""
    m = rollout.CanaryRule(window_size=2000, min_samples=50)
    t = np.array(m.looks) / m.looks[-1]
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    no_cross = stats.multivariate_normal(np.zeros(len(t)), corr, seed=0,
                                         maxpts=200_000).cdf(m.boundaries)
    # The recursion also counts the (negligible) lower tail of the two-sided rule.
    assert 1 - no_cross == pytest.approx(m.false_rollback_rate(sd=0.31), abs=5e-4)
