"""A preview of the book's website, built without Quarto from the executed chapters.

Quarto renders the real site. Where it cannot be installed, this module writes
``_book/`` (``_book-instructor/`` for the instructor profile) from the results of
:mod:`booktools.execute`: ``index.html`` and one page per chapter and appendix with the
code (``echo`` honoured), the executed outputs and the figures (PNG files next to the
pages, ``alt`` from ``fig-alt``, numbered captions), callouts styled by kind, numbered
sections (chapter N, section N.M; appendices lettered), exercise and solution boxes, and
cross-references rendered as numbered links across pages ("Section 3.2", "Figure 5.1",
"Exercise 6.2", "Solution A.1"). A banner says that the page is a preview.

For the reader: text columns of tables are left-aligned and numeric ones right-aligned,
every table scrolls inside its own box on narrow screens (the page never does), each page
has an in-page table of contents, the whole book is searchable in the browser (a JSON index
in ``site_libs/search-index.js`` and ``site_libs/search.js``, no server and no CDN; a
``?q=term`` address opens with the results), the footer is ``book.page-footer``, and
maths is MathML (pandoc ``--mathml``), so the site works offline.

The Markdown is read by pandoc (what Quarto uses underneath) and the pages are laid out
with Jinja2. Before pandoc sees the text, this module does the few things Quarto's own
filters would: it drops content not visible in the profile, numbers headings, figures,
tables, exercises and solutions, and replaces each ``@ref`` with a link (pandoc would take
``@fig-x`` for a citation).

Out of scope: themes, PDF, and Quarto's layout options (columns, panels).
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pypandoc

from . import qmd
from .execute import ANSI, ChapterResult, ExecutedCell, ExecutedMarkdown

__all__ = ["BANNER", "Page", "build_site", "output_dir", "pages_for"]

BANNER = ("Preview built without Quarto: run `quarto render` (or see README) for the "
          "full site")
CALLOUT_TITLES = {"note": "Note", "tip": "Tip", "warning": "Warning",
                  "important": "Important", "caution": "Caution"}
KIND_NAMES = {"fig": "Figure", "tbl": "Table", "exr": "Exercise", "sol": "Solution",
              "eq": "Equation", "lst": "Listing", "sec": "Section"}

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*(?:\{([^{}]*)\})?\s*$")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
DIV_OPEN = re.compile(r"^\s*(:{3,})\s*(\{.*\}|[\w-]+)\s*$")
DIV_CLOSE = re.compile(r"^\s*:{3,}\s*$")
EQ_LABEL = re.compile(r"\$\$\s*\{#(eq-[^\s}]+)\}")
IMAGE_FIG = re.compile(r"^(\s*!\[)(.*?)(\]\([^)]*\)\{[^}]*#(fig-[^\s}]+)[^}]*\}\s*)$")
TABLE_CAPTION = re.compile(r"^(\s*(?:Table)?:\s+)(.*?)\s*(\{[^{}]*#(tbl-[^\s}]+)[^{}]*\})\s*$")
QMD_LINK = re.compile(r"(\]\()([^)\s#]+)\.qmd([#)])")
REF = re.compile(r"(?<![\w.@/\\])(-?)@((?:%s)-[\w-]*\w)" % "|".join(qmd.CROSSREF_PREFIXES))


@dataclass
class Page:
    """One page of the site: a book entry and, once walked, its number and title."""

    source: Path
    href: str  # relative to the site root, e.g. "chapters/01-artefacts.html"
    kind: str  # "chapter" or "appendix"
    number: str | None = None
    title: str = ""
    result: ChapterResult | None = None
    html: str = ""
    figures: list[tuple[str, bytes]] = field(default_factory=list)


def _attrs(text: str | None) -> tuple[str | None, list[str]]:
    text = text or ""
    ident = re.search(r"(?<![\w-])#([^\s}]+)", text)
    return (ident.group(1) if ident else None), re.findall(r"(?<![\w-])\.([\w-]+)", text)


def _div_condition(attrs: str) -> qmd.Condition | None:
    return qmd.div_condition(attrs)


def output_dir(root: Path, config: dict[str, Any]) -> Path:
    """Where the site goes: ``project.output-dir`` (``_book`` by default)."""
    return Path(root) / str((config.get("project") or {}).get("output-dir") or "_book")


def _unexecuted(path: Path, root: Path) -> ChapterResult:
    """A page's blocks without running anything (for files no result was given for)."""
    doc = qmd.parse_qmd(path, project_root=root)
    blocks: list[ExecutedCell | ExecutedMarkdown] = []
    for block in doc.blocks:
        if isinstance(block, qmd.Markdown):
            blocks.append(ExecutedMarkdown(block.text))
        else:
            blocks.append(ExecutedCell(block.source, dict(block.options), block.origin.line))
    return ChapterResult(path, "ok", 0.0, 0, None, blocks, doc.front_matter)


def pages_for(root: Path, entries: list[qmd.BookEntry],
              results: dict[Path, ChapterResult] | None = None) -> list[Page]:
    results = {Path(k).resolve(): v for k, v in (results or {}).items()}
    pages = []
    for entry in entries:
        source = (root / entry.path)
        href = Path(entry.path).with_suffix(".html").as_posix()
        result = results.get(source.resolve()) or _unexecuted(source, root)
        pages.append(Page(source, href, "appendix" if entry.kind == "appendix" else "chapter",
                          result=result))
    return pages


class _Walker:
    """Turns one page's executed blocks into pandoc Markdown, numbering as Quarto does."""

    def __init__(self, page: Page, profile: str | None, xrefs: dict[str, tuple[str, str]] | None,
                 render: bool):
        self.page, self.profile, self.xrefs, self.render = page, profile, xrefs, render
        self.counters: dict[str, int] = {}
        self.sections = [0, 0, 0, 0, 0, 0]
        self.labels: dict[str, tuple[str, str]] = {}  # label -> (text, anchor href)
        self.out: list[str] = []
        self.first_heading = True

    # numbering ----------------------------------------------------------------------
    def _number(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        k = self.counters[kind]
        return f"{self.page.number}.{k}" if self.page.number else str(k)

    def _register(self, label: str, text: str) -> None:
        self.labels.setdefault(label, (text, f"{self.page.href}#{label}"))

    def _ref_text(self, label: str) -> str:
        kind = label.split("-", 1)[0]
        number = self._number(kind)
        self._register(label, f"{KIND_NAMES[kind]} {number}")
        return number

    # references ---------------------------------------------------------------------
    def _link(self, match: re.Match) -> str:
        suppress, label = match.group(1), match.group(2)
        target = (self.xrefs or {}).get(label)
        if target is None:
            return f"**?\\@{label}**"
        text, href = target
        rel = os.path.relpath(href.split("#")[0], os.path.dirname(self.page.href) or ".")
        if suppress:
            text = text.split(" ", 1)[-1]
        return f"[{text}]({rel}#{label})"

    def _refs(self, line: str) -> str:
        if self.xrefs is None:
            return line
        pieces, last = [], 0
        for span in qmd.CODE_SPAN.finditer(line):
            pieces.append(REF.sub(self._link, line[last:span.start()]))
            pieces.append(span.group(0))
            last = span.end()
        pieces.append(REF.sub(self._link, line[last:]))
        return QMD_LINK.sub(r"\1\2.html\3", "".join(pieces))

    # cells --------------------------------------------------------------------------
    def _cell(self, cell: ExecutedCell) -> None:
        options = cell.options
        label = cell.label or ""
        number = None
        if label.startswith(("fig-", "tbl-", "lst-")):
            number = self._ref_text(label)
        if not options.get("include", True) or not self.render:
            return
        out = self.out
        echo = options.get("echo", True)
        table = label.startswith("tbl-")
        if table:
            out += ["", f"::: {{#{label} .quarto-table}}", "", "::: {.table-caption}",
                    f"[Table {number}]{{.caption-number}}: "
                    f"{self._refs(str(options.get('tbl-cap', '')))}", ":::"]
        out.append("")
        out.append("::: {.cell}")
        if echo:
            fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", cell.source)),
                                     default=0) + 1)
            fold = options.get("code-fold")
            if fold in (True, "show"):  # Quarto folds the code into a <details> element
                summary = html.escape(str(options.get("code-summary") or "Code"))
                out += ["", "```{=html}", f"<details{' open' if fold == 'show' else ''}>"
                        f"<summary>{summary}</summary>", "```"]
            out += ["", f"{fence} {{.python .cell-code}}", cell.source, fence, ""]
            if fold in (True, "show"):
                out += ["```{=html}", "</details>", "```", ""]
        if cell.shows_output:
            figure_no = 0
            for output in cell.outputs:
                self._output(output, cell, label, number, figure_no)
                if "image/png" in output.get("data", {}):
                    figure_no += 1
        out += ["", ":::", ""]
        if table:
            out += [":::", ""]

    def _code_output(self, text: str, cls: str) -> None:
        text = ANSI.sub("", text).rstrip("\n")
        fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
        self.out += ["", f"{fence} {{.{cls}}}", text, fence, ""]

    def _output(self, output: dict, cell: ExecutedCell, label: str, number: str | None,
                figure_no: int) -> None:
        kind = output.get("output_type")
        if cell.options.get("output") == "asis" and (
                kind == "stream" or "text/plain" in output.get("data", {})):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            self.out += ["", "".join(text), ""]  # `output: asis`: the text is Markdown
            return
        if kind == "stream":
            self._code_output("".join(output.get("text", "")), f"cell-output-{output.get('name')}")
            return
        if kind == "error":
            self._code_output("\n".join(output.get("traceback", [])), "cell-output-error")
            return
        data = output.get("data", {})
        if "image/png" in data:
            stem = Path(self.page.href).stem
            name = f"{label or f'cell-{cell.line}'}-{figure_no + 1}.png"
            rel = f"{stem}_files/figure-html/{name}"
            self.page.figures.append((rel, base64.b64decode(data["image/png"])))
            alt = html.escape(str(cell.options.get("fig-alt") or cell.options.get("fig-cap") or ""),
                              quote=True)
            first = figure_no == 0 and label.startswith("fig-")
            ident = f' id="{label}"' if first else ""
            self.out += ["", "```{=html}", f'<figure class="figure"{ident}>',
                         f'<img src="{rel}" alt="{alt}" class="img-fluid">', "```", ""]
            if first:
                caption = self._refs(str(cell.options.get("fig-cap", "")))
                self.out += ["::: {.figure-caption}", f"[Figure {number}]{{.caption-number}}: "
                             f"{caption}", ":::", ""]
            self.out += ["```{=html}", "</figure>", "```", ""]
        elif "text/html" in data:
            body = "".join(data["text/html"])
            fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
            self.out += ["", fence + "{=html}", "<div class=\"cell-output-display\">",
                         body, "</div>", fence, ""]
        elif "text/markdown" in data:
            self.out += ["", "".join(data["text/markdown"]), ""]
        elif "text/plain" in data:
            self._code_output("".join(data["text/plain"]), "cell-output-display")

    # the walk -----------------------------------------------------------------------
    def walk(self, items: list[str | ExecutedCell]) -> str:
        fence: tuple[str, int] | None = None
        stack: list[str] = []  # kinds of the open divs
        skip_from: int | None = None
        i = 0
        while i < len(items):
            item = items[i]
            i += 1
            if isinstance(item, ExecutedCell):
                if skip_from is None:
                    self._cell(item)
                continue
            line = item
            if fence is not None:
                if re.match(r"^\s*%s{%d,}\s*$" % (re.escape(fence[0]), fence[1]), line):
                    fence = None
                if skip_from is None:
                    self.out.append(line)
                continue
            opened = FENCE.match(line)
            if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
                fence = (opened.group(1)[0], len(opened.group(1)))
                if skip_from is None:
                    self.out.append(line)
                continue
            div = DIV_OPEN.match(line)
            if div:
                attrs = div.group(2)
                condition = _div_condition(attrs)
                if condition is not None:
                    stack.append("condition")
                    if skip_from is None and not qmd.is_visible((condition,), self.profile):
                        skip_from = len(stack)
                    continue
                if skip_from is not None:
                    stack.append("skipped")
                    continue
                ident, classes = _attrs(attrs if attrs.startswith("{") else "." + attrs)
                box = next((c for c in classes if c.startswith("callout-")), None)
                if ident and ident.split("-")[0] in ("exr", "sol"):
                    kind = ident.split("-")[0]
                    number = self._ref_text(ident)
                    title, i = self._box_title(items, i)
                    stack.append("box")
                    heading = f"{KIND_NAMES[kind]} {number}" + (f" ({title})" if title else "")
                    self.out += [f"::: {{#{ident} .theorem .{'exercise' if kind == 'exr' else 'solution'}}}",
                                 "", f"[{heading}]{{.theorem-title}}", ""]
                    continue
                if box:
                    kind = box.split("-", 1)[1]
                    title, i = self._box_title(items, i)
                    stack.append("box")
                    self.out += [f"::: {{.callout .{box}}}", "",
                                 f"[{title or CALLOUT_TITLES.get(kind, kind.title())}]"
                                 "{.callout-title}", ""]
                    continue
                if ident and ident.split("-")[0] in ("fig", "tbl"):
                    self._ref_text(ident)
                stack.append("div")
                self.out.append(line)
                continue
            if DIV_CLOSE.match(line) and stack:
                kind = stack.pop()
                if skip_from is not None:
                    if len(stack) < skip_from:
                        skip_from = None
                    continue
                if kind != "condition":
                    self.out.append(line)
                continue
            if skip_from is not None:
                continue
            heading = HEADING.match(line)
            if heading and "box" not in stack:
                self.out.append(self._heading(heading))
                continue
            eq = EQ_LABEL.search(line)
            if eq:
                number = self._ref_text(eq.group(1))
                line = line[:eq.start()] + f"\\tag{{{number}}}$$[]{{#{eq.group(1)}}}" + \
                    line[eq.end():]
            caption = TABLE_CAPTION.match(line)
            if caption:  # a pipe table's caption, `: Caption {#tbl-x}`
                number = self._ref_text(caption.group(4))
                line = (f"{caption.group(1)}Table {number}: {self._refs(caption.group(2))} "
                        f"{caption.group(3)}")
                self.out.append(line)
                continue
            figure = IMAGE_FIG.match(line)
            if figure:
                number = self._ref_text(figure.group(4))
                line = f"{figure.group(1)}Figure {number}: {figure.group(2)}{figure.group(3)}"
            self.out.append(self._refs(line))
        return "\n".join(self.out) + "\n"

    def _box_title(self, items: list, i: int) -> tuple[str | None, int]:
        j = i
        while j < len(items) and isinstance(items[j], str) and not items[j].strip():
            j += 1
        if j < len(items) and isinstance(items[j], str):
            match = re.match(r"^#{1,6}\s+(.*?)\s*(?:\{[^{}]*\})?\s*$", items[j])
            if match:
                return self._refs(match.group(1)), j + 1
        return None, i

    def _heading(self, match: re.Match) -> str:
        level, text, attrs = len(match.group(1)), match.group(2), match.group(3)
        ident, classes = _attrs(attrs)
        unnumbered = "unnumbered" in classes or re.search(r"(?<!\S)-(?!\S)", attrs or "")
        text = self._refs(text)
        if level == 1:
            if self.first_heading and not self.page.title:
                self.page.title = re.sub(r"[*_`]", "", text)
            self.first_heading = False
            if ident:
                prefix = "Appendix" if self.page.kind == "appendix" else "Chapter"
                self._register(ident, f"{prefix} {self.page.number}" if self.page.number
                               else self.page.title or text)
            number = self.page.number if not unnumbered else None
        else:
            if unnumbered or not self.page.number:
                number = None
            else:
                self.sections[level - 1] += 1
                for k in range(level, len(self.sections)):
                    self.sections[k] = 0
                parts = [self.page.number] + [str(n) for n in self.sections[1:level]]
                number = ".".join(parts)
            if ident:
                self._register(ident, f"Section {number}" if number else text)
        prefix = f"[{number}]{{.header-section-number}} " if number else ""
        return f"{'#' * level} {prefix}{text}" + (f" {{{attrs}}}" if attrs else "")


def _items(result: ChapterResult) -> list[str | ExecutedCell]:
    items: list[str | ExecutedCell] = []
    for block in result.blocks:
        if isinstance(block, ExecutedMarkdown):
            items += block.text.splitlines()
        else:
            items.append(block)
    return items


def _number_pages(pages: list[Page]) -> None:
    chapter = appendix = 0
    for page in pages:
        title = page.result.front_matter.get("title") if page.result else None
        page.title = str(title) if title else ""
        first = next((line for line in _items(page.result) if isinstance(line, str)
                      and HEADING.match(line) and line.startswith("# ")), "")
        _, classes = _attrs((HEADING.match(first).group(3) if first else "") or "")
        if page.href == "index.html" or "unnumbered" in classes:
            page.number = None
        elif page.kind == "appendix":
            appendix += 1
            page.number = chr(ord("A") + appendix - 1)
        else:
            chapter += 1
            page.number = str(chapter)


TEMPLATES = Path(__file__).parent / "templates"
ASSETS = Path(__file__).parent / "assets"


def build_site(root: Path | str, results: list[ChapterResult] | None = None, *,
               profile: str | None = None, out: Path | str | None = None) -> Path:
    """Write the preview site and return its folder (``index.html`` inside)."""
    root = Path(root)
    config = qmd.read_project(root, profile)
    entries = [e for e in qmd.book_entries(root, profile, config) if e.path.endswith(".qmd")]
    missing = [e for e in entries if not (root / e.path).is_file()]
    if missing:
        raise FileNotFoundError("; ".join(f"{e.origin}: {e.path} does not exist" for e in missing))
    failed = [r for r in (results or []) if not r.ok]
    if failed:
        raise ValueError(f"`results` must all be ok to build the site; got {len(failed)} "
                         f"failed chapter(s), first {failed[0].error}.")
    site = Path(out) if out is not None else output_dir(root, config)
    pages = pages_for(root, entries, {r.path: r for r in results or []})
    _number_pages(pages)

    xrefs: dict[str, tuple[str, str]] = {}
    for page in pages:  # pass 1: numbers and titles
        walker = _Walker(page, profile, None, render=False)
        walker.walk(_items(page.result))
        for label, value in walker.labels.items():
            xrefs.setdefault(label, value)
    for page in pages:  # pass 2: Markdown with links, then pandoc
        page.figures = []
        markdown = _Walker(page, profile, xrefs, render=True).walk(_items(page.result))
        page.html = tidy_tables(_pandoc(markdown, root))

    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]))
    template = env.get_template("page.html")
    book = config.get("book") or {}
    nav = [{"href": p.href, "number": p.number, "title": p.title or Path(p.href).stem,
            "kind": p.kind} for p in pages]
    if not any(p.href == "index.html" for p in pages):
        nav_index = {"href": "index.html", "number": None, "title": book.get("title", "Book"),
                     "kind": "chapter"}
        pages_html = [("index.html", "", "<ul>" + "".join(
            f'<li><a href="{n["href"]}">{html.escape(n["title"])}</a></li>' for n in nav)
            + "</ul>", None)]
        nav = [nav_index] + nav
    else:
        pages_html = []
    for page in pages:
        pages_html.append((page.href, page.title, page.html, page))
    footer = {side: _inline_html(str(text), root)
              for side, text in (book.get("page-footer") or {}).items()
              if side in ("left", "center", "right") and text}
    for k, (href, title, body, page) in enumerate(pages_html):
        depth = href.count("/")
        up = "../" * depth
        target = site / href
        target.parent.mkdir(parents=True, exist_ok=True)
        number = page.number if page is not None else None
        text = template.render(
            book_title=book.get("title", ""), title=title, number=number, body=body,
            banner=BANNER, nav=nav, current=href, up=up, toc=page_toc(body), footer=footer,
            prev=nav[k - 1] if k > 0 else None,
            next=nav[k + 1] if k + 1 < len(nav) else None, kind=page.kind if page else "")
        target.write_text(text, encoding="utf-8")
        for rel, png in (page.figures if page is not None else []):
            image = target.parent / rel
            image.parent.mkdir(parents=True, exist_ok=True)
            image.write_bytes(png)
    (site / "site_libs").mkdir(exist_ok=True)
    for asset in ("booktools.css", "search.js", "site.js"):
        shutil.copy(ASSETS / asset, site / "site_libs" / asset)
    index = [entry for href, title, body, page in pages_html
             for entry in search_entries(href, title or book.get("title", ""), body)]
    (site / "site_libs" / "search-index.js").write_text(
        "window.BOOK_SEARCH_INDEX = " + json.dumps(index, ensure_ascii=False) + ";\n",
        encoding="utf-8")
    resources = list((config.get("project") or {}).get("resources") or [])
    for pattern in resources + ["exercises/*.ipynb"]:
        for path in root.glob(str(pattern)):
            if path.is_file():
                dest = site / path.relative_to(root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, dest)
    _prune_pandoc_cache(root)
    return site


# --------------------------------------------------------------------------- reader comforts

TABLE = re.compile(r"<table\b.*?</table>", re.S)
ROW = re.compile(r"<tr\b[^>]*>(.*?)</tr>", re.S)
CELL = re.compile(r"<(t[dh])\b([^>]*)>(.*?)</\1>", re.S)
TAG = re.compile(r"<[^>]+>")
PANDAS_STYLE = re.compile(r"<style scoped>\s*\.dataframe.*?</style>", re.S)
NUMBER = re.compile(r"^[-+\u2212]?(?:\d[\d,_\u202f]*)?(?:\.\d+)?(?:[eE][-+]?\d+)?\s*%?$")
HEADING_TAG = re.compile(r"<h([23])\b[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h\1>", re.S)
SECTION_SPLIT = re.compile(r"(?=<h[12]\b[^>]*\bid=\")")


def _text(fragment: str) -> str:
    return " ".join(html.unescape(TAG.sub(" ", fragment)).split())


def _is_number(text: str) -> bool:
    text = text.strip()
    return bool(text) and any(c.isdigit() for c in text) and bool(NUMBER.match(text)) or \
        text.lower() in ("nan", "inf", "-inf")


def _add_class(attrs: str, cls: str) -> str:
    if re.search(r'\bclass="', attrs):
        return re.sub(r'\bclass="', f'class="{cls} ', attrs, count=1)
    return f' class="{cls}"{attrs}'


def tidy_tables(body: str) -> str:
    """Left-align text columns, right-align numeric ones, let each table scroll in a box.

    A column is numeric when every body cell in it is a number (blank cells aside); its
    header cells are aligned with it. pandas' ``text-align: right`` on header rows goes.

    >>> out = tidy_tables("<table><tr><th>name</th><th>n</th></tr>"
    ...                   "<tr><td>drift</td><td>1,204</td></tr></table>")
    >>> '<td class="num">1,204</td>' in out and "<td>drift</td>" in out
    True
    >>> out.startswith('<div class="table-wrap">')
    True
    """
    def one(match: re.Match) -> str:
        table = re.sub(r'(<tr\b[^>]*?)\s*style="text-align: right;"', r"\1", match.group(0))
        rows = [[(c.group(1), c.group(3)) for c in CELL.finditer(r.group(1))]
                for r in ROW.finditer(table)]
        width = max((len(r) for r in rows), default=0)
        numeric = []
        for k in range(width):
            body_cells = [_text(r[k][1]) for r in rows if len(r) == width and r[k][0] == "td"]
            filled = [t for t in body_cells if t]
            numeric.append(bool(filled) and all(_is_number(t) for t in filled))

        def row(rmatch: re.Match) -> str:
            cells = list(CELL.finditer(rmatch.group(1)))
            if len(cells) != width:
                return rmatch.group(0)
            inner, last = [], 0
            for k, c in enumerate(cells):
                inner.append(rmatch.group(1)[last:c.start()])
                attrs = c.group(2)
                if numeric[k] and "text-align" not in attrs:
                    attrs = _add_class(attrs, "num")
                inner.append(f"<{c.group(1)}{attrs}>{c.group(3)}</{c.group(1)}>")
                last = c.end()
            inner.append(rmatch.group(1)[last:])
            open_tag = rmatch.group(0)[:rmatch.start(1) - rmatch.start(0)]
            return f"{open_tag}{''.join(inner)}</tr>"

        return '<div class="table-wrap">' + ROW.sub(row, table) + "</div>"

    body = PANDAS_STYLE.sub("", body)  # its `thead th {text-align: right}` would win
    return TABLE.sub(one, body)


def page_toc(body: str) -> list[dict[str, Any]]:
    """The page's sections (h2) and subsections (h3): ``level``, ``id`` and ``text``."""
    return [{"level": int(m.group(1)), "id": m.group(2), "text": _text(m.group(3))}
            for m in HEADING_TAG.finditer(body)]


def search_entries(href: str, title: str, body: str, *, limit: int = 6000) -> list[dict]:
    """One search entry per section of a page: where it is, its heading and its text."""
    entries = []
    for part in SECTION_SPLIT.split(body):
        if not part.strip():
            continue
        heading = re.match(r"<h[12]\b[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h[12]>", part, re.S)
        anchor = f"#{heading.group(1)}" if heading else ""
        text = _text(part[heading.end():] if heading else part)
        if not text and not heading:
            continue
        entries.append({"href": href + anchor, "title": title,
                        "section": _text(heading.group(2)) if heading else title,
                        "text": text[:limit]})
    return entries


#: pandoc's HTML for a page's Markdown, kept beside the execution cache: a re-run with
#: nothing changed converts nothing (pandoc is most of the preview's time).
PANDOC_CACHE = Path(".jupyter_cache") / "pandoc"
PANDOC_ARGS = ["--mathml", "--wrap=none"]


def _pandoc(markdown: str, root: Path) -> str:
    folder = Path(root) / PANDOC_CACHE
    digest = hashlib.sha256("\0".join([pypandoc.get_pandoc_version(), *PANDOC_ARGS, markdown])
                            .encode("utf-8")).hexdigest()
    cached = folder / f"{digest}.html"
    if cached.is_file():
        os.utime(cached)  # recently used: kept by _prune_pandoc_cache
        return cached.read_text(encoding="utf-8")
    out = pypandoc.convert_text(markdown, "html", format="markdown", extra_args=PANDOC_ARGS)
    folder.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(out, encoding="utf-8")
    os.replace(partial, cached)  # never a half-written file under the final name
    return out


def _prune_pandoc_cache(root: Path, days: float = 30) -> None:
    folder = Path(root) / PANDOC_CACHE
    limit = time.time() - days * 86400
    for path in folder.glob("*.html") if folder.is_dir() else []:
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)


def _inline_html(markdown: str, root: Path) -> str:
    out = _pandoc(markdown, root)
    return re.sub(r"^\s*<p>(.*)</p>\s*$", r"\1", out, flags=re.S)
