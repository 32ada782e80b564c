"""The real book: static checks in both profiles, and every chapter and appendix rendered.

Real Quarto renders both editions once per test session (the ``rendered_book`` fixture in
``conftest.py``; each chapter executes once, through Quarto's freeze, kept in step with the
book's own chapter keys by :mod:`booktools.quarto`), and each listed file gets its own test,
so ``make test`` names the chapter that broke: its page exists, it was executed from the
current state, and every figure and table labelled in its source has its number and
caption on the page. A Quarto warning, an unresolved cross-reference or raw source on any
page fails the fixture, with Quarto's log. Then the site in headless Chromium (helpers in
``browser.py``): at desktop (1366 px) and phone (390 px) widths no page scrolls sideways and
no image is wider than its text column; Quarto's own search box, typed into, lists the
chapter a term comes from; the instructor edition's solution links resolve and the student
edition has none.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from booktools import checks, qmd, quarto
from booktools.quarto import broken_links
from browser import assert_no_overflow, page_info, quarto_search
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


# In the browser (headless Chromium, `browser.py`): what readers get, at desktop and phone
# widths, with Quarto's own search.

@pytest.mark.slow
def test_real_book_in_the_browser(chromium, rendered_book, tmp_path):
    site = rendered_book[None]
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == len(qmd.book_entries(ROOT))
    assert_no_overflow(chromium, site, tmp_path, pages)


@pytest.mark.slow
def test_real_book_search_finds_a_chapter_term(chromium, rendered_book, tmp_path):
    site = rendered_book[None]
    found = quarto_search(chromium, site, ["canary", "zqxjkvw"], tmp_path)
    hrefs = found["canary"]
    pages = {urlsplit(h).path.lstrip("./") for h in hrefs}
    assert "chapters/05-safe-deployment.html" in pages, hrefs
    assert broken_links(site, site / "index.html", hrefs) == []
    assert found["zqxjkvw"] == []


@pytest.mark.slow
def test_instructor_edition_solution_links_resolve(rendered_book):
    site = rendered_book["instructor"]
    links = [(page, link) for page in site.rglob("*.html") for link in page_info(page).links
             if "#sol-" in link]
    assert links, "the instructor edition links to no solution"
    broken = [f"{p.relative_to(site)}: {link}" for p, link in links
              if broken_links(site, p, [link])]
    assert not broken, broken
    student = rendered_book[None]
    assert not [link for page in student.rglob("*.html") for link in page_info(page).links
                if "#sol-" in link or "solutions.html" in link]
