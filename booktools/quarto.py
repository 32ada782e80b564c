"""Build the book with real Quarto, execute each chapter once, and check the site it made.

What a reader opens is what ``quarto render`` writes, so that is what the build checks:

- **Quarto executes every chapter**, once per state. Its own freeze (``execute: freeze:
  auto`` in ``_quarto.yml``, results in ``_freeze/``) re-executes a chapter when the chapter's
  text changes; it does not see a change to the companion package, to ``chapters/_common.py``,
  to an included file or to an installed dependency. :func:`invalidate_stale` closes that gap:
  it keeps the book's own key of every chapter (:func:`freeze_keys`, the same inputs as the
  execution cache of :mod:`booktools.cache`, in ``.freeze-keys.json``) and removes the frozen
  result of each chapter whose key changed, so Quarto executes exactly those again. The
  instructor edition renders from the same ``_freeze/`` and executes nothing more (its
  solutions appendix shows the outputs of the solution notebooks, which nbval executes).
  A site whose inputs are all unchanged since it was last rendered and verified is not
  rendered again (:func:`site_stamp`).
- **A render that warns fails.** Quarto exits 0 when a cross-reference does not resolve or a
  fenced div leaks onto the page; it only says so in its log. :func:`log_problems` turns each
  ``WARN``/``WARNING``/``ERROR`` line of Quarto's into a failure (a kernel's own log lines,
  such as ipykernel's note on its TCP transport, are not Quarto's and are not counted).
- **The site is checked as HTML** (:func:`verify_site`): every chapter and appendix has its
  page; no ``quarto-unresolved-ref``; no raw ``:::`` or ``{#fig-``/``{#tbl-`` attribute text
  in the page's text; every figure has its number, caption and alt text and every table its
  number and caption; every internal link and ``#fragment`` resolves; the student edition
  links to no solution and the instructor edition has the solutions page.

Out of scope: how the pages look in a browser (``tests/test_book.py`` measures them in
headless Chromium) and the Quarto-free preview (:mod:`booktools.preview`, used only
where no Quarto can be had).
"""
from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import cache, qmd

__all__ = ["QUARTO_VERSION", "KEYS_FILE", "STAMP", "find_quarto", "freeze_keys",
           "invalidate_stale", "log_problems", "site_stamp", "parse_page", "broken_links",
           "verify_site", "render", "build", "build_editions"]

#: The Quarto release the book is built and tested with (the GitHub workflow pins the same
#: minor version through quarto-actions/setup).
QUARTO_VERSION = "1.10.18"
#: The book's key of every frozen chapter, relative to the project root (not in git).
KEYS_FILE = ".freeze-keys.json"
#: Written into the site folder after a render that passed every check.
STAMP = ".booktools-stamp"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Quarto's own warnings and errors: ``WARN: ...``, ``WARNING (filter.lua:12) ...``,
#: ``ERROR: ...``. Kernel log lines start with ``[IPKernelApp]`` and do not match.
_QUARTO_PROBLEM = re.compile(r"^(?:WARN(?:ING)?|ERROR)\b[ :(]")


def find_quarto() -> str | None:
    """Path of a Quarto CLI: ``$QUARTO``, the ``PATH``, then the default install prefixes."""
    candidates = [os.environ.get("QUARTO"), shutil.which("quarto"),
                  str(Path(sys.prefix) / "bin" / "quarto"),
                  str(Path.home() / ".cache" / f"quarto-{QUARTO_VERSION}" / "bin" / "quarto")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    return None


def quarto_version(quarto: str) -> str:
    run = subprocess.run([quarto, "--version"], capture_output=True, text=True, timeout=60)
    return run.stdout.strip()


def _entries(root: Path, profile: str | None) -> list[qmd.BookEntry]:
    return qmd.book_entries(root, profile)


def _environment(root: Path) -> str:
    """The package, the interpreter, the installed distributions (not booktools) and the
    committed benchmark data chapters read."""
    # not the memoised call: a long-lived process (a test session) may build again after the
    # package changed
    fingerprint = cache.environment_fingerprint.__wrapped__(root, executor=False)
    digest = hashlib.sha256(fingerprint.encode())
    for data in sorted((root / "benchmarks").glob("*.json")):
        digest.update(f"{data.name} {cache.file_digest(data)}\n".encode())
    return digest.hexdigest()


def freeze_keys(root: Path | str, profile: str | None = "instructor") -> dict[str, str]:
    """The book's key of each ``.qmd`` entry: its text and includes, the helper scripts
    beside it, its execution options, the companion package, the committed benchmark data,
    the interpreter and every installed distribution."""
    root = Path(root).resolve()
    environment = _environment(root)
    keys = {}
    for entry in _entries(root, profile):
        path = root / entry.path
        if path.suffix != ".qmd" or not path.is_file():
            continue
        state = dict(cache.chapter_key(path, root, profile).state, environment=environment)
        keys[entry.path] = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    return keys


def _frozen_dir(root: Path, entry: str) -> Path:
    return root / "_freeze" / Path(entry).with_suffix("")


def invalidate_stale(root: Path | str, keys: dict[str, str]) -> list[str]:
    """Remove the frozen result of every entry whose key changed; the entries removed.

    An entry with no recorded key (a fresh ``_freeze/`` or a new chapter) is stale too,
    unless nothing is frozen for it.
    """
    root = Path(root)
    recorded = _read_keys(root)
    stale = []
    for entry, key in keys.items():
        frozen = _frozen_dir(root, entry)
        if recorded.get(entry) != key and frozen.exists():
            shutil.rmtree(frozen)
            stale.append(entry)
    return stale


def _read_keys(root: Path) -> dict[str, str]:
    try:
        return json.loads((root / KEYS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_keys(root: Path, keys: dict[str, str]) -> None:
    merged = {**_read_keys(root), **keys}
    tmp = root / (KEYS_FILE + ".tmp")
    tmp.write_text(json.dumps(merged, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, root / KEYS_FILE)


def _source_files(root: Path) -> list[Path]:
    """The files a site is rendered from: configuration, pages, includes, helper scripts,
    styles and the notebooks it links. What executing the book writes beside them (an MLflow
    folder, Quarto's ``*_files``, caches) is not a source: in a git checkout, the files git
    tracks or would track; elsewhere, source suffixes outside hidden and output folders."""
    wanted = ["_quarto*.yml", "*.qmd", "*.css", "chapters", "appendices", "exercises/*.ipynb"]
    listed = _git_files(root, wanted)
    if listed is not None:
        return [root / rel for rel in listed]
    suffixes = {".qmd", ".py", ".yml", ".yaml", ".css", ".scss", ".bib", ".md", ".ipynb"}
    found = [*root.glob("_quarto*.yml"), *root.glob("*.qmd"), *root.glob("*.css"),
             *(root / "chapters").rglob("*"), *(root / "appendices").rglob("*"),
             *(root / "exercises").glob("*.ipynb")]
    return sorted(p for p in found if p.is_file() and p.suffix in suffixes and not any(
        part.startswith(".") or part.endswith("_files") or part in ("__pycache__", "mlruns")
        for part in p.relative_to(root).parts))


def _git_files(root: Path, paths: list[str] | None = None) -> list[str] | None:
    """Files under ``root`` git tracks or would track (``paths``: pathspecs), sorted and
    relative; None outside a git checkout."""
    try:
        run = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                              "-z", "--", *(paths or [])], cwd=root, capture_output=True,
                             check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted(rel for rel in run.stdout.decode().split("\0")
                  if rel and (root / rel).is_file())


def site_stamp(root: Path | str, profile: str | None, keys: dict[str, str],
               version: str) -> str:
    """SHA-256 of everything a rendered site depends on: Quarto's version, the profile, the
    source files of the book (:func:`_source_files`), the chapters' keys and this module."""
    root = Path(root)
    digest = hashlib.sha256(f"{version}\n{profile}\n".encode())
    digest.update(json.dumps(keys, sort_keys=True).encode())
    for path in _source_files(root):
        digest.update(f"{path.relative_to(root).as_posix()} {cache.file_digest(path)}\n".encode())
    digest.update(cache.file_digest(Path(__file__)).encode())
    return digest.hexdigest()


def _freeze_hash(path: Path) -> str:
    """Quarto's freeze hash of a source file: MD5 of its text with LF line endings
    (``freezeInputHash`` in quarto-cli ``src/command/render/freeze.ts``)."""
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def to_execute(root: Path | str, profile: str | None = None) -> list[str]:
    """The entries ``quarto render`` would execute: python cells and no frozen result whose
    hash is the source's."""
    root = Path(root)
    out = []
    for entry in _entries(root, profile):
        path = root / entry.path
        if path.suffix != ".qmd" or not path.is_file():
            continue
        if not qmd.parse_qmd(path, project_root=root).cells:
            continue
        frozen = _frozen_dir(root, entry.path) / "execute-results" / "html.json"
        try:
            if json.loads(frozen.read_text(encoding="utf-8"))["hash"] == _freeze_hash(path):
                continue
        except (OSError, ValueError, KeyError):
            pass
        out.append(entry.path)
    return out


def prefreeze(root: Path | str, entries: list[str], profile: str | None = None, *,
              jobs: int | None = None, quarto: str | None = None) -> list[str]:
    """Execute ``entries`` with Quarto in ``jobs`` parallel renders; problems, if any.

    Quarto executes the files of one render one after another. Each parallel render here
    works in its own copy of the project (the files git lists, or the folder without its
    outputs) whose ``_quarto.yml`` lists only its share of the entries; the frozen results
    it writes are Quarto's own, keyed by the source's hash alone, and are moved into this
    project's ``_freeze/``, where the render of the whole book then finds them. So every
    chapter still executes once, under Quarto, while both cores work.
    """
    import tempfile

    import yaml
    from concurrent.futures import ThreadPoolExecutor

    root = Path(root).resolve()
    quarto = quarto or find_quarto()
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(entries)))
    # the largest sources first, each to the share with the least text so far
    shares: list[list[str]] = [[] for _ in range(jobs)]
    weight = [0] * jobs
    for entry in sorted(entries, key=lambda e: -(root / e).stat().st_size):
        i = weight.index(min(weight))
        shares[i].append(entry)
        weight[i] += (root / entry).stat().st_size
    config = qmd.read_project(root, profile)
    env = dict(os.environ, QUARTO_PYTHON=sys.executable)

    def run(share: list[str]) -> str | None:
        with tempfile.TemporaryDirectory(prefix="book-share-") as tmp:
            copy = Path(tmp) / "book"
            _copy_project(root, copy)
            part = json.loads(json.dumps(config, default=str))
            part["book"]["chapters"] = ["index.qmd"] + [e for e in share if e != "index.qmd"]
            part["book"].pop("appendices", None)
            # Only the frozen results are kept, and they are the engine's output, before any
            # theme: the pages of a share need no Bootstrap theme (its Sass), which saves a
            # second of every page (the results match the full theme's but for the cells'
            # random ids and the chapters' own timings).
            html = (part.get("format") or {}).get("html")
            part["format"] = {**(part.get("format") or {}),
                              "html": {**(html if isinstance(html, dict) else {}),
                                       "minimal": True, "theme": "none"}}
            for extra in copy.glob("_quarto-*.yml"):
                extra.unlink()
            (copy / "_quarto.yml").write_text(yaml.safe_dump(part, sort_keys=False),
                                              encoding="utf-8")
            proc = subprocess.run([quarto, "render"], cwd=copy, env=env, capture_output=True,
                                  text=True, errors="replace")
            if proc.returncode != 0:
                tail = "".join((proc.stdout + proc.stderr).splitlines(True)[-60:])
                return f"executing {', '.join(share)} failed (exit {proc.returncode}):\n{tail}"
            _take_frozen(copy, root, share)
        return None

    with ThreadPoolExecutor(jobs) as pool:
        return [p for p in pool.map(run, [s for s in shares if s]) if p]


def _take_frozen(copy: Path, root: Path, entries: list[str]) -> None:
    """Move the frozen results of ``entries`` that a render in ``copy`` wrote into ``root``."""
    for entry in entries:
        source = _frozen_dir(copy, entry)
        if source.is_dir():
            target = _frozen_dir(root, entry)
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source, target)


def _copy_project(root: Path, copy: Path) -> None:
    """The book's files without its outputs: what git lists, else the folder minus outputs."""
    listed = _git_files(root)
    if listed is None:
        skip = shutil.ignore_patterns("_book*", "_freeze", ".quarto", ".venv", ".git",
                                      ".jupyter_cache", "__pycache__")
        shutil.copytree(root, copy, ignore=skip, symlinks=True)
        return
    for rel in listed:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, copy / rel)


def log_problems(log: str) -> list[str]:
    """Quarto's warning and error lines in a render log, without colour codes.

    A Lua filter's warning names its source on one line and says what it found on the
    next ones (``WARNING (.../astpipeline.lua:340)``, then ``The following string was found
    in the document: :::``): the first line of what it says is kept with it.
    """
    lines = [line.strip() for line in _ANSI.sub("", log).splitlines()]
    out = []
    for i, line in enumerate(lines):
        if not _QUARTO_PROBLEM.match(line):
            continue
        if re.fullmatch(r"WARN(?:ING)? \([^)]*\)", line):
            said = next((nxt for nxt in lines[i + 1:i + 4] if nxt), "")
            line = f"{line} {said}".rstrip()
        out.append(line)
    return out


@dataclass
class RenderResult:
    """One ``quarto render``: its exit status, Quarto's warnings and the log's tail."""

    returncode: int
    problems: list[str]
    seconds: float
    log: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.problems


def _log_path(root: Path, profile: str | None) -> Path:
    """Where an edition's render log is kept: beside its site, in the project."""
    return root / f".quarto-render{'-' + profile if profile else ''}.log"


def render(root: Path | str, profile: str | None = None, *, quarto: str | None = None,
           echo: bool = True, log: Path | None = None) -> RenderResult:
    """Run ``quarto render`` (with ``--profile``) at ``root``, its log kept beside the site
    (or at ``log``).

    Quarto runs with this interpreter (``QUARTO_PYTHON``), so its kernels see the book's
    environment; its output is streamed when ``echo`` and scanned for warnings.
    """
    root = Path(root).resolve()
    quarto = quarto or find_quarto()
    if quarto is None:
        raise FileNotFoundError("quarto is not installed: `make setup` installs it, or see "
                                "https://quarto.org/docs/get-started/")
    command = [quarto, "render"] + (["--profile", profile] if profile else [])
    env = dict(os.environ, QUARTO_PYTHON=sys.executable)
    log = log or _log_path(root, profile)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out, \
            subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        returncode = proc.wait()
    text = log.read_text(encoding="utf-8")
    return RenderResult(returncode, log_problems(text), time.perf_counter() - start, log)


# ------------------------------------------------------------------- checking the HTML site

_SKIP_TEXT = {"script", "style", "code", "pre", "textarea", "svg", "math"}
_RAW = re.compile(r"(?:^|\s):::|\{#(?:fig|tbl|sec|exr|sol|eq|lst)-")


class _Page(html.parser.HTMLParser):
    """Ids, links, unresolved references, figures, tables and visible text of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.unresolved: list[str] = []
        self.raw: list[str] = []
        self.floats: dict[str, dict] = {}
        self._skip = 0
        self._stack: list[tuple[str, str | None, bool]] = []  # tag, float id, unresolved
        self._float: list[str] = []
        self._in_caption = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag in _SKIP_TEXT:
            self._skip += 1
        float_id = None
        if "quarto-float" in classes and tag == "div" and \
                re.match(r"^(fig|tbl)-", attrs.get("id") or ""):
            float_id = attrs["id"]
            self.floats[float_id] = {"caption": "", "alt": [], "img": 0}
            self._float.append(float_id)
        if tag == "img" and self._float:
            record = self.floats[self._float[-1]]
            record["img"] += 1
            record["alt"].append(attrs.get("alt") or "")
        if tag == "figcaption" and self._float:
            self._in_caption += 1
        unresolved = "quarto-unresolved-ref" in classes
        if unresolved:
            self.unresolved.append("")
        if tag not in ("img", "br", "hr", "meta", "link", "input", "source"):
            self._stack.append((tag, float_id, unresolved))

    def handle_endtag(self, tag):
        while self._stack:
            name, float_id, _ = self._stack.pop()
            if name in _SKIP_TEXT:
                self._skip -= 1
            if float_id:
                self._float.pop()
            if name == "figcaption" and self._in_caption:
                self._in_caption -= 1
            if name == tag:
                break

    def handle_data(self, data):
        if self._stack and self._stack[-1][2]:
            self.unresolved[-1] += data
        if self._in_caption and self._float:
            self.floats[self._float[-1]]["caption"] += data
        if not self._skip and _RAW.search(data):
            self.raw.append(" ".join(data.split())[:120])


def parse_page(path: Path | str) -> _Page:
    """Ids, links (``.links``), floats and problems of one HTML page."""
    page = _Page()
    page.feed(Path(path).read_text(encoding="utf-8"))
    return page


def _parse(path: Path, cache_: dict[Path, _Page]) -> _Page:
    if path not in cache_:
        cache_[path] = parse_page(path)
    return cache_[path]


def broken_links(site: Path, page: Path, links: list[str],
                 parsed: dict[Path, _Page] | None = None) -> list[str]:
    """Internal links of ``page`` whose file or ``#fragment`` does not exist in ``site``."""
    parsed = {} if parsed is None else parsed
    broken = []
    for link in links:
        parts = urlsplit(link)
        if parts.scheme or link.startswith("//"):
            continue  # external: not this site's business
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file() or site.resolve() not in target.parents:
            broken.append(link)
        elif parts.fragment and target.suffix == ".html" and \
                unquote(parts.fragment) not in _parse(target, parsed).ids:
            broken.append(link)
    return broken


def verify_site(root: Path | str, profile: str | None = None,
                site: Path | str | None = None) -> list[str]:
    """Every problem a reader would see on the rendered site, ``page: what`` per line."""
    root = Path(root).resolve()
    config = qmd.read_project(root, profile)
    site = Path(site) if site else root / config["project"].get("output-dir", "_book")
    problems: list[str] = []
    entries = _entries(root, profile)
    for entry in entries:
        page = site / Path(entry.path).with_suffix(".html")
        if not page.is_file():
            problems.append(f"{entry.path}: no page {page.relative_to(site)} in the site")
    parsed: dict[Path, _Page] = {}
    for page in sorted(site.rglob("*.html")):
        where = page.relative_to(site).as_posix()
        info = _parse(page, parsed)
        for text in info.unresolved:
            problems.append(f"{where}: unresolved cross-reference {text.strip()!r}")
        for text in info.raw:
            problems.append(f"{where}: raw source on the page: {text!r}")
        for name, record in info.floats.items():
            kind = "Figure" if name.startswith("fig-") else "Table"
            caption = " ".join(record["caption"].split())
            if not re.match(rf"^{kind} [0-9A-Z]+(\.[0-9]+)*[:.]?\s*\S", caption):
                problems.append(f"{where}#{name}: no numbered caption ({caption[:60]!r})")
            if kind == "Figure" and (not record["img"] or not all(a.strip() for a in record["alt"])):
                problems.append(f"{where}#{name}: an image without alt text")
        for link in broken_links(site, page, info.links, parsed):
            problems.append(f"{where}: broken internal link {link!r}")
        if profile != "instructor":
            for link in info.links:
                if re.search(r"(^|/)solutions(\.html|/)|#sol-", link):
                    problems.append(f"{where}: the student edition links to a solution: {link!r}")
    if profile == "instructor" and not (site / "appendices" / "solutions.html").is_file():
        problems.append("appendices/solutions.html: the instructor edition has no solutions page")
    return problems


def build(root: Path | str, profile: str | None = None, *, force: bool = False,
          quarto: str | None = None, echo: bool = True) -> int:
    """Render one edition with Quarto and verify it; 0 when the site is good."""
    return build_editions(root, [profile], force=force, quarto=quarto, echo=echo)


def build_editions(root: Path | str, profiles: list[str | None], *, force: bool = False,
                   quarto: str | None = None, echo: bool = True) -> int:
    """Render the editions in ``profiles`` with Quarto and verify them; 0 when all are good.

    Skips an edition whose site was rendered and verified from the same inputs. What any of
    them must execute runs first, spread over the cores (:func:`prefreeze`); then the
    editions render side by side, the first in the project and each other one in a copy of
    it that shares the frozen results (so the two renders never write the same file).

    One build at a time per project (a file lock): ``make book`` started beside ``make
    test`` waits for the other's render, then finds the site up to date instead of
    rendering into it at the same time.
    """
    from filelock import FileLock

    root = Path(root).resolve()
    with FileLock(root / ".quarto-build.lock"):
        return _build(root, list(profiles), force=force, quarto=quarto, echo=echo)


@dataclass
class _Edition:
    profile: str | None
    site: Path
    stamp: str

    @property
    def name(self) -> str:
        return f"the {self.profile} edition" if self.profile else "the book"


def _build(root: Path, profiles: list[str | None], *, force: bool, quarto: str | None,
           echo: bool) -> int:
    quarto = quarto or find_quarto()
    if quarto is None:
        raise FileNotFoundError("quarto is not installed")
    # every edition's entries (the instructor profile adds to the default one), so that
    # each edition's render records the keys of what it froze
    widest = "instructor" if (root / "_quarto-instructor.yml").is_file() else profiles[0]
    keys = freeze_keys(root, widest)
    version = quarto_version(quarto)
    todo = []
    for profile in profiles:
        config = qmd.read_project(root, profile)
        edition = _Edition(profile, root / config["project"].get("output-dir", "_book"),
                           site_stamp(root, profile, keys, version))
        stamp_file = edition.site / STAMP
        if not force and stamp_file.is_file() and \
                stamp_file.read_text(encoding="utf-8").strip() == edition.stamp:
            print(f"{edition.name}: nothing changed since {edition.site.name}/ was rendered and verified")
        else:
            stamp_file.unlink(missing_ok=True)
            todo.append(edition)
    if not todo:
        return 0
    stale = invalidate_stale(root, keys)
    if stale:
        print(f"re-executing {len(stale)} chapter(s) whose package, includes or environment "
              f"changed: {', '.join(stale)}")
    pending = list(dict.fromkeys(e for edition in todo for e in to_execute(root, edition.profile)))
    if len(pending) > 1 and (os.cpu_count() or 1) > 1:
        jobs = min(os.cpu_count() or 1, len(pending))
        print(f"==> executing {len(pending)} file(s) with Quarto, {jobs} renders in parallel",
              flush=True)
        start = time.perf_counter()
        failures = prefreeze(root, pending, widest, quarto=quarto)
        if failures:
            print("\n".join(failures))
            return 1
        print(f"    executed in {time.perf_counter() - start:.0f} s", flush=True)
    return _render_editions(root, todo, keys, quarto=quarto, echo=echo)


def _render_editions(root: Path, todo: list[_Edition], keys: dict[str, str], *, quarto: str,
                     echo: bool) -> int:
    from concurrent.futures import ThreadPoolExecutor

    for edition in todo:
        print(f"==> quarto render{' --profile ' + edition.profile if edition.profile else ''} "
              f"({quarto})", flush=True)
    alone = len(todo) == 1
    first, *others = todo
    with ThreadPoolExecutor(len(todo)) as pool:
        pending = [pool.submit(render, root, first.profile, quarto=quarto, echo=echo and alone)]
        pending += [pool.submit(_render_in_copy, root, e.profile, quarto=quarto) for e in others]
        results = [future.result() for future in pending]
    failed = 0
    for edition, result in zip(todo, results):
        if result.returncode != 0:
            if not (echo and alone):
                print("".join(result.log.read_text(encoding="utf-8").splitlines(True)[-60:]))
            print(f"quarto render failed (exit {result.returncode}); its log: {result.log.name}")
            failed = failed or result.returncode
    if failed:
        return failed
    _write_keys(root, keys)
    for edition, result in zip(todo, results):
        problems = [f"quarto: {p}" for p in result.problems] + verify_site(root, edition.profile,
                                                                           edition.site)
        for problem in problems:
            print(problem)
        if problems:
            print(f"{edition.name}: {len(problems)} problem(s) in the render or on the pages")
            failed = 1
            continue
        (edition.site / STAMP).write_text(edition.stamp + "\n", encoding="utf-8")
        n_pages = len(list(edition.site.rglob("*.html")))
        print(f"{edition.name}: rendered in {result.seconds:.0f} s, {n_pages} pages, 0 warnings, "
              f"every page verified; open {os.path.relpath(edition.site)}/index.html")
    return failed


def _render_in_copy(root: Path, profile: str | None, *, quarto: str) -> RenderResult:
    """``quarto render --profile`` in a copy of the project that starts from this project's
    ``_freeze/``; its site, and any result it froze, are moved back here."""
    import tempfile

    config = qmd.read_project(root, profile)
    out = config["project"].get("output-dir", "_book")
    fresh = to_execute(root, profile)
    with tempfile.TemporaryDirectory(prefix="book-edition-") as tmp:
        copy = Path(tmp) / "book"
        _copy_project(root, copy)
        if (root / "_freeze").is_dir():
            shutil.copytree(root / "_freeze", copy / "_freeze")
        result = render(copy, profile, quarto=quarto, echo=False,
                        log=_log_path(root, profile))
        if result.returncode == 0:
            shutil.rmtree(root / out, ignore_errors=True)
            shutil.move(str(copy / out), str(root / out))
            _take_frozen(copy, root, fresh)
    return result
