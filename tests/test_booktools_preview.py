"""booktools.preview: the preview site of a small executed book, in both profiles."""
from __future__ import annotations

import re
import sys

import pytest

from booktools import execute, preview, qmd
from booktools.__main__ import main
from conftest import write_book

pytestmark = pytest.mark.slow

FILES = {
    "index.qmd": """\
        # Preface {.unnumbered}

        Start with @sec-alpha; the figure is @fig-line.
        """,
    "chapters/01-alpha.qmd": """\
        ---
        jupyter: python3
        ---
        # Alpha {#sec-alpha}

        ## Set-up {#sec-alpha-setup}

        ```{python}
        #| include: false
        hidden_value = 7
        ```

        ```{python}
        #| echo: false
        print("only the output")
        ```

        ```{python}
        #| code-fold: true
        #| code-summary: "Show the set-up"
        folded = True
        ```

        The value is `{python} hidden_value`; @fig-line is in @sec-alpha-plot.

        ::: {.callout-warning}
        ## Mind the gap
        A warning callout.
        :::

        ## The plot {#sec-alpha-plot}

        ```{python}
        #| label: fig-line
        #| fig-cap: "A rising line, from @sec-alpha-setup."
        #| fig-alt: "A dashed line rising from left to right."
        import matplotlib.pyplot as plt
        plt.plot([1, 2, 3], linestyle="--")
        plt.show()
        ```

        {{< include _exercises/01-alpha.qmd >}}
        """,
    "chapters/_exercises/01-alpha.qmd": """\
        ## Exercises {#sec-alpha-exercises}

        ::: {#exr-alpha-first}
        ## Draw it again
        Redo @fig-line. [Download the notebook](../exercises/01-alpha.ipynb)
        :::

        ::: {.content-visible when-profile="instructor"}
        Instructor only: @sol-alpha-first.
        :::
        """,
    "chapters/02-beta.qmd": """\
        ---
        jupyter: python3
        ---
        # Beta {#sec-beta}

        ## First

        ## Second {#sec-beta-second}

        ```{python}
        #| label: tbl-numbers
        #| tbl-cap: "Two numbers."
        import pandas as pd
        pd.DataFrame({"n": [1, 2]})
        ```

        Back to @fig-line, @exr-alpha-first and @sec-alpha; see @tbl-numbers and @tbl-pipe.

        | a | b |
        |---|---|
        | 1 | 2 |

        : A pipe table, after @tbl-numbers. {#tbl-pipe}
        """,
    "appendices/solutions.qmd": """\
        ---
        jupyter: python3
        ---
        # Solutions {#sec-solutions}

        ::: {#sol-alpha-first}
        ## Draw it again
        ```{python}
        print("solved")
        ```
        :::
        """,
    "exercises/01-alpha.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n',
}
CONFIG = """\
    project:
      type: book
      output-dir: _site
    book:
      title: "Preview test"
      chapters: [index.qmd, chapters/01-alpha.qmd, chapters/02-beta.qmd]
    """


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = write_book(tmp_path_factory.mktemp("preview"), FILES, config=CONFIG)
    (root / "_quarto-instructor.yml").write_text(
        "book:\n  appendices: [appendices/solutions.qmd]\nproject:\n  output-dir: _site-instructor\n")
    entries = qmd.book_entries(root, "instructor")
    results = execute.execute_book([root / e.path for e in entries], project_root=root,
                                   progress=None)
    assert [r.status for r in results] == ["ok"] * 4, [str(r.error) for r in results]
    default = preview.build_site(root, results[:3])
    instructor = preview.build_site(root, results, profile="instructor")
    return root, default, instructor


def read(site, rel):
    return (site / rel).read_text(encoding="utf-8")


def test_pages_and_sidebar(sites):
    root, site, _ = sites
    assert site == root / "_site"
    index = read(site, "index.html")
    for href in ("chapters/01-alpha.html", "chapters/02-beta.html"):
        assert (site / href).is_file()
        assert f'href="{href}"' in index
    assert "Preview built without Quarto" in index
    assert "appendices/solutions.html" not in index


def test_numbered_sections_and_cross_reference_links(sites):
    _, site, _ = sites
    alpha, beta = read(site, "chapters/01-alpha.html"), read(site, "chapters/02-beta.html")
    assert re.search(r'<h1 id="sec-alpha"><span class="header-section-number">1</span> Alpha', alpha)
    assert '<span class="header-section-number">1.2</span> The plot' in alpha
    assert '<a href="01-alpha.html#fig-line">Figure 1.1</a> is in ' \
           '<a href="01-alpha.html#sec-alpha-plot">Section 1.2</a>' in alpha
    assert '<span class="header-section-number">2.2</span> Second' in beta
    assert '<a href="01-alpha.html#fig-line">Figure 1.1</a>' in beta
    assert '<a href="01-alpha.html#exr-alpha-first">Exercise 1.1</a>' in beta
    assert '<a href="01-alpha.html#sec-alpha">Chapter 1</a>' in beta
    assert '<a href="02-beta.html#tbl-numbers">Table 2.1</a>' in beta
    assert '<a href="02-beta.html#tbl-pipe">Table 2.2</a>' in beta
    assert re.search(r'<table id="tbl-pipe">\s*<caption>Table 2\.2: A pipe table, after '
                     r'<a href="02-beta.html#tbl-numbers">Table 2\.1</a>\.', beta), beta
    assert '<a href="chapters/01-alpha.html#sec-alpha">Chapter 1</a>' in read(site, "index.html")


def test_figure_file_alt_and_numbered_caption(sites):
    _, site, _ = sites
    alpha = read(site, "chapters/01-alpha.html")
    match = re.search(r'<img src="([^"]+)" alt="A dashed line rising from left to right\."', alpha)
    assert match, alpha
    assert (site / "chapters" / match.group(1)).read_bytes().startswith(b"\x89PNG")
    assert 'id="fig-line"' in alpha
    assert re.search(r'Figure 1\.1</span>: A rising line, from <a href="01-alpha.html#'
                     r'sec-alpha-setup">Section 1\.1</a>', alpha)


def test_echo_include_inline_and_callout(sites):
    _, site, _ = sites
    alpha = read(site, "chapters/01-alpha.html")
    assert "hidden_value = 7" not in alpha  # include: false
    assert "only the output" in alpha and "print(" not in alpha.split("only the output")[0][-400:]
    assert "The value is 7;" in alpha
    assert re.search(r"<details><summary>Show the set-up</summary>\s*<div[^>]*><pre[^>]*><code"
                     r"[^>]*><span[^>]*><a[^>]*></a>folded", alpha)
    assert re.search(r'<div class="callout callout-warning">\s*<p><span class="callout-title">'
                     r'Mind the gap</span>', alpha)


def test_exercise_box_notebook_link_and_profiles(sites):
    _, site, instructor = sites
    alpha = read(site, "chapters/01-alpha.html")
    assert re.search(r'<div id="exr-alpha-first" class="theorem exercise">\s*<p><span '
                     r'class="theorem-title">Exercise 1\.1 \(Draw it again\)</span>', alpha)
    assert 'href="../exercises/01-alpha.ipynb"' in alpha
    assert (site / "exercises/01-alpha.ipynb").is_file()
    assert "Instructor only" not in alpha
    inst = read(instructor, "chapters/01-alpha.html")
    assert ('Instructor only: <a href="../appendices/solutions.html#sol-alpha-first">'
            "Solution A.1</a>") in inst
    solutions = read(instructor, "appendices/solutions.html")
    assert "Solution A.1 (Draw it again)" in solutions and "solved" in solutions


def test_build_refuses_failed_results(sites):
    root, _, _ = sites
    bad = execute.ChapterResult(root / "chapters/01-alpha.qmd", "failed", 0.0, 0,
                                execute.ChapterError("chapters/01-alpha.qmd", 3, "E", "m"))
    with pytest.raises(ValueError, match="`results` must all be ok"):
        preview.build_site(root, [bad], out=root / "_never")


def test_cli_build_without_quarto_builds_the_preview_and_says_so_loudly(make_book, monkeypatch,
                                                                       capsys):
    from booktools import quarto

    monkeypatch.setattr(quarto, "find_quarto", lambda: None)
    root = make_book({"index.qmd": "# Preface {.unnumbered}\n\nNo code here.\n"},
                     config="project:\n  type: book\nbook:\n  chapters: [index.qmd]\n")
    assert main(["build", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "NO QUARTO FOUND" in out and "PREVIEW, not the book readers get" in out
    assert "built the preview site in" in out
    assert (root / "_book/index.html").is_file()


def test_cli_build_with_quarto_renders_verifies_and_then_reuses(make_book, tmp_path, monkeypatch,
                                                                 capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "quarto.log"
    fake = bin_dir / "quarto"
    page = "<!doctype html><html><body><main><p>Preface</p></main></body></html>"
    fake.write_text("#!/bin/sh\n"
                    'if [ "$1" = --version ]; then echo 1.10.18; exit 0; fi\n'
                    f'echo "$* | $QUARTO_PYTHON" >> {log}\n'
                    f"mkdir -p _book && echo '{page}' > _book/index.html\n")
    fake.chmod(0o755)
    monkeypatch.setenv("QUARTO", str(fake))
    root = make_book({"index.qmd": "# Preface {.unnumbered}\n"},
                     config="project:\n  type: book\nbook:\n  chapters: [index.qmd]\n")
    assert main(["build", "--root", str(root)]) == 0
    assert log.read_text().strip() == f"render | {sys.executable}"
    assert "0 warnings, every page verified" in capsys.readouterr().out
    # nothing changed: no second render
    assert main(["build", "--root", str(root)]) == 0
    assert "nothing changed since _book/ was rendered" in capsys.readouterr().out
    assert log.read_text().count("render") == 1
    # a page Quarto leaves broken fails the build, though Quarto exited 0
    (root / "index.qmd").write_text("# Preface {.unnumbered}\n\nEdited.\n")
    fake.write_text(fake.read_text().replace("<p>Preface</p>",
                                             '<p><strong class="quarto-unresolved-ref">?fig-x'
                                             "</strong></p>"))
    assert main(["build", "--root", str(root)]) == 1
    assert "unresolved cross-reference '?fig-x'" in capsys.readouterr().out


def test_pandoc_output_is_reused_until_the_markdown_changes(tmp_path, monkeypatch):
    calls = []
    real = preview.pypandoc.convert_text

    def counting(text, *args, **kwargs):
        calls.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(preview.pypandoc, "convert_text", counting)
    first = preview._pandoc("Some *text* and $x^2$.", tmp_path)
    again = preview._pandoc("Some *text* and $x^2$.", tmp_path)
    assert first == again and "<em>text</em>" in first and "<math" in first
    assert len(calls) == 1
    changed = preview._pandoc("Other *text*.", tmp_path)
    assert len(calls) == 2 and "Other" in changed
    assert len(list((tmp_path / preview.PANDOC_CACHE).glob("*.html"))) == 2
