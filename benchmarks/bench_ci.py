"""The course CI, `.ci/run`, on fresh clones: the first edition against this one, in one run.

Clones the repository twice into a scratch folder, checks out the baseline (by default the
first edition's last commit, whose `.ci/run` was `make test` then `make book`) and the
candidate (by default HEAD), and runs each clone's own `bash .ci/run` in turn, from nothing:
a new `.venv` (uv's download cache is shared, as `setup-uv` shares it in the course CI),
an empty execution cache, no `_book/`. Prints each run's wall time, the candidate's step
times from its own summary, and the ratio the build issue sets a target for (at most 0.5):
the candidate without its `production` step (container, manifest and Prometheus checks that
the first edition did not have; timed and reported on their own) over the baseline.

Exit status 1 if any run fails. Run it on an otherwise idle machine: it takes the sum
of both runs (about 15 minutes on 2 cores). With ``--pairs N`` it runs N pairs, baseline
and candidate alternating, and prints each pair's ratio and their median: a shared machine
drifts by 10-15% within an hour, and a pair run back to back sees the same machine.

Usage: ``python benchmarks/bench_ci.py [--baseline REV] [--candidate REV] [--pairs N]``
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_EDITION = "21c4674"  # the state the build issue measured ("today's time")
# The last commit before the book was rendered with real Quarto in CI; with
# `--baseline 317181e`, "ratio in all" is the one the real-render issue bounds (<= 1.25).
BEFORE_REAL_RENDER = "317181e"
STEP = re.compile(r"^(\S+)\s+(ok|FAILED)\s+(\d+) s", re.M)


def run_ci(rev: str, work: Path, name: str) -> tuple[float, dict[str, int], int, str]:
    clone = work / name
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", rev], check=True)
    env = dict(os.environ, CI="true")
    env.pop("VIRTUAL_ENV", None)
    start = time.perf_counter()
    run = subprocess.run(["bash", ".ci/run"], cwd=clone, env=env, capture_output=True,
                         text=True)
    seconds = time.perf_counter() - start
    (work / f"{name}.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    steps = {m.group(1): int(m.group(3)) for m in STEP.finditer(run.stdout)}
    return seconds, steps, run.returncode, run.stdout[-3000:] + run.stderr[-3000:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=FIRST_EDITION)
    parser.add_argument("--candidate", default="HEAD")
    parser.add_argument("--pairs", type=int, default=1, help="pairs of runs (alternating)")
    parser.add_argument("--keep", action="store_true", help="keep the clones and logs")
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error(f"--pairs must be a positive integer; got {args.pairs}")
    revs = {}
    for role in ("baseline", "candidate"):
        revs[role] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short",
                                     getattr(args, role)], check=True, capture_output=True,
                                    text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="bench-ci-"))
    print(f"cores: {os.cpu_count()}, load at start: {os.getloadavg()[0]:.2f}; work: {work}")
    ratios, ratios_all = [], []
    try:
        for pair in range(1, args.pairs + 1):
            results = {}
            for role in ("baseline", "candidate"):
                print(f"== pair {pair}: {role} {revs[role]}: bash .ci/run on a fresh clone ...",
                      flush=True)
                seconds, steps, rc, tail = run_ci(revs[role], work, f"{role}-{pair}")
                results[role] = (seconds, steps)
                detail = ", ".join(f"{k} {v} s" for k, v in steps.items())
                print(f"   exit {rc} in {seconds:.0f} s" + (f" ({detail})" if detail else ""),
                      flush=True)
                if rc != 0:
                    print(tail)
                    return 1
            base, (new, steps) = results["baseline"][0], results["candidate"]
            # A `.ci/run` that runs its production checks beside the test step lists them after
            # it: their time is then inside the test step's, and nothing can be taken off.
            order = list(steps)
            beside = {"production", "test"} <= set(order) and \
                order.index("production") > order.index("test")
            production = 0 if beside else steps.get("production", 0)
            ratios.append((new - production) / base)
            print(f"baseline {base:.0f} s; candidate {new:.0f} s in all, {new - production:.0f} s "
                  f"without the production checks ({production} s"
                  f"{', which ran beside the test step' if beside else ''})")
            print(f"ratio (candidate without production / baseline): {ratios[-1]:.2f}"
                  f"  (target <= 0.5)")
            ratios_all.append(new / base)
            print(f"ratio (candidate in all / baseline): {new / base:.2f}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if len(ratios) > 1:
        print(f"ratios of {len(ratios)} pairs: {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}  (target <= 0.5)")
        print(f"ratios in all of {len(ratios_all)} pairs: "
              f"{', '.join(f'{r:.2f}' for r in ratios_all)}; median "
              f"{statistics.median(ratios_all):.2f}, worst {max(ratios_all):.2f}  (against "
              f"{BEFORE_REAL_RENDER}, the real-render issue's target: <= 1.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
