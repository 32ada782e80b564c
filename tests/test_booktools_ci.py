"""The build's entry points tell the truth: Make targets, .ci/run and the GitHub workflow."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
MAKEFILE = (ROOT / "Makefile").read_text()


def _phony() -> list[str]:
    return re.search(r"^\.PHONY:(.*)$", MAKEFILE, re.M).group(1).split()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", _phony())
def test_every_make_target_does_something(target):
    # `make -n` prints the commands a target would run; a target without a recipe prints
    # nothing (or "Nothing to be done"). The venv stamp is taken as up to date, except for
    # `setup`, whose whole job is that stamp (taken as out of date).
    flags = ["-W", "pyproject.toml"] if target == "setup" else ["-o", ".venv/.installed"]
    run = subprocess.run(["make", "-n", *flags, target], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() and "Nothing to be done" not in run.stdout, target


def test_setup_compiles_bytecode_and_clean_removes_every_output():
    assert "UV_COMPILE_BYTECODE := 1" in MAKEFILE and "--compile-bytecode" in MAKEFILE
    clean = re.search(r"^clean:\n((?:\t.*\n)+)", MAKEFILE, re.M).group(1)
    for output in ["_book", "_book-instructor", "_freeze", ".quarto", ".jupyter_cache",
                   ".pytest_cache", "$(VENV)"]:
        assert re.search(rf"(?<![\w-]){re.escape(output)}(?![\w-])", clean), output


def test_ci_run_reports_each_step_and_fails_on_any_failure(tmp_path):
    # A stand-in `make` on the PATH: `make test` exits 5 (pytest's "no tests collected").
    fake = tmp_path / "make"
    fake.write_text('#!/bin/sh\necho "make $*"\n[ "$1" = test ] && exit 5\n[ "$1" = production ] && exit 3\nexit 0\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0
    out = run.stdout
    assert "make setup browser" in out and "make test" in out and "make book" in out
    assert re.search(r"^test\s+FAILED\s+\d+ s\s+\(exit 5\)$", out, re.M), out
    # the production step runs beside the test step; its failure and log still reach the report
    assert re.search(r"^production\s+FAILED\s+\d+ s\s+\(exit 3\)$", out, re.M), out
    assert "make production" in out
    assert re.search(r"^book\s+ok\s+\d+ s$", out, re.M), out  # later steps still run


def test_ci_run_tests_leave_out_only_what_the_production_step_runs_whole():
    # .ci/run's test step may leave out a test file only because its production step
    # (deploy/ci-check.sh) runs that whole file, with no `-k` selection.
    ci = (ROOT / ".ci" / "run").read_text()
    check = (ROOT / "deploy" / "ci-check.sh").read_text()
    step = re.search(r"^step test make test(.*)$", ci, re.M).group(1)
    ignored = re.findall(r"--ignore=(\S+?)\"?(?:\s|$)", step)
    assert ignored == ["tests/test_production.py"], step
    assert re.search(r"^\( step production (?:nice -n \d+ )?make production\b", ci, re.M)
    assert "bash deploy/ci-check.sh" in MAKEFILE
    runs = re.findall(r"-m pytest ([^\n]*)", check)
    assert [r for r in runs if r.split()[0] == ignored[0]], runs
    assert not any(" -k " in f" {r} " for r in runs), runs
    assert ci.index("step production") < ci.index("step test")


def test_ci_run_passes_when_every_step_passes(tmp_path):
    fake = tmp_path / "make"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout
    assert "== CI summary" in run.stdout
    assert re.search(r"^production\s+ok\s+\d+ s$", run.stdout, re.M), run.stdout


def test_workflow_pins_quarto_and_executes_each_chapter_once():
    from booktools.quarto import QUARTO_VERSION

    assert WORKFLOW["env"]["QUARTO_VERSION"] == QUARTO_VERSION
    steps = WORKFLOW["jobs"]["build"]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    uses = [step.get("uses", "") for step in steps]
    assert "rm -rf _freeze" not in "\n".join(runs) and "--execute" not in "\n".join(runs)
    # Quarto on the PATH before the tests, which render both editions; the book step then
    # finds both rendered and verified
    setup = next(i for i, u in enumerate(uses) if u.startswith("quarto-dev/quarto-actions/setup@"))
    test = runs.index("make test")
    assert setup < test < runs.index("make book instructor")
    assert "--deselect" not in "\n".join(runs)
    assert any(u.startswith("astral-sh/setup-uv@") for u in uses)
    assert not any((step.get("with") or {}).get("cache") == "pip" for step in steps)


def test_pages_deployment_cannot_be_cancelled_by_a_newer_push():
    assert "concurrency" not in WORKFLOW  # no workflow-wide group that would cancel deploy
    build = WORKFLOW["jobs"]["build"]["concurrency"]
    deploy = WORKFLOW["jobs"]["deploy"]["concurrency"]
    assert build["cancel-in-progress"] is True
    assert deploy["cancel-in-progress"] is False and deploy["group"] != build["group"]


def test_dependencies_are_audited_in_a_job_of_their_own():
    # pip-audit cannot reach its advisory data on the build machine (README, Dependencies):
    # CI audits the installed dependencies in a small job that waits for nothing.
    audit = WORKFLOW["jobs"]["audit"]
    assert audit["runs-on"] == "ubuntu-latest" and "needs" not in audit
    python = [s for s in audit["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    assert python and str(python[0]["with"]["python-version"]) == "3.11"
    runs = [str(s.get("run", "")) for s in audit["steps"]]
    assert "pip install pip-audit" in runs
    assert any(r.startswith("pip-audit") for r in runs)
