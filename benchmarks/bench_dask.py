"""Beyond one machine: batch scoring and drift monitoring on Dask, against one process.

Measured in one run, each against a baseline measured in the same run:

1. **Scoring** a partitioned Parquet dataset with the book's pipeline (gradient boosting),
   at several sizes up to 10 million rows: one pandas process (read everything, score,
   write; in a fresh subprocess, so its peak resident memory is its own) against
   :func:`mlops_reference.batch.score_parquet` on a ``LocalCluster`` of 2 worker
   processes with 1 thread each and a memory limit smaller than the dataset.
   A second baseline scores the *same partitions one after another in one process*, so
   the ratios separate what the second core buys (sequential partitions / two workers,
   at most 2 on two idle cores) from what partitioning buys (whole dataset / sequential
   partitions: mostly memory). Targets at the largest size: throughput ratio >= 1.6,
   every worker's peak resident memory below its limit while the dataset in memory is
   larger than that limit.
2. **Drift** of a 10 million x 20 window against a fitted reference: the in-memory
   :func:`mlops_reference.drift.detect_drift` (data already in memory) against
   ``DriftReference.test`` on a Dask DataFrame read from Parquet by the workers. Targets:
   statistics identical to scipy on the concatenated data (checked for every feature),
   p-values within 1e-9, and time <= 1.5 x the in-memory time.

Results are printed and written to ``benchmarks/bench_dask.json`` (chapter 10 plots it),
with the date, the machine and the load average at start and end (``_provenance.py``):
chapter 10 declines to quote a timing ratio measured on a loaded machine.
The cluster listens on 127.0.0.1 only and is closed at the end. Takes several minutes and
about 6 GB of disk in a temporary folder; run it on a quiet machine.

Run: ``.venv/bin/python benchmarks/bench_dask.py [--sizes 1000000 3000000 10000000]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

from mlops_companion import data
from mlops_reference import artefacts, batch, drift

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _provenance import provenance  # noqa: E402

OUT = Path(__file__).with_suffix(".json")
FEATURES = list(data.FEATURES)
PASSTHROUGH = ["request_id", "service_id", "timestamp", "region_id", "cost"]

_PANDAS_JOB = """
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from mlops_reference import artefacts
src, dst, path, sha = sys.argv[1:5]
features = sys.argv[5:]
model = artefacts.load_artefact(path, expected_sha256=sha).model  # set-up, as for the workers
t1 = time.perf_counter()
frame = pd.read_parquet(src)
frame = frame[["row_id"]].assign(score=model.predict_proba(frame[features])[:, 1])
frame.to_parquet(dst, index=False)
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t1, "import_seconds": t1 - t0,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


_SEQUENTIAL_JOB = """
import json, resource, sys, time
from pathlib import Path
import pandas as pd
from mlops_reference import artefacts
src, dst, path, sha = sys.argv[1:5]
features = sys.argv[5:]
model = artefacts.load_artefact(path, expected_sha256=sha).model  # set-up, as for the workers
t1 = time.perf_counter()
Path(dst).mkdir(parents=True)
for part in sorted(Path(src).glob("*.parquet")):  # the same partitions, one after another
    frame = pd.read_parquet(part)
    frame = frame[["row_id"]].assign(score=model.predict_proba(frame[features])[:, 1])
    frame.to_parquet(Path(dst) / part.name, index=False)
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t1,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def write_scoring_dataset(folder: Path, n_rows: int, rows_per_part: int) -> int:
    """Partitions of the book's incidents plus pass-through columns; returns bytes in memory."""
    folder.mkdir(parents=True)
    in_memory = 0
    for i, start in enumerate(range(0, n_rows, rows_per_part)):
        n = min(rows_per_part, n_rows - start)
        part = data.make_incidents(n, rng=i)[FEATURES]
        part.insert(0, "row_id", np.arange(start, start + n, dtype=np.int64))
        gen = np.random.default_rng(10_000 + i)
        for j, col in enumerate(PASSTHROUGH):
            part[col] = gen.integers(0, 2**40, n) if j % 2 == 0 else gen.random(n)
        in_memory += int(part.memory_usage(index=False, deep=True).sum())
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False),
                       folder / f"part-{i:05d}.parquet")
    return in_memory


def pandas_job(src: Path, dst: Path, spec: batch.ScoringModel, job: str = _PANDAS_JOB) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", job, str(src), str(dst), spec.path,
         spec.artefact_sha256, *FEATURES],
        capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_scoring(args, root: Path, client, limit: int) -> dict:
    scenario = data.make_scenario()
    manifest = artefacts.save_artefact(scenario.pipeline, root / "model.joblib",
                                       example_input=scenario.X_test.head(5))
    spec = batch.ScoringModel.from_artefact(root / "model.joblib",
                                            expected_sha256=manifest.sha256,
                                            model_version="incident-predictor/1")
    client.run(batch._model_for, spec)  # a long-lived cluster has the model loaded already
    rows = []
    for n_rows in args.sizes:
        src = root / f"in-{n_rows}"
        in_memory = write_scoring_dataset(src, n_rows, args.rows_per_part)
        single = pandas_job(src, root / f"pandas-{n_rows}.parquet", spec)
        sequential = pandas_job(src, root / f"sequential-{n_rows}", spec, _SEQUENTIAL_JOB)
        with batch.track_peak_memory(client) as peaks:
            result = batch.score_parquet(src, root / f"dask-{n_rows}", spec, client=client,
                                         keep=["row_id"])
        workers = {k: v for k, v in peaks.items() if k != "local"}
        assert result.n_rows_written == n_rows
        # Same scores as the single process, row for row.
        a = pq.read_table(root / f"pandas-{n_rows}.parquet").to_pandas()
        b = pq.read_table(root / f"dask-{n_rows}", columns=["row_id", "score"]).to_pandas()
        b = b.sort_values("row_id").reset_index(drop=True)
        same = bool(np.array_equal(a["row_id"], b["row_id"])
                    and np.array_equal(a["score"], b["score"]))
        row = {
            "rows": n_rows, "partitions": result.n_partitions,
            "dataset_bytes_in_memory": in_memory,
            "pandas_seconds": single["seconds"], "pandas_peak_rss": single["peak_rss"],
            "dask_seconds": result.seconds,
            "dask_worker_peak_rss": max(p for _, p in workers.values()),
            "dask_worker_start_rss": max(s for s, _ in workers.values()),
            "throughput_ratio": single["seconds"] / result.seconds,
            "sequential_seconds": sequential["seconds"], "sequential_peak_rss": sequential["peak_rss"],
            # what the second core buys (at most the number of workers on idle cores) ...
            "second_core_ratio": sequential["seconds"] / result.seconds,
            # ... and what partitioning alone buys, in one process
            "partitioning_ratio": single["seconds"] / sequential["seconds"],
            "identical_scores": same,
        }
        rows.append(row)
        print(f"scoring {n_rows:>11,} rows ({in_memory / 2**20:7.0f} MiB in memory): "
              f"pandas {single['seconds']:6.1f} s, peak {single['peak_rss'] / 2**20:6.0f} MiB | "
              f"dask {result.seconds:6.1f} s, worker peak {row['dask_worker_peak_rss'] / 2**20:5.0f} "
              f"MiB (limit {limit / 2**20:.0f}) | ratio {row['throughput_ratio']:.2f}, of which "
              f"second core {row['second_core_ratio']:.2f}, partitioning {row['partitioning_ratio']:.2f} | "
              f"identical scores: {same}", flush=True)
        for path in [src, root / f"dask-{n_rows}", root / f"pandas-{n_rows}.parquet",
                     root / f"sequential-{n_rows}"]:
            subprocess.run(["rm", "-rf", str(path)], check=True)
    last = rows[-1]
    return {
        "memory_limit_per_worker": limit, "rows": rows,
        "targets": {
            "throughput_ratio_at_largest": {"value": last["throughput_ratio"], "target": ">= 1.6",
                                            "met": last["throughput_ratio"] >= 1.6},
            "worker_peak_below_limit": {"value": last["dask_worker_peak_rss"], "limit": limit,
                                        "met": last["dask_worker_peak_rss"] < limit},
            "dataset_larger_than_limit": {"value": last["dataset_bytes_in_memory"],
                                          "met": last["dataset_bytes_in_memory"] > limit},
            "identical_scores": {"met": all(r["identical_scores"] for r in rows)},
        },
    }


def bench_drift(args, root: Path, client) -> dict:
    import dask.dataframe as dd

    n_features, n_cur, n_ref = args.drift_features, args.drift_rows, args.drift_reference
    names = [f"f{j:02d}" for j in range(n_features)]
    gen = np.random.default_rng(0)

    def column(j, n, shift):
        kind = j % 4
        if kind == 0:
            return gen.normal(shift, 1, n)
        if kind == 1:
            return gen.exponential(1 + shift, n)
        if kind == 2:
            return gen.lognormal(4 + shift, 0.8, n)
        return np.round(gen.normal(shift, 1, n), 2)  # heavy ties

    reference = pd.DataFrame({f: column(j, n_ref, 0.0) for j, f in enumerate(names)})
    current = pd.DataFrame({f: column(j, n_cur, 0.01 if j in (1, 7, 13) else 0.0)
                            for j, f in enumerate(names)})
    folder = root / "drift"
    folder.mkdir()
    step = -(-n_cur // args.drift_partitions)
    for i, start in enumerate(range(0, n_cur, step)):
        pq.write_table(pa.Table.from_pandas(current.iloc[start:start + step],
                                            preserve_index=False),
                       folder / f"part-{i:05d}.parquet")
    fitted = drift.DriftReference.fit(reference)
    # Warm up: a long-lived cluster has imported scipy and the package already.
    fitted.test(dd.from_pandas(current.head(1000), npartitions=2), warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drift.DriftWarning)
        t0 = time.perf_counter()
        in_memory = drift.detect_drift(fitted, current, correction=None, warn=False)
        t_memory = time.perf_counter() - t0
        t0 = time.perf_counter()
        partitioned = fitted.test(dd.read_parquet(folder), correction=None, warn=False)
        t_dask = time.perf_counter() - t0
    d_scipy, p_scipy = [], []
    for f in names:
        res = stats.ks_2samp(reference[f].to_numpy(), current[f].to_numpy())
        d_scipy.append(res.statistic)
        p_scipy.append(res.pvalue)
    identical = bool(np.array_equal(partitioned["statistic"].to_numpy(), np.array(d_scipy)))
    max_dp = float(np.max(np.abs(partitioned["pvalue"].to_numpy() - np.array(p_scipy))))
    same_as_memory = bool(partitioned.equals(in_memory))
    ratio = t_dask / t_memory
    print(f"drift {n_cur:,} x {n_features} against a fitted reference of {n_ref:,}: "
          f"in memory {t_memory:.1f} s, dask {t_dask:.1f} s, ratio {ratio:.2f} (target <= 1.5); "
          f"statistics identical to scipy: {identical}; max |p - p_scipy| = {max_dp:.1e}; "
          f"table identical to in-memory: {same_as_memory}", flush=True)
    return {
        "rows": n_cur, "features": n_features, "reference_rows": n_ref,
        "partitions": args.drift_partitions,
        "in_memory_seconds": t_memory, "dask_seconds": t_dask, "time_ratio": ratio,
        "statistics_identical_to_scipy": identical, "max_abs_pvalue_difference": max_dp,
        "table_identical_to_in_memory": same_as_memory,
        "targets": {"time_ratio": {"value": ratio, "target": "<= 1.5", "met": ratio <= 1.5},
                    "identical": {"met": identical and max_dp <= 1e-9}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--rows-per-part", type=int, default=250_000)
    parser.add_argument("--memory-limit", default="640MiB")
    parser.add_argument("--drift-rows", type=int, default=10_000_000)
    parser.add_argument("--drift-features", type=int, default=20)
    parser.add_argument("--drift-reference", type=int, default=100_000)
    parser.add_argument("--drift-partitions", type=int, default=20)
    parser.add_argument("--skip", choices=["scoring", "drift"], nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from dask.utils import parse_bytes
    from distributed import Client, LocalCluster

    limit = parse_bytes(args.memory_limit)
    start = provenance()
    results = {
        "script": Path(__file__).name, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "measured_at": start["measured_at"], "machine": start["machine"],
        "load_average_at_start": start["load_average"],
        "workers": 2, "threads_per_worker": 1,
    }
    started = time.perf_counter()
    loopback = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None,
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    with tempfile.TemporaryDirectory() as tmp:
        if "scoring" not in args.skip:
            # Scoring: workers with a memory limit smaller than the dataset.
            with LocalCluster(memory_limit=limit, **loopback) as cluster, Client(cluster) as client:
                results["scoring"] = bench_scoring(args, Path(tmp), client, limit)
        if "drift" not in args.skip:
            # Drift: the workers' default memory limit (a share of the machine's memory).
            with LocalCluster(**loopback) as cluster, Client(cluster) as client:
                results["drift"] = bench_drift(args, Path(tmp), client)
    results["load_average_at_end"] = os.getloadavg()
    results["total_seconds"] = time.perf_counter() - started
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
