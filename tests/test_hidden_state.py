"""No chapter depends on names from its hidden cells (issue 9, "chapters without hidden state").

A reader sees the visible cells only. If one of them uses ``np`` because the hidden
``%run _common.py`` imported it, or a table that an ``include: false`` cell computed, the
reader cannot run what the page shows. The book's executor (:mod:`booktools.execute`) runs
every hidden cell in a private namespace (its side effects stay, its names stay among hidden
cells and prose), so a chapter that leaks fails with a ``NameError`` naming the line: every
``make book`` checks it, and ``tests/test_book.py`` executes each chapter once, this way.

Here: that the executor catches each kind of leak, lets a clean chapter through with the
set-up's effects, a hidden clean-up and prose that names hidden values, and refuses a hidden
cell that rebinds a visible name (Quarto would show another value).
``test_visible_cells_import_what_the_setup_imports`` is a fast static companion that lists,
per chapter, every name of the shared set-up a visible cell uses without importing it.
``test_common_sets_only_styles_and_options`` checks statically that the shared set-up has no
other side effect a visible cell could lean on (a seed, a ``sys.path`` entry).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from booktools import execute, qmd
from booktools.execute import is_hidden

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]-*.qmd"))

COMMON = """\
import numpy as np
import pandas as pd
pd.set_option("display.precision", 3)
"""


def _chapter(body: str) -> str:
    return "---\njupyter: python3\n---\n# A {#sec-a}\n\n" + body


def _run(root: Path) -> execute.ChapterResult:
    return execute.execute_chapter(root / "chapters/01-a.qmd", project_root=root, timeout=120)


LEAKS = {
    # np comes from the hidden set-up only
    "setup": ("```{python}\n#| include: false\n%run _common.py\n```\n\n"
              "```{python}\nx = np.arange(3)\n```\n", 11, "np"),
    # path is defined by a cell whose output shows but whose code does not
    "echo-false": ("```{python}\n#| echo: false\npath = 'data.csv'\nprint(path)\n```\n\n"
                   "```{python}\nprint(path.upper())\n```\n", 12, "path"),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", LEAKS)
def test_a_name_from_a_hidden_cell_is_caught(make_book, kind):
    body, line, name = LEAKS[kind]
    root = make_book({"chapters/_common.py": COMMON, "chapters/01-a.qmd": _chapter(body)})
    result = _run(root)
    assert not result.ok
    error = result.error
    assert (error.file, error.line, error.exception) == ("chapters/01-a.qmd", line, "NameError")
    assert error.message.startswith(f"name '{name}' is not defined (only a hidden cell "
                                    "defines it"), error.message


@pytest.mark.slow
def test_a_clean_chapter_passes_with_setup_effects_cleanup_and_prose(make_book, tmp_path):
    work = tmp_path / "work"
    root = make_book({"chapters/_common.py": COMMON, "chapters/01-a.qmd": _chapter(
        "```{python}\n#| include: false\n%run _common.py\n```\n\n"
        "```{python}\nimport pandas as pd\nfrom pathlib import Path\n"
        f"workdir = Path({str(work)!r})\nworkdir.mkdir()\n"
        "assert pd.get_option('display.precision') == 3  # the setup's option holds\n"
        "```\n\n"
        "```{python}\n#| include: false\nsecret = 41 + 1\n```\n\n"
        "The answer is `{python} secret`.\n\n"
        "```{python}\nassert 'secret' not in globals() and 'np' not in globals()\n```\n\n"
        "```{python}\n#| echo: false\nsecret * 2\n```\n\n"
        "```{python}\n#| include: false\nimport shutil\nshutil.rmtree(workdir)\n"
        "assert secret == 42 and np.pi > 3  # hidden cells share their own names\n```\n")})
    result = _run(root)
    assert result.ok, result.error
    assert not work.exists(), "the hidden clean-up cell did not run"
    prose = [b.text for b in result.blocks if isinstance(b, execute.ExecutedMarkdown)]
    assert any("The answer is 42." in text for text in prose), prose
    shown = [o for c in result.cells if c.source.strip() == "secret * 2" for o in c.outputs]
    assert [o["data"]["text/plain"] for o in shown] == ["84"], shown


@pytest.mark.slow
def test_a_hidden_cell_may_not_rebind_a_visible_name(make_book):
    root = make_book({"chapters/01-a.qmd": _chapter(
        "```{python}\nlimit = 3\n```\n\n"
        "```{python}\n#| include: false\nlimit = 4\n```\n\n"
        "```{python}\nprint(limit)\n```\n")})
    result = _run(root)
    assert not result.ok
    assert (result.error.line, result.error.exception) == (10, "NameError")
    assert "rebinds 'limit', which a visible cell defined" in result.error.message


# What the shared set-up may do: import, and call setters of styles and display options.
ALLOWED_SETUP_CALLS = {
    "set_option",        # pandas display options
    "set_printoptions",  # numpy print options
    "use_book_style",    # the book's matplotlib style (mlops_companion.plots)
    "use",               # matplotlib.style.use
    "update",            # matplotlib.rcParams.update
    "filterwarnings",    # warnings shown to readers (display, not behaviour)
    "simplefilter",
    "set_theme",         # seaborn's style, should the book use it
}


def test_common_sets_only_styles_and_options():
    tree = ast.parse((ROOT / "chapters/_common.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ALLOWED_SETUP_CALLS or (name.startswith("_") and not node.value.args):
                continue
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_"):
            continue  # a private helper of a display option (e.g. a DataFrame formatter);
            # a visible cell that used it would fail test_visible_cells_import_what_the_setup_imports
        if isinstance(node, ast.Assign) and all(
                isinstance(t, ast.Subscript) and "rcParams" in ast.unparse(t.value)
                for t in node.targets):
            continue  # rcParams["..."] = ...
        pytest.fail(f"chapters/_common.py:{node.lineno}: `{ast.unparse(node)}` is more than "
                    "a style or display option; the hidden set-up must not define what "
                    "visible cells use (do it in a visible cell).")


def _bound_names(tree: ast.AST) -> set[str]:
    """Names a cell binds: imports, assignments, loop and with targets, defs, classes."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
    return out


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_visible_cells_import_what_the_setup_imports(chapter):
    """Fast, static companion of the executed test: every name the shared set-up binds is
    bound again by a visible cell before (or in) the first visible cell that uses it. Lists
    every such name at once, where the executed test stops at the first."""
    setup = _bound_names(ast.parse((ROOT / "chapters/_common.py").read_text(encoding="utf-8")))
    doc = qmd.parse_qmd(chapter, project_root=ROOT)
    defaults = execute.document_options(qmd.read_project(ROOT), doc.front_matter)
    bound: set[str] = set()
    leaks: dict[str, int] = {}
    for cell in doc.cells:
        if is_hidden({**defaults, **cell.options}):
            continue
        # IPython magics and shell escapes are not Python; they bind nothing.
        source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                           for line in cell.source.split("\n"))
        tree = ast.parse(source)
        bound |= _bound_names(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                    and node.id in setup and node.id not in bound):
                leaks.setdefault(node.id, cell.origin.line)
    assert not leaks, (f"{chapter.relative_to(ROOT)}: visible cells use names that only the "
                       "hidden set-up imports (name: line of first use): "
                       + ", ".join(f"{k}: {v}" for k, v in sorted(leaks.items()))
                       + "; import them in a visible cell.")
