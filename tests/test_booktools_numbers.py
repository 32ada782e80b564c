"""booktools.numbers: numbers typed by hand into prose and alt texts are found, computed
ones and the allow-list are not."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from booktools import numbers

ROOT = Path(__file__).resolve().parents[1]


def found(text: str) -> list[str]:
    return [f.number for f in numbers.find_hand_typed_numbers(text)]


FIGURE = '''\
---
jupyter: python3
---
# A chapter {#sec-a}

```{python}
#| label: fig-auc
#| fig-cap: "AUC by week."
#| fig-alt: "A line chart; the AUC stays between
#|   0.61 to 0.75 over the weeks."
x = 1
```
'''


def test_flags_numbers_in_fig_alt_with_the_option_line():
    findings = numbers.find_hand_typed_numbers(FIGURE)
    assert [(f.number, f.kind, f.line) for f in findings] == [
        ("0.61", "fig-alt", 9), ("0.75", "fig-alt", 9)]
    assert str(findings[0]) == ("<text>:9: hand-typed number '0.61' in fig-alt (compute it "
                                "with an inline expression or allow-list it)")


def test_flags_a_percentage_in_prose_and_names_its_line():
    text = "# T {#sec-t}\n\nFirst line.\nTwo in a row at k = 2 gives 2.2% false rollbacks.\n"
    findings = numbers.find_hand_typed_numbers(text)
    assert [(f.number, f.line, f.kind) for f in findings] == [
        ("2", 4, "prose"), ("2.2%", 4, "prose")]
    assert findings[1].text == "Two in a row at k = 2 gives 2.2% false rollbacks."


@pytest.mark.parametrize("text, expected", [
    ("Accuracy 0.7000 on 160 rows (112 correct).", ["0.7000", "160", "112"]),
    ("It took about 44 ms, 10x slower, on 100,000 rows.", ["44", "10", "100,000"]),
    ("## How sure is 0.70? {#sec-sure}", ["0.70"]),
    ("| k | rate |\n|---|---|\n| 2 | 0.31 |", ["2", "0.31"]),
    ("Markdown image ![A curve](a.png){fig-alt=\"rises from 0.2 to 0.9\"}", ["0.2", "0.9"]),
    ("The 200 calls were timed.", ["200"]),
    ("We sampled 2000 rows.", ["2000"]),  # a year needs a date word right before it
    ("In 2000 rows, and out of 2019 requests.", ["2000", "2019"]),
    ("Who moved production to version 3?", ["3"]),  # a model version is registry data
    ("It served a 500 users; Chapter 4, 12 rows.", ["500", "12"]),
])
def test_flags_hand_typed_numbers(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    # computed or code
    "The AUC is `{python} auc` on `{python} n_rows` rows.",
    "Call `predict(X[:10])` with `timeout=2.5`.",
    "```python\nx = 0.61\n```\n",
    "```{python}\ny = 0.75\n```\n",
    # markup
    "See @sec-serving, @fig-latency-2 and [the docs](https://example.org/v2/page-3.html).",
    "## Gates 2 and 3 {#sec-gate-2}",
    "Served at <http://127.0.0.1:8000/predict> and <!-- 0.5 was a draft --> done.",
    "::: {#exr-4-1 .callout-note}",
    "{{< var book.release-2 >}} and {{< kbd Ctrl-1 >}}",
    "The statistic is $z = (p_1 - p_2) / \\sqrt{2}$.",
    "$$\nk = 1.96\n$$",
    # names that contain digits
    "The p99 latency, F1 score and SHA-256 of a float64 array in UTF-8.",
    "Open chapters/05-safe-deployment.qmd and model_v2.joblib.",
    # the allow-list
    "Python 3.11, MLflow 3.7+ and scikit-learn 1.5; deprecated since 2.9; version 0.10.",
    "Since 2019, and in a paper (2015); released on March 3, 2021.",
    "Chapter 4, Section 2.3, Exercise 4.1, chapters 05 and 08, Step 1.",
    "1. First\n2. Second",
    "It answers HTTP 422, a 404 Not Found, gets a 413, and the status is 200; 5xx alarms.",
    "Bind 127.0.0.1 (not 0.0.0.0) on port 0.",
    "A 95% confidence interval around the 99th-percentile latency.",
    "Probabilities between 0 and 1; an exit code of 0; 1-D arrays.",
    "The batch job runs at 02:00.",
    "Licensed CC BY-NC-SA 4.0, served over HTTP/1.1 per RFC 9110.",
])
def test_ignores_computed_code_markup_names_and_allowed(text):
    assert found(text) == []


def test_contexts_split_over_two_lines_are_recognised():
    assert found("As Chapter\n4 shows, a 95%\nconfidence interval in\n2019.") == []
    assert found("First paragraph mentions Chapter\n\n4 items.") == ["4"]


def test_front_matter_is_not_prose():
    assert found("---\ntitle: Version 2 of 3\nexecute:\n  timeout: 30\n---\n# T\n") == []


def test_reads_a_file_and_its_includes(make_book):
    root = make_book({
        "chapters/01-a.qmd": "# A {#sec-a}\n\nSee 3 cases.\n\n{{< include _ex/01-a.qmd >}}\n",
        "chapters/_ex/01-a.qmd": "Solve it for 7 rows.\n",
    })
    findings = numbers.find_hand_typed_numbers(root / "chapters/01-a.qmd")
    assert [(f.path, f.line, f.number) for f in findings] == [
        ("chapters/01-a.qmd", 3, "3"), ("chapters/_ex/01-a.qmd", 1, "7")]


def test_check_numbers_reports_every_listed_file_as_strings(make_book):
    root = make_book({
        "index.qmd": "# Preface {.unnumbered}\n\nAbout 12 chapters.\n",
        "chapters/01-a.qmd": FIGURE,
    }, config="project:\n  type: book\nbook:\n  chapters: [index.qmd, chapters/01-a.qmd]\n")
    problems = numbers.check_numbers(root)
    assert problems == [
        "index.qmd:3: hand-typed number '12' in prose (compute it with an inline expression "
        "or allow-list it)",
        "chapters/01-a.qmd:9: hand-typed number '0.61' in fig-alt (compute it with an inline "
        "expression or allow-list it)",
        "chapters/01-a.qmd:9: hand-typed number '0.75' in fig-alt (compute it with an inline "
        "expression or allow-list it)",
    ]


def test_a_missing_file_is_left_to_check_book(make_book):
    root = make_book({"index.qmd": "# P\n"},
                     config="book:\n  chapters: [index.qmd, chapters/99-gone.qmd]\n")
    assert numbers.check_numbers(root) == []


def test_rejects_what_is_neither_path_nor_text():
    with pytest.raises(TypeError, match=r"`path_or_text` must be a path or the text"):
        numbers.find_hand_typed_numbers(42)


def test_every_allow_list_entry_says_why_and_compiles():
    for pattern, why in numbers.ALLOWED:
        re.compile(pattern)
        assert len(why) > 10, pattern


def test_the_books_own_preface_and_appendices_type_no_numbers():
    for rel in ("index.qmd", "appendices/primers.qmd", "appendices/glossary.qmd"):
        assert [str(f) for f in numbers.find_hand_typed_numbers(ROOT / rel)] == []


def test_docstring_examples_run():
    # booktools is not under pytest's doctest paths (testpaths: tests, mlops_companion)
    import doctest

    result = doctest.testmod(numbers, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


def test_further_reading_section_is_not_prose(tmp_path):
    """A bibliography's years and pages describe a publication; the next section is checked again."""
    text = ("# Chapter {#sec-c}\n\nIntro.\n\n## Further reading {#sec-c-reading}\n\n"
            "- A. Author, *Journal* 12(2), 1947, pages 153-157.\n\n"
            "## After {#sec-c-after}\n\nWe saw 0.61 here.\n")
    findings = numbers.find_hand_typed_numbers(text)
    assert [f.number for f in findings] == ["0.61"]
