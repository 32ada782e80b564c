"""Helpers for the browser tests (not a test module): headless Chromium loads a site's pages
at desktop and phone widths and reports what overflows, and types into Quarto's search box.

Used by ``test_book.py`` (the real book as Quarto renders it) and
``test_booktools_browser.py`` (the Quarto-free preview); the ``chromium`` fixture is in
``conftest.py``.
"""
from __future__ import annotations

import contextlib
import functools
import html
import http.server
import json
import re
import shutil
import subprocess
import textwrap
import threading
from pathlib import Path

from booktools import quarto

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
def page_info(path: Path):
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
