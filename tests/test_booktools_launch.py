"""Launch paths of the notebooks: one repository address, an install cell that stops
when installing fails, and a Binder configuration that really resolves and runs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from booktools import notebooks

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))
REPO_URL = CONFIG["book"]["repo-url"].rstrip("/")
BRANCH = CONFIG["book"].get("repo-branch", "main")
OWNER_REPO = REPO_URL.removeprefix("https://github.com/")


def _uv() -> str:
    found = shutil.which("uv") or str(Path(sys.prefix) / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (make setup installs it)")
    return found


def test_every_launch_path_derives_from_the_repo_url_in_quarto_yml():
    for path in sorted((ROOT / "exercises").glob("[0-9][0-9]-*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0]
        extra = notebooks.EXTRAS.get(path.stem, "")
        assert first.source == notebooks.install_source(REPO_URL, extra, branch=BRANCH), path
    blocks = sorted((ROOT / "chapters" / "_exercises").glob("*.qmd"))
    assert blocks
    for path in blocks:
        text = path.read_text(encoding="utf-8")
        hosts = re.findall(r"https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh)/"
                           r"([^/]+/[^/]+)/", text)
        assert hosts and set(hosts) == {OWNER_REPO}, (path, set(hosts))


def test_a_fork_changes_one_line(tmp_path):
    shutil.copytree(ROOT / "exercises" / "source", tmp_path / "exercises" / "source")
    config = (ROOT / "_quarto.yml").read_text(encoding="utf-8")
    fork = "https://github.com/some-teacher/mlops-course"
    (tmp_path / "_quarto.yml").write_text(config.replace(REPO_URL, fork), encoding="utf-8")
    files = notebooks.generate(tmp_path, execute=False)
    texts = "\n".join(files.values())
    assert REPO_URL not in texts
    assert f"git+{fork}@{BRANCH}" in texts
    assert f"colab.research.google.com/github/some-teacher/mlops-course/blob/{BRANCH}/" in texts
    assert f"mybinder.org/v2/gh/some-teacher/mlops-course/{BRANCH}?" in texts


@pytest.mark.slow
def test_install_cell_stops_the_notebook_when_installing_fails(tmp_path):
    # A fresh environment without pip: the install fails for real, and the cell must raise
    # (so "Run all" stops there) with a message naming the package.
    uv = _uv()
    venv = tmp_path / "bare"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    code = notebooks.install_source(REPO_URL, "serve", branch=BRANCH) + "\nprint('NEXT CELL RAN')\n"
    run = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)  # not the checkout: no package
    assert run.returncode != 0
    assert "RuntimeError: Could not install ['mlops-reference[serve] @ git+" in run.stderr
    assert "run this cell again" in run.stderr
    assert "NEXT CELL RAN" not in run.stdout


def test_binder_configuration():
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    lines = [ln.strip() for ln in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines == ["./reference[serve,registry,contracts]", "."]
    extras = set(re.search(r"\[(.*)\]", lines[0]).group(1).split(","))
    assert set(notebooks.EXTRAS.values()) <= extras


RUNNER = textwrap.dedent("""
    import sys, nbformat, nbclient
    nb = nbformat.read(sys.argv[1], as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys, mlops_companion; "
                                              "print(sys.prefix); print(mlops_companion.__file__)"))
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": sys.argv[2]}}).execute()
    print("LAST", nb.cells[-1].outputs[0]["text"].strip().replace("\\n", " | "))
""")


@pytest.mark.slow
def test_binder_requirements_resolve_and_run_a_notebook(tmp_path):
    # What Binder does, in a fresh virtual environment: install binder/requirements.txt
    # from the repository root (plus the kernel Binder's image provides), then run a
    # notebook that needs the `serve` extra, top to bottom.
    uv = _uv()
    venv = tmp_path / "binder-venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    # from a copy of what Binder clones, so that building the package leaves nothing
    # (build/, *.egg-info) in the checkout
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ["pyproject.toml", "README.md", "LICENSE.md", "binder", "mlops_companion", "reference",
                 "booktools"]:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, repo / name)  # (booktools: setuptools lists it as a package)
    # Without compiling bytecode (make exports UV_COMPILE_BYTECODE=1): one notebook runs in
    # this venv, and compiling what it imports costs a third of compiling everything.
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python),
                    "-r", "binder/requirements.txt", "ipykernel", "nbclient"],
                   cwd=repo, check=True, timeout=900, env={**os.environ, "UV_COMPILE_BYTECODE": "0"})
    run = subprocess.run([str(python), "-c", RUNNER, str(ROOT / "solutions" / "04-serving.ipynb"),
                          str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("LAST " + str(venv)), last  # the kernel ran in the fresh venv
    assert "site-packages" in last  # the package installed from the requirements, not the checkout
