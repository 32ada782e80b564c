"""Kernel start and shutdown as the executor does them, against plain nbclient, in one run.

Every chapter the book executes (in ``make book`` and again in ``make test``'s small books)
costs one kernel start and one shutdown. This starts ``--kernels`` kernels one after the
other in each of three ways, in turn, so that all see the same machine:

1. nbclient: ``nbclient.NotebookClient`` with jupyter_client's defaults (for reference);
2. baseline: ``booktools.execute``'s kernel (Unix sockets in a private folder where the OS
   has them, no IPython history) without :data:`booktools.execute.EXIT_ORDER`;
3. executor: the same kernel with it, as the executor starts every chapter's kernel.

For each it runs one cell, then shuts the kernel down, and prints the median and worst
start and shutdown times, how many shutdowns took longer than a second, and the ratio of
the executor's total (start + shutdown) to the baseline's.

Usage: ``.venv/bin/python benchmarks/bench_kernels.py [--kernels 20]``
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from booktools import execute  # noqa: E402


def plain_nbclient(cwd: Path) -> tuple[float, float]:
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=60,
                                     resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    context = client.setup_kernel(stderr=subprocess.DEVNULL)  # its plain-TCP warning
    context.__enter__()
    started = time.perf_counter() - start
    client.execute_cell(nb.cells[0], 0)
    stop = time.perf_counter()
    context.__exit__(None, None, None)
    return started, time.perf_counter() - stop


def executor(cwd: Path, exit_order: bool = True) -> tuple[float, float]:
    start = time.perf_counter()
    kernel = execute._start_kernel(cwd, "python3", 60, execute.KERNEL_STARTUP_TIMEOUT)
    if exit_order:
        execute._silently(kernel, execute.EXIT_ORDER, "the exit order")
    started = time.perf_counter() - start
    kernel.run("print(1)")
    stop = time.perf_counter()
    kernel.close()
    return started, time.perf_counter() - stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=20, help="kernels per way (default 20)")
    args = parser.parse_args()
    if args.kernels < 1:
        parser.error(f"--kernels must be at least 1; got {args.kernels}")
    ways = {"nbclient": plain_nbclient,
            "baseline": lambda cwd: executor(cwd, exit_order=False),
            "executor": executor}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.kernels):
            for name, way in ways.items():
                times[name].append(way(Path(cwd)))
    print(f"{args.kernels} kernels each, one cell each, started and shut down one at a time")
    print(f"{'':10} {'start median':>12} {'start max':>10} {'stop median':>12} "
          f"{'stop max':>9} {'stops > 1 s':>11} {'total':>8}")
    totals = {}
    for name, pairs in times.items():
        starts, stops = [p[0] for p in pairs], [p[1] for p in pairs]
        totals[name] = sum(starts) + sum(stops)
        print(f"{name:10} {statistics.median(starts):11.2f}s {max(starts):9.2f}s "
              f"{statistics.median(stops):11.2f}s {max(stops):8.2f}s "
              f"{sum(s > 1 for s in stops):11d} {totals[name]:7.1f}s")
    print(f"ratio (executor / baseline, start + shutdown): "
          f"{totals['executor'] / totals['baseline']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
