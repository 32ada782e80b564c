"""Find numbers typed by hand into the book's prose, where they can silently go stale.

The book's rule: every number a reader sees comes from executed code, either printed output
or an inline ``` `{python} var` ``` expression. A number typed into a sentence, a heading, a
caption or a figure's alt text is not re-computed when the code changes, so it drifts away
from what the code does (issue 10 found "2.2%" where the simulation gives about 3.3%, and an
alt text saying "0.61 to 0.75").

What is scanned, in every ``.qmd`` the book lists (includes expanded, so exercise blocks
count and are reported at their own file and line):

- Markdown outside fenced code blocks: paragraphs, lists, headings, tables, callouts;
- the ``fig-alt``, ``fig-cap``, ``fig-subcap``, ``tbl-cap``, ``tbl-subcap`` and ``lst-cap``
  options of cells (Quarto does not evaluate inline expressions there, so any digit in them
  is typed by hand), and ``fig-alt="..."`` attributes of Markdown images.

What is not a hand-typed number (blanked before digits are looked for):

- code: inline code spans (inline ``{python}`` expressions among them) and fenced blocks;
- markup: cross-references and citations (``@sec-x``), attribute blocks (``{#sec-x .c}``),
  shortcodes, URLs and link targets, HTML tags and comments, TeX math (``$...$``, ``$$``);
- names that contain digits: a digit glued to a letter before it (``p99``, ``F1``,
  ``float64``), acronym-hyphen-number standards (``SHA-256``, ``UTF-8``), file names;
- the short, context-bound allow-list :data:`ALLOWED`, each entry with the reason it cannot
  go stale (years, versions, section and exercise numbers, HTTP status codes, loopback
  addresses, ordered-list markers, ...).

Out of scope: numbers spelled as words ("two in a row"), which no parser can tell from
ordinary English, and numbers in printed cell output, which are computed by definition.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import qmd

__all__ = ["ALLOWED", "CAPTION_OPTIONS", "Finding", "find_hand_typed_numbers", "check_numbers"]

#: Cell options whose text is prose a reader (or a screen reader) sees.
CAPTION_OPTIONS = ("fig-alt", "fig-cap", "fig-subcap", "tbl-cap", "tbl-subcap", "lst-cap")

_TOOLS = (r"Python|MLflow|Quarto|scikit-learn|sklearn|pandas|NumPy|numpy|SciPy|scipy|FastAPI|"
          r"[Pp]ydantic|uvicorn|Starlette|joblib|skops|matplotlib|httpx|pytest|Jupyter(?:Lab)?|"
          r"IPython|Dask|Kubernetes|Docker|Prometheus|Grafana|Ubuntu|Debian|macOS|Linux|Windows|"
          r"Git|GitHub Actions|Node|Java|SQLite|PostgreSQL|Postgres|Helm|Colab|Binder|"
          r"HTTP|TLS|OpenAPI|JSON Schema|nbval|nbclient|ipykernel|Chrome|Firefox")

# The status codes of RFC 9110 that a model server answers with.
_STATUS = "200|201|202|204|301|302|304|400|401|403|404|405|408|409|413|415|422|429|500|502|503|504"

#: Allowed uses of digits, as ``(regex, why)``. A match is blanked before numbers are
#: searched, so each entry allows digits only in the context it names, never a bare value
#: ("HTTP 200" passes, "200 calls" does not).
ALLOWED: tuple[tuple[str, str], ...] = (
    # Years: a date names a moment, not a measurement, and does not change when code does.
    # Only in a date-like context, so that "2000 rows" is still flagged.
    (r"\b(?:in|In|since|Since|until|year|circa|early|late|mid|al\.,?)\s+(?:19|20)\d\d\b"
     r"(?![\w-]|\s+[a-z])", "a year after a date word ('since 2019', not 'in 2000 rows')"),
    (r"\((?:19|20)\d\d[a-z]?(?:[,;][^)]*)?\)", "a year in a citation ('(2015)')"),
    (r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
     r"December)(?:\s+\d{1,2},?)?\s+(?:19|20)\d\d\b", "a calendar date"),
    # Versions: release numbers of named software and standards are facts about a release.
    (r"\b(?:%s)(?:\s+version)?\s+v?\d+(?:\.\d+)*(?:\.x)?\+?" % _TOOLS,
     "a version of named software ('Python 3.11', 'MLflow 3.7+')"),
    (r"\b[Vv]ersions?\s+v?\d+\.\d+(?:\.\d+)*\+?",
     "a release ('version 2.9'); a dot is required, as 'model version 3' is registry data"),
    (r"(?<![\w.])v\d+(?:\.\d+)+\b", "a version tag ('v1.2.3')"),
    (r"\bHTTP/\d(?:\.\d)?", "the protocol's name ('HTTP/1.1')"),
    (r"\bCC BY(?:-[A-Z]{2})* \d\.\d", "the licence's name ('CC BY-NC-SA 4.0')"),
    (r"\b(?:PEP|RFC|ISO|IEC|IEEE)\s*\d+(?:[.:-]\d+)*", "a standard's number ('RFC 9110')"),
    # Structure: numbers that name a part of the book, not a value it computed.
    (r"\b(?:[Cc]hapters?|[Ss]ections?|[Ee]xercises?|[Ss]olutions?|[Ff]igures?|[Tt]ables?|"
     r"[Aa]ppendi(?:x|ces)|[Pp]arts?|[Ss]teps?|[Gg]ates?|[Ss]tages?|[Pp]hases?|[Ll]istings?|[Ee]quations?|[Pp]ages?|[Ll]ines?)"
     r"\s+\d+(?:\.\d+)*(?:\s*(?:and|or|to|-|–)\s*\d+(?:\.\d+)*)*",
     "a chapter, section or exercise number ('Exercise 4.1', 'chapters 05 and 08')"),
    (r"^\s*(?:[-*+]\s+)?\d+[.)](?=\s)", "an ordered-list marker ('1. ')"),
    (r"\b(?:[Dd]eprecated|[Rr]emoved|[Aa]dded|[Ii]ntroduced|[Cc]hanged|[Rr]eleased)\s+(?:in|since)\s+"
     r"(?:version\s+)?v?\d+(?:\.\d+)+\+?", "release history ('deprecated since 2.9')"),
    (r"\b(?:[01]?\d|2[0-3]):[0-5]\d\b", "a time of day in a story ('at 02:00'), like a date"),
    (r"^#{1,6}\s+\d+(?:\.\d+)*(?=\s)", "a manually numbered heading"),
    (r"\[\^\d+\]", "a footnote marker"),
    # Constants with a fixed meaning: they are definitions, so they cannot drift.
    (r"(?:\b(?:HTTP|[Ss]tatus|[Cc]ode|[Aa]nswers?|[Rr]eturns?|[Rr]esponds? with|[Rr]eplies)"
     r"\s+(?:code\s+)?)[1-5]\d\d\b", "an HTTP status code ('HTTP 422', 'status 503')"),
    (r"\b[1-5]\d\d(?=\s+(?:OK|Created|Accepted|No Content|Bad Request|Unauthorized|Forbidden|"
     r"Not Found|Method Not Allowed|Conflict|Payload Too Large|Content Too Large|"
     r"Unsupported Media Type|Unprocessable (?:Entity|Content)|Too Many Requests|"
     r"Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)\b)",
     "an HTTP status code with its reason phrase ('404 Not Found')"),
    (r"\b[1-5](?:xx|XX)\b", "a class of HTTP status codes ('5xx')"),
    (r"\b(?:a|an|is|was|get|gets|got|answers?|returns?)\s+(?:%s)"
     r"(?=\s*(?:$|[,.;:)!?]|(?:and|or|but|before|after|when|if|for|with|response|responses|"
     r"error|errors|status|instead|rather|from|means|tells|says)\b))" % _STATUS,
     "a standard HTTP status code as a noun ('gets a 413', 'the status is 200')"),
    (r"\b(?:between\s+|from\s+)?0\s+(?:and|to|or)\s+1\b|\[0,\s*1\]",
     "the range of a probability or proportion, a definition"),
    (r"\b[1-3]-?D\b", "a dimension in an array's name ('1-D')"),
    (r"\bexit (?:code|status)(?:\s+of)?\s+\d+\b", "an exit status, defined by the OS"),
    (r"\b127\.0\.0\.1\b|\b0\.0\.0\.0\b|::1\b", "a loopback or wildcard address: fixed by the standard"),
    (r"\bport 0\b", "port 0: 'any free port', a definition"),
    (r"\b(?:90|95|99)%(?=\s+(?:confidence|credible|prediction|Wilson|Monte|bootstrap|interval|CI)\b)",
     "a conventional interval level named as such ('95% confidence interval')"),
    (r"\b\d+(?:st|nd|rd|th)[- ]percentile\b",
     "a percentile that names a metric ('99th-percentile latency'), like p99"),
    (r"\b24/7\b", "'always', not a measurement"),
)

_ALLOWED = [(re.compile(pattern, re.M), why) for pattern, why in ALLOWED]

# Markup and names: blanked before numbers are searched (see the module docstring).
_SHORTCODE = re.compile(r"\{\{<.*?>\}\}")
_ATTRIBUTES = re.compile(r"\{(?=[#.]|[^{}]*=)[^{}]*\}")
_ALT_ATTR = re.compile(r"\bfig-alt\s*=\s*\"([^\"]*)\"")
_LINK_TARGET = re.compile(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_LINK_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$")
_URL = re.compile(r"<?\b(?:https?|ftp|file)://[^\s>)]+>?|\bwww\.[^\s)]+")
_AT_REFERENCE = re.compile(r"-?@[\w:.-]*\w")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?=\S)(?:\\.|[^$\\])+?(?<=\S)\$(?!\d)")
_FILE_NAME = re.compile(r"[\w./-]*\.(?:qmd|py|ipynb|ya?ml|md|txt|csv|json|db|joblib|skops|"
                        r"pkl|toml|cfg|sh|html|png|svg|parquet|sqlite)\b")
_GLUED_NAME = re.compile(r"(?:[A-Za-z_]\d[\w]*)|(?:\b[A-Z][A-Za-z]*-\d+\b)")
_NUMBER = re.compile(r"(?<![\w.])[+-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)%?")


@dataclass(frozen=True)
class Finding:
    """One number typed by hand: where it is, the line it sits on and the number itself."""

    path: str
    line: int
    text: str
    number: str
    kind: str = "prose"  # "prose", or the cell option it was found in (e.g. "fig-alt")

    def __str__(self) -> str:
        return (f"{self.path}:{self.line}: hand-typed number {self.number!r} in {self.kind} "
                "(compute it with an inline expression or allow-list it)")


def _blank(text: str, pattern: re.Pattern) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _blank_attributes(text: str) -> str:
    """Blank ``{...}`` attribute blocks, keeping the text of a ``fig-alt="..."`` inside."""
    def keep_alt(match: re.Match) -> str:
        block = match.group(0)
        out = [" "] * len(block)
        for alt in _ALT_ATTR.finditer(block):
            out[alt.start(1):alt.end(1)] = alt.group(1)
        return "".join(out)
    return _ATTRIBUTES.sub(keep_alt, text)


def _number_spans(text: str) -> list[tuple[int, str]]:
    """``(offset, number)`` of each number left once markup, names and allowed contexts
    are blanked (blanking keeps offsets, so a number maps back to its line)."""
    text = _blank(text, _SHORTCODE)
    text = "\n".join(qmd.strip_code_spans(line) for line in text.split("\n"))
    text = _blank_attributes(text)
    for pattern in (_LINK_TARGET, _URL, _AT_REFERENCE, _HTML_TAG, _INLINE_MATH, _FILE_NAME):
        text = _blank(text, pattern)
    for pattern, _ in _ALLOWED:
        text = _blank(text, pattern)
    text = _blank(text, _GLUED_NAME)
    return [(m.start(), m.group(0).lstrip("+-").rstrip(","))
            for m in _NUMBER.finditer(text) if any(ch.isdigit() for ch in m.group(0))]


def _numbers_in(text: str) -> list[str]:
    """Numbers typed by hand in ``text`` (one line or a paragraph).

    >>> _numbers_in("AUC 0.61 to 0.75, p99 under `{python} p99_ms` ms, see @sec-serving")
    ['0.61', '0.75']
    >>> _numbers_in("Python 3.11 answers HTTP 422; Exercise 4.1 (2019) uses SHA-256")
    []
    >>> _numbers_in("a 95%\\ninterval from Chapter\\n4")
    []
    """
    return [number for _, number in _number_spans(text)]


_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_READING_TITLE = re.compile(r"(further reading|references|bibliography)\b", re.IGNORECASE)


def _prose_lines(doc: qmd.Document):
    """``(line, text)`` of prose lines, with HTML comments and display math blanked."""
    in_comment = in_math = False
    reading_level = 0  # > 0 inside a "Further reading" / "References" section
    for line, _ in doc.markdown_lines():
        text = line.text
        if _LINK_DEFINITION.match(text):
            continue
        # A bibliography's years, volumes and pages describe a publication, not a result
        # of this book's code: skip the section up to the next heading of its level or above.
        heading = _HEADING.match(text)
        if heading:
            level = len(heading.group(1))
            if reading_level and level <= reading_level:
                reading_level = 0
            if _READING_TITLE.match(heading.group(2)):
                reading_level = level
                continue
        if reading_level:
            continue
        out = []
        i = 0
        while i < len(text):
            if in_comment:
                end = text.find("-->", i)
                if end < 0:
                    out.append(" " * (len(text) - i))
                    i = len(text)
                else:
                    out.append(" " * (end + 3 - i))
                    i, in_comment = end + 3, False
            elif in_math:
                end = text.find("$$", i)
                if end < 0:
                    out.append(" " * (len(text) - i))
                    i = len(text)
                else:
                    out.append(" " * (end + 2 - i))
                    i, in_math = end + 2, False
            else:
                comment, math = text.find("<!--", i), text.find("$$", i)
                starts = [s for s in (comment, math) if s >= 0]
                if not starts:
                    out.append(text[i:])
                    break
                start = min(starts)
                out.append(text[i:start])
                if start == comment:
                    in_comment, i = True, start + 4
                    out.append(" " * 4)
                else:
                    in_math, i = True, start + 2
                    out.append(" " * 2)
        yield line, "".join(out)


def _relative(path: Path, root: Path | None) -> str:
    if root is None:
        return str(path)
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _paragraphs(doc: qmd.Document):
    """Runs of consecutive prose lines of one file, split at blank lines, so that a context
    broken over two lines ("Chapter" / "4") is still recognised."""
    run: list[tuple[qmd.Line, str]] = []
    for line, text in _prose_lines(doc):
        if run and (not text.strip() or line.origin.file != run[-1][0].origin.file
                    or line.origin.line != run[-1][0].origin.line + 1):
            yield run
            run = []
        if text.strip():
            run.append((line, text))
    if run:
        yield run


def _findings(doc: qmd.Document, root: Path | None, name: str | None) -> list[Finding]:
    def where(origin: qmd.Origin) -> str:
        return name if name is not None else _relative(origin.file, root)

    out: list[Finding] = []
    for run in _paragraphs(doc):
        joined = "\n".join(text for _, text in run)
        starts = []
        offset = 0
        for _, text in run:
            starts.append(offset)
            offset += len(text) + 1
        for position, number in _number_spans(joined):
            index = max(i for i, start in enumerate(starts) if start <= position)
            line = run[index][0]
            column = position - starts[index]
            alts = [m.span(1) for m in _ALT_ATTR.finditer(line.text)]
            kind = "fig-alt" if any(a <= column < b for a, b in alts) else "prose"
            out.append(Finding(where(line.origin), line.origin.line, line.text.strip(),
                               number, kind))
    for cell in doc.cells:
        for key in CAPTION_OPTIONS:
            value = cell.options.get(key)
            values = value if isinstance(value, list) else [value]
            origin = cell.option_origins.get(key, cell.origin)
            for text in values:
                if not isinstance(text, str):
                    continue
                for number in _numbers_in(" ".join(text.split())):
                    out.append(Finding(where(origin), origin.line, text.strip(), number, key))
    out.sort(key=lambda f: (f.path, f.line))
    return out


def find_hand_typed_numbers(path_or_text: str | os.PathLike,
                            *, project_root: Path | str | None = None) -> list[Finding]:
    """Numbers typed by hand into the prose, captions and alt texts of one ``.qmd``.

    Parameters
    ----------
    path_or_text : path-like or str
        A ``.qmd`` file (a :class:`~pathlib.Path`, or a ``str`` naming an existing file), or
        the text of one (any other ``str``); text is reported as ``<text>``.
    project_root : path-like, default=None
        Where ``/``-rooted includes resolve and what reported paths are relative to
        (default: the nearest folder holding ``_quarto.yml``).

    Returns
    -------
    list of Finding
        In file and line order; empty when every number is computed or allowed.

    Examples
    --------
    >>> text = "The AUC rose to 0.75 (see @sec-x), and `{python} n` rows passed in 2024.\\n"
    >>> [f.number for f in find_hand_typed_numbers(text)]
    ['0.75']
    """
    is_path = isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text
        and Path(path_or_text).suffix in (".qmd", ".md") and Path(path_or_text).is_file())
    if is_path:
        path = Path(path_or_text)
        root = Path(project_root) if project_root is not None else qmd.find_project_root(
            path.parent)
        return _findings(qmd.parse_qmd(path, project_root=root), root, None)
    if not isinstance(path_or_text, str):
        raise TypeError("`path_or_text` must be a path or the text of a .qmd; got "
                        f"{type(path_or_text).__name__}.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "text.qmd"
        path.write_text(path_or_text, encoding="utf-8")
        doc = qmd.parse_qmd(path, project_root=Path(project_root or folder))
        return _findings(doc, None, "<text>")


def check_numbers(root: Path | str, profile: str | None = None) -> list[str]:
    """Every hand-typed number in the book at ``root``, as ``file:line: message`` strings.

    Checks each ``.qmd`` that ``book.chapters`` and ``book.appendices`` list for ``profile``
    (``None``: the default edition), includes expanded. A file that is missing or does not
    parse is skipped: :func:`booktools.checks.check_book` reports those.
    """
    root = Path(root)
    out: list[str] = []
    seen: set[str] = set()
    for entry in qmd.book_entries(root, profile):
        path = root / entry.path
        if path.suffix != ".qmd" or not path.is_file():
            continue
        try:
            findings = find_hand_typed_numbers(path, project_root=root)
        except qmd.QmdError:
            continue
        for finding in findings:
            # Exercise statements (generated from exercises/source/) fix the task's givens,
            # e.g. "160 rows" or "a threshold of 0.70": the self-check tests exactly those
            # values, so they are specifications, not results that could go stale.
            # The solutions appendix is generated from the same sources (`make notebooks`):
            # its worked answers restate those givens; its outputs are the solution notebooks'
            # (nbval executes them and compares).
            if Path(str(finding.path)).parent.name == "_exercises" or \
                    entry.path == "appendices/solutions.qmd":
                continue
            if str(finding) not in seen:
                seen.add(str(finding))
                out.append(str(finding))
    return out
