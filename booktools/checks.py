"""Static checks of the book: what Quarto would otherwise catch only while rendering.

For each profile (the default and ``instructor``), every problem is reported with the file
and line it comes from:

- every file named in ``book.chapters`` / ``book.appendices`` exists, and every ``.qmd`` under
  ``chapters/`` (outside ``_``-prefixed files and folders, which are includes) is named;
- every chapter and appendix with python cells declares ``jupyter: python3``;
- labels (``{#sec-...}``, ``#| label:``, ``::: {#exr-...}``, ``{#eq-...}``) are unique in the
  book and use only lowercase letters, digits and hyphens;
- every cross-reference (``@sec-``, ``@fig-``, ``@tbl-``, ``@exr-``, ``@sol-``, ``@eq-``,
  ``@lst-``) outside code resolves to exactly one label of the same profile; what sits in a
  ``.content-visible when-profile="instructor"`` div counts only for the instructor edition,
  and no solution (``sol-`` label) shows in the default edition;
- every ``fig-`` labelled cell has ``fig-cap`` and ``fig-alt``;
- no ``project.render`` list: Quarto ignores it in a book project, where ``book.chapters``
  and ``book.appendices`` decide what renders;
- every ``#|`` option is one Quarto accepts for Python cells (a typo is an error, with the
  nearest valid name suggested);
- no text option except a caption spans several ``#|`` lines. Quarto's Jupyter engine reads
  the ``#|`` lines of a cell as YAML after joining them with a second line break
  (``partitionCellOptions`` in quarto-cli ``src/core/lib/partition-cell-options.ts``), so a
  value continued on the next line keeps a line break; it then writes every option it does
  not consume itself into the cell's attributes, ``key='value'`` unescaped
  (``src/core/jupyter/jupyter.ts``: ``tbl-cap`` and unknown keys on the cell's div,
  ``fig-alt``, ``fig-align``, ``fig-env``, ``fig-pos`` and ``fig-scap`` on the image). An
  attribute with a line break is not an attribute to Pandoc: the figure or table loses its
  id, number and caption, and the attribute text shows on the page. ``fig-cap`` and
  ``fig-subcap`` become Markdown captions, where a line break is harmless, so they may span
  lines; lists and mappings are written as one line of JSON and may too;
- a heading has a blank line before it: Pandoc reads ``### Title {#sec-x}`` straight after a
  line of prose as more of that paragraph, and the page shows the hashes and the id.

- no hidden cell computes a result: apart from the shared ``%run _common.py`` set-up, a cell
  with ``include: false`` or ``echo: false`` binds no name that prose or a later cell uses,
  and shows output only as a ``fig-`` figure (the exact rule: :mod:`booktools.hidden`).

Out of scope: whether the code runs (:mod:`booktools.execute`) and prose style.
"""
from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from . import hidden, qmd

__all__ = ["CELL_OPTIONS", "Problem", "check_book", "check_profiles", "LABEL_PATTERN"]

#: Cell options Quarto documents for Jupyter (Python) cells
#: (quarto.org/docs/reference/cells/cells-jupyter), plus ``message``, which knitr
#: defines and Quarto passes through harmlessly.
CELL_OPTIONS = frozenset("""
label classes renderings tags id filename title
eval echo code-fold code-summary code-overflow code-line-numbers code-annotations code-link
code-tools lst-label lst-cap
output warning error include message panel html-table-processing output-location
fig-cap fig-subcap fig-link fig-align fig-alt fig-env fig-pos fig-cap-location fig-scap
fig-format fig-dpi fig-width fig-height fig-column fig-responsive
tbl-cap tbl-subcap tbl-column tbl-colwidths tbl-cap-location cap-location
layout layout-ncol layout-nrow layout-align layout-valign column
cache freeze
""".split())

#: Text options Quarto writes as Markdown (a caption), not into an attribute: the only ones
#: that may continue over several ``#|`` lines (see the module's docstring).
MULTILINE_OK = frozenset({"fig-cap", "fig-subcap"})

#: What a label may look like.
LABEL_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Problem:
    """One failed check, at ``file:line``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _problem(origin: qmd.Origin, root: Path, message: str) -> Problem:
    return Problem(_rel(origin.file, root), origin.line, message)


def _unlisted_chapters(root: Path, listed: set[str]) -> list[Path]:
    out = []
    for path in sorted((root / "chapters").rglob("*.qmd")):
        parts = path.relative_to(root).parts
        if any(part.startswith("_") for part in parts):
            continue
        if path.relative_to(root).as_posix() not in listed:
            out.append(path)
    return out


def _render_list_problems(root: Path, config: dict, edition: str) -> list[Problem]:
    """A book project must not carry a ``project.render`` list.

    Quarto ignores ``project.render`` for ``type: book``: the files named in
    ``book.chapters`` and ``book.appendices`` (with the profile's additions) are what it
    renders, and nothing else (the README and the notebooks are never pages). A render list
    there only misleads whoever edits it, so it is reported.
    """
    project = config.get("project") or {}
    if project.get("type") != "book" or project.get("render") is None:
        return []
    return [Problem("_quarto.yml", 1, f"project.render is set{edition}, but Quarto ignores it "
                    "in a book project (book.chapters and book.appendices decide what "
                    "renders); remove it.")]


def check_book(root: Path | str, profile: str | None = None) -> list[Problem]:
    """Every problem of the book at ``root`` for one profile (``None``: the default)."""
    root = Path(root)
    problems: list[Problem] = []
    try:
        config = qmd.read_project(root, profile)
        entries = qmd.book_entries(root, profile, config)
    except qmd.QmdError as exc:
        file, line, msg = (str(exc).split(":", 2) + ["", ""])[:3]
        return [Problem(_rel(Path(file), root), int(line) if line.isdigit() else 1, msg.strip())]
    edition = f" (profile {profile})" if profile else ""

    docs: list[qmd.Document] = []
    for entry in entries:
        path = root / entry.path
        if not path.is_file():
            problems.append(_problem(entry.origin, root, f"{entry.path} is listed{edition} but "
                                     "does not exist; create it or remove the entry."))
            continue
        if path.suffix != ".qmd":
            continue
        try:
            doc = qmd.parse_qmd(path, project_root=root)
        except qmd.QmdError as exc:
            file, line, msg = (str(exc).split(":", 2) + ["", ""])[:3]
            problems.append(Problem(_rel(Path(file), root), int(line) if line.isdigit() else 1,
                                    msg.strip()))
            continue
        docs.append(doc)
        if doc.cells and doc.front_matter.get("jupyter") != "python3":
            problems.append(Problem(_rel(path, root), 1, "has python cells but its front matter "
                                    "does not declare `jupyter: python3`."))

    listed = {Path(e.path).as_posix() for e in entries}
    for path in _unlisted_chapters(root, listed):
        problems.append(Problem(_rel(path, root), 1, f"is not listed in _quarto.yml{edition}; "
                                "add it to book.chapters, or prefix its name with `_` if it "
                                "is an include."))

    problems.extend(_render_list_problems(root, config, edition))

    labels: dict[str, list[qmd.Label]] = defaultdict(list)
    for doc in docs:
        for label in doc.labels():
            if not LABEL_PATTERN.match(label.name):
                problems.append(_problem(label.origin, root, f"label {label.name!r} must use only "
                                         "lowercase letters, digits and single hyphens."))
            if qmd.is_visible(label.conditions, profile):
                labels[label.name].append(label)
                if profile is None and label.name.startswith("sol-"):
                    problems.append(_problem(label.origin, root, f"solution {label.name!r} is "
                                             "visible in the default edition; solutions belong "
                                             "to the instructor profile only."))
        for origin, message in hidden.hidden_cell_problems(doc):
            problems.append(_problem(origin, root, message))
        for cell in doc.cells:
            for key in cell.options:
                if key not in CELL_OPTIONS:
                    near = difflib.get_close_matches(key, sorted(CELL_OPTIONS), n=1)
                    hint = f"; did you mean `{near[0]}`?" if near else "."
                    problems.append(_problem(cell.option_origins.get(key, cell.origin), root,
                                             f"unknown cell option `{key}`{hint}"))
            for key, span in cell.option_spans.items():
                if span > 1 and isinstance(cell.options.get(key), str) and key not in MULTILINE_OK:
                    problems.append(_problem(cell.option_origins.get(key, cell.origin), root,
                                             f"option `{key}` spans {span} `#|` lines; Quarto "
                                             "writes it into an attribute with the line breaks "
                                             "kept, and the figure or table loses its number "
                                             "and caption. Put the whole value on one line."))
            label = cell.label or ""
            if label.startswith("fig-"):
                for key in ("fig-cap", "fig-alt"):
                    if not cell.options.get(key):
                        problems.append(_problem(cell.option_origins.get("label", cell.origin),
                                                 root, f"figure cell {label!r} has no `{key}`."))
    for doc in docs:
        problems.extend(_heading_problems(doc, root))
    for name, found in labels.items():
        for dup in found[1:]:
            first = found[0].origin
            problems.append(_problem(dup.origin, root, f"duplicate label {name!r}{edition} "
                                     f"(first at {_rel(first.file, root)}:{first.line})."))
    for doc in docs:
        for ref in doc.references():
            if not qmd.is_visible(ref.conditions, profile):
                continue
            if not labels.get(ref.name):
                problems.append(_problem(ref.origin, root, f"reference @{ref.name} does not "
                                         f"resolve to any label{edition}."))
    problems.sort(key=lambda p: (p.file, p.line, p.message))
    return problems


_HEADING = re.compile(r"^#{1,6}\s+\S")


def _heading_problems(doc: qmd.Document, root: Path) -> list[Problem]:
    """Headings that follow a line of prose with no blank line between them."""
    out = []
    for block in doc.blocks:
        if not isinstance(block, qmd.Markdown):
            continue
        for i in range(1, len(block.lines)):
            line, before = block.lines[i], block.lines[i - 1]
            if block.in_code[i] or block.in_code[i - 1] or not _HEADING.match(line.text):
                continue
            if before.text.strip() and not before.text.lstrip().startswith(":::"):
                out.append(_problem(line.origin, root, "heading straight after a line of text: "
                                    "Pandoc reads it as part of that paragraph, so the page "
                                    "shows its hashes and id. Put a blank line before it."))
    return out


def check_profiles(root: Path | str, profiles: tuple[str | None, ...] = (None, "instructor"),
                   ) -> list[Problem]:
    """Problems of every profile that exists (a missing ``_quarto-<p>.yml`` is skipped)."""
    root = Path(root)
    seen, out = set(), []
    for profile in profiles:
        if profile and not (root / f"_quarto-{profile}.yml").is_file():
            continue
        for problem in check_book(root, profile):
            key = (problem.file, problem.line, re.sub(r" \(profile \w+\)", "", problem.message))
            if key not in seen:
                seen.add(key)
                out.append(problem)
    return out
