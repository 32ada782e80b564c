"""booktools.execute: Quarto's execution rules, proven on a small temporary book.

Every chapter of the book below isolates one rule; the book is executed once per module
(in parallel), and each test reads the result of its chapter.
"""
from __future__ import annotations

import re
import time

import pytest

from booktools import execute
from booktools.__main__ import main
from conftest import write_book

pytestmark = pytest.mark.slow

CHAPTERS = {
    "chapters/01-fails.qmd": """\
        ---
        jupyter: python3
        ---
        # Fails {#sec-fails}

        ```{python}
        ok = 1
        ```

        ```{python}
        raise ValueError("threshold must be positive")
        ```

        ```{python}
        open("should-not-exist.txt", "w").write("ran after the failure")
        ```
        """,
    "chapters/02-error-true.qmd": """\
        ---
        jupyter: python3
        ---
        # Allowed error

        ```{python}
        #| error: true
        1 / 0
        ```

        ```{python}
        print("went on")
        ```
        """,
    "chapters/03-eval-false.qmd": """\
        ---
        jupyter: python3
        ---
        # Not evaluated

        ```{python}
        #| eval: false
        open("eval-false-ran.txt", "w").write("should not exist")
        raise RuntimeError("an eval: false cell ran")
        ```

        ```{python}
        print("after")
        ```
        """,
    "chapters/04-defines.qmd": """\
        ---
        jupyter: python3
        ---
        # Defines

        ```{python}
        secret_from_chapter_four = 42
        ```
        """,
    "chapters/05-uses.qmd": """\
        ---
        jupyter: python3
        ---
        # Uses

        ```{python}
        secret_from_chapter_four
        ```
        """,
    "chapters/06-data.qmd": """\
        ---
        jupyter: python3
        ---
        # Data next to the chapter

        ```{python}
        print(open("data/values.csv").read().strip())
        ```
        """,
    "chapters/data/values.csv": "a,b\n1,2\n",
    "chapters/07-inline.qmd": """\
        ---
        jupyter: python3
        ---
        # Inline

        ```{python}
        x = 1
        name = "drift"
        ```

        First `{python} x`, kind `{python} name`, ratio `{python} 3 / 4`.

        ```{python}
        x = 2
        ```

        Then `{python} x`; in code `` `{python} x` `` stays.
        """,
    "chapters/08-inline-error.qmd": """\
        ---
        jupyter: python3
        ---
        # Inline error

        Text with `{python} not_defined_anywhere`.
        """,
    "chapters/09-include.qmd": """\
        ---
        jupyter: python3
        ---
        # Include

        {{< include _part.qmd >}}
        """,
    "chapters/_part.qmd": """\
        Included text.

        ```{python}
        import math
        math.sqrt(-1)
        ```
        """,
    "chapters/10-duplicate.qmd": """\
        ---
        jupyter: python3
        ---
        # Duplicate {#sec-dup}

        ```{python}
        #| label: fig-twice
        #| fig-cap: "One."
        #| fig-alt: "One."
        pass
        ```

        ## Again {#fig-twice}
        """,
    "chapters/11-figure.qmd": """\
        ---
        jupyter: python3
        execute:
          echo: false
          warning: false
        ---
        # Figure

        ```{python}
        #| label: fig-line
        #| fig-cap: "A line."
        #| fig-alt: "A dashed rising line."
        import sys
        import matplotlib.pyplot as plt
        print("to stderr", file=sys.stderr)
        plt.plot([1, 2, 3], linestyle="--")
        plt.show()
        ```
        """,
    "chapters/12-doc-error.qmd": """\
        ---
        jupyter: python3
        execute:
          error: true
        ---
        # Errors allowed for the whole document

        ```{python}
        raise KeyError("allowed")
        ```
        """,
    "chapters/13-doc-eval-false.qmd": """\
        ---
        jupyter: python3
        execute:
          eval: false
        ---
        # Nothing runs unless a cell asks

        ```{python}
        raise RuntimeError("the document says eval: false")
        ```

        ```{python}
        #| eval: true
        print("this cell asked")
        ```
        """,
    "chapters/14-dies.qmd": """\
        ---
        jupyter: python3
        ---
        # The kernel dies

        ```{python}
        import os
        os._exit(3)
        ```
        """,
}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = write_book(tmp_path_factory.mktemp("exec"), CHAPTERS)
    paths = sorted(p for p in CHAPTERS if p.endswith(".qmd") and "/_" not in p)
    lines: list[str] = []
    results = execute.execute_book([root / p for p in paths], project_root=root, jobs=2,
                                   progress=lines.append)
    return root, {p.split("/")[-1].split("-")[0]: r for p, r in zip(paths, results)}, lines


def test_uncaught_exception_fails_with_file_and_line(book):
    root, results, _ = book
    result = results["01"]
    assert result.status == "failed"
    assert str(result.error) == ("chapters/01-fails.qmd:10: ValueError: threshold must be "
                                 "positive")
    assert "raise ValueError" in result.error.traceback
    assert not (root / "chapters/should-not-exist.txt").exists()  # execution stopped there


def test_error_true_cell_does_not_fail(book):
    result = book[1]["02"]
    assert result.status == "ok", result.error
    first, second = result.cells
    assert first.outputs[0]["output_type"] == "error"
    assert first.outputs[0]["ename"] == "ZeroDivisionError"
    assert second.outputs[0]["text"] == "went on\n"


def test_eval_false_cell_is_not_run(book):
    root, results, _ = book
    assert results["03"].status == "ok", results["03"].error
    skipped, after = results["03"].cells
    assert skipped.executed is False and skipped.outputs == []
    assert after.executed is True
    assert not (root / "chapters/eval-false-ran.txt").exists()


def test_name_from_one_chapter_is_not_visible_in_the_next(book):
    root, results, _ = book
    assert results["04"].status == "ok"
    assert results["05"].status == "failed"
    assert results["05"].error.exception == "NameError"
    assert results["05"].error.line == 6
    # even one after the other on a single worker, each chapter gets a fresh kernel
    again = execute.execute_book([root / "chapters/04-defines.qmd",
                                  root / "chapters/05-uses.qmd"],
                                 project_root=root, jobs=1, progress=None)
    assert [r.status for r in again] == ["ok", "failed"]
    assert again[1].error.exception == "NameError"


def test_chapter_opens_data_file_next_to_it(book):
    result = book[1]["06"]
    assert result.status == "ok", result.error
    assert result.cells[0].outputs[0]["text"] == "a,b\n1,2\n"


def test_inline_expressions_evaluated_where_they_stand(book):
    result = book[1]["07"]
    assert result.status == "ok", result.error
    text = "\n".join(b.text for b in result.blocks if isinstance(b, execute.ExecutedMarkdown))
    assert "First 1, kind drift, ratio 0.75." in text  # strings lose their quotes
    assert "Then 2; in code `` `{python} x` `` stays." in text


def test_inline_expression_error_fails_with_line(book):
    result = book[1]["08"]
    assert result.status == "failed"
    assert result.error.file == "chapters/08-inline-error.qmd"
    assert result.error.line == 6
    assert result.error.exception == "NameError"


def test_error_in_included_file_names_that_file(book):
    result = book[1]["09"]
    assert result.status == "failed"
    assert str(result.error) == "chapters/_part.qmd:3: ValueError: math domain error"


def test_duplicate_label_fails(book):
    result = book[1]["10"]
    assert result.status == "failed"
    assert result.error.exception == "DuplicateLabelError"
    assert (result.error.file, result.error.line) == ("chapters/10-duplicate.qmd", 13)
    assert "chapters/10-duplicate.qmd:7" in result.error.message


def test_figure_collected_with_document_options(book):
    result = book[1]["11"]
    assert result.status == "ok", result.error
    assert result.n_figures == 1
    (cell,) = result.cells
    assert cell.options["echo"] is False
    (figure,) = cell.figures()
    assert figure.png.startswith(b"\x89PNG")
    assert (figure.label, figure.caption, figure.alt) == ("fig-line", "A line.",
                                                           "A dashed rising line.")
    assert not any(o.get("name") == "stderr" for o in cell.outputs)  # warning: false


def test_document_level_error_true(book):
    assert book[1]["12"].status == "ok", book[1]["12"].error


def test_document_level_eval_false_with_cell_override(book):
    result = book[1]["13"]
    assert result.status == "ok", result.error
    skipped, asked = result.cells
    assert skipped.executed is False
    assert asked.outputs[0]["text"] == "this cell asked\n"


def test_dead_kernel_fails_the_chapter_with_its_line(book):
    result = book[1]["14"]
    assert result.status == "failed"
    assert (result.error.line, result.error.exception) == (6, "DeadKernelError")


def test_progress_lines(book):
    _, _, lines = book
    assert len(lines) == 14
    assert any(re.fullmatch(r"\[\d+/14\] chapters/11-figure\.qmd  ok  \d+\.\d s  1 figure", s)
               for s in lines), lines
    assert any(s.endswith("chapters/01-fails.qmd:10: ValueError: threshold must be positive")
               and "FAILED" in s for s in lines), lines


def test_cell_timeout_fails_instead_of_hanging(make_book):
    root = make_book({"chapters/01-slow.qmd": """\
        ---
        jupyter: python3
        ---
        # Slow

        ```{python}
        import time
        time.sleep(60)
        ```
        """})
    start = time.perf_counter()
    (result,) = execute.execute_book([root / "chapters/01-slow.qmd"], project_root=root,
                                     timeout=3, progress=None)
    assert time.perf_counter() - start < 30
    assert result.status == "failed"
    assert (result.error.line, result.error.exception) == (6, "TimeoutError")


# A kernel spec whose kernel misbehaves at start-up, then (or never) becomes ipykernel.
FLAKY_KERNEL = """\
import os, sys, time
marker, mode = sys.argv[1], sys.argv[2]
if mode == "dies":
    print("refusing to start, on purpose", file=sys.stderr, flush=True)
    sys.exit(3)
if not os.path.exists(marker):  # the first start: alive, never answers
    open(marker, "w").close()
    time.sleep(120)
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *sys.argv[3:]])
"""


def _flaky_kernel(tmp_path, monkeypatch, mode: str) -> str:
    import json
    import sys

    spec = tmp_path / "jupyter" / "kernels" / f"flaky-{mode}"
    spec.mkdir(parents=True)
    (tmp_path / "flaky.py").write_text(FLAKY_KERNEL)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(tmp_path / "flaky.py"), str(tmp_path / "started"), mode,
                 "-f", "{connection_file}"],
        "display_name": "flaky", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return f"flaky-{mode}"


ONE_CELL = {"chapters/01-one.qmd": """\
    ---
    jupyter: python3
    ---
    # One

    ```{python}
    print(6 * 7)
    ```
    """}


def _run_with_flaky_kernel(make_book, tmp_path, monkeypatch, mode: str, startup_timeout: float):
    name = _flaky_kernel(tmp_path, monkeypatch, mode)
    root = make_book(ONE_CELL)
    return name, execute.execute_chapter(root / "chapters/01-one.qmd", kernel_name=name,
                                         startup_timeout=startup_timeout)


def test_kernel_that_never_answers_is_replaced_before_the_first_cell(make_book, tmp_path,
                                                                     monkeypatch):
    # 10 s: long enough for the second, real kernel on a busy machine (under 5 s measured
    # with six kernels starting at once on two loaded cores)
    _, result = _run_with_flaky_kernel(make_book, tmp_path, monkeypatch, "hangs-once", 10)
    assert (tmp_path / "started").exists()  # the first kernel did hang
    assert result.status == "ok", result.error
    assert result.cells[0].outputs[0]["text"] == "42\n"


def test_kernel_that_never_starts_fails_the_chapter_with_its_log(make_book, tmp_path,
                                                                monkeypatch):
    name, result = _run_with_flaky_kernel(make_book, tmp_path, monkeypatch, "dies", 20)
    assert result.status == "failed"
    error = result.error
    assert (error.file, error.line, error.exception) == (
        "chapters/01-one.qmd", 1, "KernelStartError")
    assert f"kernel {name!r} did not start ({execute.KERNEL_START_ATTEMPTS} attempt(s)" \
        in error.message
    assert error.message.count("refusing to start, on purpose") == execute.KERNEL_START_ATTEMPTS


def test_kernel_that_is_not_installed_fails_the_chapter_at_once(make_book):
    root = make_book(ONE_CELL)
    result = execute.execute_chapter(root / "chapters/01-one.qmd", kernel_name="no-such-kernel")
    assert (result.status, result.error.exception) == ("failed", "KernelStartError")
    assert result.error.message.startswith("kernel 'no-such-kernel' is not installed: ")


def test_exit_handlers_of_a_chapter_run_when_its_kernel_shuts_down(make_book):
    # The executor orders ipykernel's exit (EXIT_ORDER); the kernel still exits gracefully,
    # running what the chapter registered, and none of the executor's names are left.
    root = make_book({"chapters/01-exit.qmd": """\
        ---
        jupyter: python3
        ---
        # Exit

        ```{python}
        import atexit
        from pathlib import Path
        atexit.register(Path("exited.txt").write_text, "cleaned up")
        print(sorted(name for name in dir() if "booktools" in name))
        ```
        """})
    result = execute.execute_chapter(root / "chapters/01-exit.qmd")
    assert result.status == "ok", result.error
    assert result.cells[0].outputs[0]["text"] == "[]\n"
    assert (root / "chapters/exited.txt").read_text() == "cleaned up"


def test_execute_dir_project_runs_from_the_root(make_book):
    root = make_book({"chapters/01-cwd.qmd": """\
        ---
        jupyter: python3
        ---
        # Where

        ```{python}
        import os
        print(os.path.exists("_quarto.yml"))
        ```
        """}, config="""\
        project:
          type: book
          execute-dir: project
        book:
          chapters: [chapters/01-cwd.qmd]
        """)
    result = execute.execute_chapter(root / "chapters/01-cwd.qmd")
    assert result.status == "ok", result.error
    assert result.cells[0].outputs[0]["text"] == "True\n"


def test_cli_execute_fails_with_file_and_line(book, capsys):
    root, _, _ = book
    code = main(["execute", "--root", str(root), "--jobs", "1",
                 str(root / "chapters/08-inline-error.qmd")])
    assert code == 1
    assert "chapters/08-inline-error.qmd:6: NameError" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, match", [
    ({"jobs": 0}, "`jobs` must be a positive integer; got 0"),
    ({"jobs": 1.5}, "`jobs` must be a positive integer; got 1.5"),
])
def test_execute_book_validates(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        execute.execute_book([tmp_path / "x.qmd"], **kwargs)


@pytest.mark.parametrize("name, value", [
    ("timeout", -1), ("timeout", True), ("startup_timeout", 0), ("startup_timeout", "60")])
def test_execute_chapter_validates_timeouts(tmp_path, name, value):
    with pytest.raises(ValueError, match=re.escape(
            f"`{name}` must be a positive number of seconds; got {value!r}")):
        execute.execute_chapter(tmp_path / "x.qmd", **{name: value})
