"""Benchmark: drift.detect_drift against a loop of scipy.stats.ks_2samp.

A 1,000,000 x 20 reference against a 100,000 x 20 current sample (continuous features,
three of them shifted). Prints times as ratios to the scipy loop measured in the same
run, checks that statistics are identical and p-values within 1e-9, and measures the
extra peak memory with tracemalloc against the size of the inputs.

Targets (issue 3): ratio <= 0.5 with a new reference, <= 0.25 with a fitted reference
reused; extra peak memory <= the size of the input arrays.

Run:  .venv/bin/python benchmarks/bench_drift.py [--n-reference N] [--n-current N] [--repeat R]
"""
from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from scipy import stats

from mlops_reference import drift


def make_data(n_ref: int, n_cur: int, n_features: int, seed: int = 0):
    gen = np.random.default_rng(seed)
    ref = np.empty((n_ref, n_features))
    cur = np.empty((n_cur, n_features))
    for j in range(n_features):
        kind = j % 4
        shift = 0.02 if j in (1, 7, 13) else 0.0  # three features drift a little
        if kind == 0:
            ref[:, j], cur[:, j] = gen.normal(0, 1, n_ref), gen.normal(shift, 1, n_cur)
        elif kind == 1:
            ref[:, j], cur[:, j] = gen.exponential(1, n_ref), gen.exponential(1 + shift, n_cur)
        elif kind == 2:
            ref[:, j], cur[:, j] = gen.lognormal(4, 0.8, n_ref), gen.lognormal(4 + shift, 0.8, n_cur)
        else:  # heavily tied values, to exercise ties
            ref[:, j], cur[:, j] = np.round(gen.normal(0, 1, n_ref), 2), np.round(gen.normal(shift, 1, n_cur), 2)
    return ref, cur


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def peak_extra(fn) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-reference", type=int, default=1_000_000)
    parser.add_argument("--n-current", type=int, default=100_000)
    parser.add_argument("--n-features", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    ref, cur = make_data(args.n_reference, args.n_current, args.n_features)
    names = [f"f{j:02d}" for j in range(args.n_features)]
    input_bytes = ref.nbytes + cur.nbytes
    print(f"reference {ref.shape}, current {cur.shape}, inputs {input_bytes / 2**20:.0f} MiB")

    def scipy_loop():
        return [stats.ks_2samp(ref[:, j], cur[:, j]) for j in range(ref.shape[1])]

    def new_reference():
        return drift.detect_drift(ref, cur, feature_names=names, correction=None, warn=False)

    fitted = drift.DriftReference.fit(ref, feature_names=names)

    def reused_reference():
        return fitted.test(cur, feature_names=names, correction=None, warn=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drift.DriftWarning)
        t_scipy, expected = best_of(scipy_loop, args.repeat)
        t_new, got_new = best_of(new_reference, args.repeat)
        t_fit, _ = best_of(lambda: drift.DriftReference.fit(ref, feature_names=names), 1)
        t_reused, got_reused = best_of(reused_reference, args.repeat)
        mem_new = peak_extra(new_reference)
        mem_reused = peak_extra(reused_reference)

    d_scipy = np.array([r.statistic for r in expected])
    p_scipy = np.array([r.pvalue for r in expected])
    for label, got in (("new", got_new), ("reused", got_reused)):
        identical = bool(np.array_equal(got["statistic"].to_numpy(), d_scipy))
        max_dp = float(np.max(np.abs(got["pvalue"].to_numpy() - p_scipy)))
        print(f"{label:>7}: statistics identical to scipy: {identical}; "
              f"max |p - p_scipy| = {max_dp:.2e}")
        assert identical and max_dp <= 1e-9, "results differ from scipy"

    print(f"scipy ks_2samp loop      {t_scipy:7.3f} s   ratio 1.00")
    print(f"detect_drift, new ref    {t_new:7.3f} s   ratio {t_new / t_scipy:.2f}  (target <= 0.50)")
    print(f"DriftReference.fit once  {t_fit:7.3f} s")
    print(f"fitted.test, reused ref  {t_reused:7.3f} s   ratio {t_reused / t_scipy:.2f}  (target <= 0.25)")
    print(f"extra peak memory, new ref    {mem_new / 2**20:7.1f} MiB = "
          f"{mem_new / input_bytes:.2f} x inputs (target <= 1.00)")
    print(f"extra peak memory, reused ref {mem_reused / 2**20:7.1f} MiB = "
          f"{mem_reused / input_bytes:.2f} x inputs")


if __name__ == "__main__":
    main()
