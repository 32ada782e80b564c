"""Execute chapters the way Quarto's Jupyter engine does, one fresh kernel per chapter.

The rules followed (Quarto's, for the ``jupyter`` engine):

- each chapter runs in a fresh ``python3`` kernel whose working directory is the chapter's
  folder, or the project root when ``_quarto.yml`` sets ``execute-dir: project``;
- execution options come from ``_quarto.yml`` ``execute:``, then the front matter's
  ``execute:``, then each cell's ``#|`` options (the most specific wins): ``eval``, ``echo``,
  ``output``, ``include``, ``error``, ``warning``;
- an exception in a cell whose ``error`` is not true fails the chapter: execution stops there
  and the report names the file, the line of the cell and the exception; with ``error: true``
  the traceback becomes the cell's output and execution goes on;
- ``eval: false`` cells are not run; ``warning: false`` drops what the cell wrote to stderr;
- inline ``` `{python} expr` ``` expressions are evaluated in the kernel where they stand
  (after the cell before them has run) and render as the plain text of the value, strings
  without their quotes;
- one rule stricter than Quarto's, so that the page is what a reader can run: a hidden cell
  (``include: false`` or ``echo: false``) runs, in order, in a private namespace layered over
  the visible cells' names (:data:`HIDDEN_RUNNER`). Its side effects stay (a plot style,
  display options, a removed scratch folder) and hidden cells share their names with each
  other and with inline expressions (prose), but a visible cell that uses a name only a hidden
  cell defines fails with a ``NameError`` that says so. A hidden cell may not rebind a name a
  visible cell defined (under Quarto the visible cells would then see another value than
  here). What executes here therefore executes under Quarto, with the same values;
- a label used twice in a chapter fails it.

:func:`execute_book` runs many chapters in parallel worker processes and prints one line as
each finishes. A cell that runs longer than ``timeout`` seconds fails its chapter, so a
broken chapter never hangs the build. A kernel that dies or does not answer within
``startup_timeout`` seconds of its start is replaced once (:data:`KERNEL_START_ATTEMPTS`)
before the chapter fails with the kernels' logs; no cell has run by then, so this cannot
hide an error of the chapter.

With ``cache=`` (a :class:`booktools.cache.ExecutionCache`), :func:`execute_book` reuses the
result of a chapter whose inputs have not changed and executes only the others; to know
which project files a chapter reads, each kernel records them with an audit hook
(:data:`READ_TRACKER`). Out of scope: other kernels.
"""
from __future__ import annotations

import ast
import base64
import concurrent.futures as cf
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import qmd

__all__ = [
    "EXECUTE_OPTIONS",
    "READ_TRACKER",
    "HIDDEN_RUNNER",
    "is_hidden",
    "ChapterError",
    "Figure",
    "ExecutedCell",
    "ExecutedMarkdown",
    "ChapterResult",
    "document_options",
    "execute_chapter",
    "execute_book",
    "render_inline_value",
]

#: Execution options and Quarto's defaults for HTML output.
EXECUTE_OPTIONS: dict[str, Any] = {
    "eval": True, "echo": True, "output": True, "include": True,
    "error": False, "warning": True,
}

#: Run silently in each kernel before the chapter: records the files under the project the
#: chapter opens for reading (and, to leave them out, those it writes), so that the cache
#: can tell when one of them changes. An audit hook sees every ``open`` (``open()``,
#: ``io.open_code``, ``os.open``), whichever library makes it; it must never raise.
READ_TRACKER = r"""
def _booktools_track(root, exclude):
    import os, sys, types
    state = types.ModuleType("_booktools_reads")
    state.read, state.written = set(), set()
    writing_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    def hook(event, args, abspath=os.path.abspath, fspath=os.fspath):
        if event != "open":
            return
        try:
            path, mode, flags = args
            if isinstance(path, int):
                return
            path = fspath(path)
            if isinstance(path, bytes):
                path = path.decode("utf-8", "replace")
            path = abspath(path)
            if not path.startswith(root) or path.startswith(exclude):
                return
            if mode is None:
                writing = bool(flags & writing_flags)
            else:
                writing = any(c in mode for c in "wax+")
            (state.written if writing else state.read).add(path)
        except Exception:
            pass
    state.inputs = lambda: sorted(state.read - state.written)
    sys.modules["_booktools_reads"] = state
    sys.addaudithook(hook)
"""

#: Run silently in each kernel after it starts. ipykernel 7 answers a shutdown request on its
#: control thread and then flushes stdout through the IOPub thread, while the main thread's
#: exit handler is already stopping that thread: nearly every other shutdown then blocks
#: until the kernel manager sends SIGTERM 2.5 s later (0.2 s or 3.2 s per kernel; 9 of 20
#: slow in ``benchmarks/bench_kernels.py``). An exit handler registered after ipykernel's own
#: runs before it; waiting there for the control thread to finish (it stops after the
#: shutdown request) lets every kernel exit in 0.2 s (0 of 20 slow in the same run). Bounded,
#: in case a kernel exits without a shutdown request.
EXIT_ORDER = r"""
def _booktools_exit_order():
    import atexit
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:  # another kernel: nothing to order
        return
    control = getattr(IPKernelApp.instance(), "control_thread", None) \
        if IPKernelApp.initialized() else None
    if control is not None:
        atexit.register(control.join, 5)
_booktools_exit_order(); del _booktools_exit_order
"""

#: Run silently in each kernel that has hidden cells (see the module's rules): a module
#: ``_booktools_hidden`` whose ``run`` executes a hidden cell privately and whose ``inline``
#: evaluates an inline expression where hidden names are visible too.
HIDDEN_RUNNER = r"""
def _booktools_hidden():
    import ast, re, sys, types
    from pathlib import Path
    from IPython import get_ipython
    from IPython.display import display
    state = types.ModuleType("_booktools_hidden")
    state.store = {}  # names hidden cells defined, shared among hidden cells and prose

    def namespace():
        user = get_ipython().user_ns
        ns = dict(user)
        for name, value in state.store.items():
            ns.setdefault(name, value)
        return user, ns

    def run(source, where):
        shell = get_ipython()
        user, ns = namespace()
        ns["__run_file__"] = lambda file: exec(
            compile(Path(file).read_text(encoding="utf-8"), file, "exec"), ns)
        source = re.sub(r"(?m)^(\s*)%run\s+(\S+)\s*$",
                        lambda m: m.group(1) + "__run_file__(" + repr(m.group(2)) + ")", source)
        tree = ast.parse(shell.transform_cell(source), where)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) \
                and not source.rstrip().endswith(";"):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, where, "exec"), ns)
        if last is not None:  # shown like a cell's last expression (display_data)
            value = eval(compile(last, where, "eval"), ns)
            if value is not None:
                display(value)
        for name, value in ns.items():
            if name.startswith("_") or name in ("In", "Out", "get_ipython", "exit", "quit"):
                continue
            if name in user and user[name] is not value:
                raise NameError(
                    f"the hidden cell at {where} rebinds {name!r}, which a visible cell "
                    "defined; under Quarto the visible cells would see the hidden value. Use "
                    "another name in the hidden cell.")
            if name not in user:
                state.store[name] = value

    def inline(expr):
        return eval(expr, namespace()[1])

    def defines(name):
        return name in state.store

    state.run, state.inline, state.defines = run, inline, defines
    sys.modules["_booktools_hidden"] = state
"""

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MPL_INLINE = "module://matplotlib_inline.backend_inline"


@dataclass(frozen=True)
class ChapterError:
    """Why a chapter failed: where, and which exception."""

    file: str
    line: int
    exception: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.exception}: {self.message}"


@dataclass(frozen=True)
class Figure:
    png: bytes
    label: str | None
    caption: str | None
    alt: str | None


@dataclass
class ExecutedCell:
    """A cell after execution: its code, effective options and outputs (nbformat dicts)."""

    source: str
    options: dict[str, Any]
    line: int
    outputs: list[dict[str, Any]] = field(default_factory=list)
    executed: bool = False

    @property
    def label(self) -> str | None:
        label = self.options.get("label")
        return None if label is None else str(label)

    def figures(self) -> list[Figure]:
        """PNG images this cell displays, labelled ``label``, ``label-2``, ... ."""
        pngs = [o["data"]["image/png"] for o in self.outputs
                if o.get("output_type") in ("display_data", "execute_result")
                and "image/png" in o.get("data", {})]
        out = []
        for k, png in enumerate(pngs, start=1):
            label = self.label if k == 1 or self.label is None else f"{self.label}-{k}"
            out.append(Figure(base64.b64decode(png), label, self.options.get("fig-cap"),
                              self.options.get("fig-alt")))
        return out

    @property
    def shows_output(self) -> bool:
        return bool(self.options.get("include", True)) and self.options.get("output", True) is not False


@dataclass
class ExecutedMarkdown:
    """Markdown with each inline expression replaced by the text of its value."""

    text: str


@dataclass
class ChapterResult:
    path: Path
    status: str  # "ok" or "failed"
    seconds: float
    n_figures: int = 0
    error: ChapterError | None = None
    blocks: list[ExecutedCell | ExecutedMarkdown] = field(default_factory=list)
    front_matter: dict[str, Any] = field(default_factory=dict)
    #: project files (relative to the root) the chapter opened for reading while it ran
    reads: tuple[str, ...] = ()
    #: true when the result came from the execution cache
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def cells(self) -> list[ExecutedCell]:
        return [b for b in self.blocks if isinstance(b, ExecutedCell)]


def document_options(config: dict[str, Any], front_matter: dict[str, Any]) -> dict[str, Any]:
    """Execution options for a document: defaults < ``_quarto.yml`` < front matter.

    >>> document_options({"execute": {"echo": False}}, {"execute": {"warning": False}})["echo"]
    False
    """
    options = dict(EXECUTE_OPTIONS)
    for source in (config, front_matter):
        execute = (source or {}).get("execute") or {}
        if not isinstance(execute, dict):
            raise ValueError(f"`execute` must be a mapping of options; got {execute!r}.")
        options.update({k: v for k, v in execute.items() if k in EXECUTE_OPTIONS})
    return options


def is_hidden(options: dict[str, Any]) -> bool:
    """Whether a reader does not see a cell's code (``include: false`` or ``echo: false``).

    >>> is_hidden({"echo": False}), is_hidden({"include": False}), is_hidden({"echo": True})
    (True, True, False)
    """
    return options.get("include") is False or options.get("echo") is False


def render_inline_value(data: dict[str, str]) -> str:
    """Text of an inline expression's value, from its MIME bundle, as Quarto renders it.

    Markdown wins over plain text; a string loses its quotes.

    >>> render_inline_value({"text/plain": "'drift'"})
    'drift'
    >>> render_inline_value({"text/plain": "0.25"})
    '0.25'
    """
    if "text/markdown" in data:
        return str(data["text/markdown"])
    text = str(data.get("text/plain", ""))
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text[1:-1]
        return value if isinstance(value, str) else text
    return text


def _execute_dir(config: dict[str, Any], path: Path, root: Path) -> Path:
    for section in ("execute", "project"):
        if ((config.get(section) or {}).get("execute-dir")) == "project":
            return root
    return path.parent


def _kernel_of(front_matter: dict[str, Any], config: dict[str, Any]) -> str:
    for source in (front_matter, config):
        value = source.get("jupyter")
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            name = (value.get("kernelspec") or {}).get("name")
            if name:
                return str(name)
    return "python3"


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = MPL_INLINE  # plt.show() and open figures become PNG display_data
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    env.pop("PYTHONWARNINGS", None)
    return env


def _relative(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve())) if root else str(path)
    except ValueError:
        return str(path)


def _origin_error(exc: Exception, fallback: Path, root: Path | None, name: str) -> ChapterError:
    text = str(exc)
    match = re.match(r"^(.*?):(\d+): (.*)$", text, re.S)
    if match:
        return ChapterError(_relative(Path(match.group(1)), root), int(match.group(2)), name,
                            match.group(3))
    return ChapterError(_relative(fallback, root), 1, name, text)


class _Kernel:
    """A fresh kernel for one chapter, driven through nbclient."""

    def __init__(self, cwd: Path, kernel_name: str, timeout: float, startup_timeout: float):
        import nbclient
        import nbformat
        import zmq
        from traitlets.config import Config

        # Where Unix sockets exist, the kernel listens on sockets in a private folder of its
        # own: nothing to pick, so nothing to race for. Over TCP the client picks five free
        # ports and the kernel binds them a second later; when another process took one in
        # between (parallel kernels on a busy machine), the kernel could not bind it and hung
        # on exit, alive and silent, until the start-up timeout.
        self._sockets = tempfile.mkdtemp(prefix="bk-kernel-") if os.name == "posix" else None
        if self._sockets is not None:
            manager = {"transport": "ipc", "transport_encryption": "disabled",
                       "connection_file": os.path.join(self._sockets, "kernel.json")}
        else:  # encrypted TCP where the kernel supports it (and no plain-TCP warning)
            manager = {"transport_encryption": "auto" if zmq.has("curve") else "disabled"}
        config = Config({"KernelManager": manager})

        self._nbformat = nbformat
        self.nb = nbformat.v4.new_notebook()
        self.client = nbclient.NotebookClient(
            self.nb, config=config, kernel_name=kernel_name, timeout=timeout, allow_errors=True,
            startup_timeout=startup_timeout, record_timing=False,
            extra_arguments=["--HistoryManager.enabled=False"],
            resources={"metadata": {"path": str(cwd)}})
        self.timeout = timeout
        # The kernel's own log (start-up, shutdown, crashes) goes to a file, not the console;
        # its tail is reported when the kernel dies.
        self.log = tempfile.TemporaryFile(mode="w+b")
        self._context = self.client.setup_kernel(env=_kernel_env(), stderr=self.log)
        try:
            self._context.__enter__()  # nbclient shuts the kernel down if it never answers
        except BaseException as exc:
            exc.kernel_log = self.log_tail()
            self._release()
            raise

    def log_tail(self, n: int = 5) -> str:
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        return "\n".join(lines[-n:])

    def run(self, source: str) -> list[dict[str, Any]]:
        cell = self._nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1, store_history=True)
        return json.loads(json.dumps(cell.outputs))

    def evaluate(self, expr: str, code: str = "") -> dict[str, Any]:
        """Run ``code`` silently, then evaluate ``expr`` (``user_expressions``)."""
        from jupyter_core.utils import run_sync

        kc = self.client.kc
        msg_id = kc.execute(code, silent=True, store_history=False,
                            user_expressions={"value": expr})
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"inline expression {expr!r} took longer than "
                                   f"{self.timeout} s")
            reply = run_sync(kc.get_shell_msg)(timeout=remaining)
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                content = reply["content"]
                if content.get("status") != "ok":
                    return content
                return content["user_expressions"]["value"]

    def close(self) -> None:
        try:
            self._context.__exit__(None, None, None)
        finally:
            self._release()

    def _release(self) -> None:
        self.log.close()
        if self._sockets is not None:
            shutil.rmtree(self._sockets, ignore_errors=True)


#: How many times a kernel is started before the chapter fails, and how long each start may
#: take. A start that fails (the kernel dies before it answers, or never answers) has failed
#: before any cell ran, so starting a fresh kernel cannot hide an error of the chapter; it
#: rides out a start-up failure of a loaded machine. (The one seen in this project's CI, a
#: TCP port race, is removed at its cause in :class:`_Kernel`: 2 of 500 parallel starts on a
#: loaded machine failed over TCP, 0 of 500 over Unix sockets.)
KERNEL_START_ATTEMPTS = 2
KERNEL_STARTUP_TIMEOUT = 60.0


class KernelStartError(RuntimeError):
    """Every attempt to start the chapter's kernel failed."""


def _start_kernel(cwd: Path, kernel_name: str, timeout: float, startup_timeout: float,
                  attempts: int = KERNEL_START_ATTEMPTS) -> _Kernel:
    from jupyter_client.kernelspec import NoSuchKernel

    failures = []
    for _ in range(attempts):
        try:
            return _Kernel(cwd, kernel_name, timeout, startup_timeout)
        except NoSuchKernel as exc:  # no kernel spec of that name: trying again cannot help
            raise KernelStartError(f"kernel {kernel_name!r} is not installed: {exc}") from exc
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            log = getattr(exc, "kernel_log", "")
            if log:
                failures[-1] += f" (kernel log: {log})"
    raise KernelStartError(f"kernel {kernel_name!r} did not start ({attempts} attempt(s), "
                           f"{startup_timeout:g} s each): " + "; ".join(failures))


def _error_output(outputs: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((o for o in outputs if o.get("output_type") == "error"), None)


def _inline_pass(text_lines: list[tuple[str, bool, qmd.Origin]], kernel: _Kernel | None,
                 evaluate: bool, root: Path | None,
                 private: bool = False) -> tuple[str, ChapterError | None]:
    out = []
    for text, in_code, origin in text_lines:
        found = [] if in_code else qmd.find_inline(text)
        if not found:
            out.append(text)
            continue
        pieces, last = [], 0
        for begin, end, expr in found:
            pieces.append(text[last:begin])
            if not evaluate or kernel is None:
                pieces.append(f"`{expr}`")
            else:
                try:
                    value = kernel.evaluate(
                        f"__import__('_booktools_hidden').inline({expr!r})" if private else expr)
                except TimeoutError as exc:
                    return "", ChapterError(_relative(origin.file, root), origin.line,
                                            "TimeoutError", str(exc))
                if value.get("status") != "ok":
                    return "", ChapterError(
                        _relative(origin.file, root), origin.line, value.get("ename", "Error"),
                        f"in inline expression `{expr}`: {value.get('evalue', '')}")
                pieces.append(render_inline_value(value.get("data", {})))
            last = end
        pieces.append(text[last:])
        out.append("".join(pieces))
    return "\n".join(out), None


def execute_chapter(path: Path | str, *, project_root: Path | str | None = None,
                    profile: str | None = None, timeout: float = 300,
                    kernel_name: str | None = None,
                    startup_timeout: float = KERNEL_STARTUP_TIMEOUT) -> ChapterResult:
    """Execute one ``.qmd`` in a fresh kernel and report what happened.

    The kernel is the one the front matter names (``jupyter: python3``), else the one
    ``_quarto.yml`` names, else ``python3``, unless ``kernel_name`` is given.

    Never raises for a problem in the chapter: the returned :class:`ChapterResult` has
    ``status == "failed"`` and an ``error`` naming file, line and exception.
    """
    path = Path(path)
    for name, value in (("timeout", timeout), ("startup_timeout", startup_timeout)):
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"`{name}` must be a positive number of seconds; got {value!r}.")
    start = time.perf_counter()
    root = Path(project_root) if project_root is not None else qmd.find_project_root(path.parent)
    rel = _relative(path, root)

    def failed(error: ChapterError, blocks=(), front=None) -> ChapterResult:
        return ChapterResult(path, "failed", time.perf_counter() - start, 0, error,
                             list(blocks), front or {})

    try:
        config = qmd.read_project(root, profile) if root is not None else {}
        doc = qmd.parse_qmd(path, project_root=root)
    except qmd.QmdError as exc:
        return failed(_origin_error(exc, path, root, "QmdError"))
    except FileNotFoundError:
        return failed(ChapterError(rel, 0, "FileNotFoundError", "the file does not exist."))
    counts = Counter(label.name for label in doc.labels())
    for label in doc.labels():
        if counts[label.name] > 1:
            first = next(lb for lb in doc.labels() if lb.name == label.name)
            if label != first:
                return failed(ChapterError(
                    _relative(label.origin.file, root), label.origin.line, "DuplicateLabelError",
                    f"label {label.name!r} is already used at "
                    f"{_relative(first.origin.file, root)}:{first.origin.line}; labels must be "
                    "unique."), front=doc.front_matter)
    try:
        defaults = document_options(config, doc.front_matter)
    except ValueError as exc:
        return failed(ChapterError(rel, 1, "ValueError", str(exc)), front=doc.front_matter)

    # hidden cells that run: executed privately (the module's rules)
    private = any({**defaults, **c.options}.get("eval") is not False
                  and is_hidden({**defaults, **c.options}) for c in doc.cells)
    needs_kernel = any({**defaults, **c.options}.get("eval") is not False for c in doc.cells) or (
        defaults["eval"] is not False and bool(doc.inline_expressions()))
    kernel = None
    blocks: list[ExecutedCell | ExecutedMarkdown] = []
    try:
        if needs_kernel:
            cwd = _execute_dir(config, path, root if root is not None else path.parent)
            try:
                kernel = _start_kernel(cwd.resolve(),
                                       kernel_name or _kernel_of(doc.front_matter, config),
                                       timeout, startup_timeout)
            except KernelStartError as exc:
                return failed(ChapterError(rel, 1, "KernelStartError", str(exc)),
                              front=doc.front_matter)
            _silently(kernel, EXIT_ORDER, "the exit order")
            if root is not None:
                _track_reads(kernel, Path(root))
            if private:
                _silently(kernel, HIDDEN_RUNNER + "\n_booktools_hidden(); del _booktools_hidden",
                          "the hidden-cell runner")
        for block in doc.blocks:
            if isinstance(block, qmd.Markdown):
                lines = [(ln.text, code, ln.origin)
                         for ln, code in zip(block.lines, block.in_code)]
                text, error = _inline_pass(lines, kernel, defaults["eval"] is not False, root,
                                           private)
                if error is not None:
                    return failed(error, blocks, doc.front_matter)
                blocks.append(ExecutedMarkdown(text))
                continue
            options = {**defaults, **block.options}
            cell = ExecutedCell(block.source, options, block.origin.line)
            blocks.append(cell)
            if options.get("eval") is False or kernel is None:
                continue
            where = f"{_relative(block.origin.file, root)}:{block.origin.line} (hidden cell)"
            source = (f"__import__('_booktools_hidden').run({block.source!r}, {where!r})"
                      if private and is_hidden(options) else block.source)
            try:
                cell.outputs = kernel.run(source)
            except Exception as exc:  # timeout, dead kernel: the chapter fails, never hangs
                name = "TimeoutError" if "Timeout" in type(exc).__name__ else type(exc).__name__
                message = str(exc).strip().splitlines()[-1] if str(exc).strip() else name
                return failed(ChapterError(_relative(block.origin.file, root), block.origin.line,
                                           name, message, kernel.log_tail()),
                              blocks, doc.front_matter)
            cell.executed = True
            error = _error_output(cell.outputs)
            if error is not None and options.get("error") is not True:
                message = error.get("evalue", "")
                if private and not is_hidden(options) and _hidden_name(kernel, error):
                    message += (" (only a hidden cell defines it, and readers do not see hidden "
                                "cells: import or define it in a visible cell)")
                return failed(ChapterError(
                    _relative(block.origin.file, root), block.origin.line, error.get("ename", ""),
                    message, ANSI.sub("", "\n".join(error.get("traceback", [])))),
                    blocks, doc.front_matter)
            if options.get("warning") is False:
                cell.outputs = [o for o in cell.outputs if not (
                    o.get("output_type") == "stream" and o.get("name") == "stderr")]
        reads = _reads(kernel, Path(root)) if kernel is not None and root is not None else ()
    finally:
        if kernel is not None:
            kernel.close()
    n_figures = sum(len(c.figures()) for c in blocks
                    if isinstance(c, ExecutedCell) and c.shows_output)
    return ChapterResult(path, "ok", time.perf_counter() - start, n_figures, None, blocks,
                         doc.front_matter, reads=reads)


def _silently(kernel: _Kernel, code: str, what: str) -> None:
    reply = kernel.evaluate("None", code)
    if reply.get("status") != "ok":
        raise RuntimeError(f"could not start {what}: {reply.get('evalue', reply)}")


def _hidden_name(kernel: _Kernel, error: dict[str, Any]) -> bool:
    """Whether a ``NameError`` names a variable that only a hidden cell defined."""
    match = re.match(r"name '(\w+)' is not defined", error.get("evalue", ""))
    if error.get("ename") != "NameError" or match is None:
        return False
    reply = kernel.evaluate(f"__import__('_booktools_hidden').defines({match.group(1)!r})")
    return reply.get("status") == "ok" and reply.get("data", {}).get("text/plain") == "True"


def _track_reads(kernel: _Kernel, root: Path) -> None:
    root = root.resolve()
    exclude = tuple(str(p) + os.sep for p in (
        root / ".venv", root / ".jupyter_cache", root / "_book", root / "_freeze",
        Path(sys.prefix).resolve()))
    call = f"_booktools_track({str(root) + os.sep!r}, {exclude!r}); del _booktools_track"
    _silently(kernel, READ_TRACKER + "\n" + call, "the read tracker")


def _reads(kernel: _Kernel, root: Path) -> tuple[str, ...]:
    """Project files the chapter opened for reading, relative to ``root``."""
    reply = kernel.evaluate("__import__('json').dumps(__import__('_booktools_reads').inputs())")
    if reply.get("status") != "ok":
        raise RuntimeError(f"could not read the read tracker: {reply.get('evalue', reply)}")
    paths = json.loads(ast.literal_eval(reply["data"]["text/plain"]))
    root = root.resolve()
    return tuple(sorted(Path(p).relative_to(root).as_posix() for p in paths))


def _progress_line(done: int, total: int, result: ChapterResult, root: Path | None) -> str:
    name = _relative(result.path, root)
    if result.ok and result.cached:
        return (f"[{done}/{total}] {name}  cached  (unchanged since it executed in "
                f"{result.seconds:.1f} s)")
    if result.ok:
        figs = f"{result.n_figures} figure" + ("" if result.n_figures == 1 else "s")
        return f"[{done}/{total}] {name}  ok  {result.seconds:.1f} s  {figs}"
    return f"[{done}/{total}] {name}  FAILED  {result.seconds:.1f} s  {result.error}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _InProcess(cf.Executor):
    """An executor that runs each call at once, in this process."""

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def execute_book(paths: list[Path | str], *, project_root: Path | str | None = None,
                 profile: str | None = None, jobs: int | None = None, timeout: float = 300,
                 progress: Callable[[str], Any] | None = print,
                 cache: Any = None) -> list[ChapterResult]:
    """Execute chapters in parallel worker processes; results in the order of ``paths``.

    ``jobs`` defaults to ``os.cpu_count()``; ``progress`` receives one line per finished
    chapter (``None`` for silence). With ``cache`` (a
    :class:`booktools.cache.ExecutionCache`), a chapter whose inputs are unchanged since a
    successful execution is not executed again: its stored result is returned, with
    ``cached`` true; the others are executed and their successful results stored.
    """
    paths = [Path(p) for p in paths]
    if jobs is None:
        jobs = os.cpu_count() or 1
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ValueError(f"`jobs` must be a positive integer; got {jobs!r}.")
    if not paths:
        return []
    root = Path(project_root) if project_root is not None else None
    results: dict[int, ChapterResult] = {}

    def report(i: int) -> None:
        if progress is not None:
            progress(_progress_line(len(results), len(paths), results[i], root))
            if hasattr(sys.stdout, "flush"):
                sys.stdout.flush()

    keys: dict[int, Any] = {}
    if cache is not None:
        for i, path in enumerate(paths):
            keys[i] = cache.key(path, profile)
            hit = cache.lookup(path, keys[i])
            if hit is not None:
                results[i] = hit
                report(i)
    todo = [i for i in range(len(paths)) if i not in results]
    if not todo:
        return [results[i] for i in range(len(paths))]
    kwargs = dict(project_root=project_root, profile=profile, timeout=timeout)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    # One chapter to execute runs here: a worker process would only add its own start-up.
    with (_InProcess() if len(todo) == 1 else
          cf.ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context)) as pool:
        # Longest first (file size as the estimate), so that a long chapter started last
        # does not leave the other cores idle at the end.
        order = sorted(todo, key=lambda i: -_size(paths[i]))
        futures = {pool.submit(execute_chapter, paths[i], **kwargs): i for i in order}
        for future in cf.as_completed(futures):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:  # a worker died: report it as that chapter's failure
                results[i] = ChapterResult(paths[i], "failed", 0.0, 0, ChapterError(
                    _relative(paths[i], root), 0, type(exc).__name__, str(exc)))
            # stored only if its inputs did not change while it ran (else: next run executes)
            if cache is not None and results[i].ok and keys.get(i) is not None \
                    and cache.key(paths[i], profile) == keys[i]:
                cache.store(results[i], keys[i])
            report(i)
    return [results[i] for i in range(len(paths))]
