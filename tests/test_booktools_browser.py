"""The sites in a real browser: headless Chromium from Debian's packages.

The book as Quarto renders it (what readers get): at desktop (1366 px) and phone (390 px)
widths no page scrolls sideways and no image is wider than its text column; Quarto's own
search box, typed into, lists the chapter a term comes from; the instructor edition's
solution links resolve and the student edition has none. The Quarto-free preview (built
only where no Quarto can be had), on a small book built to be awkward (a 30-column
DataFrame, a long pipe table, a long code line, display maths, a long URL): the same widths,
its search box, and every internal link and image.

Chromium is installed by the test set-up (`make test` -> `make browser`); where it cannot be
(no apt, not root), these tests are skipped with that reason.
"""
from __future__ import annotations

import contextlib
import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import textwrap
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from booktools import execute, preview, qmd, quarto
from booktools.quarto import broken_links
from conftest import ROOT, write_book

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
MEASURE = textwrap.dedent("""
    <script>
    (function () {
      function measure() {
        var d = document.documentElement, wide = [];
        function scrolled(e) {  // inside a box that scrolls or clips its own overflow
          for (var a = e.parentElement; a && a !== document.body; a = a.parentElement) {
            if (getComputedStyle(a).overflowX !== "visible") { return true; }
          }
          return false;
        }
        document.querySelectorAll("body *").forEach(function (e) {
          var r = e.getBoundingClientRect();
          if (r.right > d.clientWidth + 1 && wide.length < 5 && !scrolled(e)) {
            wide.push(e.tagName + "." + e.className + (e.id ? "#" + e.id : "")
                      + (e.children.length ? "" : " '" + e.textContent.slice(0, 40) + "'"));
          }
        });
        var overflow = d.scrollWidth - d.clientWidth;
        // an image wider than the text column it sits in is cut off or spills out of it
        var main = document.querySelector("main") || document.body, clipped = [];
        var column = main.getBoundingClientRect();
        main.querySelectorAll("img").forEach(function (img) {
          var r = img.getBoundingClientRect();
          if (r.width > 0 && (r.right > column.right + 1 || r.left < column.left - 1)
              && clipped.length < 5) {
            clipped.push((img.getAttribute("src") || "").split("/").pop() + " "
                         + Math.round(r.width) + "px in " + Math.round(column.width) + "px");
          }
        });
        document.body.setAttribute("data-overflow", String(overflow));
        document.body.setAttribute("data-wide", wide.join(" "));
        if (window.parent !== window) {  // measured inside the harness: report to it
          window.parent.postMessage({page: location.href, overflow: overflow,
                                     wide: wide.join(" "), clipped: clipped.join(", "),
                                     loaded: document.readyState}, "*");
        }
      }
      measure();
      window.addEventListener("load", measure);
    })();
    </script>
    </body>""")
# One browser run measures every page at every width: each page is loaded in an <iframe> of
# each width (its media queries and layout see the frame as their viewport, as on a device of
# that width) and posts its measurement to the harness, which lists them in its own DOM. The
# frame's URL carries its width (?width=390), so that the reports of one page stay apart.
HARNESS = textwrap.dedent("""
    <!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">
    <pre id="results">{{}}</pre>
    <script>
    var frames = {frames}, out = {{}};
    window.addEventListener("message", function (e) {{
      out[e.data.page] = e.data;
      document.getElementById("results").textContent = JSON.stringify(out);
    }});
    frames.forEach(function (f) {{
      var frame = document.createElement("iframe");
      frame.src = f.src; frame.width = f.width; frame.height = f.height;
      frame.style.border = "0"; frame.style.display = "block";
      document.body.appendChild(frame);
    }});
    </script></body></html>""")


@pytest.fixture(scope="session")
def chromium():
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       capture_output=True, timeout=900)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("no Chromium: `make browser` installs it (needs apt-get and root)")
    return found


def dump_dom(browser: str, url: str, size: tuple[int, int], profile: Path,
             budget: int = 5000) -> str:
    """The page's DOM after load and scripts, at a window of ``size`` CSS pixels."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
               # every host but this machine fails at once: what a page fetches from a CDN
               # (MathJax, fonts) would otherwise hold the page until the connection times out
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
               f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={budget}",
               "--dump-dom", url]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and "<body" in run.stdout, run.stderr[-2000:]
    return run.stdout


def with_measurement(site: Path, copy: Path) -> Path:
    """A copy of ``site`` (at ``copy``) whose pages measure their sideways overflow."""
    shutil.copytree(site, copy)
    for page in copy.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace("</body>", MEASURE, 1), encoding="utf-8")
    return copy


@functools.lru_cache(maxsize=None)
def _parse(path: Path):
    """Links and ids of a page (parsed once: each page is the target of many links)."""
    return quarto.parse_page(path)


def measure_pages(browser: str, site: Path, tmp: Path, pages: list[Path],
                  sizes: dict[str, tuple[int, int]] = WIDTHS) -> dict[str, dict[Path, dict]]:
    """Each page's sideways overflow at each viewport of ``sizes`` (name -> width, height),
    in one browser run: ``{name: {page: report}}``."""
    measured = with_measurement(site, tmp / "measured")
    frames = {(name, page): {"src": (measured / page.relative_to(site)).as_uri()
                             + f"?width={width}", "width": width, "height": height}
              for name, (width, height) in sizes.items() for page in pages}
    harness = measured / "_harness.html"
    harness.write_text(HARNESS.format(frames=json.dumps(list(frames.values()))),
                       encoding="utf-8")
    window = (max(w for w, _ in sizes.values()) + 40, max(h for _, h in sizes.values()))
    dom = dump_dom(browser, harness.as_uri(), window, tmp / "profile",
                   budget=5000 + 1000 * len(frames))
    found = re.search(r'<pre id="results">(.*?)</pre>', dom, re.S)
    assert found, "the harness did not run"
    reports = json.loads(html.unescape(found.group(1)))
    missing = [f"{name} {page.relative_to(site)}" for (name, page), frame in frames.items()
               if frame["src"] not in reports]
    assert not missing, f"no measurement from {missing} (the page's script did not run)"
    out: dict[str, dict[Path, dict]] = {name: {} for name in sizes}
    for (name, page), frame in frames.items():
        out[name][page] = reports[frame["src"]]
    return out


def assert_no_overflow(browser: str, site: Path, tmp: Path, pages: list[Path]) -> None:
    problems = []
    for name, reports in measure_pages(browser, site, tmp, pages).items():
        for page, report in reports.items():
            if report["overflow"] > 0:
                problems.append(f"{name} {WIDTHS[name][0]}px {page.relative_to(site)}: "
                                f"{report['overflow']} px sideways ({report['wide']})")
            if report.get("clipped"):
                problems.append(f"{name} {WIDTHS[name][0]}px {page.relative_to(site)}: "
                                f"image wider than the text column ({report['clipped']})")
    assert not problems, "\n".join(problems)


def search_results(browser: str, site: Path, term: str, tmp: Path) -> list[str]:
    dom = dump_dom(browser, (site / "index.html").as_uri() + f"?q={term}", WIDTHS["phone"],
                   tmp / "profile")
    block = re.search(r'<ol id="search-results"[^>]*>(.*?)</ol>', dom, re.S)
    assert block, "no search results list in the page"
    return re.findall(r'<a href="([^"]+)"', block.group(1))


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
        assert broken_links(small_site, page, _parse(page).links) == [], page


# --------------------------------------------------------------------------- the real book
# What readers get: the site real Quarto rendered (the `rendered_book` fixture in conftest.py
# renders both editions, or finds them rendered and verified from the same inputs).

SEARCH = textwrap.dedent("""
    <script>
    window.addEventListener("load", function () {
      var terms = %s, found = {};
      function next(i) {  // type each term in turn, read what the search panel lists
        if (i === terms.length) {
          var pre = document.createElement("pre");
          pre.id = "search-hrefs"; pre.textContent = JSON.stringify(found);
          document.body.appendChild(pre);
          return;
        }
        var input = document.querySelector(".aa-Input");
        input.focus(); input.value = terms[i];
        input.dispatchEvent(new Event("input", {bubbles: true}));
        setTimeout(function () {
          found[terms[i]] = Array.from(document.querySelectorAll(".aa-Panel a, .aa-Item a"))
            .map(function (a) { return a.getAttribute("href"); });
          next(i + 1);
        }, 2500);
      }
      setTimeout(function () { next(0); }, 500);
    });
    </script></body>""")


@contextlib.contextmanager
def served(site: Path):
    """``site`` over HTTP on 127.0.0.1 (Quarto's search fetches search.json, which a browser
    refuses to read from file:// pages); yields the base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def quarto_search(browser: str, site: Path, terms: list[str], tmp: Path) -> dict[str, list[str]]:
    """What Quarto's own search box lists for each of ``terms``, typed in turn into the
    book's front page (one page load)."""
    copy = tmp / "search"
    shutil.copytree(site, copy)
    index = copy / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace(
        "</body>", SEARCH % json.dumps(terms), 1), encoding="utf-8")
    with served(copy) as url:
        dom = dump_dom(browser, url + "index.html", WIDTHS["desktop"], tmp / "profile",
                       budget=5000 + 3000 * len(terms))
    found = re.search(r'<pre id="search-hrefs">(.*?)</pre>', dom, re.S)
    assert found, "the search script did not run"
    return json.loads(html.unescape(found.group(1)))


def test_real_book_in_the_browser(chromium, rendered_book, tmp_path):
    site = rendered_book[None]
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == len(qmd.book_entries(ROOT))
    assert_no_overflow(chromium, site, tmp_path, pages)


def test_real_book_search_finds_a_chapter_term(chromium, rendered_book, tmp_path):
    site = rendered_book[None]
    found = quarto_search(chromium, site, ["canary", "zqxjkvw"], tmp_path)
    hrefs = found["canary"]
    pages = {urlsplit(h).path.lstrip("./") for h in hrefs}
    assert "chapters/05-safe-deployment.html" in pages, hrefs
    assert broken_links(site, site / "index.html", hrefs) == []
    assert found["zqxjkvw"] == []


def test_instructor_edition_solution_links_resolve(rendered_book):
    site = rendered_book["instructor"]
    links = [(page, link) for page in site.rglob("*.html") for link in _parse(page).links
             if "#sol-" in link]
    assert links, "the instructor edition links to no solution"
    broken = [f"{p.relative_to(site)}: {link}" for p, link in links
              if broken_links(site, p, [link])]
    assert not broken, broken
    student = rendered_book[None]
    assert not [link for page in student.rglob("*.html") for link in _parse(page).links
                if "#sol-" in link or "solutions.html" in link]
