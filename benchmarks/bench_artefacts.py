"""Artefact formats and prediction latency of the standard pipeline, measured in one run.

Prints two tables, each as ratios against a baseline measured in the same run:

1. size on disk and full load time (hash check + deserialisation + replay) for joblib
   uncompressed (the baseline), joblib compress=3 and skops, via
   ``artefacts.compare_formats``;
2. in-process prediction latency, ``predict_proba`` on one row vs on a batch: p50 and
   p99 per call and the per-row cost of each, with the single-row call as baseline.

With ``--kills N`` (POSIX only) it instead kills a process that saves in a loop N times at
random instants, for this checkout's ``save_artefact`` and for the one at git revision
``--against`` (the baseline), and prints how often the old, the new or *neither* artefact
loaded afterwards, how many stray temporary files the kill left, and the time of one save
relative to the baseline's (the price of the extra renames and fsyncs).

Run from the project's root::

    .venv/bin/python benchmarks/bench_artefacts.py [--repeats 200] [--batch 1000]
    .venv/bin/python benchmarks/bench_artefacts.py --kills 200 [--against main]
"""
from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_companion import data
from mlops_reference import artefacts


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


def _module_at(rev: str):
    """``mlops_reference.artefacts`` as it was at git revision ``rev``, imported under another name."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "-C", str(root), "show", f"{rev}:reference/mlops_reference/artefacts.py"],
                            capture_output=True, text=True, check=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="bench-artefacts-"))
    (folder / "artefacts_baseline.py").write_text(source)
    spec = importlib.util.spec_from_file_location("artefacts_baseline", folder / "artefacts_baseline.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _save_forever(mod, path, models, example, done) -> None:
    i = 0
    while True:
        mod.save_artefact(models[i % 2], path, example_input=example)
        i += 1
        done.value = i


def _loads(mod, path: Path, sha: str) -> bool:
    try:
        mod.load_artefact(path, expected_sha256=sha)
    except (ValueError, FileNotFoundError):  # integrity errors and a missing file or manifest
        return False
    return True


def kill_loop(mod, n_kills: int, rng: np.random.Generator) -> dict:
    """Kill a saving process ``n_kills`` times; count what loads afterwards."""
    s = data.make_scenario()
    other = data.make_scenario(rng=5).pipeline
    example = s.X_test.head(3)
    folder = Path(tempfile.mkdtemp(prefix="bench-kill-"))
    sha_a = mod.save_artefact(s.pipeline, folder / "a.joblib", example_input=example).sha256
    sha_b = mod.save_artefact(other, folder / "b.joblib", example_input=example).sha256
    live = folder / "live"
    live.mkdir()
    path = live / "model.joblib"
    times = []
    for _ in range(5):
        start = time.perf_counter()
        mod.save_artefact(s.pipeline, path, example_input=example)
        times.append(time.perf_counter() - start)
    one_save = float(np.median(times))
    ctx = multiprocessing.get_context("fork")
    counts = {"kills": 0, "old": 0, "new": 0, "neither": 0, "stray_files": 0, "save_ms": 1000 * one_save}
    for _ in range(n_kills):
        done = ctx.Value("i", 0, lock=False)
        proc = ctx.Process(target=_save_forever, args=(mod, str(path), (other, s.pipeline), example, done))
        proc.start()
        time.sleep(rng.uniform(0.0, 4 * one_save))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        counts["kills"] += 1
        old, new = (sha_a, sha_b) if done.value % 2 == 0 else (sha_b, sha_a)
        if _loads(mod, path, old):
            counts["old"] += 1
        elif _loads(mod, path, new):
            counts["new"] += 1
        else:
            counts["neither"] += 1
        counts["stray_files"] += sum(p.name.endswith((".tmp", ".pending")) for p in live.iterdir())
        for p in live.iterdir():  # start the next round from a clean, known state (old = A)
            p.unlink()
        mod.save_artefact(s.pipeline, path, example_input=example)
    return counts


def main_kills(n_kills: int, against: str) -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    rows = [{"version": f"baseline ({against})", **kill_loop(_module_at(against), n_kills, rng)},
            {"version": "this checkout", **kill_loop(artefacts, n_kills, rng)}]
    table = pd.DataFrame(rows)
    table["save_ratio"] = table["save_ms"] / table.loc[0, "save_ms"]
    print(f"SIGKILL at random instants during save_artefact ({n_kills} kills each)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="calls timed per batch size")
    parser.add_argument("--batch", type=int, default=1000, help="rows in the batch call")
    parser.add_argument("--loads", type=int, default=5, help="loads timed per format")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds at most per batch size")
    parser.add_argument("--kills", type=int, default=0, help="run the SIGKILL loop this many times instead")
    parser.add_argument("--against", default="main", help="git revision of the baseline for --kills")
    args = parser.parse_args(argv)
    if args.kills:
        return main_kills(args.kills, args.against)

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
