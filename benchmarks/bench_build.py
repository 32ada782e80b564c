"""What the execution cache saves: a full build, a re-run, and a re-run after one edit.

On a scratch copy of the book (so neither the checkout nor its ``.jupyter_cache/`` is
touched), runs ``python -m booktools build`` three times, exactly as ``make book`` does:

1. cold: an empty cache, every chapter executes (the baseline);
2. re-run with nothing changed: every chapter comes from the cache (target: <= 0.1 of 1);
3. one chapter changed (a sentence appended): that chapter alone executes again.

Prints the wall time of each, the ratios to the cold build, and how many chapters each
executed (from the build's own summary line). Exit status 1 if a build fails or a run
executes other chapters than it should.

Usage: ``.venv/bin/python benchmarks/bench_build.py [--chapter chapters/03-patterns.qmd]``
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPY = ["_quarto.yml", "_quarto-instructor.yml", "index.qmd", "chapters", "appendices",
        "exercises", "mlops_companion", "benchmarks"]  # 04-serving reads benchmarks/*.json
SUMMARY = re.compile(r"(\d+) file\(s\) in [\d.]+ s: (\d+) executed, (\d+) unchanged \(cached\), "
                     r"(\d+) failed")


def scratch_copy(target: Path) -> Path:
    for name in COPY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_book*"))
        elif source.is_file():
            shutil.copy2(source, target / name)
    return target


def build(root: Path) -> tuple[float, int, int]:
    """Seconds, chapters executed, chapters from the cache, for one `booktools build`."""
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "booktools", "build", "--root", str(root)],
                         cwd=root, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    match = SUMMARY.search(run.stdout)
    if run.returncode != 0 or match is None:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
        raise SystemExit(f"the build failed (exit {run.returncode})")
    return seconds, int(match.group(2)), int(match.group(3))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapter", default="chapters/03-patterns.qmd",
                        help="the chapter changed in the third run")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        root = scratch_copy(Path(tmp))
        cold, n_cold, _ = build(root)
        print(f"1. full build, cold cache:        {cold:6.1f} s  ({n_cold} executed)")
        warm, n_warm, c_warm = build(root)
        print(f"2. re-run, nothing changed:       {warm:6.1f} s  ({n_warm} executed, "
              f"{c_warm} from the cache)")
        chapter = root / args.chapter
        chapter.write_text(chapter.read_text(encoding="utf-8")
                           + "\nOne more sentence, to change the chapter.\n", encoding="utf-8")
        one, n_one, c_one = build(root)
        print(f"3. {args.chapter} changed: {one:6.1f} s  ({n_one} executed, "
              f"{c_one} from the cache)")
        print(f"re-run / full build:              {warm / cold:.3f}  (target <= 0.1)")
        print(f"one chapter changed / full build: {one / cold:.3f}")
        ok = n_warm == 0 and n_one == 1 and c_one == n_cold - 1
    if not ok:
        print("FAILED: a run executed other chapters than it should have")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
