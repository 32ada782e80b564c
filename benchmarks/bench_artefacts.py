"""Artefact formats and prediction latency of the standard pipeline, measured in one run.

Prints two tables, each as ratios against a baseline measured in the same run:

1. size on disk and full load time (hash check + deserialisation + replay) for joblib
   uncompressed (the baseline), joblib compress=3 and skops, via
   ``artefacts.compare_formats``;
2. in-process prediction latency, ``predict_proba`` on one row vs on a batch: p50 and
   p99 per call and the per-row cost of each, with the single-row call as baseline.

Run from the project's root::

    .venv/bin/python benchmarks/bench_artefacts.py [--repeats 200] [--batch 1000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from mlops_companion import artefacts, data


def latencies_ms(model, X: pd.DataFrame, repeats: int, budget_s: float) -> np.ndarray:
    """Milliseconds per ``predict_proba(X)`` call, ``repeats`` calls at most, within ``budget_s``."""
    model.predict_proba(X)  # warm-up: first-call allocations are not steady state
    out = []
    deadline = time.perf_counter() + budget_s
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_proba(X)
        out.append((time.perf_counter() - start) * 1000)
        if time.perf_counter() > deadline:
            break
    return np.asarray(out)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="calls timed per batch size")
    parser.add_argument("--batch", type=int, default=1000, help="rows in the batch call")
    parser.add_argument("--loads", type=int, default=5, help="loads timed per format")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds at most per batch size")
    args = parser.parse_args(argv)

    s = data.make_scenario()
    formats = artefacts.compare_formats(
        s.pipeline, example_input=s.X_test.head(5),
        variants=[("joblib", 0), ("joblib", 3), ("skops", 0), ("skops", 3)], n_repeats=args.loads)
    print("Artefact formats (baseline: joblib, uncompressed)")
    print(formats.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    batch = data.make_production_sample(args.batch, rng=1)
    rows = []
    for n_rows, X in ((1, batch.head(1)), (args.batch, batch)):
        ms = latencies_ms(s.pipeline, X, args.repeats, args.budget)
        rows.append({"rows_per_call": n_rows, "calls": len(ms),
                     "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                     "per_row_us": 1000 * float(np.percentile(ms, 50)) / n_rows})
    latency = pd.DataFrame(rows)
    latency["per_row_ratio"] = latency["per_row_us"] / latency.loc[0, "per_row_us"]
    print(f"\nPrediction latency, predict_proba in process (baseline: one row per call)")
    print(latency.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    ratio = latency.loc[0, "per_row_us"] / latency.loc[1, "per_row_us"]
    print(f"\nOne row per call costs {ratio:.0f}x more per row than a batch of {args.batch}; "
          f"compressed joblib is {formats.loc[1, 'size_ratio']:.2f}x the size of uncompressed, "
          f"skops {formats.loc[2, 'size_ratio']:.1f}x, loading {formats.loc[2, 'load_ratio']:.1f}x slower.")
    return latency


if __name__ == "__main__":
    main()
