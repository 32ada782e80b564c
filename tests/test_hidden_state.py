"""No chapter depends on names from its hidden cells (issue 9, "chapters without hidden state").

A reader sees the visible cells only. If one of them uses ``np`` because the hidden
``%run _common.py`` imported it, or a table that an ``include: false`` cell computed, the
reader cannot run what the page shows. So every chapter is executed again, by
:mod:`booktools.execute`, as a variant in which

- every hidden cell (``include: false`` or ``echo: false``) still runs, in order, but in a
  private namespace: it can read what visible cells defined (a clean-up cell can remove their
  temporary folder) and its side effects stay (the plot style, pandas' display options), while
  the names it defines are invisible to the visible cells; ``%run file`` inside a hidden
  cell runs the file in that private namespace, so the shared set-up is reduced to what it
  does to styles and options;
- visible cells run unchanged; inline expressions become plain code spans (they are prose,
  and may name values a hidden cell computed for the text).

A ``NameError`` in a visible cell then names the leak. The variant is written into the
chapter's own folder under a ``_``-prefixed name (so relative paths and includes resolve as
in the original, and ``booktools check`` treats it as an include) and deleted afterwards.

``test_visible_cells_import_what_the_setup_imports`` is a fast static companion that lists,
per chapter, every name of the shared set-up a visible cell uses without importing it.
``test_common_sets_only_styles_and_options`` checks statically that the shared set-up has no
other side effect a visible cell could lean on (a seed, a ``sys.path`` entry).
"""
from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
import yaml

from booktools import execute, qmd

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]-*.qmd"))

# Defines one function in the user namespace (a dunder name no visible cell uses) that runs
# a hidden cell's code in a namespace layered over the user namespace.
RUNNER = r'''
def __booktools_hidden__(source, where, _store={}):
    import re
    from pathlib import Path
    shell = get_ipython()
    user = shell.user_ns
    ns = dict(user)
    for name, value in _store.items():
        ns.setdefault(name, value)
    ns["__run_file__"] = lambda file: exec(
        compile(Path(file).read_text(encoding="utf-8"), file, "exec"), ns)
    source = re.sub(r"(?m)^(\s*)%run\s+(\S+)\s*$",
                    lambda m: f"{m.group(1)}__run_file__({m.group(2)!r})", source)
    code = shell.transform_cell(source)
    exec(compile(code, where, "exec"), ns)
    for name, value in ns.items():
        if not name.startswith("__") and (name not in user or user[name] is not value):
            _store[name] = value
'''.strip()


def is_hidden(options: dict) -> bool:
    return options.get("include") is False or options.get("echo") is False


def _fence_for(source: str) -> str:
    longest = max((len(run) for run in source.split("\n") if set(run.strip()) == {"`"}),
                  default=0)
    return "`" * max(3, longest + 1)


def make_variant(path: Path, root: Path) -> tuple[str, dict[int, qmd.Origin]]:
    """The text of the variant, and for each of its cells' fence lines the original origin."""
    doc = qmd.parse_qmd(path, project_root=root)
    config = qmd.read_project(root)
    defaults = execute.document_options(config, doc.front_matter)
    out = ["---", yaml.safe_dump(doc.front_matter, sort_keys=False).rstrip(), "---", ""]
    origins: dict[int, qmd.Origin] = {}

    def cell(options: dict, source: str, origin: qmd.Origin | None) -> None:
        fence = _fence_for(source)
        if origin is not None:
            origins[len(out) + 1] = origin
        out.append(fence + "{python}")
        for key, value in options.items():
            dumped = yaml.safe_dump({key: value}, default_flow_style=True, width=10**6).strip()
            out.append("#| " + dumped[1:-1].strip())
        out.extend(source.split("\n"))
        out.extend([fence, ""])

    cell({"include": False}, RUNNER, None)
    for block in doc.blocks:
        if isinstance(block, qmd.Markdown):
            for line, in_code in zip(block.lines, block.in_code):
                text = line.text
                if not in_code:
                    for begin, end, expr in reversed(qmd.find_inline(text)):
                        text = text[:begin] + f"`{expr}`" + text[end:]
                out.append(text)
            continue
        if is_hidden({**defaults, **block.options}):
            where = f"<hidden cell at {block.origin}>"
            options = {k: v for k, v in block.options.items() if k != "label"}
            call = f"__booktools_hidden__({block.source!r}, {where!r})"
            cell(options, call, block.origin)
        else:
            cell(block.options, block.source, block.origin)
    return "\n".join(out) + "\n", origins


def write_variant(path: Path, root: Path) -> tuple[Path, dict[int, qmd.Origin]]:
    """Write the variant next to ``path`` under a unique ``_``-prefixed name."""
    text, origins = make_variant(path, root)
    copy = path.parent / f"_hidden-state-{path.stem}-{uuid.uuid4().hex[:8]}.qmd"
    copy.write_text(text, encoding="utf-8")
    return copy, origins


def describe(result: execute.ChapterResult, path: Path, origins: dict[int, qmd.Origin],
             root: Path) -> str | None:
    """``None`` if the variant ran, else where and why it failed, at the original's line."""
    if result.ok:
        return None
    error = result.error
    origin = origins.get(error.line)
    def rel(file: Path) -> str:
        try:
            return Path(file).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(file)
    where = (f"{rel(origin.file)}:{origin.line}" if origin is not None
             else f"{rel(path)} (variant line {error.line})")
    leak = ("a visible cell uses a name only hidden cells define; import or define it in a "
            "visible cell" if error.exception == "NameError" else
            "the chapter fails when hidden cells keep their names to themselves (or fails "
            "anyway: run `python -m booktools execute` on it)")
    return (f"{where}: {error.exception}: {error.message}\n  -> {leak}\n"
            + error.traceback[-1500:])


def run_variant(path: Path, root: Path, timeout: float = 600) -> str | None:
    """Execute the variant of one chapter; ``None`` if it ran, else what went wrong."""
    copy, origins = write_variant(path, root)
    try:
        result = execute.execute_chapter(copy, project_root=root, timeout=timeout)
    finally:
        copy.unlink()
    return describe(result, path, origins, root)


@pytest.fixture(scope="session")
def variant_problems():
    """Every chapter's variant, executed once in parallel (as ``make book`` runs chapters)."""
    written: dict[Path, tuple[Path, dict[int, qmd.Origin]]] = {}
    try:
        for chapter in CHAPTERS:
            written[chapter] = write_variant(chapter, ROOT)
        results = execute.execute_book([copy for copy, _ in written.values()],
                                       project_root=ROOT, timeout=600, progress=None)
    finally:
        for copy, _ in written.values():
            copy.unlink(missing_ok=True)
    return {chapter: describe(result, chapter, origins, ROOT)
            for (chapter, (_, origins)), result in zip(written.items(), results)}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_visible_cells_need_no_hidden_names(chapter, variant_problems):
    problem = variant_problems[chapter]
    assert problem is None, problem


COMMON = """\
import numpy as np
import pandas as pd
pd.set_option("display.precision", 3)
"""


def _chapter(body: str) -> str:
    return "---\njupyter: python3\n---\n# A {#sec-a}\n\n" + body


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
    problem = run_variant(root / "chapters/01-a.qmd", root, timeout=120)
    assert problem is not None
    assert problem.startswith(f"chapters/01-a.qmd:{line}: NameError: name "
                              f"'{name}' is not defined"), problem
    assert not list((root / "chapters").glob("_hidden-state-*")), "the variant was not deleted"


@pytest.mark.slow
def test_a_clean_chapter_passes_with_setup_effects_and_cleanup(make_book, tmp_path):
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
        "```{python}\n#| include: false\nimport shutil\nshutil.rmtree(workdir)\n"
        "assert secret == 42 and np.pi > 3  # hidden cells share their own names\n```\n")})
    assert run_variant(root / "chapters/01-a.qmd", root, timeout=120) is None
    assert not work.exists(), "the hidden clean-up cell did not run"


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
