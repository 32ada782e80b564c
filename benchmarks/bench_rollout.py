"""Benchmark: the vectorised canary simulator against the per-window monitor in a loop.

`rollout.simulate_canary` runs many rollouts of the configured schedule through the
rule's one implementation (`rollout._step`) for all rollouts at once; the baseline feeds
the same per-window evidence (`rollout.simulate_windows`) to `CanaryMonitor.update`-style
single-rollout states one rollout at a time. Prints the time of each as a ratio to the
loop measured in the same run (per rollout), checks that both reach identical decisions,
and times the exact theory (`CanaryMonitor.rollback_probability`) and the boundary
computation.

Target (issue 10): 20,000 simulated rollouts in a few seconds, far below the loop.

Run:  .venv/bin/python benchmarks/bench_rollout.py [--n-simulations N] [--n-loop N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from mlops_reference import rollout
from mlops_reference.rollout import _sequential  # the benchmark times the private machinery itself


def _judge_all(rule: rollout.CanaryRule, d, v, ok) -> _sequential.RuleState:
    state = _sequential.RuleState(d.shape[0])
    for h in range(d.shape[1]):
        _sequential.judge(state, d[:, h], v[:, h], ok[:, h], rule)
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-simulations", type=int, default=20_000)
    parser.add_argument("--n-loop", type=int, default=500, help="rollouts for the loop baseline")
    args = parser.parse_args()

    t0 = time.perf_counter()
    _sequential._boundaries_cached.cache_clear()
    rule = rollout.CanaryRule(window_size=2000, min_samples=50)
    t_boundaries = time.perf_counter() - t0

    t0 = time.perf_counter()
    theory = rule.rollback_probability(rule.margin, sd=0.3)
    t_theory = time.perf_counter() - t0

    d, v, ok = rollout.simulate_windows(rule.schedule, rule.window_size, delta=rule.margin, sd=0.3,
                                        n_simulations=args.n_simulations, min_samples=rule.min_samples, rng=0)
    t0 = time.perf_counter()
    state = _judge_all(rule, d, v, ok)
    t_vector = time.perf_counter() - t0

    n = min(args.n_loop, args.n_simulations)
    t0 = time.perf_counter()
    loop_rolled = np.array([_judge_all(rule, d[r:r + 1], v[r:r + 1], ok[r:r + 1]).rolled[0] for r in range(n)])
    t_loop = (time.perf_counter() - t0) / n * args.n_simulations  # extrapolated

    t0 = time.perf_counter()
    sim = rollout.simulate_canary(rule, delta=rule.margin, sd=0.3, n_simulations=args.n_simulations, rng=0)
    t_total = time.perf_counter() - t0

    print(f"boundaries ({len(rule.boundaries)} looks): {t_boundaries:.3f} s")
    print(f"exact theory, one delta: {t_theory:.3f} s  -> {theory:.4f}")
    print(f"{args.n_simulations} rollouts, vectorised rule: {t_vector:.3f} s; "
          f"loop (extrapolated from {n}): {t_loop:.2f} s; ratio {t_vector / t_loop:.4f}")
    print(f"simulate_canary end to end: {t_total:.3f} s -> {sim.rate:.4f} "
          f"[{sim.ci_low:.4f}, {sim.ci_high:.4f}]")
    print(f"identical decisions on the first {n} rollouts: "
          f"{bool(np.array_equal(loop_rolled, state.rolled[:n]))}")


if __name__ == "__main__":
    main()
