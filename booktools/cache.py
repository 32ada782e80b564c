"""Execute each chapter once per state: an execution cache on top of jupyter-cache.

A chapter's executed result is stored in a `jupyter-cache
<https://jupyter-cache.readthedocs.io>`_ database (the cache Jupyter Book uses), by default
``<project>/.jupyter_cache/``, and reused while nothing that can change its output has
changed. ``make book``, the tests (``tests/test_book.py``) and the preview all go through
:func:`booktools.execute.execute_book`, so they share it: ``.ci/run`` executes each chapter
once, and a re-run with nothing changed executes nothing.

What a result depends on, in two parts:

- **the key**, known before execution and hashed into the jupyter-cache record: the text of
  the chapter and of every file it includes, the helper scripts beside it (``_*.py``, e.g.
  ``chapters/_common.py``), every file of the project's own Python packages (any top-level
  folder with an ``__init__.py`` except ``booktools``, i.e. ``mlops_companion/``), the
  executor itself (``booktools/execute.py``, ``booktools/qmd.py``), the effective execution
  options, the kernel, the Python version and the name and version of every installed
  distribution (the locked dependencies as installed);
- **the files the chapter read** while it ran, under the project folder (data files, files
  opened by ``%run``), recorded by an audit hook inside the kernel
  (:data:`booktools.execute.READ_TRACKER`) with their SHA-256: a record whose files changed
  since is a miss, never served.

jupyter-cache matches notebooks by a hash of their code cells and chosen metadata;
:class:`_BookCache` adds the key above (metadata ``booktools``) to what it hashes. The stored
notebook holds the executed code cells with their outputs (``jcache cache list -p
.jupyter_cache`` shows them); the Markdown with its inline values goes in its metadata.
Failed chapters are never cached.

Out of scope: files a chapter reads outside the project folder or through a subprocess
(they are not part of the book's state), network resources.
"""
from __future__ import annotations

import functools
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import qmd

__all__ = ["DEFAULT_DIR", "ChapterKey", "ExecutionCache", "chapter_key", "environment_fingerprint",
           "file_digest"]

#: Folder of the cache, relative to the project root.
DEFAULT_DIR = ".jupyter_cache"
#: Bump when the stored format changes.
FORMAT = 1
#: States kept per chapter (switching branches back and forth still hits the cache).
KEEP = 3
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: SHA-256 of a file's bytes, read in blocks (the one file digest of the book's tooling).
file_digest = _sha256


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _tree_digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and content under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()
                       and not _SKIP_DIRS.intersection(p.relative_to(folder).parts)
                       and p.suffix not in (".pyc", ".pyo")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def package_dirs(root: Path) -> list[Path]:
    """The project's own Python packages: the folders with ``__init__.py`` at the top of the
    project and at the top of each of its sub-projects (a folder with a ``pyproject.toml``,
    such as ``reference/``, the production reference's own distribution)."""
    projects = [root, *(p.parent for p in root.glob("*/pyproject.toml"))]
    return sorted(p.parent for project in projects for p in project.glob("*/__init__.py")
                  if p.parent.name not in ("booktools", "tests"))


@functools.lru_cache(maxsize=8)
def environment_fingerprint(root: Path, executor: bool = True) -> str:
    """SHA-256 of what every chapter depends on: packages, interpreter, installed dists, and,
    with ``executor``, this executor's own files (Quarto's freeze keys leave them out: a
    change to booktools does not change what Quarto executes)."""
    digest = hashlib.sha256(f"booktools-cache-{FORMAT}\n{sys.version}\n".encode())
    for folder in package_dirs(root):
        digest.update(f"package {folder.name} {_tree_digest(folder)}\n".encode())
    if executor:
        here = Path(__file__).resolve().parent
        for name in ("execute.py", "qmd.py", "cache.py"):
            digest.update(f"booktools/{name} {_sha256(here / name)}\n".encode())
    digest.update("\n".join(installed_distributions()).encode())
    return digest.hexdigest()


def installed_distributions() -> list[str]:
    """Every distribution installed in this interpreter's site folders, as its metadata
    folder's name.

    A wheel installs its metadata as ``{name}-{version}.dist-info`` (the packaging
    specifications define the name), so the folder names alone say what is installed, at
    which version: listing them takes milliseconds, where parsing each METADATA file through
    ``importlib.metadata`` takes half a second. Legacy ``.egg-info`` folders count as well.
    """
    found: set[str] = set()
    # The interpreter's own site folders, not ``sys.path``: what a kernel of this interpreter
    # imports from, whatever the caller added to its path (pytest puts the folder above each
    # doctested package there, which holds a build's ``.egg-info``).
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    folders = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    for entry in dict.fromkeys(folders):
        folder = Path(entry)
        try:
            found.update(p.name for p in folder.iterdir()
                         if p.suffix in (".dist-info", ".egg-info"))
        except OSError:  # a zip file, or a folder that does not exist
            continue
    return sorted(found)


@dataclass(frozen=True)
class ChapterKey:
    """What a chapter's output depends on (``state``) and its code cells (source, line)."""

    state: dict[str, Any]
    cells: tuple[tuple[str, int], ...]

    @property
    def chapter(self) -> str:
        return self.state["chapter"]


def chapter_key(path: Path | str, root: Path | str, profile: str | None = None) -> ChapterKey:
    """What the output of chapter ``path`` depends on, known before executing it.

    Raises :class:`booktools.qmd.QmdError` or ``OSError`` when the chapter cannot be read
    (the executor then reports the problem).
    """
    from .execute import _execute_dir, _kernel_of, document_options

    path, root = Path(path).resolve(), Path(root).resolve()
    config = qmd.read_project(root, profile)
    doc = qmd.parse_qmd(path, project_root=root)
    files = {path}
    for block in doc.blocks:
        origins = ([block.origin] if isinstance(block, qmd.Cell)
                   else [line.origin for line in block.lines])
        files.update(Path(o.file).resolve() for o in origins)
    files.update(p.resolve() for p in path.parent.glob("_*.py"))
    state = {
        "format": FORMAT,
        "chapter": _rel(path, root),
        "files": {_rel(f, root): _sha256(f) for f in sorted(files)},
        "options": json.loads(json.dumps(document_options(config, doc.front_matter),
                                         sort_keys=True, default=str)),
        "execute_dir": _rel(_execute_dir(config, path, root), root),
        "kernel": _kernel_of(doc.front_matter, config),
        "environment": environment_fingerprint(root),
    }
    return ChapterKey(state, tuple((c.source, c.origin.line) for c in doc.cells))


def _book_cache_class():
    from jupyter_cache.cache.main import JupyterCacheBase

    class _BookCache(JupyterCacheBase):
        """jupyter-cache, hashing the ``booktools`` key in the metadata as well."""

        def create_hashed_notebook(self, nb, nb_metadata=("kernelspec", "booktools"),
                                   cell_metadata=None):
            return super().create_hashed_notebook(nb, nb_metadata, cell_metadata)

    return _BookCache


class ExecutionCache:
    """Executed chapters of the book at ``root``, stored in ``root / DEFAULT_DIR``.

    :meth:`lookup` returns a cached :class:`~booktools.execute.ChapterResult` or ``None``;
    :meth:`store` keeps a successful one. Use through ``execute_book(..., cache=...)``.
    """

    def __init__(self, root: Path | str, path: Path | str | None = None):
        self.root = Path(root).resolve()
        self.path = Path(path) if path is not None else self.root / DEFAULT_DIR
        self._jc = None

    @property
    def jc(self):
        if self._jc is None:
            self._jc = _book_cache_class()(str(self.path))
        return self._jc

    # notebook <-> ChapterResult ------------------------------------------------------
    @staticmethod
    def _key_notebook(key: ChapterKey):
        """The notebook jupyter-cache hashes: the code cells and the key in the metadata."""
        import nbformat

        nb = nbformat.v4.new_notebook()
        kernel = key.state["kernel"]
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel,
                                     "language": "python"}
        nb.metadata["booktools"] = key.state
        for source, line in key.cells:
            code = nbformat.v4.new_code_cell(source)
            code.metadata["booktools"] = {"line": line}
            nb.cells.append(code)
        return nb

    def _notebook_of(self, result, key: ChapterKey):
        import nbformat

        from .execute import ExecutedCell

        cells = result.cells
        if [(c.source, c.line) for c in cells] != list(key.cells):
            raise ValueError(f"the result of {key.chapter} does not match its key.")
        nb = self._key_notebook(key)
        count = 0
        for code, cell in zip(nb.cells, cells):
            code.outputs = [nbformat.from_dict(o) for o in cell.outputs]
            if cell.executed:
                count += 1
                code.execution_count = count
        layout = ["code" if isinstance(b, ExecutedCell) else "markdown" for b in result.blocks]
        nb.metadata["booktools_result"] = json.loads(json.dumps({
            "layout": layout,
            "markdown": [b.text for b in result.blocks if not isinstance(b, ExecutedCell)],
            "cells": [{"options": c.options, "executed": c.executed} for c in cells],
            "front_matter": result.front_matter,
            "n_figures": result.n_figures,
            "seconds": result.seconds,
            "reads": self._read_hashes(result, key),
        }, default=str))
        return nb

    def _read_hashes(self, result, key: ChapterKey) -> dict[str, str]:
        known = set(key.state["files"])
        packages = tuple(d.relative_to(self.root).as_posix() + "/" for d in package_dirs(self.root))
        out = {}
        for rel in sorted(set(getattr(result, "reads", ()) or ())):
            path = self.root / rel
            if rel in known or rel.startswith(packages) or not path.is_file():
                continue
            out[rel] = _sha256(path)
        return out

    def _result_of(self, nb, path: Path):
        from .execute import ChapterResult, ExecutedCell, ExecutedMarkdown

        meta = nb.metadata["booktools_result"]
        codes = iter(zip(nb.cells, meta["cells"]))
        texts = iter(meta["markdown"])
        blocks = []
        for kind in meta["layout"]:
            if kind == "code":
                code, info = next(codes)
                blocks.append(ExecutedCell(code.source, dict(info["options"]),
                                           int(code.metadata["booktools"]["line"]),
                                           [dict(o) for o in json.loads(json.dumps(code.outputs))],
                                           bool(info["executed"])))
            else:
                blocks.append(ExecutedMarkdown(next(texts)))
        return ChapterResult(path, "ok", float(meta["seconds"]), int(meta["n_figures"]), None,
                             blocks, dict(meta["front_matter"]), reads=tuple(meta["reads"]),
                             cached=True)

    # public API ----------------------------------------------------------------------
    def key(self, path: Path | str, profile: str | None = None) -> ChapterKey | None:
        """The chapter's key, or ``None`` when it cannot be read (then: execute, no cache)."""
        try:
            return chapter_key(path, self.root, profile)
        except (qmd.QmdError, OSError, ValueError):
            return None

    def lookup(self, path: Path | str, key: ChapterKey | None):
        """The cached result for ``key`` if every file it read is unchanged, else ``None``."""
        if key is None or not self.path.exists():
            return None
        try:
            record = self.jc.match_cache_notebook(self._key_notebook(key))
            bundle = self.jc.get_cache_bundle(record.pk)
        except KeyError:
            return None
        meta = bundle.nb.metadata.get("booktools_result")
        if not meta:
            return None
        for rel, digest in meta.get("reads", {}).items():
            file = self.root / rel
            if not file.is_file() or _sha256(file) != digest:
                return None  # a file the chapter read has changed: re-execute
        try:
            return self._result_of(bundle.nb, Path(path))
        except (KeyError, StopIteration, TypeError, ValueError):
            return None  # an unreadable record is a miss

    def store(self, result, key: ChapterKey | None) -> bool:
        """Keep a successful result; returns whether it was stored."""
        if key is None or not result.ok:
            return False
        from jupyter_cache.base import CacheBundleIn

        import shutil

        try:
            nb = self._notebook_of(result, key)
            # a write interrupted earlier leaves a folder without its notebook: clear it
            _, hashkey = self.jc.create_hashed_notebook(nb)
            folder = self.path / "executed" / hashkey
            if folder.is_dir() and not (folder / "base.ipynb").is_file():
                shutil.rmtree(folder)
            self.jc.cache_notebook_bundle(CacheBundleIn(nb, key.chapter),
                                          check_validity=False, overwrite=True)
            self._prune(key.chapter)
        except Exception as exc:  # another process writing at the same moment: run uncached
            print(f"warning: could not cache {key.chapter}: {exc}", file=sys.stderr)
            return False
        return True

    def _prune(self, chapter: str) -> None:
        """Keep the :data:`KEEP` most recently used states of a chapter, drop older ones."""
        records = sorted((r for r in self.jc.list_cache_records() if r.uri == chapter),
                         key=lambda r: r.accessed, reverse=True)
        for record in records[KEEP:]:
            try:
                self.jc.remove_cache(record.pk)
            except KeyError:
                pass

    def clear(self) -> None:
        if self.path.exists():
            self.jc.clear_cache()
