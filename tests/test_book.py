"""The real book: static checks in both profiles, and every chapter and appendix rendered.

Real Quarto renders both editions once per test session (the ``rendered_book`` fixture in
``conftest.py``; each chapter executes once, through Quarto's freeze, kept in step with the
book's own chapter keys by :mod:`booktools.quarto`), and each listed file gets its own test,
so ``make test`` names the chapter that broke: its page exists, it was executed from the
current state, and every figure and table labelled in its source has its number and
caption on the page. A Quarto warning, an unresolved cross-reference or raw source on any
page fails the fixture, with Quarto's log.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from booktools import checks, qmd, quarto
from conftest import ROOT

# Every chapter and appendix of either edition (the instructor profile adds to the default).
ENTRIES = qmd.book_entries(ROOT, "instructor")
QMD_ENTRIES = [e for e in ENTRIES if e.path.endswith(".qmd")]
DEFAULT = {e.path for e in qmd.book_entries(ROOT, None)}


@pytest.mark.parametrize("profile", [None, "instructor"], ids=["default", "instructor"])
def test_book_checks(profile):
    problems = checks.check_book(ROOT, profile)
    assert not problems, "book checks failed:\n" + "\n".join(map(str, problems))


@pytest.fixture(scope="module")
def keys(rendered_book):
    """The chapters' keys now, and the keys recorded with their frozen results."""
    recorded = json.loads((ROOT / quarto.KEYS_FILE).read_text(encoding="utf-8"))
    return quarto.freeze_keys(ROOT), recorded


@pytest.mark.slow
@pytest.mark.parametrize("entry", QMD_ENTRIES, ids=[e.path for e in QMD_ENTRIES])
def test_chapter_renders(entry, rendered_book, keys):
    path = ROOT / entry.path
    listed_at = f"{entry.origin.file.name}:{entry.origin.line}"
    assert path.is_file(), (f"{entry.path} is listed at {listed_at} but does not exist "
                            "(not written yet?)")
    site = rendered_book[None if entry.path in DEFAULT else "instructor"]
    page = site / Path(entry.path).with_suffix(".html")
    assert page.is_file(), f"{entry.path}: Quarto wrote no {page.relative_to(ROOT)}"
    # executed from the current state: the key recorded with its frozen result is today's
    current, recorded = keys
    assert recorded.get(entry.path) == current[entry.path], \
        f"{entry.path}: the rendered page is not from the current chapter and package"
    # every figure and table of the source is a numbered, captioned float on the page
    labels = {lab.name for lab in qmd.parse_qmd(path, project_root=ROOT).labels()
              if lab.name.startswith(("fig-", "tbl-"))}
    floats = quarto.parse_page(page).floats
    assert labels <= set(floats), f"{entry.path}: lost on the page: {sorted(labels - set(floats))}"


def test_real_book_has_no_render_list_and_instructor_adds_only_the_solutions():
    # Quarto ignores project.render in a book: chapters and appendices decide what renders.
    for profile in (None, "instructor"):
        assert "render" not in qmd.read_project(ROOT, profile)["project"]
    default = [e.path for e in qmd.book_entries(ROOT, None)]
    instructor = [e.path for e in qmd.book_entries(ROOT, "instructor")]
    assert instructor == default + ["appendices/solutions.qmd"]
