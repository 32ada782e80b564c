"""The execution cache (booktools.cache) on small temporary books, with real kernels.

Each chapter appends its name to a log outside the book each time it really executes, so
the tests see which chapters ran: a hit runs nothing, a changed chapter runs alone, a
changed package, helper script or data file reruns what depends on it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from booktools import cache as bcache
from booktools import execute
from booktools.__main__ import main

pytestmark = pytest.mark.slow


def chapter(name: str, log: Path, extra: str = "") -> str:
    return f"""\
---
title: "{name}"
jupyter: python3
---

```{{python}}
#| include: false
%run _common.py
```

```{{python}}
with open({str(log)!r}, "a") as fh:
    fh.write({name!r} + "\\n")
answer = 6 * 7
{extra}
print("answer", answer)
```

The answer is `{{python}} answer`.
"""


@pytest.fixture
def book(make_book, tmp_path):
    log = tmp_path / "runs.log"
    root = make_book({
        "chapters/01-a.qmd": chapter("a", log),
        "chapters/02-b.qmd": chapter("b", log, "data = open('data.txt').read()"),
        "chapters/data.txt": "first\n",
        "chapters/_common.py": "import math\n",
        "pkg/__init__.py": "VALUE = 1\n",
        "pkg/core.py": "def f():\n    return 1\n",
    })
    paths = [root / "chapters/01-a.qmd", root / "chapters/02-b.qmd"]

    def run():
        """Execute the book through the cache; return (results, chapters that executed)."""
        log.write_text("")
        bcache.environment_fingerprint.cache_clear()  # a new build is a new process
        results = execute.execute_book(paths, project_root=root, jobs=2, progress=None,
                                       cache=bcache.ExecutionCache(root))
        assert all(r.ok for r in results), [str(r.error) for r in results]
        return results, sorted(log.read_text().split())

    return root, run


def test_hit_executes_nothing_and_returns_the_same_result(book, capsys):
    root, run = book
    first, ran = run()
    assert ran == ["a", "b"] and not any(r.cached for r in first)
    assert (root / bcache.DEFAULT_DIR).is_dir()
    second, ran = run()
    assert ran == [] and all(r.cached for r in second)
    for fresh, cached in zip(first, second):
        assert [type(b) for b in cached.blocks] == [type(b) for b in fresh.blocks]
        assert [getattr(b, "text", None) for b in cached.blocks] == \
            [getattr(b, "text", None) for b in fresh.blocks]
        assert [c.outputs for c in cached.cells] == [c.outputs for c in fresh.cells]
        assert [c.options for c in cached.cells] == [c.options for c in fresh.cells]
    assert "The answer is 42." in second[0].blocks[-1].text
    assert second[1].reads == ("chapters/data.txt",)

    # one changed chapter executes alone, with its new text
    path = root / "chapters/01-a.qmd"
    path.write_text(path.read_text().replace("The answer is", "Still, the answer is"))
    results, ran = run()
    assert ran == ["a"]
    assert [r.cached for r in results] == [False, True]
    assert "Still, the answer is 42." in results[0].blocks[-1].text

    # a data file read at run time invalidates its reader only
    (root / "chapters/data.txt").write_text("second\n")
    assert run()[1] == ["b"]
    assert run()[1] == []

    # older states of a chapter are pruned: at most KEEP records each
    uris = [r.uri for r in bcache.ExecutionCache(root).jc.list_cache_records()]
    # (b's key did not change with its data file: its record was replaced)
    assert uris.count("chapters/01-a.qmd") == 2 and uris.count("chapters/02-b.qmd") == 1
    for k in range(bcache.KEEP):
        path.write_text(path.read_text() + f"\nEdit {k}.\n")
        assert run()[1] == ["a"]
    uris = [r.uri for r in bcache.ExecutionCache(root).jc.list_cache_records()]
    assert uris.count("chapters/01-a.qmd") == bcache.KEEP

    # the command line lists and clears it
    assert main(["cache", "list", "--root", str(root)]) == 0
    listed = capsys.readouterr().out
    assert "chapters/01-a.qmd" in listed and "chapters/02-b.qmd" in listed
    assert main(["cache", "clear", "--root", str(root)]) == 0
    assert not (root / bcache.DEFAULT_DIR).exists()
    assert run()[1] == ["a", "b"]


def test_package_or_common_setup_change_invalidates_every_chapter(book):
    root, run = book
    run()
    paths = {"a": root / "chapters/01-a.qmd", "b": root / "chapters/02-b.qmd"}

    def misses() -> list[str]:
        """The chapters the cache would execute again now (looked up, not executed)."""
        bcache.environment_fingerprint.cache_clear()  # a new build is a new process
        store = bcache.ExecutionCache(root)
        return sorted(name for name, path in paths.items()
                      if store.lookup(path, store.key(path)) is None)

    assert misses() == []
    for changed in ["pkg/core.py", "pkg/new_module.py", "chapters/_common.py"]:
        path = root / changed
        before = path.read_text() if path.exists() else None
        path.write_text((before or "") + "\n# changed\n")
        assert misses() == ["a", "b"], changed
        if before is None:  # undone: each change alone makes the misses
            path.unlink()
        else:
            path.write_text(before)
        assert misses() == [], changed
    # and a miss does execute again, every chapter
    with open(root / "chapters/_common.py", "a") as fh:
        fh.write("\n# changed again\n")
    assert run()[1] == ["a", "b"]


def test_installed_distributions_are_part_of_the_key(book, monkeypatch, tmp_path):
    root, _ = book
    fingerprint = bcache.environment_fingerprint(root)
    installed = bcache.installed_distributions()
    # what importlib.metadata sees, by name and version, is what the key lists
    from importlib import metadata

    entries = [entry.lower() for entry in installed]
    for dist in metadata.distributions():
        # (each `dist.version` parses the METADATA file again: read it once per distribution)
        name = dist.metadata["Name"].replace("-", "_").replace(".", "_").lower()
        versioned = f"{name}-{dist.version}.".lower()
        assert any(entry.startswith((versioned, f"{name}.")) for entry in entries), dist
    # a new distribution, installed the way a wheel installs one, changes the key
    site = tmp_path / "site-packages"
    (site / "some_new_dependency-1.0.dist-info").mkdir(parents=True)
    (site / "some_new_dependency-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: some-new-dependency\nVersion: 1.0\n")
    import site as site_module

    own = site_module.getsitepackages()
    monkeypatch.setattr(site_module, "getsitepackages", lambda: [*own, str(site)])
    assert "some_new_dependency-1.0.dist-info" in bcache.installed_distributions()
    bcache.environment_fingerprint.cache_clear()
    changed = bcache.environment_fingerprint(root)
    assert changed != fingerprint
    # and so does a new version of it
    (site / "some_new_dependency-1.0.dist-info").rename(site / "some_new_dependency-1.1.dist-info")
    bcache.environment_fingerprint.cache_clear()
    assert bcache.environment_fingerprint(root) not in (fingerprint, changed)


def test_a_folder_on_the_callers_path_is_not_an_installed_distribution(book, monkeypatch, tmp_path):
    # pytest puts the folder above each doctested package on sys.path (reference/, which holds
    # a build's mlops_reference.egg-info): what a kernel of this interpreter imports is the same,
    # so the key must be too (it was not, and `make book` after `make test` executed everything
    # again)
    root, _ = book
    bcache.environment_fingerprint.cache_clear()
    fingerprint = bcache.environment_fingerprint(root)
    (tmp_path / "some_build.egg-info").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "some_build.egg-info" not in bcache.installed_distributions()
    bcache.environment_fingerprint.cache_clear()
    assert bcache.environment_fingerprint(root) == fingerprint


def test_a_sub_projects_package_is_part_of_the_key(book):
    # reference/ is a distribution of its own beside the book's kit: its package counts too
    root, _ = book
    sub = root / "reference" / "some_reference"
    sub.mkdir(parents=True)
    (root / "reference" / "pyproject.toml").write_text("[project]\nname = 'some-reference'\n")
    (sub / "__init__.py").write_text("X = 1\n")
    assert sub in bcache.package_dirs(root)
    bcache.environment_fingerprint.cache_clear()
    before = bcache.environment_fingerprint(root)
    (sub / "__init__.py").write_text("X = 2\n")
    bcache.environment_fingerprint.cache_clear()
    assert bcache.environment_fingerprint(root) != before


def test_failed_chapter_is_not_cached(make_book, tmp_path):
    root = make_book({"chapters/01-x.qmd": """\
        ---
        title: "x"
        jupyter: python3
        ---

        ```{python}
        raise ValueError("broken")
        ```
        """})
    store = bcache.ExecutionCache(root)
    for _ in range(2):
        (result,) = execute.execute_book([root / "chapters/01-x.qmd"], project_root=root,
                                         progress=None, cache=store)
        assert not result.ok and not result.cached
