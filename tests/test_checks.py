"""Tests of mlops_companion.checks: each self-check rejects plausible wrong answers.

The correct answers are the worked solutions (tests/test_notebooks.py runs the checks on
them) and, where the package implements the same idea, the package itself (below).
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlops_companion import checks, data

# --------------------------------------------------------------------------- wrong answers
# Each is a plausible mistake; the check must report it as failed, on the named case.


def _metrics(model, X, y, names):
    from sklearn.metrics import accuracy_score, f1_score

    known = {"accuracy": accuracy_score, "f1": f1_score}
    pred = model.predict(X)
    return {n: float(known[n](y, pred)) for n in names if n in known}


def _directional(model, X):
    riskier = X.assign(error_pct=X["error_pct"] + 1)
    return model.predict_proba(riskier)[:, 1].mean() > model.predict_proba(X)[:, 1].mean()


def validator_ignoring_thresholds(model, X, y, thresholds):
    values = _metrics(model, X, y, thresholds)
    return {**{n: {"value": v, "passed": v >= 0.7} for n, v in values.items()},
            "directional": {"passed": bool(_directional(model, X))}}


def validator_without_directional(model, X, y, thresholds):
    values = _metrics(model, X, y, thresholds)
    return {n: {"value": v, "passed": v >= thresholds[n]} for n, v in values.items()}


def validator_always_directional(model, X, y, thresholds):
    values = _metrics(model, X, y, thresholds)
    return {**{n: {"value": v, "passed": v >= thresholds[n]} for n, v in values.items()},
            "directional": {"passed": True}}


def validator_skipping_unknown(model, X, y, thresholds):
    values = _metrics(model, X, y, thresholds)
    return {**{n: {"value": v, "passed": v >= thresholds[n]} for n, v in values.items()},
            "directional": {"passed": bool(_directional(model, X))}}


def wald(successes, n, *, confidence=0.95):
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    p = successes / n
    half = z * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def _wilson(successes, n, z):
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def wilson_fixed_z(successes, n, *, confidence=0.95):
    if n < 1 or not 0 <= successes <= n:
        raise ValueError("bad counts")
    return _wilson(successes, n, 1.96)


def wilson_unchecked(successes, n, *, confidence=0.95):
    return _wilson(successes, n, stats.norm.ppf(1 - (1 - confidence) / 2))


def _report(reference, current, test, alpha, warn=True):
    rows = []
    for f in reference.columns:
        statistic, pvalue = test(reference[f], current[f])
        rows.append({"feature": f, "statistic": float(statistic), "pvalue": float(pvalue),
                     "drifted": bool(pvalue < alpha)})
    report = pd.DataFrame(rows)
    drifted = report.loc[report["drifted"], "feature"].tolist()
    if warn and drifted:
        warnings.warn(f"drift in {drifted}", UserWarning, stacklevel=2)
    return report


def drift_never_flags(reference, current, *, alpha=0.01):
    report = _report(reference, current, stats.ks_2samp, alpha)
    return report.assign(drifted=False)


def drift_t_test(reference, current, *, alpha=0.01):
    return _report(reference, current, stats.ttest_ind, alpha)


def drift_silent(reference, current, *, alpha=0.01):
    return _report(reference, current, stats.ks_2samp, alpha, warn=False)


def drift_fixed_alpha(reference, current, *, alpha=0.01):
    return _report(reference, current, stats.ks_2samp, 0.05)


def drift_inverted(reference, current, *, alpha=0.01):
    report = _report(reference, current, stats.ks_2samp, alpha, warn=False)
    return report.assign(drifted=report["pvalue"] > alpha)


def chi2_reference_categories(reference, current):
    categories = np.unique(reference)
    table = [[np.sum(s == c) for c in categories] for s in (reference, current)]
    result = stats.chi2_contingency(table)
    return result.statistic, result.pvalue


def chi2_unscaled(reference, current):
    categories = np.unique(np.concatenate([reference, current]))
    ref = np.array([np.sum(reference == c) for c in categories], dtype=float)
    cur = np.array([np.sum(current == c) for c in categories], dtype=float)
    return tuple(stats.chisquare(cur, ref))


def chi2_ks_instead(reference, current):
    result = stats.ks_2samp(reference, current)
    return result.statistic, result.pvalue


def roundtrip_trusting(model, X, directory):
    path = os.path.join(directory, "m.joblib")
    joblib.dump(model, path)
    joblib.load(path)
    return {"path": path, "size_bytes": os.path.getsize(path), "load_seconds": 0.0,
            "identical": True}


def roundtrip_self_compare(model, X, directory):
    path = os.path.join(directory, "m.joblib")
    joblib.dump(model, path)
    loaded = joblib.load(path)  # noqa: F841 - loaded, then never used: the bug
    return {"path": path, "size_bytes": os.path.getsize(path), "load_seconds": 0.0,
            "identical": bool(np.array_equal(model.predict(X), model.predict(X)))}


def roundtrip_memory_size(model, X, directory):
    import sys

    path = os.path.join(directory, "m.joblib")
    joblib.dump(model, path)
    loaded = joblib.load(path)
    return {"path": path, "size_bytes": sys.getsizeof(model), "load_seconds": 0.0,
            "identical": bool(np.array_equal(model.predict(X), loaded.predict(X)))}


def loader_skipping_hash(path, *, expected_sha256):
    return joblib.load(path)


def loader_hashing_after(path, *, expected_sha256):
    model = joblib.load(path)
    if hashlib.sha256(Path(path).read_bytes()).hexdigest() != expected_sha256:
        raise ValueError("hash mismatch")
    return model


def loader_wrong_error(path, *, expected_sha256):
    if hashlib.sha256(Path(path).read_bytes()).hexdigest() != expected_sha256:
        raise RuntimeError("hash mismatch")
    return joblib.load(path)


def rollback_minus_one(events, *, alias="production"):
    return max(e["version"] for e in events if e["alias"] == alias) - 1


def rollback_any_alias(events, *, alias="production"):
    history = [e["version"] for e in sorted(events, key=lambda e: e["timestamp"])]
    return next(v for v in reversed(history) if v != history[-1])


def rollback_unsorted(events, *, alias="production"):
    history = [e["version"] for e in events if e["alias"] == alias]
    return next(v for v in reversed(history) if v != history[-1])


def rollback_second_last(events, *, alias="production"):
    history = [e["version"] for e in sorted(events, key=lambda e: e["timestamp"])
               if e["alias"] == alias]
    if len(history) < 2:
        raise ValueError("nothing to roll back to")
    return history[-2]


def batches_floor(model, X, *, batch_size=256):
    n_full = len(X) // batch_size
    return np.concatenate([model.predict(X.iloc[i * batch_size:(i + 1) * batch_size])
                           for i in range(max(n_full, 1))])


def batches_whole(model, X, *, batch_size=256):
    if batch_size < 1:
        raise ValueError("`batch_size` must be positive")
    return np.asarray(model.predict(X))


def batches_empty_tail(model, X, *, batch_size=256):
    if batch_size < 1:
        raise ValueError("`batch_size` must be positive")
    parts = [model.predict(X.iloc[s:s + batch_size])
             for s in range(0, len(X) // batch_size * batch_size + 1, batch_size)]
    return np.concatenate(parts)


def shadow_exact(primary_proba, shadow_proba, *, threshold=0.5):
    same = np.asarray(primary_proba) == np.asarray(shadow_proba)
    return {"n": len(same), "agreement": float(same.mean()), "primary_only": 0,
            "shadow_only": 0, "mean_abs_diff": 0.0}


def _shadow(p, q, threshold):
    p, q = np.asarray(p), np.asarray(q)
    if len(p) != len(q):
        raise ValueError(f"lengths {len(p)} and {len(q)} differ")
    a, b = p >= threshold, q >= threshold
    return {"n": len(p), "agreement": float((a == b).mean()),
            "primary_only": int((a & ~b).sum()), "shadow_only": int((b & ~a).sum()),
            "mean_abs_diff": float(np.abs(p - q).mean())}


def shadow_fixed_threshold(primary_proba, shadow_proba, *, threshold=0.5):
    return _shadow(primary_proba, shadow_proba, 0.5)


def shadow_swapped(primary_proba, shadow_proba, *, threshold=0.5):
    return _shadow(shadow_proba, primary_proba, threshold)


def shadow_truncating(primary_proba, shadow_proba, *, threshold=0.5):
    n = min(len(primary_proba), len(shadow_proba))
    return _shadow(primary_proba[:n], shadow_proba[:n], threshold)


def _schema(config, ranges=True):
    from pydantic import BaseModel, ConfigDict, Field

    def field(low, high):
        return Field(ge=low, le=high) if ranges else Field()

    class Request(BaseModel):
        model_config = ConfigDict(**config)
        request_rate: float = field(0, 100_000)
        error_pct: float = field(0, 100)
        p99_latency_ms: float = field(0, 600_000)
        deploy_hour: int = field(0, 23)
        is_weekend: int = field(0, 1)

    return Request


def schema_lax():
    return _schema({})


def schema_allowing_extra():
    return _schema({"strict": True})


def schema_without_ranges():
    return _schema({"strict": True, "extra": "forbid"}, ranges=False)


def schema_instance():
    return _schema({"strict": True, "extra": "forbid"})(**{
        "request_rate": 1.0, "error_pct": 1.0, "p99_latency_ms": 1.0, "deploy_hour": 1,
        "is_weekend": 0})


def _z(be, bt, ce, ct):
    p = (be + ce) / (bt + ct)
    if p in (0, 1):
        return 0.0
    return (ce / ct - be / bt) / math.sqrt(p * (1 - p) * (1 / bt + 1 / ct))


def canary_jumpy(be, bt, ce, ct, *, min_samples=500, z_crit=2.33):
    if ct < min_samples:
        return "insufficient"
    return "rollback" if ce / ct > be / bt else "continue"


def canary_two_sided(be, bt, ce, ct, *, min_samples=500, z_crit=2.33):
    if ct < min_samples:
        return "insufficient"
    return "rollback" if abs(_z(be, bt, ce, ct)) > z_crit else "continue"


def canary_no_minimum(be, bt, ce, ct, *, min_samples=500, z_crit=2.33):
    return "rollback" if _z(be, bt, ce, ct) > z_crit else "continue"


def canary_fixed_z(be, bt, ce, ct, *, min_samples=500, z_crit=2.33):
    if ct < min_samples:
        return "insufficient"
    return "rollback" if _z(be, bt, ce, ct) > 2.33 else "continue"


def alarm_cumulative(correct, *, window, threshold):
    running = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    hits = np.flatnonzero(running < threshold)
    return int(hits[0]) if hits.size else None


def alarm_partial_windows(correct, *, window, threshold):
    if window < 1:
        raise ValueError("`window` must be positive")
    c = np.asarray(correct, dtype=float)
    for i in range(len(c)):
        if c[max(0, i - window + 1):i + 1].mean() < threshold:
            return i
    return None


def alarm_at_or_below(correct, *, window, threshold):
    if window < 1:
        raise ValueError("`window` must be positive")
    c = np.asarray(correct, dtype=float)
    for i in range(window - 1, len(c)):
        if c[i - window + 1:i + 1].mean() <= threshold:
            return i
    return None


WRONG = [
    ("validate_model", validator_ignoring_thresholds, "thresholds are enforced"),
    ("validate_model", validator_without_directional, "a good model passes"),
    ("validate_model", validator_always_directional, "reversed model"),
    ("validate_model", validator_skipping_unknown, "unknown metric"),
    ("wilson_interval", wald, "8 of 10 at 95%"),
    ("wilson_interval", wilson_fixed_z, "the confidence level is used"),
    ("wilson_interval", wilson_unchecked, "impossible counts"),
    ("detect_drift", drift_never_flags, "one drifted feature"),
    ("detect_drift", drift_t_test, "two-sample KS"),
    ("detect_drift", drift_silent, "named in a warning"),
    ("detect_drift", drift_fixed_alpha, "alpha is the significance level"),
    ("detect_drift", drift_inverted, "one drifted feature"),
    ("chi_square_drift", chi2_reference_categories, "only the current data has"),
    ("chi_square_drift", chi2_unscaled, "the same distribution of hours"),
    ("chi_square_drift", chi2_ks_instead, "the same distribution of hours"),
    ("save_load_verify", roundtrip_trusting, "changes on loading"),
    ("save_load_verify", roundtrip_self_compare, "changes on loading"),
    ("save_load_verify", roundtrip_memory_size, "survives a round trip"),
    ("load_verified", loader_skipping_hash, "wrong hash"),
    ("load_verified", loader_hashing_after, "before unpickling"),
    ("load_verified", loader_wrong_error, "wrong hash"),
    ("rollback_version", rollback_minus_one, "not consecutive"),
    ("rollback_version", rollback_any_alias, "other aliases"),
    ("rollback_version", rollback_unsorted, "not in time order"),
    ("rollback_version", rollback_second_last, "re-assigning"),
    ("predict_in_batches", batches_floor, "partial batch"),
    ("predict_in_batches", batches_whole, "partial batch"),
    ("predict_in_batches", batches_empty_tail, "divide evenly"),
    ("shadow_report", shadow_exact, "decisions, not probabilities"),
    ("shadow_report", shadow_fixed_threshold, "the threshold is used"),
    ("shadow_report", shadow_swapped, "decisions, not probabilities"),
    ("shadow_report", shadow_truncating, "different lengths"),
    ("make_request_schema", schema_lax, "string is rejected"),
    ("make_request_schema", schema_allowing_extra, "extra field"),
    ("make_request_schema", schema_without_ranges, "out-of-range"),
    ("make_request_schema", schema_instance, "a valid request"),
    ("canary_decision", canary_jumpy, "insignificant increase"),
    ("canary_decision", canary_two_sided, "better canary"),
    ("canary_decision", canary_no_minimum, "too little canary traffic"),
    ("canary_decision", canary_fixed_z, "z_crit is used"),
    ("first_alarm", alarm_cumulative, "a drop to 70% alarms"),
    ("first_alarm", alarm_partial_windows, "only full windows"),
    ("first_alarm", alarm_at_or_below, "a late drop"),
]


@pytest.mark.parametrize(("check", "wrong", "case"), WRONG,
                         ids=[f"{c}-{w.__name__}" for c, w, _ in WRONG])
def test_check_rejects_a_plausible_wrong_answer(check, wrong, case):
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        result = getattr(checks, check)(wrong)
    assert result.status == checks.FAILED
    assert case in result.message
    assert result.message in buffer.getvalue()
    assert f'checks.hint("{check}")' in result.message


def test_every_exercise_has_at_least_two_wrong_answers():
    counts = {name: sum(1 for c, _, _ in WRONG if c == name) for name in checks.EXERCISES}
    assert min(counts.values()) >= 2, counts


@pytest.mark.parametrize("check", sorted(checks.EXERCISES))
def test_a_stub_is_reported_as_not_attempted(check, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError("Your code here")

    result = getattr(checks, check)(stub)
    assert result.status == checks.NOT_ATTEMPTED
    assert not result.passed
    assert "not attempted yet" in capsys.readouterr().out


def test_failure_message_shows_input_expected_and_got():
    result = checks.rollback_version(rollback_minus_one, verbose=False)
    lines = result.message.splitlines()
    assert lines[0] == 'rollback_version: FAILED on case 2 of 7, "versions are not consecutive".'
    assert lines[1].startswith("  input:    events")
    assert lines[2] == "  expected: version 3"
    assert lines[3] == "  got:      5"


def test_an_unexpected_exception_is_a_readable_failure():
    def broken(events, *, alias="production"):
        return events[0]["versoin"]

    result = checks.rollback_version(broken, verbose=False)
    assert result.status == checks.FAILED
    assert "your function raised KeyError: 'versoin'" in result.message


def test_verbose_false_prints_nothing(capsys):
    checks.first_alarm(alarm_cumulative, verbose=False)
    assert capsys.readouterr().out == ""


def test_result_is_not_printed_twice_in_a_notebook(capsys):
    result = checks.first_alarm(alarm_cumulative)
    first = capsys.readouterr().out
    result._ipython_display_()  # what IPython calls when the result is a cell's value
    assert capsys.readouterr().out == ""
    quiet = checks.first_alarm(alarm_cumulative, verbose=False)
    quiet._ipython_display_()
    assert capsys.readouterr().out == first


def test_check_result_is_frozen():
    result = checks.CheckResult("x", checks.PASSED, "x: passed")
    assert result.passed and str(result) == "x: passed"
    with pytest.raises(AttributeError):
        result.status = checks.FAILED  # type: ignore[misc]


def test_hint_prints_a_nudge(capsys):
    for name in checks.EXERCISES:
        checks.hint(name)
        assert capsys.readouterr().out.startswith(f"Hint for {name}: ")


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: checks.validate_model(42), TypeError, r"`func` must be the function you wrote .* got int 42"),
    (lambda: checks.detect_drift("detect_drift"), TypeError, r"`func` must be .*got str"),
    (lambda: checks.first_alarm(None), TypeError, r"Pass the function itself, without calling it"),
    (lambda: checks.hint("drift"), ValueError, r"`name` must be one of \[.*\]; got 'drift'"),
])
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_public_surface():
    assert set(checks.__all__) == {
        "CheckResult", "PASSED", "FAILED", "NOT_ATTEMPTED", "EXERCISES", "hint",
        *checks.EXERCISES}
    for name in checks.__all__:
        assert hasattr(checks, name)
    assert set(checks.EXERCISES.values()) <= {
        "01-artefacts", "02-registry", "03-patterns", "04-serving", "05-safe-deployment",
        "06-monitoring", "07-ml-cicd", "08-lifecycle"}


def test_drift_check_data_has_the_properties_its_cases_claim():
    # The cases rely on these facts about their fixed samples; if data.py changes, this
    # says why a correct detector would start failing.
    samples = checks._drift_samples()
    reference = samples["reference"]
    for name, target in [("drifted", "error_pct"), ("calm", None), ("mild", "request_rate")]:
        for feature in data.CONTINUOUS_FEATURES:
            p = stats.ks_2samp(reference[feature], samples[name][feature]).pvalue
            if feature == target and name == "mild":
                assert 1e-6 < p < 2e-3
            elif feature == target:
                assert p < 1e-6
            else:
                assert p > 0.1


# --------------------------------------------------------------------------- the package

def test_package_validate_model_meets_the_contract():
    from mlops_companion import validation

    assert checks.validate_model(validation.validate_model, verbose=False).passed


def test_package_wilson_interval_meets_the_contract():
    from mlops_companion import validation

    assert checks.wilson_interval(validation.wilson_interval, verbose=False).passed


def test_package_detect_drift_meets_the_contract():
    from mlops_companion import drift

    assert checks.detect_drift(drift.detect_drift, verbose=False).passed


def test_package_load_artefact_refuses_a_swapped_file_before_unpickling(tmp_path):
    # load_artefact needs the manifest save_artefact writes, so the load_verified cases are
    # replayed here on the package's own format: right hash, wrong hash, tampered, swapped.
    from mlops_companion import artefacts

    s = data.make_scenario()
    path = tmp_path / "model.joblib"
    artefacts.save_artefact(s.pipeline, path, example_input=s.X_test.head(3))
    digest = artefacts.sha256_file(path)
    loaded = artefacts.load_artefact(path, expected_sha256=digest)
    assert np.array_equal(loaded.model.predict(s.X_test), s.pipeline.predict(s.X_test))

    with pytest.raises(ValueError):
        artefacts.load_artefact(path, expected_sha256=digest[::-1])

    marker = tmp_path / "UNPICKLED"
    joblib.dump(checks._Tripwire(str(marker)), path)  # an attacker swaps the file
    with pytest.raises(ValueError):
        artefacts.load_artefact(path, expected_sha256=digest)
    assert not marker.exists()
    joblib.load(path)  # the tripwire works: loading it does create the marker
    assert marker.exists()
