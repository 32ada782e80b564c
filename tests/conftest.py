"""Shared fixtures: small throw-away Quarto books for the booktools tests, and the real book
rendered by real Quarto."""
from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_CONFIG = """\
project:
  type: book
book:
  title: "A test book"
  chapters:
{chapters}
"""


def write_book(root: Path, files: dict[str, str], config: str | None = None) -> Path:
    """Write ``files`` (path -> text, dedented) under ``root``; list every chapters/*.qmd
    in a generated ``_quarto.yml`` unless ``config`` is given."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    if config is None:
        listed = [rel for rel in files if rel.endswith(".qmd") and not Path(rel).name.startswith("_")
                  and "/_" not in rel]
        config = DEFAULT_CONFIG.format(chapters="\n".join(f"    - {rel}" for rel in listed))
    (root / "_quarto.yml").write_text(textwrap.dedent(config).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_book(tmp_path):
    """``make_book(files, config=None) -> root``: a book in a fresh temporary folder."""
    counter = iter(range(1000))

    def make(files: dict[str, str], config: str | None = None) -> Path:
        return write_book(tmp_path / f"book{next(counter)}", files, config)

    return make


@pytest.fixture(scope="session")
def quarto_cli():
    """Path of the Quarto CLI; its absence fails (`make setup` installs it), never skips."""
    from booktools.quarto import find_quarto

    found = find_quarto()
    if found is None:
        pytest.fail("Quarto is not installed: `make setup` installs it (`make quarto`)")
    return found


@pytest.fixture(scope="session")
def rendered_book(quarto_cli):
    """Both editions of the real book as Quarto renders them: {None: _book, "instructor":
    _book-instructor}. Renders what changed (each chapter executes once, through Quarto's
    freeze), or finds a site rendered and verified from the same inputs; a Quarto warning or
    a problem on a page fails here, with Quarto's log."""
    from booktools import qmd, quarto

    profiles = [None, "instructor"]
    code = quarto.build_editions(ROOT, profiles, quarto=quarto_cli, echo=False)
    assert code == 0, (f"rendering the book failed (exit {code}); see the captured output above")
    return {profile: ROOT / qmd.read_project(ROOT, profile)["project"].get("output-dir", "_book")
            for profile in profiles}


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium (`make browser` installs it); installed here if missing and possible,
    else the browser tests skip with that reason."""
    import shutil
    import subprocess

    import browser

    found = next((shutil.which(b) for b in browser.BROWSERS if shutil.which(b)), None)
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       capture_output=True, timeout=900)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("no Chromium: `make browser` installs it (needs apt-get and root)")
    return found


# -- Parallel runs (`make test` runs pytest-xdist with `--dist loadscope`) --------------------
# Each test module runs whole on one worker, so its module-scoped fixtures (a server, a Dask
# cluster, an MLflow registry) start once. Modules that share state outside tmp_path may form
# one unit here. Every test that reads the rendered book is in test_book.py, so they follow
# the render on the worker that did it; a test of the rendered book in another module would
# hold its worker idle, waiting on the build's file lock, for as long as the render takes.
SHARED_UNITS: dict[str, str] = {}
# Longest units first (measured with `pytest --durations`), so that a long one does not start
# last and leave the other worker idle; this order changes how long a run takes, never what it
# tests. Units not listed follow in collection order.
LONGEST_FIRST = [
    "tests/test_book.py",
    "tests/test_registry.py",
    "tests/test_production.py",
    "tests/test_batch.py",
    "tests/test_booktools_launch.py",
    "tests/test_booktools_cache.py",
    "tests/test_notebooks.py",
    "tests/test_booktools_execute.py",
    "tests/test_serving.py",
    "tests/test_artefacts.py",
    "tests/test_drift.py",
]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_UNITS.get(module, module)

        def _assign_work_unit(self, node) -> None:
            rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
            scope = min(self.workqueue, key=lambda unit: rank.get(unit, len(rank)))
            self.workqueue.move_to_end(scope, last=False)  # the base class pops the first
            super()._assign_work_unit(node)

    return BookScheduling(config, log)


# -- Where a run's time goes --------------------------------------------------------------------
# `make test PYTEST_ARGS=...` with TEST_TIMELINE=FILE set appends one line per test phase:
# worker, start and end (seconds since the epoch), CPU seconds (the worker's and its finished
# children's) and the test's id, so that a run's
# critical path can be read afterwards (which unit ran when, on which worker, beside what).
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    timeline = os.environ.get("TEST_TIMELINE")
    if not timeline:
        return (yield)
    import resource

    def cpu() -> float:  # this process's and its finished children's CPU seconds
        own, kids = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                           resource.RUSAGE_CHILDREN))
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    start, cpu_start = time.time(), cpu()
    try:
        return (yield)
    finally:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(timeline, "a", encoding="utf-8") as out:
            out.write(f"{worker}\t{start:.2f}\t{time.time():.2f}\t{cpu() - cpu_start:.2f}\t"
                      f"{item.nodeid}\n")
