"""Read Quarto sources: ``.qmd`` documents and the ``_quarto.yml`` project file.

What a ``.qmd`` holds, as Quarto reads it:

- ``{{< include path >}}`` shortcodes, expanded first, recursively, each line keeping the
  file and line it came from (the path is relative to the including file, or to the project
  root when it starts with ``/``);
- YAML front matter between ``---`` lines at the top;
- executable cells opened by ```` ```{python} ````, whose leading ``#|`` lines are YAML
  (a value may continue on further ``#|`` lines, as in Quarto);
- Markdown between the cells, with inline ``` `{python} expr` ``` expressions;
- labels (``{#sec-...}``, ``#| label: ...``, ``::: {#exr-...}``, ``$$ {#eq-...}``) and
  cross-references (``@fig-...``), each with its origin, and the profile conditions of the
  ``.content-visible`` / ``.content-hidden`` divs around it.

``read_project`` reads ``_quarto.yml`` and merges ``_quarto-<profile>.yml`` over it the way
Quarto merges profiles: mappings deeply, arrays appended.

Out of scope: other engines (knitr, OJS), shortcodes other than ``include``, and Markdown
itself, which pandoc reads (see :mod:`booktools.preview`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "QmdError",
    "Origin",
    "Line",
    "Cell",
    "Markdown",
    "Label",
    "Reference",
    "InlineExpression",
    "Document",
    "BookEntry",
    "read_lines",
    "parse_qmd",
    "find_project_root",
    "merge_config",
    "read_project",
    "book_entries",
    "is_visible",
    "CROSSREF_PREFIXES",
]

#: Label prefixes that Quarto cross-references.
CROSSREF_PREFIXES = ("sec", "fig", "tbl", "exr", "sol", "eq", "lst")


class QmdError(ValueError):
    """A source that Quarto would refuse; the message starts with ``file:line``."""


@dataclass(frozen=True)
class Origin:
    """Where a line came from, after includes were expanded."""

    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Line:
    text: str
    origin: Origin


# Conditions of enclosing `.content-visible` / `.content-hidden` divs: (class, key, value).
Condition = tuple[str, str, str]


@dataclass
class Cell:
    """One ```` ```{python} ```` cell: its code (without the ``#|`` lines) and options."""

    source: str
    options: dict[str, Any]
    origin: Origin  # the opening fence
    option_origins: dict[str, Origin] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()
    #: How many ``#|`` lines each option's value spans (1 for ``key: value`` on one line).
    option_spans: dict[str, int] = field(default_factory=dict)
    #: How many ``#|`` lines open the cell (its code starts on the line after them).
    n_option_lines: int = 0

    @property
    def label(self) -> str | None:
        label = self.options.get("label")
        return None if label is None else str(label)


@dataclass
class Markdown:
    """Markdown between cells; ``in_code[i]`` is true inside fenced code blocks."""

    lines: list[Line]
    in_code: list[bool]
    conditions: list[tuple[Condition, ...]]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Label:
    name: str
    origin: Origin
    conditions: tuple[Condition, ...] = ()
    source: str = "attribute"  # "attribute" ({#id}) or "cell" (#| label)


@dataclass(frozen=True)
class Reference:
    name: str
    origin: Origin
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class InlineExpression:
    expr: str
    origin: Origin


@dataclass
class Document:
    """A parsed ``.qmd``: front matter and blocks (:class:`Markdown` or :class:`Cell`)."""

    path: Path
    front_matter: dict[str, Any]
    blocks: list[Markdown | Cell]

    @property
    def cells(self) -> list[Cell]:
        return [b for b in self.blocks if isinstance(b, Cell)]

    def markdown_lines(self):
        """Yield ``(line, conditions)`` for every Markdown line outside code blocks."""
        for block in self.blocks:
            if isinstance(block, Markdown):
                for line, code, cond in zip(block.lines, block.in_code, block.conditions):
                    if not code:
                        yield line, cond

    def inline_expressions(self) -> list[InlineExpression]:
        return [InlineExpression(expr, line.origin)
                for line, _ in self.markdown_lines() for _, _, expr in find_inline(line.text)]

    def labels(self) -> list[Label]:
        """Every label: ``{#id}`` attributes in Markdown and ``#| label:`` of cells."""
        out: list[Label] = []
        for block in self.blocks:
            if isinstance(block, Cell):
                if block.label is not None:
                    out.append(Label(block.label, block.option_origins.get("label", block.origin),
                                     block.conditions, "cell"))
                continue
            for line, code, cond in zip(block.lines, block.in_code, block.conditions):
                if code:
                    continue
                for m in ATTR_ID.finditer(strip_code_spans(line.text)):
                    out.append(Label(m.group(1), line.origin, cond))
        return out

    def references(self) -> list[Reference]:
        """Every ``@prefix-name`` cross-reference in Markdown and in captions."""
        out: list[Reference] = []
        for block in self.blocks:
            if isinstance(block, Cell):
                for key in ("fig-cap", "tbl-cap", "lst-cap", "fig-subcap", "tbl-subcap"):
                    value = block.options.get(key)
                    texts = value if isinstance(value, list) else [value]
                    for text in texts:
                        if isinstance(text, str):
                            origin = block.option_origins.get(key, block.origin)
                            out += [Reference(m.group(1), origin, block.conditions)
                                    for m in REFERENCE.finditer(text)]
                continue
            for line, code, cond in zip(block.lines, block.in_code, block.conditions):
                if not code:
                    out += [Reference(m.group(1), line.origin, cond)
                            for m in REFERENCE.finditer(strip_code_spans(line.text))]
        return out


INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+?)\s*>\}\}")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.*?)(?<!`)\1(?!`)")
INLINE_EXPR = re.compile(r"^\{python\}\s+(.+?)\s*$")
ATTR_ID = re.compile(r"\{[^{}]*?(?<![\w-])#([^\s}]+)")
REFERENCE = re.compile(r"(?<![\w.@/])-?@((?:%s)-[\w-]*\w)" % "|".join(CROSSREF_PREFIXES))
FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})\s*(.*?)\s*$")
PYTHON_CELL = re.compile(r"^\{python(?:\s[^}]*)?\}$")
DIV_OPEN = re.compile(r"^\s*(:{3,})\s*(\{.*\}|[\w-]+)\s*$")
DIV_CLOSE = re.compile(r"^\s*:{3,}\s*$")
OPTION_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")


def find_inline(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, expr)`` of each inline expression: a single-backtick code span
    holding ``{python} expr`` (in a longer code span it is only shown, as in Quarto).

    >>> find_inline("n = `{python} n`, shown: `` `{python} n` ``")
    [(4, 16, 'n')]
    """
    return [(m.start(), m.end(), inner.group(1)) for m in CODE_SPAN.finditer(text)
            if len(m.group(1)) == 1 and (inner := INLINE_EXPR.match(m.group(2)))]


def strip_code_spans(text: str) -> str:
    """The line with its inline code spans blanked out (references there are code)."""
    return CODE_SPAN.sub(lambda m: " " * len(m.group(0)), text)


def find_project_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that holds ``_quarto.yml``."""
    path = Path(path).resolve()
    for folder in [path] + list(path.parents):
        if (folder / "_quarto.yml").is_file():
            return folder
    return None


def read_lines(path: Path | str, *, project_root: Path | None = None,
               _stack: tuple[Path, ...] = ()) -> list[Line]:
    """Lines of ``path`` with every ``{{< include >}}`` expanded, each with its origin.

    Raises :class:`QmdError` (``file:line: ...``) for a missing or recursive include.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path` must be an existing .qmd file; got {str(path)!r}.")
    if project_root is None:
        project_root = find_project_root(path.parent) or path.parent
    out: list[Line] = []
    text = path.read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), start=1):
        origin = Origin(path, number)
        match = INCLUDE.search(raw)
        if match is None:
            out.append(Line(raw, origin))
            continue
        target = match.group(1).strip("\"'")
        included = (Path(project_root) / target.lstrip("/") if target.startswith("/")
                    else path.parent / target)
        if not included.is_file():
            raise QmdError(f"{origin}: included file {target!r} does not exist "
                           f"(looked for {included}); include paths are relative to the "
                           "including file.")
        resolved = included.resolve()
        if resolved in _stack or resolved == path.resolve():
            raise QmdError(f"{origin}: {target!r} includes itself (recursive include).")
        inner = read_lines(included, project_root=project_root,
                           _stack=_stack + (path.resolve(),))
        before, after = raw[:match.start()], raw[match.end():]
        if before.strip() or after.strip():
            if inner:
                inner[0] = Line(before + inner[0].text, inner[0].origin)
                inner[-1] = Line(inner[-1].text + after, inner[-1].origin)
        out.extend(inner)
    return out


def _parse_front_matter(lines: list[Line]) -> tuple[dict[str, Any], int]:
    """Front matter (a dict) and the index of the first line after it."""
    if not lines or lines[0].text.strip() != "---":
        return {}, 0
    for i in range(1, len(lines)):
        if lines[i].text.strip() in ("---", "..."):
            text = "\n".join(line.text for line in lines[1:i])
            try:
                data = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = lines[1 + mark.line].origin if mark is not None else lines[0].origin
                raise QmdError(f"{where}: front matter is not valid YAML: {exc}") from None
            if not isinstance(data, dict):
                raise QmdError(f"{lines[0].origin}: front matter must be a YAML mapping; "
                               f"got {type(data).__name__}.")
            return data, i + 1
    raise QmdError(f"{lines[0].origin}: front matter opened with '---' is never closed.")


def _parse_options(body: list[Line], fence: Origin,
                   ) -> tuple[dict[str, Any], dict[str, Origin], int, dict[str, int]]:
    """Leading ``#|`` lines of a cell as YAML.

    Returns the options, the origin of each, the number of lines used and how many ``#|``
    lines each option spans (its key line and the continuation lines after it).
    """
    n = 0
    while n < len(body) and body[n].text.lstrip().startswith("#|"):
        n += 1
    if n == 0:
        return {}, {}, 0, {}
    contents = [re.sub(r"^\s*#\|\s?", "", line.text) for line in body[:n]]
    try:
        options = yaml.safe_load("\n".join(contents)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = body[min(mark.line, n - 1)].origin if mark is not None else body[0].origin
        raise QmdError(f"{where}: cell options (#| lines) are not valid YAML: "
                       f"{str(exc).splitlines()[0]}") from None
    if not isinstance(options, dict):
        raise QmdError(f"{body[0].origin}: cell options (#| lines) must be `key: value` "
                       f"pairs; got {contents[0]!r}.")
    origins: dict[str, Origin] = {}
    spans: dict[str, int] = {}
    key = None
    for line, content in zip(body[:n], contents):
        match = OPTION_KEY.match(content)
        if match and match.group(1) in options:
            key = match.group(1)
            origins.setdefault(key, line.origin)
            spans[key] = 1
        elif key is not None and content.strip():
            spans[key] += 1
    return {str(k): v for k, v in options.items()}, origins, n, spans


def div_condition(attrs: str) -> Condition | None:
    """The profile or format condition of a `.content-visible`/`.content-hidden` div."""
    classes = re.findall(r"(?<![\w-])\.([\w-]+)", attrs)
    kind = next((c for c in classes if c in ("content-visible", "content-hidden")), None)
    if kind is None:
        return None
    for key in ("when-profile", "unless-profile", "when-format", "unless-format"):
        match = re.search(r"%s\s*=\s*\"([^\"]*)\"" % key, attrs)
        if match:
            return (kind, key, match.group(1))
    return (kind, "", "")


def is_visible(conditions: tuple[Condition, ...], profile: str | None,
               fmt: str = "html") -> bool:
    """Whether content under these ``.content-visible``/``.content-hidden`` divs shows."""
    for kind, key, value in conditions:
        values = {v.strip() for v in value.split(",") if v.strip()}
        if key.endswith("profile"):
            holds = profile is not None and profile in values
        elif key.endswith("format"):
            holds = fmt in values or (fmt == "html" and "html5" in values)
        else:
            holds = True
        if key.startswith("unless"):
            holds = not holds
        shown = holds if kind == "content-visible" else not holds
        if not shown:
            return False
    return True


def parse_qmd(path: Path | str, *, project_root: Path | None = None) -> Document:
    """Parse a ``.qmd`` file into a :class:`Document` (includes expanded first).

    Raises :class:`QmdError` naming ``file:line`` for invalid YAML or an unclosed cell.
    """
    path = Path(path)
    lines = read_lines(path, project_root=project_root)
    front, start = _parse_front_matter(lines)
    blocks: list[Markdown | Cell] = []
    md = Markdown([], [], [])
    divs: list[Condition | None] = []
    i = start

    def current() -> tuple[Condition, ...]:
        return tuple(c for c in divs if c is not None)

    while i < len(lines):
        line = lines[i]
        fence = FENCE_OPEN.match(line.text)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            marker, info = fence.group(1), fence.group(2)
            # find the closing fence: same character, at least as long, nothing after it
            close = re.compile(r"^\s*%s{%d,}\s*$" % (re.escape(marker[0]), len(marker)))
            j = i + 1
            while j < len(lines) and not close.match(lines[j].text):
                j += 1
            if PYTHON_CELL.match(info):
                if j >= len(lines):
                    raise QmdError(f"{line.origin}: python cell is never closed "
                                   f"(expected a line {marker}).")
                if md.lines:
                    blocks.append(md)
                    md = Markdown([], [], [])
                body = lines[i + 1:j]
                options, origins, n, spans = _parse_options(body, line.origin)
                source = "\n".join(b.text for b in body[n:])
                blocks.append(Cell(source, options, line.origin, origins, current(), spans, n))
            else:
                end = min(j, len(lines) - 1)
                for k in range(i, end + 1):
                    md.lines.append(lines[k])
                    md.in_code.append(True)
                    md.conditions.append(current())
            i = j + 1
            continue
        opened = DIV_OPEN.match(line.text)
        if opened:
            divs.append(div_condition(opened.group(2)))
        elif DIV_CLOSE.match(line.text) and divs:
            divs.pop()
        md.lines.append(line)
        md.in_code.append(False)
        # the opening line of a conditional div belongs to it
        md.conditions.append(current())
        i += 1
    if md.lines:
        blocks.append(md)
    return Document(path, front, blocks)


# --------------------------------------------------------------------------- _quarto.yml

def merge_config(base: Any, override: Any) -> Any:
    """Merge ``override`` over ``base`` as Quarto merges profiles.

    Mappings merge key by key, recursively; arrays are appended (base first); any other
    value in ``override`` replaces the one in ``base``.

    >>> merge_config({"book": {"appendices": ["a.qmd"], "title": "T"}},
    ...              {"book": {"appendices": ["b.qmd"], "title": "U"}})
    {'book': {'appendices': ['a.qmd', 'b.qmd'], 'title': 'U'}}
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_config(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return list(base) + list(override)
    return override


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise QmdError(f"{path}:{line}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise QmdError(f"{path}:1: must be a YAML mapping; got {type(data).__name__}.")
    return data


def read_project(root: Path | str, profile: str | None = None) -> dict[str, Any]:
    """``_quarto.yml`` of ``root``, with ``_quarto-<profile>.yml`` merged over it."""
    root = Path(root)
    main = root / "_quarto.yml"
    if not main.is_file():
        raise FileNotFoundError(f"`root` must be a folder holding _quarto.yml; got {str(root)!r}.")
    config = _load_yaml(main)
    if profile:
        extra = root / f"_quarto-{profile}.yml"
        if not extra.is_file():
            raise FileNotFoundError(f"`profile` must name a file _quarto-<profile>.yml in {root}; "
                                    f"got {profile!r} and {extra.name} does not exist.")
        config = merge_config(config, _load_yaml(extra))
    return config


@dataclass(frozen=True)
class BookEntry:
    """A file listed in ``book.chapters`` or ``book.appendices``."""

    path: str
    origin: Origin
    kind: str  # "chapter", "appendix" or "part"


def _entry_origin(root: Path, profile: str | None, entry: str) -> Origin:
    files = [root / "_quarto.yml"] + ([root / f"_quarto-{profile}.yml"] if profile else [])
    for file in reversed(files):
        if not file.is_file():
            continue
        for number, text in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if entry in text and not text.lstrip().startswith("#"):
                return Origin(file, number)
    return Origin(files[0], 1)


def book_entries(root: Path | str, profile: str | None = None,
                 config: dict[str, Any] | None = None) -> list[BookEntry]:
    """Chapters (parts included) then appendices, in book order, with their yml line."""
    root = Path(root)
    config = read_project(root, profile) if config is None else config
    book = config.get("book") or {}
    out: list[BookEntry] = []

    def add(items: Any, kind: str) -> None:
        for item in items or []:
            if isinstance(item, str):
                out.append(BookEntry(item, _entry_origin(root, profile, item), kind))
            elif isinstance(item, dict):
                part = item.get("part")
                if isinstance(part, str) and part.endswith((".qmd", ".md", ".ipynb")):
                    out.append(BookEntry(part, _entry_origin(root, profile, part), "part"))
                add(item.get("chapters"), kind)
    add(book.get("chapters"), "chapter")
    add(book.get("appendices"), "appendix")
    return out
