"""Tests of the exercise notebooks and their generator (booktools.notebooks).

* generated files equal what the sources generate (and the check notices when not);
* student notebooks hold stubs, no solutions and no outputs; the self-checks say
  "not attempted yet" there;
* every student notebook runs top to bottom, its stubs reported "not attempted yet" (the
  eight in one kernel, each from an empty namespace: see the comment at the tests);
* the contract, that every solution passes its self-check, is proven by nbval in
  `make test`: each solution notebook executes once and every self-check's stored output
  ("passed all N cases") must come out again.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from booktools import notebooks
from mlops_companion.checks import _harness

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "exercises" / "source").glob("[0-9][0-9]-*.py"))
STEMS = [p.stem for p in SOURCES]
EXPECTED_STEMS = ["01-artefacts", "02-registry", "03-patterns", "04-serving",
                  "05-safe-deployment", "06-monitoring", "07-ml-cicd", "08-lifecycle",
                  "09-production", "10-scale"]
LABEL = r"[a-z0-9]+(?:-[a-z0-9]+)*"


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def test_one_exercise_set_per_chapter():
    assert STEMS == EXPECTED_STEMS


def test_every_self_checked_exercise_has_a_source():
    assert set(_harness.EXERCISES.values()) <= set(STEMS)


def test_cell_ids_are_computed_where_sha1_is_allowed_only_for_non_security_use(monkeypatch):
    # A FIPS-mode OpenSSL refuses SHA-1 unless the caller says it is not for security (no
    # such machine here, so its rule stands in for it); the ids must not change either.
    import hashlib
    import types

    want = notebooks._cell_id("01-artefacts", 3, "x = 1")

    def fips_sha1(data=b"", *, usedforsecurity=True):
        if usedforsecurity:
            raise ValueError("[digital envelope routines] unsupported")
        return hashlib.sha1(data, usedforsecurity=False)

    monkeypatch.setattr(notebooks, "hashlib", types.SimpleNamespace(sha1=fips_sha1))
    assert notebooks._cell_id("01-artefacts", 3, "x = 1") == want


# --------------------------------------------------------------------------- generated == committed

def test_committed_files_match_their_sources(capsys):
    assert notebooks.main(["--check"]) == 0, capsys.readouterr().err


def test_generation_is_deterministic():
    first = notebooks.generate(ROOT, execute=False)
    second = notebooks.generate(ROOT, execute=False)
    assert first == second
    for path, text in first.items():
        if path.suffix == ".ipynb":
            for cell in json.loads(text)["cells"]:
                assert "execution" not in cell["metadata"]


def _stream(name, text):
    import nbformat

    return nbformat.v4.new_output("stream", name=name, text=text)


def test_stream_order_does_not_depend_on_timing():
    # the same cell, run twice: MLflow's stderr message lands before or between the prints
    import nbformat

    runs = [[_stream("stderr", "Created version '1'\n"), _stream("stdout", "a\n"),
             _stream("stdout", "b\n")],
            [_stream("stdout", "a\n"), _stream("stderr", "Created version '1'\n"),
             _stream("stdout", "b\n")]]
    shown = [nbformat.v4.new_output("execute_result", data={"text/plain": "1"},
                                    execution_count=1)]
    results = [notebooks._coalesce_streams(run + shown + [_stream("stdout", "c\n")])
               for run in runs]
    assert results[0] == results[1]
    assert [(o.output_type, o.get("name"), o.get("text")) for o in results[0]] == [
        ("stream", "stdout", "a\nb\n"), ("stream", "stderr", "Created version '1'\n"),
        ("execute_result", None, None), ("stream", "stdout", "c\n")]


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")),
                         ids=lambda p: p.name)
def test_committed_solutions_are_stored_in_the_stable_form(path):
    # Re-executing a solution gives the same bytes only if its outputs were stored in the
    # normalised form (nbval, run on every solution, checks the outputs themselves).
    import copy

    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert notebooks._coalesce_streams(copy.deepcopy(cell.outputs)) == cell.outputs, \
                f"{path.name}: a cell's streams are not in the stable order; run `make notebooks`"


@pytest.fixture
def copy_of_book(tmp_path):
    for name in ["_quarto.yml"]:
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ["exercises", "solutions", "chapters/_exercises"]:
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    (tmp_path / "appendices").mkdir()
    shutil.copy(ROOT / "appendices" / "solutions.qmd", tmp_path / "appendices")
    return tmp_path


@pytest.mark.parametrize("relative", [
    "exercises/07-ml-cicd.ipynb",
    "solutions/06-monitoring.ipynb",
    "chapters/_exercises/02-registry.qmd",
    "appendices/solutions.qmd",
])
def test_check_mode_names_a_stale_file(copy_of_book, relative, capsys):
    assert notebooks.main(["--check", "--root", str(copy_of_book)]) == 0
    capsys.readouterr()
    path = copy_of_book / relative
    if path.suffix == ".ipynb":
        nb = _read(path)
        nb.cells[2].source += "\n# edited by hand"
        nbformat.write(nb, path)
    else:
        path.write_text(path.read_text() + "\nedited by hand\n")
    assert notebooks.main(["--check", "--root", str(copy_of_book)]) == 1
    assert f"{relative}: differs from what its source generates" in capsys.readouterr().err


def test_check_mode_compares_solution_notebooks_without_their_outputs(copy_of_book, capsys):
    # nbval verifies a solution notebook's outputs; --check its cells. The appendix shows
    # those outputs, so a notebook whose outputs changed leaves the appendix stale.
    path = copy_of_book / "solutions" / "02-registry.ipynb"
    nb = _read(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)
    assert notebooks.main(["--check", "--root", str(copy_of_book)]) == 1
    err = capsys.readouterr().err
    assert "appendices/solutions.qmd: differs" in err and "solutions/02-registry" not in err


def test_appendix_shows_each_cells_printed_output_and_no_stderr():
    sets = [notebooks.parse_source(p) for p in sorted((ROOT / "exercises" / "source").glob("*.py"))]
    first = next(c for c in sets[0].exercises[0].cells if c.cell_type == "code")
    printed = "a line\n```\nwith a fence inside\n"
    nb = {"cells": [{"cell_type": "code", "id": first.cell_id, "outputs": [
        {"output_type": "stream", "name": "stderr", "text": "a warning\n"},
        {"output_type": "stream", "name": "stdout", "text": printed.splitlines(True)}]}]}
    outputs = notebooks.notebook_outputs(nb)
    assert outputs == {first.cell_id: [printed]}
    page = notebooks.solutions_appendix(sets, outputs)
    # the output follows its cell, in a fence longer than the one it prints
    block = "::: {.cell-output .cell-output-stdout}\n````\n" + printed + "````\n:::"
    assert block in page and page.index(block) > page.index(notebooks._unmark(first.source))
    assert "a warning" not in page
    assert page.count(".cell-output-stdout") == 1


def test_a_source_breaking_the_conventions_is_refused(tmp_path):
    bad = tmp_path / "09-broken.py"
    bad.write_text('# %% [markdown] exercise="Bad_Name"\n# ## Title\n')
    with pytest.raises(notebooks.SourceError, match="lowercase letters, digits and hyphens"):
        notebooks.parse_source(bad)
    bad.write_text('# %% [markdown] exercise="ok"\n# Title without heading\n')
    with pytest.raises(notebooks.SourceError, match="must start with '## Title'"):
        notebooks.parse_source(bad)
    bad.write_text('# %% [markdown] exercise="ok"\n# ## T\n\n# %%\n# BEGIN SOLUTION\nx = 1\n')
    with pytest.raises(notebooks.SourceError, match="needs an '# END SOLUTION'"):
        notebooks.parse_source(bad)
    bad.write_text('# %%\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n\n# %% [markdown] exercise="ok"\n# ## T\n')
    with pytest.raises(notebooks.SourceError, match="set-up before the first exercise"):
        notebooks.parse_source(bad)
    with pytest.raises(notebooks.SourceError, match="must be named NN-topic.py"):
        notebooks.parse_source(tmp_path / "broken.py")


def test_unknown_stem_is_an_error(capsys):
    assert notebooks.main(["--check", "99-nothing"]) == 2
    assert "`stems` must name sources" in capsys.readouterr().err


# --------------------------------------------------------------------------- student notebooks

@pytest.mark.parametrize("stem", STEMS)
def test_student_notebook_has_stubs_and_no_solutions(stem):
    nb = _read(ROOT / "exercises" / f"{stem}.ipynb")
    solution = _read(ROOT / "solutions" / f"{stem}.ipynb")
    nbformat.validate(nb)
    first = nb.cells[0]
    # installs only where the package is missing, and stops "Run all" when that fails
    assert 'find_spec("mlops_companion") is None' in first.source
    assert '"pip", "install"' in first.source and "raise RuntimeError(" in first.source
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        assert "raises-exception" not in cell.metadata.get("tags", [])  # "Run all" goes through
        stubs = [ln for ln in cell.source.splitlines() if "raise NotImplementedError(" in ln]
        assert all(ln.startswith((" ", "\t")) for ln in stubs)  # raised only when called
    solution_only = {c.id for c in solution.cells} - {c.id for c in nb.cells}
    ex = notebooks.parse_source(ROOT / "exercises" / "source" / f"{stem}.py")
    for exercise in ex.exercises:
        if exercise.kind == "coding":
            assert any(c.source.startswith("checks.check_") for c in nb.cells), exercise.name
        else:
            prompts = [c for c in exercise.cells if "student" in c.tags]
            assert prompts, f"{exercise.name}: a conceptual exercise needs a reflection prompt"
    answers = [c for e in ex.exercises for c in e.cells if "solution" in c.tags]
    assert {c.cell_id for c in answers} <= solution_only


@pytest.mark.parametrize("stem", STEMS)
def test_solution_notebook_is_executed_in_order(stem):
    nb = _read(ROOT / "solutions" / f"{stem}.ipynb")
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert all(o.output_type != "error" for o in cell.outputs)
            if cell.source.startswith("checks."):
                assert "passed all" in "".join(o.get("text", "") for o in cell.outputs)


def test_every_exercise_set_has_a_new_exercise_and_the_source_ones():
    names = {}
    for path in SOURCES:
        ex = notebooks.parse_source(path)
        names[path.stem] = {e.name: e.kind for e in ex.exercises}
    assert names["07-ml-cicd"]["validate-model"] == "coding"
    assert names["06-monitoring"]["detect-drift"] == "coding"
    assert names["06-monitoring"]["weekly-retraining"] == "conceptual"
    assert names["01-artefacts"]["save-load-verify"] == "coding"
    assert names["05-safe-deployment"]["canary-flags-more"] == "conceptual"
    assert all(any(kind == "coding" for kind in set_.values()) for set_ in names.values())


# --------------------------------------------------------------------------- book pages

@pytest.mark.parametrize("stem", STEMS)
def test_chapter_blocks_have_labels_links_and_an_instructor_reference(stem):
    text = (ROOT / "chapters" / "_exercises" / f"{stem}.qmd").read_text()
    appendix = (ROOT / "appendices" / "solutions.qmd").read_text()
    topic = stem[3:]
    labels = re.findall(r"^::::: \{#exr-(" + LABEL + r")\}$", text, flags=re.M)
    assert labels and all(label.startswith(f"{topic}-") for label in labels)
    solutions = re.findall(r"^::::: \{#sol-(" + LABEL + r")\}$", text, flags=re.M)
    assert solutions == labels  # Solution 6.2 follows Exercise 6.2, in the same chapter
    for label in labels:
        assert f"See @sol-{label}." in text
        assert f"The solution to @exr-{label};" in text
        assert f"@sol-{label}, for @exr-{label}, with its output." in appendix
    assert text.count('::: {.content-visible when-profile="instructor"}') == len(labels) + 1
    assert text.index("::::::: {.content-visible") > text.rindex("#exr-")
    assert f"](../exercises/{stem}.ipynb)" in text
    # owner/repo and branch come from _quarto.yml's book.repo-url and book.repo-branch
    repo, branch = notebooks._repo(ROOT)
    owner_repo = repo.removeprefix("https://github.com/")
    assert (f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/"
            f"exercises/{stem}.ipynb") in text
    assert (f"https://mybinder.org/v2/gh/{owner_repo}/{branch}?labpath="
            f"exercises%2F{stem}.ipynb") in text
    assert len(re.findall(r"^:::::(?!:)", text, flags=re.M)) == 4 * len(labels)


def test_solutions_appendix_front_matter_and_solution_cells():
    text = (ROOT / "appendices" / "solutions.qmd").read_text()
    assert text.startswith("---\nengine: markdown\n---\n")  # shown, not executed again
    assert "\n# Solutions {#sec-solutions}\n" in text
    assert "BEGIN SOLUTION" not in text
    assert "```{python}" not in text and "``` {.python .cell-code}" in text
    sols = re.findall(r"^@sol-(" + LABEL + r"), for @exr-", text, flags=re.M)
    exrs = [label for stem in STEMS for label in re.findall(
        r"#exr-(" + LABEL + r")\}", (ROOT / "chapters" / "_exercises" / f"{stem}.qmd").read_text())]
    assert sols == exrs
    assert "{#sol-" not in text  # each solution has one home: after its exercise


# --------------------------------------------------------------------------- contract and execution

# Each notebook executes once per `make test`: the solutions under nbval (strict: every
# stored output must come out again; with test_committed_files_match_their_sources, that
# also pins what the generator produces), the student notebooks here, top to bottom as
# "Run all" would: no cell may raise (no allow_errors), and every self-check says the
# exercise is not attempted yet.
#
# The eight student notebooks share one kernel, one after the other, each from an empty
# namespace (`%reset -f`) in a folder of its own: a kernel start and the imports of numpy,
# pandas and scikit-learn cost 2 s of CPU per notebook, the exercises' own cells 0.3 s. What
# only a fresh kernel would show, that a notebook's set-up cells import everything it uses,
# is shown for the same cells by the solution notebooks, each in its own kernel under nbval
# (test_student_set_up_cells_run_alone_in_the_solution_notebook).
@pytest.fixture(scope="module")
def student_kernel():
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.util import run_sync

    km = AsyncKernelManager(kernel_name="python3")
    run_sync(km.start_kernel)()
    try:
        yield km
    finally:
        run_sync(km.shutdown_kernel)(now=False)


def _set_up_cells(nb) -> list[str]:
    """The code cells before a notebook's first exercise: install, imports, data."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            if "raise NotImplementedError(" in cell.source or cell.source.startswith("checks."):
                break
            cells.append(cell.source)
    return cells


@pytest.mark.parametrize("stem", STEMS)
def test_student_set_up_cells_run_alone_in_the_solution_notebook(stem):
    student = _set_up_cells(_read(ROOT / "exercises" / f"{stem}.ipynb"))
    solution = [c.source for c in _read(ROOT / "solutions" / f"{stem}.ipynb").cells
                if c.cell_type == "code"]
    assert len(student) >= 2 and 'find_spec("mlops_companion")' in student[0]
    assert solution[:len(student)] == student


def _run_after_reset(nb, km, folder: Path):
    """Execute `nb` in the shared kernel as if it were new: empty namespace, own folder."""
    from nbclient import NotebookClient

    fresh = nbformat.v4.new_code_cell(f"%reset -f\nimport os\nos.chdir({str(folder)!r})")
    nb.cells.insert(0, fresh)
    client = NotebookClient(nb, timeout=300, km=km)
    try:
        client.execute()
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        assert nb.cells.pop(0) is fresh
    assert fresh.outputs == []
    return nb


@pytest.mark.slow
def test_a_name_left_by_one_notebook_is_gone_in_the_next(student_kernel, tmp_path):
    first = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("leftover = 1")])
    _run_after_reset(first, student_kernel, tmp_path)
    second = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint(os.getcwd())\nleftover")])
    with pytest.raises(Exception, match="NameError.*leftover"):
        _run_after_reset(second, student_kernel, tmp_path / "..")
    assert second.cells[0].outputs[0]["text"].strip() == str(tmp_path.parent)


@pytest.mark.slow
@pytest.mark.parametrize("stem", STEMS)
def test_untouched_student_notebook_runs_all_and_reports_not_attempted(stem, tmp_path,
                                                                       student_kernel):
    nb = _run_after_reset(_read(ROOT / "exercises" / f"{stem}.ipynb"), student_kernel, tmp_path)
    reports = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert all(o.output_type != "error" for o in cell.outputs)
            if cell.source.startswith("checks.check_"):
                reports.append("".join(o.get("text", "") for o in cell.outputs))
    assert reports
    for text in reports:
        assert "not attempted yet" in text and "FAILED" not in text and "passed" not in text
