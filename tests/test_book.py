"""The real book: static checks in both profiles, and every chapter and appendix executed.

The chapters are executed once per test session, in parallel (one fresh kernel each), and
each listed file gets its own test, so ``make test`` names the chapter that broke, with the
file, line and exception. A file listed in ``_quarto.yml`` that does not exist fails its
test with a clear message rather than being skipped.
"""
from __future__ import annotations

import pytest

from booktools import checks, execute, qmd
from conftest import ROOT

# Every chapter and appendix of either edition (the instructor profile adds to the default).
ENTRIES = qmd.book_entries(ROOT, "instructor")
QMD_ENTRIES = [e for e in ENTRIES if e.path.endswith(".qmd")]


@pytest.mark.parametrize("profile", [None, "instructor"], ids=["default", "instructor"])
def test_book_checks(profile):
    problems = checks.check_book(ROOT, profile)
    assert not problems, "book checks failed:\n" + "\n".join(map(str, problems))


@pytest.fixture(scope="session")
def executed_book():
    """Execute every existing chapter and appendix once, in parallel; path -> result."""
    paths = [ROOT / e.path for e in QMD_ENTRIES if (ROOT / e.path).is_file()]
    results = execute.execute_book(paths, project_root=ROOT, profile="instructor",
                                   progress=None)
    return {r.path: r for r in results}


@pytest.mark.slow
@pytest.mark.parametrize("entry", QMD_ENTRIES, ids=[e.path for e in QMD_ENTRIES])
def test_chapter_executes(entry, executed_book):
    path = ROOT / entry.path
    listed_at = f"{entry.origin.file.name}:{entry.origin.line}"
    assert path.is_file(), (f"{entry.path} is listed at {listed_at} but does not exist "
                            "(not written yet?)")
    result = executed_book.get(path)
    if result is None:  # appeared after the session started
        (result,) = execute.execute_book([path], project_root=ROOT, profile="instructor",
                                         progress=None)
    detail = "" if result.ok else f"\n{result.error}\n{result.error.traceback}"
    assert result.status == "ok", f"{entry.path} failed to execute:{detail}"


def test_real_book_renders_only_its_own_files():
    # Without project.render, Quarto would publish README and the solution notebooks too.
    for profile in (None, "instructor"):
        config = qmd.read_project(ROOT, profile)
        render = set(config["project"]["render"])
        entries = {e.path for e in qmd.book_entries(ROOT, profile, config)}
        assert render == entries, (profile, render ^ entries)
    assert "appendices/solutions.qmd" not in qmd.read_project(ROOT, None)["project"]["render"]
