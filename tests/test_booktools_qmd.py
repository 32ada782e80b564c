"""booktools.qmd: .qmd parsing, includes with origins, _quarto.yml profiles."""
from __future__ import annotations

import pytest

from booktools import qmd

CHAPTER = '''\
---
title: "Alpha"
jupyter: python3
---
# Alpha {#sec-alpha}

Inline `{python} n_rows` rows; see @fig-line, not `@fig-in-code` nor me@sec-mail.org.

```{python}
#| label: fig-line
#| fig-cap: "A caption that goes on
#|   over two lines, citing @sec-alpha"
#| fig-alt: "A line."
n_rows = 3
```

```python
# @fig-in-a-plain-block is code
```

{{< include _part.qmd >}}

$$ y = x $$ {#eq-line}
'''

PART = '''\
::: {#exr-alpha}
## Try it
Text.
:::
'''


@pytest.fixture
def chapter(make_book):
    root = make_book({"chapters/01-alpha.qmd": CHAPTER, "chapters/_part.qmd": PART})
    return root, qmd.parse_qmd(root / "chapters/01-alpha.qmd", project_root=root)


def test_front_matter_and_cells(chapter):
    _, doc = chapter
    assert doc.front_matter == {"title": "Alpha", "jupyter": "python3"}
    (cell,) = doc.cells
    assert cell.source == "n_rows = 3"
    assert cell.origin.line == 9
    assert cell.label == "fig-line"


def test_multiline_option_parses_as_yaml(chapter):
    _, doc = chapter
    cell = doc.cells[0]
    assert cell.options["fig-cap"] == "A caption that goes on over two lines, citing @sec-alpha"
    assert cell.option_origins["fig-cap"].line == 11
    assert cell.option_origins["fig-alt"].line == 13


def test_labels_with_origins_including_included_file(chapter):
    root, doc = chapter
    found = {label.name: (label.origin.file.name, label.origin.line) for label in doc.labels()}
    assert found == {"sec-alpha": ("01-alpha.qmd", 5), "fig-line": ("01-alpha.qmd", 10),
                     "exr-alpha": ("_part.qmd", 1), "eq-line": ("01-alpha.qmd", 23)}


def test_references_skip_code_and_email(chapter):
    _, doc = chapter
    assert [(r.name, r.origin.line) for r in doc.references()] == [
        ("fig-line", 7), ("sec-alpha", 11)]


def test_inline_expressions(chapter):
    _, doc = chapter
    assert [(e.expr, e.origin.line) for e in doc.inline_expressions()] == [("n_rows", 7)]


def test_missing_include_names_file_and_line(make_book):
    root = make_book({"chapters/01-a.qmd": "# A\n\n{{< include _nope.qmd >}}\n"})
    with pytest.raises(qmd.QmdError, match=r"01-a\.qmd:3: included file '_nope\.qmd'"):
        qmd.parse_qmd(root / "chapters/01-a.qmd")


def test_recursive_include_is_an_error(make_book):
    root = make_book({"chapters/01-a.qmd": "{{< include _b.qmd >}}\n",
                      "chapters/_b.qmd": "{{< include 01-a.qmd >}}\n"})
    with pytest.raises(qmd.QmdError, match="recursive include"):
        qmd.parse_qmd(root / "chapters/01-a.qmd")


def test_bad_option_yaml_names_line(make_book):
    root = make_book({"chapters/01-a.qmd": "# A\n\n```{python}\n#| label: [oops\n1\n```\n"})
    with pytest.raises(qmd.QmdError, match=r"01-a\.qmd:4: cell options"):
        qmd.parse_qmd(root / "chapters/01-a.qmd")


def test_unclosed_cell_is_an_error(make_book):
    root = make_book({"chapters/01-a.qmd": "# A\n\n```{python}\nx = 1\n"})
    with pytest.raises(qmd.QmdError, match=r"01-a\.qmd:3: python cell is never closed"):
        qmd.parse_qmd(root / "chapters/01-a.qmd")


def test_missing_file_raises_typed_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="`path` must be an existing .qmd file; got"):
        qmd.parse_qmd(tmp_path / "nope.qmd")


def test_profile_merge_appends_arrays_and_merges_mappings(make_book):
    root = make_book({"chapters/01-a.qmd": "# A\n"}, config="""\
        project:
          type: book
          output-dir: _book
        book:
          title: Base
          chapters: [chapters/01-a.qmd]
          appendices: [appendices/a.qmd]
        """)
    (root / "_quarto-instructor.yml").write_text(
        "book:\n  title: Instructor\n  appendices: [appendices/solutions.qmd]\n"
        "project:\n  output-dir: _book-instructor\n")
    default = qmd.read_project(root)
    merged = qmd.read_project(root, "instructor")
    assert default["book"]["appendices"] == ["appendices/a.qmd"]
    assert merged["book"]["appendices"] == ["appendices/a.qmd", "appendices/solutions.qmd"]
    assert merged["book"]["chapters"] == ["chapters/01-a.qmd"]
    assert merged["book"]["title"] == "Instructor"
    assert merged["project"] == {"type": "book", "output-dir": "_book-instructor"}
    entries = qmd.book_entries(root, "instructor")
    assert [(e.path, e.kind, e.origin.file.name) for e in entries] == [
        ("chapters/01-a.qmd", "chapter", "_quarto.yml"),
        ("appendices/a.qmd", "appendix", "_quarto.yml"),
        ("appendices/solutions.qmd", "appendix", "_quarto-instructor.yml")]


def test_unknown_profile_raises(make_book):
    root = make_book({"chapters/01-a.qmd": "# A\n"})
    with pytest.raises(FileNotFoundError, match="`profile` must name a file"):
        qmd.read_project(root, "nope")


@pytest.mark.parametrize("conditions, profile, visible", [
    ((("content-visible", "when-profile", "instructor"),), None, False),
    ((("content-visible", "when-profile", "instructor"),), "instructor", True),
    ((("content-hidden", "when-profile", "instructor"),), "instructor", False),
    ((("content-hidden", "unless-profile", "instructor"),), None, False),
    ((("content-visible", "when-format", "html"),), None, True),
])
def test_visibility(conditions, profile, visible):
    assert qmd.is_visible(conditions, profile) is visible
