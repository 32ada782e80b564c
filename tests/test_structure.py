"""The packages' structure, read from their source with :mod:`ast` (nothing is imported).

Five rules hold over both packages, the reader's kit (``mlops_companion/``) and the
production reference (``reference/mlops_reference/``):

(a) **No import cycle** between their modules. Every ``import`` and ``from ... import``
    statement counts, at module level or inside a function; relative imports are resolved.
    ``from P import m``, where ``m`` is a submodule of the package ``P``, is an edge to
    ``P.m``; ``from P import name`` for any other name is an edge to ``P`` itself (its
    ``__init__``). Importing ``P.m`` does not add an edge to ``P``. Imports written inside
    docstrings are text, not statements, and do not count.
(b) **No private name of another module.** A private name starts with one underscore
    (dunders such as ``__version__`` are not private). A module may not import a private
    name of another module (``from m import _name``), nor read one through a module it
    imported (``m._name``). A private *module* (``_detect.py``) may be imported only by
    modules inside its own package (``drift/__init__.py`` importing ``drift/_detect.py``),
    with one exception: a **module made for sharing**, whose file name starts with one
    underscore and whose docstring's first line says it is shared (e.g. ``_utils``,
    ``_atomic``, ``drift/_stats``: "Private helpers shared by ..."), may be imported from
    anywhere in both packages. Its own names carry no underscore: they are its interface.
    The rule covers the two packages' own modules; a third-party library's internals (the
    registry restores MLflow's saved tracking URI) are outside it.
(c) **No function or method longer than** :data:`MAX_FUNCTION_LINES` lines, from the
    ``def`` line to the last line, docstring included (decorators not counted).
(d) **The reference never imports the kit**: no module of ``reference/mlops_reference``
    imports ``mlops_companion`` (statements only; a docstring may mention it).
(e) **The kit stays small**: at most :data:`MAX_KIT_LINES` lines in ``mlops_companion/``,
    every line of every ``.py`` file counted (docstrings, comments and blank lines too).

Each rule is a function from a source tree to its list of violations, and each is shown to
catch a violation planted in a small synthetic tree (the ``test_planted_*`` tests).
"""
from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Package name -> the folder that holds it.
PACKAGES = {"mlops_companion": ROOT, "mlops_reference": ROOT / "reference"}
KIT, REFERENCE = "mlops_companion", "mlops_reference"
MAX_FUNCTION_LINES = 80
MAX_KIT_LINES = 4000


# ----------------------------------------------------------------------------- the reader

@dataclass(frozen=True)
class Module:
    name: str  # dotted
    path: Path
    is_package: bool
    tree: ast.Module

    @property
    def package(self) -> str:
        """The package its relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def read_modules(packages: dict[str, Path]) -> dict[str, Module]:
    """Every module of ``packages`` (name -> folder holding it), parsed."""
    modules = {}
    for package, base in packages.items():
        for path in sorted((base / package).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            modules[name] = Module(name, path, is_package, ast.parse(path.read_text(), str(path)))
    return modules


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported (absolute, dotted)
    name: str | None  # the name taken from it (``from target import name``), or None
    line: int
    bound: str  # the local name the statement binds


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    if node.level > 1:
        base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: Module, modules: dict[str, Module]) -> Iterator[Import]:
    """Every import statement of ``module``, anywhere in it, with submodules told apart."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module.name, alias.name, None, node.lineno,
                             alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target == "__future__":
                continue
            for alias in node.names:
                bound = alias.asname or alias.name
                if f"{target}.{alias.name}" in modules:  # a submodule
                    yield Import(module.name, f"{target}.{alias.name}", None, node.lineno, bound)
                else:
                    yield Import(module.name, target, alias.name, node.lineno, bound)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def is_shared(module: Module) -> bool:
    """A private module made for sharing: ``_name.py`` whose docstring's first line says so."""
    doc = (ast.get_docstring(module.tree) or "").strip()
    stem = module.name.rpartition(".")[2]
    return (_is_private(stem) and not module.is_package and bool(doc)
            and "shared" in doc.splitlines()[0].lower())


# ----------------------------------------------------------------------------- the rules

def import_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Rule (a): the strongly connected components of the import graph with two or more modules."""
    graph = {name: sorted({imp.target for imp in imports_of(m, modules)
                           if imp.target in modules and imp.target != name})
             for name, m in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return cycles


def _private_module_allowed(importer: str, target: str, modules: dict[str, Module]) -> bool:
    """May ``importer`` import the module ``target``, given the private parts of its path?"""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if not _is_private(part):
            continue
        owner, module = ".".join(parts[:i]), ".".join(parts[: i + 1])
        if module in modules and is_shared(modules[module]):
            continue
        if importer != owner and not importer.startswith(owner + "."):
            return False
    return True


def private_name_uses(modules: dict[str, Module]) -> list[str]:
    """Rule (b): imports and reads of another module's private names."""
    found = []
    for module in modules.values():
        bound: dict[str, str] = {}  # local name -> what it stands for (`import a.b` binds `a`)
        for imp in imports_of(module, modules):
            where = f"{module.name}:{imp.line}"
            if imp.target.partition(".")[0] not in (KIT, REFERENCE):
                continue  # another project's internals are its business (and a known risk)
            if imp.name is not None and _is_private(imp.name):
                found.append(f"{where} imports the private name {imp.name!r} of {imp.target}")
            elif not _private_module_allowed(module.name, imp.target, modules):
                found.append(f"{where} imports the private module {imp.target}")
            if imp.name is None:
                top = imp.target.partition(".")[0]
                bound[imp.bound] = top if imp.bound == top else imp.target
        for node in ast.walk(module.tree):  # `m._name` or `a.b._name`, read through an import
            if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
                continue
            owner = _dotted(node.value, bound)
            if owner in modules and f"{owner}.{node.attr}" not in modules:
                found.append(f"{module.name}:{node.lineno} reads the private name "
                             f"{node.attr!r} of {owner}")
    return sorted(set(found))


def _dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """The module a ``Name`` or ``Name.attr.attr`` expression stands for, through ``bound``."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value, bound)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


def long_functions(modules: dict[str, Module], limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Rule (c): functions and methods longer than ``limit`` lines (``def`` to last line)."""
    return [f"{m.name}:{node.lineno} {node.name} has {node.end_lineno - node.lineno + 1} lines"
            for m in modules.values() for node in ast.walk(m.tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def reference_imports_kit(modules: dict[str, Module]) -> list[str]:
    """Rule (d): modules of the reference that import the kit."""
    return [f"{m.name}:{imp.line} imports {imp.target}"
            for m in modules.values() if m.name.split(".")[0] == REFERENCE
            for imp in imports_of(m, modules) if imp.target.split(".")[0] == KIT]


def kit_lines(base: Path) -> int:
    """Rule (e): lines of every ``.py`` file of the kit under ``base``."""
    return sum(len(path.read_text().splitlines()) for path in (base / KIT).rglob("*.py"))


# ----------------------------------------------------------------------------- the book's packages

@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return read_modules(PACKAGES)


def test_no_import_cycle(modules):
    assert import_cycles(modules) == []


def test_no_private_name_of_another_module(modules):
    assert private_name_uses(modules) == []


def test_no_long_function(modules):
    assert long_functions(modules) == []




def test_reference_never_imports_the_kit(modules):
    assert reference_imports_kit(modules) == []


def test_kit_is_small():
    assert kit_lines(ROOT) <= MAX_KIT_LINES


def test_shared_modules_are_recognised(modules):
    shared = {name for name, m in modules.items() if is_shared(m)}
    assert {"mlops_reference._utils", "mlops_reference._atomic", "mlops_reference.drift._stats"} <= shared


# ----------------------------------------------------------------------------- planted violations

def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    """A synthetic pair of packages (``kit`` and ``ref`` stand-ins) from path -> source."""
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return read_modules({KIT: tmp_path, REFERENCE: tmp_path / "reference"})


CLEAN = {
    f"{KIT}/__init__.py": '"""Kit."""\n',
    f"{KIT}/data.py": f'"""Data."""\nfrom {REFERENCE} import _utils\nfrom {REFERENCE}.drift import detect\n',
    f"reference/{REFERENCE}/__init__.py": '"""Reference."""\n',
    f"reference/{REFERENCE}/_utils.py": '"""Private helpers shared by every module."""\ndef check(): pass\n',
    f"reference/{REFERENCE}/drift/__init__.py": '"""Drift."""\nfrom ._detect import detect\n',
    f"reference/{REFERENCE}/drift/_detect.py": (
        '"""Detect.\n\n>>> import mlops_companion\n"""\nfrom .. import _utils\n'
        'def detect():\n    return _utils.check()\n'),
}


def test_clean_tree_passes(tmp_path):
    modules = _tree(tmp_path, CLEAN)
    assert import_cycles(modules) == []
    assert private_name_uses(modules) == []
    assert long_functions(modules) == []
    assert reference_imports_kit(modules) == []  # the docstring's import does not count


def test_planted_cycle_is_caught(tmp_path):
    modules = _tree(tmp_path, {**CLEAN, f"reference/{REFERENCE}/_utils.py": (
        '"""Private helpers shared by every module."""\n'
        'def check():\n    from .drift._detect import detect  # inside a function\n')})
    assert import_cycles(modules) == [[f"{REFERENCE}._utils", f"{REFERENCE}.drift._detect"]]


@pytest.mark.parametrize("source, expected", [
    ("from ._detect import _helper\n", "imports the private name '_helper'"),
    ("from . import _detect\nx = _detect._helper\n", "reads the private name '_helper'"),
    (f"import {REFERENCE}.drift._detect as d\n", None),  # aliases: see the next case
])
def test_planted_private_name_is_caught(tmp_path, source, expected):
    files = {**CLEAN, f"reference/{REFERENCE}/drift/_partitioned.py": '"""Partitioned."""\n' + source}
    found = private_name_uses(_tree(tmp_path, files))
    if expected is None:
        assert found == []  # its own package's private module
    else:
        assert len(found) == 1 and expected in found[0]


def test_planted_private_module_of_another_package_is_caught(tmp_path):
    files = {**CLEAN, f"{KIT}/plots.py": f'"""Plots."""\nfrom {REFERENCE}.drift._detect import detect\n'}
    assert private_name_uses(_tree(tmp_path, files)) == [
        f"{KIT}.plots:2 imports the private module {REFERENCE}.drift._detect"]


def test_unshared_private_module_is_not_a_shared_one(tmp_path):
    files = {**CLEAN, f"reference/{REFERENCE}/_utils.py": '"""Private helpers."""\ndef check(): pass\n'}
    found = private_name_uses(_tree(tmp_path, files))
    assert f"{KIT}.data:2 imports the private module {REFERENCE}._utils" in found


def test_planted_long_function_is_caught(tmp_path):
    def function(name, n_lines, indent=""):  # `def` line plus n_lines - 1 body lines
        body = "".join(f"{indent}    x{i} = {i}\n" for i in range(n_lines - 1))
        return f"{indent}def {name}():\n{body}"

    source = ('"""Plots."""\n' + function("fits", MAX_FUNCTION_LINES) + "class A:\n"
              + function("too_long", MAX_FUNCTION_LINES + 1, indent="    "))
    found = long_functions(_tree(tmp_path, {**CLEAN, f"{KIT}/plots.py": source}))
    assert found == [f"{KIT}.plots:{MAX_FUNCTION_LINES + 3} too_long has {MAX_FUNCTION_LINES + 1} lines"]


def test_planted_kit_import_in_the_reference_is_caught(tmp_path):
    files = {**CLEAN, f"reference/{REFERENCE}/features.py": (
        '"""Features."""\ndef f():\n    from mlops_companion import data\n')}
    assert reference_imports_kit(_tree(tmp_path, files)) == [
        f"{REFERENCE}.features:3 imports {KIT}.data"]


def test_planted_big_kit_is_caught(tmp_path):
    (tmp_path / KIT / "checks").mkdir(parents=True)
    (tmp_path / KIT / "__init__.py").write_text("x = 1\n" * 10)
    (tmp_path / KIT / "checks" / "big.py").write_text("y = 2\n" * MAX_KIT_LINES)
    assert kit_lines(tmp_path) == MAX_KIT_LINES + 10 > MAX_KIT_LINES
