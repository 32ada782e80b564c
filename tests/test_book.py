"""The real book: static checks in both profiles, and every chapter and appendix executed.

The chapters are executed once per test session, in parallel (one fresh kernel each), and
each listed file gets its own test, so ``make test`` names the chapter that broke, with the
file, line and exception. A file listed in ``_quarto.yml`` that does not exist fails its
test with a clear message rather than being skipped.

Execution goes through the book's execution cache (``.jupyter_cache/``, shared with
``make book`` and the preview): a chapter whose inputs (its text, includes, the files it
reads, the package, ``_common.py``, the installed dependencies) are unchanged since it last
executed successfully is not executed again; anything else is.
"""
from __future__ import annotations

import pytest

from booktools import cache, checks, execute, qmd
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
                                   progress=None, cache=cache.ExecutionCache(ROOT))
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
                                         progress=None, cache=cache.ExecutionCache(ROOT))
    detail = "" if result.ok else f"\n{result.error}\n{result.error.traceback}"
    assert result.status == "ok", f"{entry.path} failed to execute:{detail}"


def test_real_book_has_no_render_list_and_instructor_adds_only_the_solutions():
    # Quarto ignores project.render in a book: chapters and appendices decide what renders.
    for profile in (None, "instructor"):
        assert "render" not in qmd.read_project(ROOT, profile)["project"]
    default = [e.path for e in qmd.book_entries(ROOT, None)]
    instructor = [e.path for e in qmd.book_entries(ROOT, "instructor")]
    assert instructor == default + ["appendices/solutions.qmd"]
