"""No hidden cell computes a result: what a reader is told must come from code on the page.

A cell is *hidden* when a reader does not see its code: ``include: false`` or ``echo:
false`` (the cell's own options over the document's ``execute`` options, as
:func:`booktools.execute.is_hidden` decides). The rule, checked statically on the parsed
source, is:

1. The shared set-up cell, whose whole source is ``%run _common.py``, is exempt: it sets
   styles and display options only (:mod:`booktools.execute` enforces that its names do not
   leak into visible cells).
2. Any other hidden cell may not bind a name that is *used later*: loaded by a later cell of
   the same document (visible or hidden) or by an inline expression (`` `{python} expr` ``)
   anywhere in the document. Binding covers assignments (also augmented, annotated and
   ``:=``), ``for``/``with``/``except`` targets, imports, ``def`` and ``class``. A name bound
   and used only inside the hidden cell itself is allowed: that is a plotting helper's
   scratch variable, not a result.
3. A hidden cell that shows its output (``echo: false`` without ``include: false``) must be a
   figure, labelled ``fig-...``: a drawing whose caption and alt text say what it shows. Any
   other displayed output of hidden code (a table, a printed number) is a result computed out
   of sight.

So a figure drawn by an ``echo: false`` cell that binds nothing used afterwards passes; a
hidden cell that formats a number for the prose, computes a verdict, or defines a helper a
later cell calls does not. Formatting belongs in the inline expression itself
(`` `{python} f"{100 * margin:.1f}"` ``); a computed result belongs in a visible cell.

Each violation is reported at the ``file:line`` of the statement that binds the name (or of
the cell's fence for rule 3).
"""
from __future__ import annotations

import ast
import re
from typing import Any

from . import qmd

__all__ = ["SETUP_SOURCE", "hidden_cell_problems"]

#: The one hidden cell every chapter shares.
SETUP_SOURCE = "%run _common.py"

_MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)


def _is_hidden(options: dict[str, Any]) -> bool:
    return options.get("include") is False or options.get("echo") is False


def _parse(source: str) -> ast.Module | None:
    """The cell as Python, IPython magics and shell lines replaced by ``pass``."""
    try:
        return ast.parse(_MAGIC.sub(r"\1pass", source))
    except SyntaxError:
        return None  # the executor reports broken code with its own file:line


def _bound(tree: ast.Module) -> dict[str, int]:
    """Each name the cell binds in its own (module) scope, with the line of its first binding.

    Names local to a function, a lambda or a comprehension are not the cell's: they vanish
    when it ends.
    """
    out: dict[str, int] = {}
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
              ast.SetComp, ast.DictComp, ast.GeneratorExp)

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.setdefault(node.name, node.lineno)
            for default in getattr(node.args, "defaults", []) if hasattr(node, "args") else []:
                visit(default)
            return
        if isinstance(node, scopes):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.setdefault(node.id, node.lineno)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                if name != "*":
                    out.setdefault(name, node.lineno)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.setdefault(node.name, node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _loaded(tree: ast.AST | None) -> set[str]:
    if tree is None:
        return set()
    return {node.id for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _inline_names(expr: str) -> set[str]:
    try:
        return _loaded(ast.parse(expr, mode="eval"))
    except SyntaxError:
        return set()


def _first_code_line(cell: qmd.Cell) -> int:
    """Line of the cell's first line of code (after the fence and its ``#|`` lines)."""
    return cell.origin.line + 1 + cell.n_option_lines


def hidden_cell_problems(doc: qmd.Document) -> list[tuple[qmd.Origin, str]]:
    """``(origin, message)`` for every hidden cell of ``doc`` that breaks the module's rule.

    Examples
    --------
    A hidden cell that formats a number for the prose is reported; one drawing a figure is not:

    >>> import textwrap, tempfile, pathlib
    >>> text = textwrap.dedent('''\\
    ...     ```{python}
    ...     #| include: false
    ...     pts = f"{100 * 0.05:.1f}"
    ...     ```
    ...
    ...     Shift: `{python} pts` points.
    ...
    ...     ```{python}
    ...     #| label: fig-a
    ...     #| echo: false
    ...     #| fig-cap: "A."
    ...     #| fig-alt: "A."
    ...     ax = None
    ...     ```
    ...     ''')
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.qmd"
    >>> _ = path.write_text(text)
    >>> [(origin.line, message.split(";")[0]) for origin, message in
    ...  hidden_cell_problems(qmd.parse_qmd(path))]
    [(3, 'hidden cell binds `pts`, used later in prose (line 6)')]
    """
    defaults = doc.front_matter.get("execute") if isinstance(doc.front_matter, dict) else None
    defaults = defaults if isinstance(defaults, dict) else {}
    cells = doc.cells
    trees = [_parse(cell.source) for cell in cells]
    # where each name is used: (kind, origin) per later use, in document order
    uses: list[tuple[int, str, qmd.Origin, set[str]]] = []
    position = {id(cell): i for i, cell in enumerate(cells)}
    index = -1
    for block in doc.blocks:
        if isinstance(block, qmd.Cell):
            index = position[id(block)]
            kind = "a hidden cell" if _is_hidden({**defaults, **block.options}) else "a visible cell"
            uses.append((index, kind, block.origin, _loaded(trees[index])))
            continue
        for line, code in zip(block.lines, block.in_code):
            if code:
                continue
            for _, _, expr in qmd.find_inline(line.text):
                uses.append((index, "prose", line.origin, _inline_names(expr)))

    problems: list[tuple[qmd.Origin, str]] = []
    for i, cell in enumerate(cells):
        options = {**defaults, **cell.options}
        if not _is_hidden(options) or cell.source.strip() == SETUP_SOURCE:
            continue
        if options.get("include") is not False and not (cell.label or "").startswith("fig-"):
            problems.append((cell.origin, "hidden cell (`echo: false`) shows its output without "
                             "being a `fig-` figure; a displayed result needs its code on the "
                             "page. Remove `echo: false`, or make the cell a labelled figure."))
        if trees[i] is None:
            continue
        for name, line in _bound(trees[i]).items():
            # prose after this cell but before the next one carries index i too
            later = [(kind, origin) for j, kind, origin, names in uses
                     if name in names and (j > i or (j == i and kind == "prose"))]
            if later:
                kind, origin = later[0]
                where = qmd.Origin(cell.origin.file, _first_code_line(cell) + line - 1)
                problems.append((where, f"hidden cell binds `{name}`, used later in {kind} "
                                 f"(line {origin.line}); a result the reader is given must be "
                                 "computed on the page. Make the cell visible, or format the "
                                 "value inside the inline expression."))
    return problems
