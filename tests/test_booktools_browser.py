"""The Quarto-free preview in a real browser: headless Chromium from Debian's packages.

The preview is built only where no Quarto can be had; these tests build it for a small book
made to be awkward (a 30-column DataFrame, a long pipe table, a long code line, display
maths, a long URL) and check it as readers would see it: at desktop (1366 px) and phone
(390 px) widths no page scrolls sideways and no image is wider than its text column, its
search box finds a term, and every internal link and image resolves. The same measurements
run on the real book as Quarto renders it in ``test_book.py`` (helpers: ``browser.py``).

Chromium is installed by the test set-up (`make test` -> `make browser`); where it cannot be
(no apt, not root), these tests are skipped with that reason.
"""
from __future__ import annotations

import re
import shutil

import pytest

from booktools import execute, preview, qmd
from booktools.quarto import broken_links
from browser import WIDTHS, assert_no_overflow, measure_pages, page_info, search_results
from conftest import ROOT, write_book

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- a small book

WIDE_COLUMNS = ", ".join(f'"column_{k:02d}": [{k}.5, {k}.25]' for k in range(30))
FILES = {
    "index.qmd": """\
        # Preface {.unnumbered}

        Start with @sec-wide. A long address: https://example.org/a/very/long/path/that/does/not/break/anywhere/at/all/because/it/has/no/spaces/in/it/whatsoever.
        """,
    "chapters/01-wide.qmd": f"""\
        ---
        jupyter: python3
        ---
        # Wide things {{#sec-wide}}

        ```{{python}}
        #| include: false
        %run _common.py
        ```

        ## A wide DataFrame {{#sec-frame}}

        ```{{python}}
        import pandas as pd
        pd.DataFrame({{{WIDE_COLUMNS}}})
        ```

        ## A long pipe table {{#sec-pipe}}

        | Name | What it is for, in a sentence long enough to need wrapping on a phone screen | Value |
        |------|------|------:|
        | alpha | The first entry of a table whose middle column carries prose | 1.5 |
        | beta_with_a_long_unbroken_identifier_name | Another row | 22.25 |

        ## Code and maths {{#sec-code}}

        ```{{python}}
        very_long_name = "x" * 10; another_long_name = [very_long_name] * 3; print(len(another_long_name), "items, and a comment that keeps going")
        ```

        $$
        \\hat{{p}} = \\frac{{\\sum_{{i=1}}^{{n}} y_i + z^2/2}}{{n + z^2}} \\pm \\frac{{z}}{{n + z^2}}\\sqrt{{\\frac{{\\sum_i y_i (n - \\sum_i y_i)}}{{n}} + \\frac{{z^2}}{{4}}}}
        $$
        """,
    "chapters/02-search.qmd": """\
        ---
        jupyter: python3
        ---
        # Searching {#sec-searching}

        ## Airships {#sec-airships}

        A zeppelin is a rigid airship; see @sec-frame for a wide table.
        """,
}
CONFIG = """\
    project:
      type: book
    book:
      title: "Browser test"
      chapters: [index.qmd, chapters/01-wide.qmd, chapters/02-search.qmd]
      page-footer:
        left: "Text [CC BY-NC-SA 4.0](https://creativecommons.org/licenses/by-nc-sa/4.0/)"
        right: "Footer right side"
    """


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    root = write_book(tmp_path_factory.mktemp("browser"), FILES, config=CONFIG)
    # the book's own hidden set-up, with its display options (DataFrames without a
    # default index)
    shutil.copy(ROOT / "chapters" / "_common.py", root / "chapters" / "_common.py")
    paths = [root / e.path for e in qmd.book_entries(root)]
    results = execute.execute_book(paths, project_root=root, progress=None)
    assert all(r.ok for r in results), [str(r.error) for r in results]
    return preview.build_site(root, results)


def test_small_book_pages_never_scroll_sideways(chromium, small_site, tmp_path):
    pages = sorted(small_site.rglob("*.html"))
    assert len(pages) == 3
    assert_no_overflow(chromium, small_site, tmp_path, pages)


def test_the_measurement_sees_a_page_that_scrolls_sideways(chromium, tmp_path):
    # the check above can fail: a fixed 900 px block overflows a phone, not a desktop
    site = tmp_path / "site"
    site.mkdir()
    for name, width in (("wide.html", 900), ("narrow.html", 300)):
        (site / name).write_text(f'<!doctype html><html><head><meta name="viewport" '
                                 f'content="width=device-width"></head><body style="margin:0">'
                                 f'<div style="width:{width}px">x</div></body></html>')
    pages = sorted(site.glob("*.html"))
    measured = measure_pages(chromium, site, tmp_path, pages)
    phone, desktop = measured["phone"], measured["desktop"]
    assert phone[site / "wide.html"]["overflow"] == 900 - WIDTHS["phone"][0]
    assert phone[site / "narrow.html"]["overflow"] == 0
    assert desktop[site / "wide.html"]["overflow"] == 0
    with pytest.raises(AssertionError, match=r"phone 390px wide.html: 510 px sideways"):
        assert_no_overflow(chromium, site, tmp_path / "again", pages)


def test_small_book_reader_comforts(small_site):
    page = (small_site / "chapters" / "01-wide.html").read_text(encoding="utf-8")
    assert "cdn" not in page.lower() and "mathjax" not in page.lower()
    assert "<math" in page  # MathML from pandoc
    assert '<div class="table-wrap">' in page
    assert re.search(r'<td class="num">0\.5+0*</td>', page)  # numbers right, text left
    assert re.search(r"<td>alpha</td>", page)
    assert '<a href="#sec-pipe">' in page and 'class="page-toc"' in page
    assert "Footer right side" in page and 'href="https://creativecommons.org' in page
    assert "<th></th>" not in page and "<th>0</th>" not in page  # no empty index header


def test_small_book_search_finds_a_term(chromium, small_site, tmp_path):
    hrefs = search_results(chromium, small_site, "zeppelin", tmp_path)
    assert hrefs and hrefs[0].endswith("chapters/02-search.html#sec-airships"), hrefs
    index = small_site / "index.html"
    assert broken_links(small_site, index, hrefs) == []
    assert search_results(chromium, small_site, "nonexistentword", tmp_path) == []


def test_small_book_internal_links_resolve(small_site):
    for page in small_site.rglob("*.html"):
        assert broken_links(small_site, page, page_info(page).links) == [], page
