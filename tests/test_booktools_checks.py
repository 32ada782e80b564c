"""booktools.checks: each kind of broken book is reported with its file and line."""
from __future__ import annotations

import textwrap

import pytest

from booktools import checks
from booktools.__main__ import main

GOOD = {
    "index.qmd": "# Preface {.unnumbered}\n\nSee @sec-a and @fig-a.\n",
    "chapters/01-a.qmd": """\
        ---
        jupyter: python3
        ---
        # A {#sec-a}

        ```{python}
        #| label: fig-a
        #| fig-cap: "A figure."
        #| fig-alt: "Alt text."
        x = 1
        ```

        ::: {#exr-a}
        ## Try
        Text.
        :::

        ::: {.content-visible when-profile="instructor"}
        Solution: @sol-a.
        :::
        """,
}
SOLUTIONS = """\
    ---
    jupyter: python3
    ---
    # Solutions {#sec-solutions}

    ::: {#sol-a}
    ## Try
    Done.
    :::
    """
CONFIG = """\
    project:
      type: book
    book:
      chapters: [index.qmd, chapters/01-a.qmd]
    """


def problems_of(make_book, files=None, profile=None, **edits):
    files = dict(GOOD if files is None else files)
    files.update(edits.pop("extra", {}))
    root = make_book(files, config=CONFIG)
    (root / "_quarto-instructor.yml").write_text("book:\n  appendices: [appendices/solutions.qmd]\n")
    (root / "appendices").mkdir(exist_ok=True)
    (root / "appendices/solutions.qmd").write_text(SOLUTIONS.replace("    ", "", 0)
                                                   .replace("\n    ", "\n").lstrip())
    return [str(p) for p in checks.check_book(root, profile)]


def with_cell(options: str) -> dict[str, str]:
    files = dict(GOOD)
    files["chapters/01-a.qmd"] = GOOD["chapters/01-a.qmd"].replace(
        '#| fig-cap: "A figure."\n        #| fig-alt: "Alt text."', options)
    return files


def test_good_book_passes_both_profiles(make_book):
    assert problems_of(make_book) == []
    assert problems_of(make_book, profile="instructor") == []


def test_duplicate_label(make_book):
    files = dict(GOOD)
    files["chapters/01-a.qmd"] += "\n## Again {#sec-a}\n"
    assert problems_of(make_book, files) == [
        "chapters/01-a.qmd:22: duplicate label 'sec-a' (first at chapters/01-a.qmd:4)."]


def test_dangling_reference(make_book):
    files = dict(GOOD)
    files["chapters/01-a.qmd"] += "\nAs @fig-missing shows.\n"
    assert problems_of(make_book, files) == [
        "chapters/01-a.qmd:22: reference @fig-missing does not resolve to any label."]


def test_references_in_code_and_email_are_ignored(make_book):
    files = dict(GOOD)
    files["chapters/01-a.qmd"] += ("\nMail me@fig-host.org; `@fig-code`.\n\n"
                                   "```python\n@fig-decorator\n```\n")
    assert problems_of(make_book, files) == []


def test_figure_without_alt(make_book):
    assert problems_of(make_book, with_cell('#| fig-cap: "A figure."')) == [
        "chapters/01-a.qmd:7: figure cell 'fig-a' has no `fig-alt`."]


def test_unknown_cell_option_suggests_the_right_one(make_book):
    files = with_cell('#| fig-capt: "A figure."\n        #| fig-alt: "Alt."\n        #| echos: false')
    assert problems_of(make_book, files) == [
        "chapters/01-a.qmd:7: figure cell 'fig-a' has no `fig-cap`.",
        "chapters/01-a.qmd:8: unknown cell option `fig-capt`; did you mean `fig-cap`?",
        "chapters/01-a.qmd:10: unknown cell option `echos`; did you mean `echo`?",
    ]


def test_label_with_bad_characters(make_book):
    files = dict(GOOD)
    files["chapters/01-a.qmd"] += "\n## B {#sec-Bad_Name}\n"
    assert problems_of(make_book, files) == [
        "chapters/01-a.qmd:22: label 'sec-Bad_Name' must use only lowercase letters, digits "
        "and single hyphens."]


def test_listed_file_missing_and_unlisted_chapter(make_book):
    files = dict(GOOD)
    files["chapters/09-extra.qmd"] = "# Extra\n"
    files["chapters/_exercises/01-a.qmd"] = "Included, not listed: fine.\n"
    root = make_book(files, config=CONFIG.replace("chapters/01-a.qmd]",
                                                  "chapters/01-a.qmd, chapters/02-gone.qmd]"))
    assert [str(p) for p in checks.check_book(root)] == [
        "_quarto.yml:4: chapters/02-gone.qmd is listed but does not exist; create it or "
        "remove the entry.",
        "chapters/09-extra.qmd:1: is not listed in _quarto.yml; add it to book.chapters, or "
        "prefix its name with `_` if it is an include."]


def test_chapter_without_jupyter_declaration(make_book):
    files = dict(GOOD)
    files["chapters/01-a.qmd"] = files["chapters/01-a.qmd"].replace("jupyter: python3", "title: A")
    assert problems_of(make_book, files) == [
        "chapters/01-a.qmd:1: has python cells but its front matter does not declare "
        "`jupyter: python3`."]


def test_instructor_only_reference_outside_its_block_dangles_in_default(make_book):
    files = dict(GOOD)
    files["chapters/01-a.qmd"] += "\nSee @sol-a.\n"
    assert problems_of(make_book, files) == [
        "chapters/01-a.qmd:22: reference @sol-a does not resolve to any label."]
    assert problems_of(make_book, files, profile="instructor") == []


def test_solution_visible_in_default_edition(make_book):
    files = dict(GOOD)
    files["chapters/01-a.qmd"] += "\n::: {#sol-leak}\nThe answer.\n:::\n"
    assert problems_of(make_book, files) == [
        "chapters/01-a.qmd:22: solution 'sol-leak' is visible in the default edition; "
        "solutions belong to the instructor profile only."]
    assert problems_of(make_book, files, profile="instructor") == []


def test_cli_check_exit_status_and_messages(make_book, capsys):
    files = dict(GOOD)
    files["chapters/01-a.qmd"] += "\nAs @fig-missing shows.\n"
    root = make_book(files, config=CONFIG)
    assert main(["check", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "chapters/01-a.qmd:22: reference @fig-missing" in out
    good = make_book(dict(GOOD), config=CONFIG)
    assert main(["check", "--root", str(good)]) == 0


@pytest.mark.parametrize("option", sorted(["label", "echo", "eval", "output", "include", "error",
                                           "warning", "fig-cap", "fig-alt", "tbl-cap",
                                           "code-fold", "lst-label", "layout-ncol"]))
def test_documented_options_are_accepted(option):
    assert option in checks.CELL_OPTIONS


def test_cli_notebooks_dispatches_to_the_notebooks_module(monkeypatch):
    import sys
    import types

    import booktools

    seen = []
    fake = types.ModuleType("booktools.notebooks")
    fake.main = lambda argv: seen.append(list(argv)) or 3
    monkeypatch.setitem(sys.modules, "booktools.notebooks", fake)
    monkeypatch.setattr(booktools, "notebooks", fake, raising=False)
    assert main(["notebooks", "--check", "x"]) == 3
    assert seen == [["--check", "x"]]


RENDER_CONFIG = """\
project:
  type: book
  render:
    - index.qmd
    - README.md
book:
  title: "A test book"
  chapters:
    - index.qmd
    - chapters/01-a.qmd
"""


def test_render_list_in_a_book_project_is_reported(make_book):
    # Quarto ignores project.render for books; the chapters and appendices decide.
    root = make_book({"index.qmd": "# Preface\n", "chapters/01-a.qmd": "# A {#sec-a}\n",
                      "README.md": "# Read me\n"}, config=RENDER_CONFIG)
    messages = [p.message for p in checks.check_book(root)]
    assert any("project.render is set, but Quarto ignores it in a book project" in m
               for m in messages), messages
    config = RENDER_CONFIG.replace("  render:\n    - index.qmd\n    - README.md\n", "")
    assert "render" not in config
    root = make_book({"index.qmd": "# Preface\n", "chapters/01-a.qmd": "# A {#sec-a}\n"},
                     config=config)
    assert checks.check_book(root) == []


# --------------------------------------------------------------------- hidden cells
SETUP = "\n```{python}\n#| include: false\n%run _common.py\n```\n"


def with_hidden(text: str) -> dict[str, str]:
    files = dict(GOOD)
    files["chapters/01-a.qmd"] = textwrap.dedent(GOOD["chapters/01-a.qmd"]) + SETUP + text
    return files


def test_hidden_cell_computing_a_number_for_the_prose_fails(make_book):
    files = with_hidden("\n```{python}\n#| include: false\nshare = 0.25\n"
                        "pts = f'{100 * share:.0f}'\n```\n\nThe canary gets `{python} pts` per cent.\n")
    found = problems_of(make_book, files)
    assert len(found) == 1
    assert found[0].startswith("chapters/01-a.qmd:30: hidden cell binds `pts`, used later in "
                               "prose (line 33)")


def test_hidden_cell_fails_the_cli_check(make_book, capsys):
    files = with_hidden("\n```{python}\n#| echo: false\ndef helper():\n    return 1\n```\n\n"
                        "```{python}\nhelper()\n```\n")
    root = make_book(files, config=CONFIG)
    assert main(["check", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "chapters/01-a.qmd:29: hidden cell binds `helper`, used later in a visible cell" in out
    assert "chapters/01-a.qmd:27: hidden cell (`echo: false`) shows its output" in out


def test_hidden_figure_and_scratch_names_pass(make_book):
    files = with_hidden('\n```{python}\n#| label: fig-b\n#| echo: false\n#| fig-cap: "B."\n'
                        '#| fig-alt: "B."\nxs = [v for v in range(3)]\n\n\ndef draw(points):\n'
                        '    total = sum(points)\n    return total\n\n\nfig = draw(xs)\n```\n\n'
                        "```{python}\nv = total = 2\n```\n\nSee @fig-b, `{python} v`.\n")
    assert problems_of(make_book, files) == []


def test_hidden_table_is_a_result_out_of_sight(make_book):
    files = with_hidden("\n```{python}\n#| echo: false\nimport math\nround(math.pi, 2)\n```\n")
    found = problems_of(make_book, files)
    assert [p.split(";")[0] for p in found] == [
        "chapters/01-a.qmd:27: hidden cell (`echo: false`) shows its output without being a "
        "`fig-` figure"]
