"""How much parallel execution saves: the whole book serially, then on every core.

Executes every chapter and appendix of the instructor edition (the superset) twice with
:func:`booktools.execute.execute_book`: once with one worker (one kernel at a time), once
with ``os.cpu_count()`` workers, and prints both wall times and their ratio. Each chapter
still gets its own fresh kernel in both runs, so the work done is the same.

Usage: ``.venv/bin/python benchmarks/bench_build.py [--profile instructor|default]``
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from booktools import execute, qmd  # noqa: E402


def run(paths: list[Path], jobs: int, profile: str | None) -> tuple[float, int]:
    start = time.perf_counter()
    results = execute.execute_book(paths, project_root=ROOT, profile=profile, jobs=jobs,
                                   progress=None)
    failed = sum(not r.ok for r in results)
    for result in results:
        if not result.ok:
            print(f"  failed: {result.error}")
    return time.perf_counter() - start, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="instructor")
    args = parser.parse_args()
    profile = None if args.profile == "default" else args.profile
    paths = [ROOT / e.path for e in qmd.book_entries(ROOT, profile)
             if e.path.endswith(".qmd") and (ROOT / e.path).is_file()]
    cores = os.cpu_count() or 1
    print(f"{len(paths)} files ({args.profile} profile), {cores} cores")
    serial, failed_serial = run(paths, 1, profile)
    print(f"serial   (1 job):   {serial:6.1f} s")
    parallel, failed_parallel = run(paths, cores, profile)
    print(f"parallel ({cores} jobs):  {parallel:6.1f} s")
    print(f"speed-up serial/parallel: {serial / parallel:.2f}x")
    return 1 if failed_serial or failed_parallel else 0


if __name__ == "__main__":
    sys.exit(main())
