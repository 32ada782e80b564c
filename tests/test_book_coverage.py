"""benchmarks/book_coverage.py: a chapter's calls into the packages are measured inside its
kernel, and a public function the chapter does not call is reported never entered."""
from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def book_coverage():
    spec = importlib.util.spec_from_file_location("book_coverage", ROOT / "benchmarks" / "book_coverage.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.slow
def test_a_synthetic_chapter_enters_what_it_calls_and_nothing_else(book_coverage, tmp_path):
    chapter = tmp_path / "01-tiny.qmd"
    chapter.write_text(textwrap.dedent("""\
        ---
        jupyter: python3
        ---

        # Tiny

        ```{python}
        import pandas as pd

        from mlops_companion import lifecycle

        lifecycle.labels_available(pd.DataFrame({"week": [0, 1, 2]}), 2, delay=1)
        ```
        """), encoding="utf-8")
    report = book_coverage.measure([chapter], data_dir=tmp_path / "data", root=None,
                                   timeout=120, progress=None)
    assert report.runs == {str(chapter): {"status": "ok", "seconds": pytest.approx(0, abs=120),
                                          "error": ""}}
    entered = {p.name: p.entered for p in report.public}
    assert entered["mlops_companion.lifecycle.labels_available"] is True
    assert entered["mlops_companion.lifecycle.make_weekly_traffic"] is False
    assert "mlops_companion.lifecycle.make_weekly_traffic" in {p.name for p in report.never_entered}
    modules = {m.module: m for m in report.modules}
    # the module ran (imported, one function called) but not all of it
    assert 0 < modules["mlops_companion.lifecycle"].executed < modules["mlops_companion.lifecycle"].statements
    # modules the chapter never imported: nothing executed, every statement counted
    assert modules["mlops_reference.rollout"].executed == 0 < modules["mlops_reference.rollout"].statements
    totals = report.totals()
    assert set(totals) == {"mlops_companion", "mlops_reference", "both"}
    assert totals["both"][0] == totals["mlops_companion"][0] + totals["mlops_reference"][0]


def test_raise_and_except_lines_are_not_counted(book_coverage, tmp_path):
    import coverage

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text(textwrap.dedent("""\
        def f(x):
            try:
                if x:
                    raise ValueError(
                        "two lines")
                return 1
            except (KeyError,
                    ValueError):
                y = 2
                return y
        """), encoding="utf-8")
    rcfile = book_coverage.coverage_config(tmp_path / "data", {"pkg": package})
    cov = coverage.Coverage(config_file=str(rcfile))
    _, statements, excluded, _, _ = cov.analysis2(str(package / "m.py"))
    assert statements == [1, 2, 3, 6]
    assert excluded == [4, 7, 9, 10]
