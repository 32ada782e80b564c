"""Command line: ``python -m booktools {check,execute,preview,build,notebooks}``.

- ``check``: static book checks (both profiles unless ``--profile`` is given);
- ``execute [paths...]``: execute chapters (default: every chapter and appendix) in parallel;
- ``preview``: execute everything and write the preview site;
- ``build``: check, then ``quarto render`` with real Quarto (which executes each changed
  chapter once) and verify the site (:mod:`booktools.quarto`); only where no Quarto can be
  found, execute here and write the Quarto-free preview site, saying so loudly;
- ``cache {list,clear}``: the execution cache (:mod:`booktools.cache`).

``execute``, ``preview`` and ``build`` reuse the result of every chapter whose inputs are
unchanged since it last executed successfully (``--no-cache`` executes everything).
- ``notebooks ...``: the exercise and solution notebooks (:mod:`booktools.notebooks`).

Exit status is 0 on success and 1 on any problem; each problem is printed as
``file:line: message``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from . import cache, checks, execute, numbers, preview, qmd, quarto


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--jobs must be a positive integer; got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m booktools",
        description="Check, execute and build the book, with Quarto or without it.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in [("check", "static checks: files, labels, references, cell options"),
                       ("execute", "execute chapters in fresh kernels, in parallel"),
                       ("preview", "execute every chapter and build the preview site"),
                       ("build", "check, then quarto render and verify the site")]:
        p = sub.add_parser(name, help=text)
        p.add_argument("--profile", default=None, help="Quarto profile, e.g. instructor")
        p.add_argument("--root", default=None, help="project root (default: nearest _quarto.yml)")
        if name != "check":
            p.add_argument("--jobs", type=_positive_int, default=None,
                           help="parallel chapters (default: number of CPUs)")
            p.add_argument("--timeout", type=float, default=300,
                           help="seconds a cell may run before its chapter fails (default 300)")
            p.add_argument("--no-cache", action="store_true",
                           help="execute every chapter, ignoring and not updating the cache")
        if name == "build":
            p.add_argument("--force", action="store_true",
                           help="render even when nothing changed since the last render")
        if name == "execute":
            p.add_argument("paths", nargs="*", help=".qmd files (default: the whole book)")
    c = sub.add_parser("cache", help="list or clear the execution cache")
    c.add_argument("action", choices=["list", "clear"])
    c.add_argument("--root", default=None, help="project root (default: nearest _quarto.yml)")
    nb = sub.add_parser("notebooks", help="generate the exercise and solution notebooks",
                        add_help=False)
    nb.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _root(args: argparse.Namespace) -> Path:
    root = Path(args.root) if args.root else qmd.find_project_root(Path.cwd())
    if root is None or not (root / "_quarto.yml").is_file():
        raise SystemExit("error: no _quarto.yml here or above; pass --root.")
    return root.resolve()


def _check(root: Path, profile: str | None) -> bool:
    print("checking the book (files, labels, cross-references, cell options)", flush=True)
    problems = (checks.check_book(root, profile) if profile
                else checks.check_profiles(root))
    for problem in problems:
        print(problem)
    typed = numbers.check_numbers(root, profile)  # numbers in prose must come from executed cells
    for line in typed:
        print(line)
    problems = [*problems, *typed]
    edition = f"profile {profile}" if profile else "default and instructor profiles"
    if problems:
        print(f"book checks ({edition}): {len(problems)} problem(s)")
    else:
        print(f"book checks ({edition}): no problems")
    return not problems


def _book_paths(root: Path, profile: str | None) -> list[Path]:
    return [root / e.path for e in qmd.book_entries(root, profile) if e.path.endswith(".qmd")]


def _execute(root: Path, paths: list[Path], args) -> list[execute.ChapterResult] | None:
    start = time.perf_counter()
    jobs = args.jobs or os.cpu_count() or 1
    store = None if args.no_cache else cache.ExecutionCache(root)
    where = "" if store is None else f", reusing unchanged results from {cache.DEFAULT_DIR}/"
    print(f"executing {len(paths)} file(s) with {jobs} parallel kernel(s){where}", flush=True)
    results = execute.execute_book(paths, project_root=root, profile=args.profile, jobs=jobs,
                                   timeout=args.timeout, cache=store)
    failed = [r for r in results if not r.ok]
    n_cached = sum(r.cached for r in results)
    print(f"{len(results)} file(s) in {time.perf_counter() - start:.1f} s: "
          f"{len(results) - len(failed) - n_cached} executed, {n_cached} unchanged (cached), "
          f"{len(failed)} failed")
    for result in failed:
        print(result.error)
        if result.error.traceback:
            print("  " + result.error.traceback.strip().replace("\n", "\n  "))
    return None if failed else results


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["notebooks"]:
        from . import notebooks  # another module's job; imported only when asked for

        return int(notebooks.main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    root = _root(args)
    if args.command == "cache":
        store = cache.ExecutionCache(root)
        if args.action == "clear":
            store.clear()
            print(f"cleared {os.path.relpath(store.path)}")
            return 0
        if not store.path.exists():
            print("the execution cache is empty")
            return 0
        for record in store.jc.list_cache_records():
            print(f"{record.uri}  cached {record.created:%Y-%m-%d %H:%M}  {record.hashkey}")
        return 0
    if args.command == "check":
        return 0 if _check(root, args.profile) else 1
    if args.command == "execute":
        paths = [Path(p).resolve() for p in args.paths] or _book_paths(root, args.profile)
        return 0 if _execute(root, paths, args) is not None else 1
    if args.command == "build":
        if not _check(root, args.profile):
            return 1
        found = quarto.find_quarto()
        if found:
            if args.no_cache:
                shutil.rmtree(root / "_freeze", ignore_errors=True)
            return quarto.build(root, args.profile, force=args.force or args.no_cache,
                                quarto=found)
        print("!" * 78 + "\nNO QUARTO FOUND (`make setup` installs it): building the Quarto-free "
              "PREVIEW, not the book readers get\n" + "!" * 78, flush=True)
    results = _execute(root, _book_paths(root, args.profile), args)
    if results is None:
        return 1
    site = preview.build_site(root, results, profile=args.profile)
    rel = os.path.relpath(site, Path.cwd())
    print(f"built the preview site in {rel}/ (open {rel}/index.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
