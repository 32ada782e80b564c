"""Tests of mlops_companion.checks: the harness, the naming convention and the package contracts.

The library of wrong answers each check must reject is in tests/test_check_mutants.py; the
worked solutions pass every check (tests/test_check_mutants.py and tests/test_notebooks.py).
"""
from __future__ import annotations

import importlib

import joblib
import numpy as np
import pytest
from scipy import stats

from mlops_companion import checks, data
from mlops_companion.checks import _ch01_artefacts, _ch06_monitoring, _harness
from mlops_companion.checks._harness import FAILED, NOT_ATTEMPTED, PASSED, CheckResult
from mlops_reference import _utils

#: Each self-checked exercise and its exercise set, as the chapter modules register them.
EXERCISES = _harness.EXERCISES


def rollback_minus_one(events, *, alias="production"):
    return max(e["version"] for e in events if e["alias"] == alias) - 1


def alarm_cumulative(correct, *, window, threshold):
    running = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    hits = np.flatnonzero(running < threshold)
    return int(hits[0]) if hits.size else None


def _check(name):
    return getattr(checks, f"check_{name}")


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_a_stub_is_reported_as_not_attempted(name, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError("Your code here")

    result = _check(name)(stub)  # returns normally: "Run all" goes on
    assert result.status == NOT_ATTEMPTED
    assert not result.passed
    assert "not attempted yet" in capsys.readouterr().out


def test_failure_message_shows_input_expected_and_got():
    result = checks.check_rollback_version(rollback_minus_one, verbose=False)
    lines = result.message.splitlines()
    assert lines[0] == 'rollback_version: FAILED on case 2 of 8, "versions are not consecutive".'
    assert lines[1].startswith("  input:    events")
    assert lines[2] == "  expected: version 3"
    assert lines[3] == "  got:      5"


def test_an_unexpected_exception_is_a_readable_failure():
    def broken(events, *, alias="production"):
        return events[0]["versoin"]

    result = checks.check_rollback_version(broken, verbose=False)
    assert result.status == FAILED
    assert "your function raised KeyError: 'versoin'" in result.message


def test_verbose_false_prints_nothing(capsys):
    checks.check_first_alarm(alarm_cumulative, verbose=False)
    assert capsys.readouterr().out == ""


def test_result_is_not_printed_twice_in_a_notebook(capsys):
    result = checks.check_first_alarm(alarm_cumulative)
    first = capsys.readouterr().out
    result._ipython_display_()  # what IPython calls when the result is a cell's value
    assert capsys.readouterr().out == ""
    quiet = checks.check_first_alarm(alarm_cumulative, verbose=False)
    quiet._ipython_display_()
    assert capsys.readouterr().out == first


def test_check_result_is_frozen():
    result = CheckResult("x", PASSED, "x: passed")
    assert result.passed and str(result) == "x: passed"
    with pytest.raises(AttributeError):
        result.status = FAILED  # type: ignore[misc]


def test_hint_prints_a_nudge(capsys):
    for name in EXERCISES:
        checks.hint(name)
        assert capsys.readouterr().out.startswith(f"Hint for {name}: ")


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: checks.check_validate_model(42), TypeError, r"`func` must be the function you wrote .* got int 42"),
    (lambda: checks.check_detect_drift("detect_drift"), TypeError, r"`func` must be .*got str"),
    (lambda: checks.check_first_alarm(None), TypeError, r"Pass the function itself, without calling it"),
    (lambda: checks.hint("drift"), ValueError, r"`name` must be one of \[.*\]; got 'drift'"),
])
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_public_surface_follows_the_naming_convention():
    assert set(checks.__all__) == {
        "hint", *(f"check_{name}" for name in EXERCISES)}
    for name in checks.__all__:
        assert hasattr(checks, name)
    for name in EXERCISES:  # a student's function never shadows its check
        assert not hasattr(checks, name), name


def test_exercises_are_listed_in_chapter_order_one_private_module_each():
    stems = list(EXERCISES.values())
    assert stems == sorted(stems)
    assert set(stems) <= {
        "01-artefacts", "02-registry", "03-patterns", "04-serving", "05-safe-deployment",
        "06-monitoring", "07-ml-cicd", "08-lifecycle", "09-production", "10-scale"}
    for name, stem in EXERCISES.items():
        module = importlib.import_module(
            f"mlops_companion.checks._ch{stem[:2]}_{stem[3:].replace('-', '_')}")
        assert _check(name) is getattr(module, f"check_{name}")


def test_a_half_written_function_is_not_attempted_wherever_it_stops():
    # The stub's NotImplementedError may come from any case, not only the first one.
    def half_done(events, *, alias="production"):
        if [e["version"] for e in events] == [1, 2, 3]:
            return 2
        raise NotImplementedError("the rest is still to write")

    result = checks.check_rollback_version(half_done, verbose=False)
    assert result.status == NOT_ATTEMPTED


def test_drift_check_data_has_the_properties_its_cases_claim():
    # The cases rely on these facts about their fixed samples; if data.py changes, this
    # says why a correct detector would start failing.
    samples = _ch06_monitoring._drift_samples()
    reference = samples["reference"]
    for name, targets in [("drifted", ["error_pct"]), ("calm", []), ("mild", ["request_rate"]),
                          ("two", ["error_pct", "p99_latency_ms"])]:
        for feature in data.CONTINUOUS_FEATURES:
            p = stats.ks_2samp(reference[feature], samples[name][feature]).pvalue
            if feature in targets and name == "mild":
                assert 1e-6 < p < 2e-3
            elif feature in targets:
                assert p < 1e-6
            else:
                assert p > 0.1


# --------------------------------------------------------------------------- the package

def test_package_validate_model_meets_the_contract():
    from mlops_reference import validation

    assert checks.check_validate_model(validation.validate_model, verbose=False).passed


def test_package_wilson_interval_meets_the_contract():
    from mlops_reference import validation

    assert checks.check_wilson_interval(validation.wilson_interval, verbose=False).passed


def test_package_detect_drift_meets_the_contract():
    from mlops_reference import drift

    assert checks.check_detect_drift(drift.detect_drift, verbose=False).passed


def test_package_load_artefact_refuses_a_swapped_file_before_unpickling(tmp_path):
    # load_artefact needs the manifest save_artefact writes, so the load_verified cases are
    # replayed here on the package's own format: right hash, wrong hash, tampered, swapped.
    from mlops_reference import artefacts

    s = data.make_scenario()
    path = tmp_path / "model.joblib"
    artefacts.save_artefact(s.pipeline, path, example_input=s.X_test.head(3))
    digest = _utils.sha256_file(path)
    loaded = artefacts.load_artefact(path, expected_sha256=digest)
    assert np.array_equal(loaded.model.predict(s.X_test), s.pipeline.predict(s.X_test))

    with pytest.raises(ValueError):
        artefacts.load_artefact(path, expected_sha256=digest[::-1])

    marker = tmp_path / "UNPICKLED"
    joblib.dump(_ch01_artefacts._Tripwire(str(marker)), path)  # an attacker swaps the file
    with pytest.raises(ValueError):
        artefacts.load_artefact(path, expected_sha256=digest)
    assert not marker.exists()
    joblib.load(path)  # the tripwire works: loading it does create the marker
    assert marker.exists()
