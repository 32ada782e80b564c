"""booktools.quarto: Quarto's log read for warnings, the rendered site checked as HTML, the
freeze kept in step with the book's chapter keys, and, on a small book rendered by real
Quarto, each mistake Quarto mishandles caught by both the static checks and the render."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from booktools import checks, quarto
from conftest import write_book


# --------------------------------------------------------------------------- the render log

def test_log_problems_are_quartos_own_warning_and_error_lines():
    log = textwrap.dedent("""\
        [1/2] chapters/01-a.qmd
        Starting python3 kernel...[IPKernelApp] WARNING | Kernel is running over TCP
        \x1b[33mWARNING (/q/filters/normalize/astpipeline.lua:340) \x1b[39m
        The following string was found in the document: :::
        \x1b[33mWARN: chapters/01-a.html: Unable to resolve crossref @fig-x\x1b[39m
        ERROR: chapters/02-b.qmd: a cell failed
        Warnings are what this line talks about, not a warning.
        Output created: _book/index.html
        """)
    assert quarto.log_problems(log) == [
        "WARNING (/q/filters/normalize/astpipeline.lua:340) The following string was found "
        "in the document: :::",
        "WARN: chapters/01-a.html: Unable to resolve crossref @fig-x",
        "ERROR: chapters/02-b.qmd: a cell failed",
    ]
    assert quarto.log_problems("Output created: _book/index.html\n") == []


# --------------------------------------------------------------------------- the freeze

def test_only_chapters_whose_key_changed_lose_their_frozen_result(tmp_path):
    for entry in ("chapters/01-a.qmd", "chapters/02-b.qmd"):
        (tmp_path / "_freeze" / Path(entry).with_suffix("") / "execute-results").mkdir(
            parents=True)
    (tmp_path / quarto.KEYS_FILE).write_text(json.dumps(
        {"chapters/01-a.qmd": "k1", "chapters/02-b.qmd": "k2"}))
    stale = quarto.invalidate_stale(tmp_path, {"chapters/01-a.qmd": "k1",
                                               "chapters/02-b.qmd": "changed",
                                               "chapters/03-new.qmd": "k3"})
    assert stale == ["chapters/02-b.qmd"]
    assert (tmp_path / "_freeze" / "chapters" / "01-a").is_dir()
    assert not (tmp_path / "_freeze" / "chapters" / "02-b").exists()


def test_freeze_keys_change_with_the_package_not_with_booktools(make_book):
    root = make_book({"chapters/01-a.qmd": """\
        ---
        jupyter: python3
        ---
        # A {#sec-a}

        ```{python}
        import kit
        ```
        """, "kit/__init__.py": "X = 1\n"})
    before = quarto.freeze_keys(root, None)
    assert set(before) == {"chapters/01-a.qmd"}
    (root / "kit" / "__init__.py").write_text("X = 2\n")
    after = quarto.freeze_keys(root, None)
    assert after["chapters/01-a.qmd"] != before["chapters/01-a.qmd"]


# --------------------------------------------------------------------------- the site as HTML

PAGE = """<!doctype html><html><head><title>t</title></head><body><main>{body}</main></body></html>"""
GOOD_FIGURE = """
<div id="fig-a" class="quarto-float quarto-figure anchored"><figure class="quarto-float">
<div><img src="a.png" alt="A line rising from left to right" class="figure-img"></div>
<figcaption>Figure&nbsp;1.1: A rising line.</figcaption></figure></div>"""


def _site(root: Path, pages: dict[str, str]) -> Path:
    site = root / "_book"
    for rel, body in pages.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(PAGE.format(body=body), encoding="utf-8")
    (site / "chapters" / "a.png").write_bytes(b"png")
    return site


def test_verify_site_passes_a_clean_site_and_names_each_problem(make_book):
    root = make_book({"index.qmd": "# Preface\n", "chapters/01-a.qmd": "# A\n",
                      "chapters/02-b.qmd": "# B\n"})
    clean = {"index.html": '<p>See <a href="chapters/01-a.html#fig-a">Figure 1.1</a>.</p>',
             "chapters/01-a.html": GOOD_FIGURE + '<p><code>::: {#fig-x}</code> is fine in code.</p>',
             "chapters/02-b.html": '<p><a href="../">home</a></p>'}
    _site(root, clean)
    assert quarto.verify_site(root) == []

    broken = {
        "index.html": '<p>See <strong class="quarto-unresolved-ref">?fig-gone</strong>.</p>'
                      '<p><a href="chapters/01-a.html#fig-nowhere">x</a></p>'
                      '<p><a href="appendices/solutions.html#sol-a">answer</a></p>',
        "chapters/01-a.html": GOOD_FIGURE.replace('alt="A line rising from left to right"',
                                                  'alt=""')
        + '<p>::: {#tbl-t .cell tbl-cap=\'A caption</p>'
        + '<div id="tbl-t" class="quarto-float"><figure><figcaption>no number</figcaption>'
          '</figure></div>',
    }
    for rel in ("index.html", "chapters/01-a.html", "chapters/02-b.html"):
        (root / "_book" / rel).unlink()
    _site(root, broken)
    problems = "\n".join(quarto.verify_site(root))
    for expected in ["chapters/02-b.qmd: no page chapters/02-b.html",
                     "index.html: unresolved cross-reference '?fig-gone'",
                     "index.html: broken internal link 'chapters/01-a.html#fig-nowhere'",
                     "index.html: the student edition links to a solution",
                     "chapters/01-a.html: raw source on the page: \"::: {#tbl-t",
                     "chapters/01-a.html#fig-a: an image without alt text",
                     "chapters/01-a.html#tbl-t: no numbered caption"]:
        assert expected in problems, f"{expected!r} not in:\n{problems}"


# --------------------------------------------------------------------------- planted mistakes

CLEAN = """\
    ---
    jupyter: python3
    ---
    # {title} {{#sec-{name}}}

    @fig-{name} and @tbl-{name} are below.

    ```{{python}}
    #| label: fig-{name}
    #| fig-cap: "A rising line."
    #| fig-alt: "A line rising from the lower left to the upper right."
    import matplotlib.pyplot as plt
    plt.figure(figsize=(3, 2)); plt.plot([0, 1], [0, 1]); plt.show()
    ```

    ```{{python}}
    #| label: tbl-{name}
    #| tbl-cap: "Two numbers."
    import pandas as pd
    pd.DataFrame({{"x": [1, 2]}})
    ```
    """
# A chapter of prose only: no kernel starts for it.
PROSE = """\
    # {title} {{#sec-{name}}}

    @sec-{name} is this chapter.
    """
# Each mistake in a chapter of its own: (name, template, what replaces what in it). The
# mistakes in cell options need executed cells; the ones in prose need none.
PLANTED = {
    "alt": (CLEAN, '#| fig-alt: "A line rising from the lower left to the upper right."',
            '#| fig-alt: "A line rising from the lower left\n    #|   to the upper right."'),
    "cap": (CLEAN, '#| tbl-cap: "Two numbers."', '#| tbl-cap: "Two numbers,\n    #|   in a table."'),
    "ref": (PROSE, "@sec-{name} is", "@fig-missing and @sec-{name} are"),
    "head": (PROSE, "is this chapter.", "is this chapter.\n    ## Later {{#sec-{name}-later}}"),
}


@pytest.mark.slow
def test_each_planted_mistake_fails_the_checks_and_the_real_render(quarto_cli, tmp_path):
    files = {"index.qmd": "# Preface {.unnumbered}\n\nStart with @sec-clean.\n",
             "chapters/01-clean.qmd": CLEAN.format(title="Clean", name="clean")}
    for i, (name, (template, old, new)) in enumerate(PLANTED.items(), start=2):
        text = template.replace(old, new).format(title=name.title(), name=name)
        files[f"chapters/0{i}-{name}.qmd"] = text
    root = write_book(tmp_path / "book", files)

    static = [str(p) for p in checks.check_book(root)]
    assert [p for p in static if "01-clean" in p] == []
    assert any("02-alt.qmd" in p and "`fig-alt` spans 2" in p for p in static), static
    assert any("03-cap.qmd" in p and "`tbl-cap` spans 2" in p for p in static), static
    assert any("04-ref.qmd" in p and "@fig-missing does not resolve" in p for p in static), static
    assert any("05-head.qmd" in p and "heading straight after a line" in p for p in static), static

    result = quarto.render(root, quarto=quarto_cli, echo=False)
    assert result.returncode == 0, result.log.read_text()[-3000:]  # Quarto itself says "fine"
    found = result.problems + quarto.verify_site(root)
    text = "\n".join(found)
    assert not [p for p in found if "01-clean" in p], text
    # the multi-line alt text: the figure loses its id, so its reference and number go
    assert any("02-alt.html" in p and ("fig-alt" in p or "crossref @fig-alt" in p)
               for p in found), text
    # the multi-line table caption: raw `:::` reaches the page
    assert any("03-cap.html" in p and "raw source" in p for p in found), text
    assert any(":::" in p for p in result.problems), text
    # the dangling reference: Quarto warns, and the page shows it unresolved
    assert any("Unable to resolve crossref @fig-missing" in p for p in result.problems), text
    assert any("04-ref.html: unresolved cross-reference '?fig-missing'" in p for p in found), text
    # the heading glued to a paragraph: its hashes and id show as text
    assert any("05-head.html: raw source" in p and "{#sec-head-later}" in p for p in found), text


def test_two_builds_at_once_render_once(make_book, tmp_path):
    # `make book` beside `make test`: the second build waits for the first, then finds the
    # site rendered and verified from the same inputs
    import os
    import subprocess
    import sys

    log = tmp_path / "renders.log"
    fake = tmp_path / "quarto"
    page = "<!doctype html><html><body><main><p>Preface</p></main></body></html>"
    fake.write_text("#!/bin/sh\n"
                    'if [ "$1" = --version ]; then echo 1.10.18; exit 0; fi\n'
                    f"echo start >> {log}; sleep 2; echo end >> {log}\n"
                    f"mkdir -p _book && echo '{page}' > _book/index.html\n")
    fake.chmod(0o755)
    root = make_book({"index.qmd": "# Preface {.unnumbered}\n"},
                     config="project:\n  type: book\nbook:\n  chapters: [index.qmd]\n")
    env = dict(os.environ, QUARTO=str(fake), PYTHONPATH=str(Path(__file__).parents[1]))
    runs = [subprocess.Popen([sys.executable, "-m", "booktools", "build", "--root", str(root)],
                             env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert log.read_text().split() == ["start", "end"]  # one render, never two side by side
    assert sum("nothing changed since _book/" in out for out in outputs) == 1, outputs


@pytest.mark.parametrize("in_git", [False, True], ids=["folder", "git checkout"])
def test_site_stamp_sees_sources_not_what_execution_writes(make_book, in_git):
    import subprocess

    root = make_book({"index.qmd": "# Preface\n", "chapters/01-a.qmd": "# A\n",
                      "appendices/b.qmd": "# B\n"})
    if in_git:
        (root / ".gitignore").write_text("mlruns/\n*_files/\n")
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    stamp = quarto.site_stamp(root, None, {}, "1.10.18")
    # what executing the book leaves beside its sources
    for junk in ("appendices/mlruns/0/meta.yaml", "chapters/01-a_files/figure-html/x.png"):
        (root / junk).parent.mkdir(parents=True, exist_ok=True)
        (root / junk).write_text("output")
    assert quarto.site_stamp(root, None, {}, "1.10.18") == stamp
    (root / "chapters/01-a.qmd").write_text("# A, edited\n")
    assert quarto.site_stamp(root, None, {}, "1.10.18") != stamp


def test_to_execute_lists_what_quarto_would_execute(make_book):
    root = make_book({"chapters/01-a.qmd": "---\njupyter: python3\n---\n# A\n\n```{python}\n1\n```\n",
                      "chapters/02-b.qmd": "# B, no code\n"})
    assert quarto.to_execute(root) == ["chapters/01-a.qmd"]
    frozen = root / "_freeze" / "chapters" / "01-a" / "execute-results"
    frozen.mkdir(parents=True)
    source = (root / "chapters/01-a.qmd").read_text()
    # Quarto's hash: MD5 of the text with LF line endings
    (frozen / "html.json").write_text(json.dumps(
        {"hash": __import__("hashlib").md5(source.encode()).hexdigest()}))
    assert quarto.to_execute(root) == []
    (root / "chapters/01-a.qmd").write_text(source.replace("1\n", "2\n"))
    assert quarto.to_execute(root) == ["chapters/01-a.qmd"]
