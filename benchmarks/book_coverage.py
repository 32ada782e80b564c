"""How much of the two packages the book runs: statements executed, and public names never entered.

Issue 25 asks that every public function, class and mode of ``mlops_companion`` (the
reader's kit) and ``reference/mlops_reference`` (the production reference) be used on a
page, in an exercise or by the deployment the book builds. This measures it:

1. **The book**, executed under coverage.py: every chapter and appendix with code cells
   (``appendices/solutions.qmd`` aside: it is generated from the same sources as the solution
   notebooks, which run instead), each by the book's own executor
   (:func:`booktools.execute.execute_chapter`: a fresh kernel in ``chapters/``, ``%run
   _common.py``, hidden cells, inline expressions), and every worked solution notebook
   (``solutions/*.ipynb``), each in a fresh kernel in ``solutions/`` with nbclient, as
   :func:`booktools.notebooks.solution_notebook` runs them.
2. **The deployment the book builds**: ``python -m mlops_reference.deploy generate DIR``
   (the generator of ``deploy/``), and the container's entry point ``python -m
   mlops_reference.deploy serve`` on 127.0.0.1 with a real artefact and its SHA-256, asked
   what the cluster asks it (``/healthz``, ``/readyz``, ``/metrics``) and one prediction, then
   stopped with SIGTERM as Kubernetes stops it.

How the kernels are measured: coverage.py's own subprocess support. A configuration file is
written to a temporary folder and named by ``COVERAGE_PROCESS_START``; the ``.pth`` file that
coverage installs (``a1_coverage.pth``, coverage >= 7.10) starts measuring in every Python
process that sees that variable, so each kernel (the executor copies the environment into
it), each server, each Dask worker (spawned) and each ``pytest`` a chapter runs writes its own
data file (``parallel``), saved at exit, on SIGTERM (``sigterm``) and before ``os._exit``
(``patch = _exit``). Threads (the in-process uvicorn servers, the prediction log's writer)
are measured by coverage's default thread support. The data are then combined.

What is counted (printed with the figures): the statements of every module of both
packages, except coverage.py's ``# pragma: no cover`` and the rule of issue 25, "raise/except
lines aside", made precise as two ``exclude_also`` patterns: ``^\\s*raise\\b`` (a ``raise``
statement, all its lines) and ``^\\s*except\\b`` (an ``except`` clause *and its whole handler
body*; coverage excludes the block a matched line opens). A public function or method is
*entered* when any line of its body after the docstring executed (raw data, exclusions not
applied); a public class when any of its methods was entered. Public names: each module's
``__all__`` (functions and classes only; constants and submodules have no code to enter),
deduplicated by where they are defined, and the public methods (no leading ``_``) of those
classes. A class with no method of its own (a dataclass result, an exception) has no line
that runs when it is used: such classes are listed apart, not judged.

Run (several minutes; nice it on a shared machine)::

    nice -n 10 .venv/bin/python benchmarks/book_coverage.py [--chapters 04 06-monitoring ...]
        [--no-solutions] [--no-deployment] [--jobs N] [--json out.json] [--data-file .coverage]
    .venv/bin/python benchmarks/book_coverage.py --report-only .coverage   # no execution

``--chapters`` takes chapter stems or their prefixes (``04``, ``06-monitoring``) and keeps
the matching chapters, appendices and solution notebooks. The exit status is 1 when a
document or the deployment failed (the figures are then a lower bound), else 0.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import contextlib
import importlib
import inspect
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The two packages and the folders their modules live in.
PACKAGES = {"mlops_companion": ROOT / "mlops_companion",
            "mlops_reference": ROOT / "reference" / "mlops_reference"}
#: Lines left out of the statement counts (issue 25: "raise/except lines aside"), on top of
#: coverage.py's default ``# pragma: no cover``. A matched line that opens a block (an
#: ``except`` clause) excludes the whole block; a matched first line excludes a whole
#: multi-line statement.
EXCLUDE_ALSO = (r"^\s*raise\b", r"^\s*except\b")
RULE = ("statements of every module of both packages; excluded: a `raise` statement (all its "
        "lines; regex ^\\s*raise\\b), an `except` clause with its whole handler body (regex "
        "^\\s*except\\b), and `# pragma: no cover`")
#: Generated from the same exercise sources as solutions/*.ipynb, which run instead.
SKIPPED_APPENDICES = ("solutions.qmd",)
CELL = re.compile(r"^```\{python", re.M)


# ---------------------------------------------------------------------------- collecting

def coverage_config(data_dir: Path, packages: dict[str, Path] = PACKAGES) -> Path:
    """Write the coverage configuration every measured process reads; return its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    indent = "\n    "
    text = (
        "[run]\n"
        f"data_file = {data_dir / '.coverage'}\n"
        "parallel = true\n"
        f"source ={indent}{indent.join(str(p) for p in packages.values())}\n"
        "sigterm = true\n"
        "patch = _exit\n"
        "disable_warnings = module-not-imported, no-data-collected, module-not-measured\n"
        "\n[report]\n"
        f"exclude_also ={indent}{indent.join(EXCLUDE_ALSO)}\n")
    path = data_dir / "coveragerc"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def measuring(rcfile: Path) -> Iterator[None]:
    """Every Python process started inside this block measures itself (see the module)."""
    old = os.environ.get("COVERAGE_PROCESS_START")
    os.environ["COVERAGE_PROCESS_START"] = str(rcfile)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COVERAGE_PROCESS_START", None)
        else:
            os.environ["COVERAGE_PROCESS_START"] = old


def book_documents(root: Path = ROOT, selected: list[str] | None = None,
                   solutions: bool = True) -> list[Path]:
    """Chapters and appendices with code cells, then the solution notebooks."""
    docs = sorted((root / "chapters").glob("*.qmd")) + sorted((root / "appendices").glob("*.qmd"))
    docs = [p for p in docs if p.name not in SKIPPED_APPENDICES
            and CELL.search(p.read_text(encoding="utf-8"))]
    if solutions:
        docs += sorted((root / "solutions").glob("*.ipynb"))
    if selected:
        docs = [p for p in docs if any(p.stem.startswith(s) for s in selected)]
    return docs


def _execute_notebook(path: Path, timeout: float) -> tuple[str, float, str]:
    """Run a solution notebook as booktools.notebooks.solution_notebook does."""
    import nbformat
    from nbclient import NotebookClient

    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute(
            stderr=subprocess.DEVNULL)  # the kernel's own log (a plain-TCP warning)
    except Exception as exc:  # a failing cell: report it, keep what ran
        first = str(exc).strip().splitlines()
        return "failed", time.perf_counter() - start, f"{type(exc).__name__}: {first[-1] if first else ''}"
    return "ok", time.perf_counter() - start, ""


def _execute_document(path: Path, root: Path | None, timeout: float) -> tuple[str, float, str]:
    if path.suffix == ".ipynb":
        return _execute_notebook(path, timeout)
    from booktools import execute

    result = execute.execute_chapter(path, project_root=root, timeout=timeout)
    return result.status, result.seconds, "" if result.ok else str(result.error)


def run_documents(paths: list[Path], *, root: Path | None = ROOT, jobs: int = 1,
                  timeout: float = 600, progress=print) -> dict[str, dict[str, Any]]:
    """Execute each document in a fresh kernel (``jobs`` at a time); status per document."""
    runs: dict[str, dict[str, Any]] = {}

    def report(path: Path, status: str, seconds: float, error: str) -> None:
        name = _rel(path, root)
        runs[name] = {"status": status, "seconds": round(seconds, 1), "error": error}
        if progress:
            progress(f"[{len(runs)}/{len(paths)}] {name}  {status}  {seconds:.1f} s"
                     + (f"  {error}" if error else ""))

    if jobs == 1 or len(paths) <= 1:  # here, one after the other
        for path in paths:
            report(path, *_execute_document(path, root, timeout))
        return runs
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=context) as pool:
        # longest first (file size as the estimate), as booktools.execute.execute_book does
        order = sorted(paths, key=lambda p: -p.stat().st_size)
        futures = {pool.submit(_execute_document, p, root, timeout): p for p in order}
        for future in cf.as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # a worker died
                result = ("failed", 0.0, f"{type(exc).__name__}: {exc}")
            report(futures[future], *result)
    return runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None, timeout: float = 10) -> int:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def run_deployment(work: Path, *, progress=print) -> dict[str, dict[str, Any]]:
    """The generator of deploy/, and the container's entry point serving a real artefact.

    Measured only through the subprocesses (call it inside :func:`measuring`); the artefact
    is made here, in this unmeasured process.
    """
    runs: dict[str, dict[str, Any]] = {}
    env = dict(os.environ)
    start = time.perf_counter()
    gen = subprocess.run([sys.executable, "-m", "mlops_reference.deploy", "generate", str(work / "deploy"),
                          "--rule", str(ROOT / "deploy" / "canary-rule.json")],
                         env=env, capture_output=True, text=True, timeout=300)
    runs["python -m mlops_reference.deploy generate"] = {
        "status": "ok" if gen.returncode == 0 else "failed",
        "seconds": round(time.perf_counter() - start, 1), "error": gen.stderr.strip()[-500:]}

    from mlops_companion import data
    from mlops_reference import artefacts

    start = time.perf_counter()
    scenario = data.make_scenario()
    (work / "models").mkdir()
    manifest = artefacts.save_artefact(scenario.pipeline, work / "models" / "model.joblib",
                                       example_input=scenario.X_test.head(3))
    port = _free_port()
    env.update(MODEL_ARTEFACT=str(work / "models" / "model.joblib"), MODEL_SHA256=manifest.sha256,
               MODEL_VERSION="v1", HOST="127.0.0.1", PORT=str(port))
    url = f"http://127.0.0.1:{port}"
    row = json.loads(scenario.X_test.head(1).to_json(orient="records"))[0]
    log = open(work / "serve.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "mlops_reference.deploy", "serve"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    status, error = "failed", ""
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if _get(url + "/healthz", timeout=2) == 200:
                    break
            except OSError:
                time.sleep(0.3)
        codes = {"/healthz": _get(url + "/healthz"), "/readyz": _get(url + "/readyz"),
                 "/metrics": _get(url + "/metrics"),
                 "/predict": _get(url + "/predict", json.dumps(row).encode())}
        status = "ok" if all(c == 200 for c in codes.values()) else "failed"
        error = "" if status == "ok" else f"status codes {codes}"
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        server.send_signal(signal.SIGTERM)  # as Kubernetes stops a pod
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            error = error or "did not stop within 30 s of SIGTERM (its coverage data are lost)"
            status = "failed"
        log.seek(0)
        if status != "ok":
            error += " | " + log.read().strip()[-500:]
        log.close()
    runs["python -m mlops_reference.deploy serve"] = {
        "status": status, "seconds": round(time.perf_counter() - start, 1), "error": error}
    if progress:
        for name, run in runs.items():
            progress(f"[deployment] {name}  {run['status']}  {run['seconds']} s"
                     + (f"  {run['error']}" if run["error"] else ""))
    return runs


# ----------------------------------------------------------------------------- reporting

@dataclass
class ModuleCoverage:
    module: str
    statements: int
    executed: int

    @property
    def percent(self) -> float:
        return 100.0 * self.executed / self.statements if self.statements else 100.0


@dataclass
class PublicName:
    name: str          # where a reader finds it: module with the __all__, then the name
    kind: str          # "function", "class" or "method"
    where: str         # file:line of the definition, relative to the repository
    lines: int         # source lines of the definition, decorators included
    entered: bool


@dataclass
class Report:
    rule: str
    modules: list[ModuleCoverage]
    public: list[PublicName]
    no_code_classes: list[str]
    #: lines of every function and method (public or private) never entered, counted once
    unentered_function_lines: int
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def totals(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for m in self.modules:
            for key in (m.module.split(".")[0], "both"):
                s, e = out.get(key, (0, 0))
                out[key] = (s + m.statements, e + m.executed)
        return out

    @property
    def never_entered(self) -> list[PublicName]:
        return [p for p in self.public if not p.entered]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule,
                "modules": [{**asdict(m), "percent": round(m.percent, 1)} for m in self.modules],
                "totals": {k: {"statements": s, "executed": e,
                               "percent": round(100.0 * e / s, 1) if s else 100.0}
                           for k, (s, e) in self.totals().items()},
                "never_entered": [asdict(p) for p in self.never_entered],
                "entered": [p.name for p in self.public if p.entered],
                "no_code_classes": self.no_code_classes,
                "unentered_function_lines": self.unentered_function_lines,
                "runs": self.runs}


def _module_files(packages: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages."""
    out = {}
    for name, folder in packages.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([name, *parts])] = path
    return out


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> range:
    """Lines of a function's body after its docstring (empty when the docstring is all)."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return range(body[0].lineno, node.end_lineno + 1) if body else range(0)


def _span(node: ast.AST) -> int:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return node.end_lineno - first + 1


def _functions(tree: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(qualified name, node) of every function, method and class in a module."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                yield name, child
                sep = ".<locals>." if not isinstance(child, ast.ClassDef) else "."
                yield from walk(child, name + sep)
            else:
                yield from walk(child, prefix)
    yield from walk(tree, "")


def _entered(node: ast.AST, executed: set[int]) -> bool:
    if isinstance(node, ast.ClassDef):
        return any(_entered(n, executed) for n in ast.walk(node)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return any(line in executed for line in _body_lines(node))


def _rel(path: Path, root: Path | None) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() if root else str(path)
    except ValueError:
        return str(path)


def build_report(data_dir: Path, rcfile: Path, *, packages: dict[str, Path] = PACKAGES,
                 runs: dict[str, dict[str, Any]] | None = None, data_file: Path | None = None) -> Report:
    """Combine the data files under ``data_dir`` and measure both packages against them."""
    import coverage

    cov = coverage.Coverage(data_file=str(data_dir / ".coverage"), config_file=str(rcfile))
    cov.combine([str(data_dir)], keep=False)
    cov.load()
    if data_file is not None:
        shutil.copyfile(data_dir / ".coverage", data_file)
    data = cov.get_data()
    modules, executed_by_file, trees = [], {}, {}
    for module, path in _module_files(packages).items():
        _, statements, _, missing, _ = cov.analysis2(str(path))
        modules.append(ModuleCoverage(module, len(statements), len(statements) - len(missing)))
        executed_by_file[path.resolve()] = set(data.lines(str(path.resolve())) or ())
        trees[path.resolve()] = ast.parse(path.read_text(encoding="utf-8"))

    # every function never entered, public or not, its lines counted once (outermost wins)
    unentered: set[int] = set()
    for path, tree in trees.items():
        for _, node in _functions(tree):
            if not isinstance(node, ast.ClassDef) and _body_lines(node) \
                    and not _entered(node, executed_by_file[path]):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                unentered |= {(str(path), line) for line in range(first, node.end_lineno + 1)}

    # the public surface: __all__ of every module, by where each name is defined
    roots = {p.resolve() for p in packages.values()}
    found: dict[tuple[Path, str], tuple[tuple, str]] = {}
    for module in sorted(_module_files(packages), key=lambda m: (m.count("."), m)):
        if module.endswith(".__main__"):  # importing it runs the command line
            continue
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", ()):
            obj = inspect.unwrap(getattr(mod, name, None)) if hasattr(mod, name) else None
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            try:
                source = Path(inspect.getsourcefile(obj)).resolve()
            except (TypeError, OSError):
                continue
            if not any(source.is_relative_to(r) for r in roots) or source not in trees:
                continue
            home = next(p for p, f in packages.items() if source.is_relative_to(f.resolve()))
            rank = (not module.startswith(home + "."), module.count("."), module)
            key = (source, obj.__qualname__)
            if key not in found or rank < found[key][0]:  # its own package's shortest path
                found[key] = (rank, f"{module}.{name}")
    public, no_code = [], []
    for (source, qualname), (_, name) in sorted(found.items(), key=lambda kv: kv[1][1]):
        node = next((n for q, n in _functions(trees[source]) if q == qualname), None)
        if node is None:
            continue
        where = f"{_rel(source, ROOT)}:{node.lineno}"
        executed = executed_by_file[source]
        if isinstance(node, ast.ClassDef):
            methods: dict[str, list[ast.AST]] = {}  # a property's getter and setter are one name
            for n in node.body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(n):
                    methods.setdefault(n.name, []).append(n)
            if not methods:
                no_code.append(name)
                continue
            public.append(PublicName(name, "class", where, _span(node), _entered(node, executed)))
            for method, defs in methods.items():
                if not method.startswith("_"):
                    public.append(PublicName(
                        f"{name}.{method}", "method", f"{_rel(source, ROOT)}:{defs[0].lineno}",
                        sum(_span(d) for d in defs), any(_entered(d, executed) for d in defs)))
        elif _body_lines(node):
            public.append(PublicName(name, "function", where, _span(node), _entered(node, executed)))
    return Report(RULE, modules, public, no_code, len(unentered), dict(runs or {}))


def print_report(report: Report, out=print) -> None:
    out(f"\nCounted: {report.rule}.")
    out("Entered: a function or method when a line of its body (after the docstring) executed; "
        "a class when one of its methods was entered.\n")
    width = max(len(m.module) for m in report.modules)
    out(f"{'module':<{width}}  {'stmts':>6}  {'exec':>6}  {'%':>6}")
    for m in report.modules:
        out(f"{m.module:<{width}}  {m.statements:>6}  {m.executed:>6}  {m.percent:>5.1f}%")
    out("")
    for key, (s, e) in report.totals().items():
        label = "both packages" if key == "both" else key
        out(f"{'TOTAL ' + label:<{width}}  {s:>6}  {e:>6}  {100.0 * e / s if s else 100.0:>5.1f}%")
    never = report.never_entered
    n_public = len(report.public)
    out(f"\nPublic functions, classes and methods: {n_public}; never entered: {len(never)} "
        f"({sum(p.lines for p in never if not any(p.name.startswith(q.name + '.') for q in never if q.kind == 'class'))}"
        " lines, a never-entered class's methods counted in it)")
    out(f"Lines of all functions and methods (private too) never entered, counted once: "
        f"{report.unentered_function_lines}")
    for p in sorted(never, key=lambda p: (-p.lines, p.name)):
        out(f"  {p.lines:>4} lines  {p.kind:<8}  {p.name}  ({p.where})")
    if report.no_code_classes:
        out("\nPublic classes with no method of their own (not judged: nothing runs when they are "
            "used): " + ", ".join(report.no_code_classes))
    failed = {k: v for k, v in report.runs.items() if v["status"] != "ok"}
    if failed:
        out(f"\nWARNING: {len(failed)} run(s) failed, so these figures are a lower bound:")
        for name, run in failed.items():
            out(f"  {name}: {run['error']}")


def measure(documents: list[Path], *, data_dir: Path, root: Path | None = ROOT, jobs: int = 1,
            timeout: float = 600, deployment: bool = False, packages: dict[str, Path] = PACKAGES,
            data_file: Path | None = None, progress=print) -> Report:
    """Execute ``documents`` (and the deployment) under coverage; the report of both packages."""
    rcfile = coverage_config(data_dir, packages)
    with measuring(rcfile):
        runs = run_documents(documents, root=root, jobs=jobs, timeout=timeout, progress=progress)
        if deployment:
            with tempfile.TemporaryDirectory(prefix="book-coverage-deploy-") as work:
                runs.update(run_deployment(Path(work), progress=progress))
    return build_report(data_dir, rcfile, packages=packages, runs=runs, data_file=data_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="+", metavar="STEM",
                        help="only the chapters, appendices and solution notebooks whose stem "
                             "starts with one of these (04, 06-monitoring)")
    parser.add_argument("--no-solutions", action="store_true", help="skip solutions/*.ipynb")
    parser.add_argument("--no-deployment", action="store_true",
                        help="skip the generator and the container's entry point")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="documents executed at once (default: one per core)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--data-file", type=Path,
                        help="keep the combined coverage data here (for `coverage html`)")
    parser.add_argument("--report-only", type=Path, metavar="DATA_FILE",
                        help="execute nothing: report on data a --data-file run kept")
    args = parser.parse_args(argv)
    if args.report_only:
        with tempfile.TemporaryDirectory(prefix="book-coverage-") as tmp:
            shutil.copyfile(args.report_only, Path(tmp) / ".coverage.kept")
            report = build_report(Path(tmp), coverage_config(Path(tmp)))
        print_report(report)
        if args.json:
            args.json.write_text(json.dumps(report.to_json(), indent=1) + "\n", encoding="utf-8")
        return 0
    docs = book_documents(selected=args.chapters, solutions=not args.no_solutions)
    print(f"executing {len(docs)} document(s) under coverage"
          + ("" if args.no_deployment else ", then the deployment") + f", {args.jobs} at a time")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="book-coverage-") as tmp:
        report = measure(docs, data_dir=Path(tmp), jobs=args.jobs, timeout=args.timeout,
                         deployment=not args.no_deployment,
                         data_file=args.data_file.resolve() if args.data_file else None)
    print_report(report)
    print(f"\n({time.perf_counter() - start:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=1) + "\n", encoding="utf-8")
    return 1 if any(r["status"] != "ok" for r in report.runs.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
