"""A library of plausible wrong answers to every self-checked exercise: each must be rejected.

For every exercise the table ``WRONG`` lists several mistakes a student (or a hurried
engineer) makes, among them the boundary mistakes that slipped through the first edition's
checks (``>`` for ``>=``, a threshold shifted by 0.05, ranges missing on some fields, ``<=``
for ``<`` on a minimum sample, an unpooled standard error, one warning per drifted feature).
Each test asserts that the check reports the mistake as failed, on the case named in the
table, so that a change to the cases which lets a mistake through is noticed. The worked
solutions, by contrast, pass every check: `make test` executes each solution notebook under
nbval, which compares every self-check's "passed all N cases" with its stored output.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlops_companion import checks
from mlops_companion.checks import _harness

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
    joblib.load(path)  # loaded, then never used: the bug
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


def _z(be, bt, ce, ct, margin=0.0):
    p = (be + ce) / (bt + ct)
    if p in (0, 1):
        return 0.0
    return (ce / ct - be / bt - margin) / math.sqrt(p * (1 - p) * (1 / bt + 1 / ct))


def canary_jumpy(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if ct < min_samples:
        return "insufficient"
    return "rollback" if ce / ct > be / bt else "continue"


def canary_two_sided(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if ct < min_samples:
        return "insufficient"
    return "rollback" if abs(_z(be, bt, ce, ct, margin)) > k else "continue"


def canary_no_minimum(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    return "rollback" if _z(be, bt, ce, ct, margin) > k else "continue"


def canary_fixed_z(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if ct < min_samples:
        return "insufficient"
    return "rollback" if _z(be, bt, ce, ct, margin) > 2.33 else "continue"


def alarm_cumulative(correct, *, window, threshold, confidence=0.95):
    c = np.asarray(correct, dtype=int)
    running = np.cumsum(c)
    for i in range(len(c)):
        if _upper(running[i], i + 1, confidence) < threshold:
            return i
    return None


def alarm_partial_windows(correct, *, window, threshold, confidence=0.95):
    if window < 1:
        raise ValueError("`window` must be positive")
    c = np.asarray(correct, dtype=int)
    for i in range(len(c)):
        part = c[max(0, i - window + 1):i + 1]
        if _upper(part.sum(), len(part), confidence) < threshold:
            return i
    return None



# --------------------------------------------------------------------------- more wrong answers
# 01 artefacts

def roundtrip_outside_directory(model, X, directory):
    handle, path = tempfile.mkstemp(suffix=".joblib")
    os.close(handle)
    try:
        joblib.dump(model, path)
        loaded = joblib.load(path)
        return {"path": path, "size_bytes": os.path.getsize(path), "load_seconds": 0.0,
                "identical": bool(np.array_equal(model.predict(X), loaded.predict(X)))}
    finally:
        os.remove(path)


def roundtrip_kib(model, X, directory):
    path = os.path.join(directory, "m.joblib")
    joblib.dump(model, path)
    loaded = joblib.load(path)
    return {"path": path, "size_bytes": os.path.getsize(path) / 1024, "load_seconds": 0.0,
            "identical": bool(np.array_equal(model.predict(X), loaded.predict(X)))}


def roundtrip_object_identity(model, X, directory):
    path = os.path.join(directory, "m.joblib")
    joblib.dump(model, path)
    loaded = joblib.load(path)
    return {"path": path, "size_bytes": os.path.getsize(path), "load_seconds": 0.0,
            "identical": loaded is model}


def loader_hashing_the_path(path, *, expected_sha256):
    if hashlib.sha256(str(path).encode()).hexdigest() != expected_sha256:
        raise ValueError("hash mismatch")
    return joblib.load(path)


def loader_returning_none(path, *, expected_sha256):
    if hashlib.sha256(Path(path).read_bytes()).hexdigest() != expected_sha256:
        return None
    return joblib.load(path)


def loader_asserting(path, *, expected_sha256):
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == expected_sha256
    return joblib.load(path)


# 02 registry

def rollback_current(events, *, alias="production"):
    history = [e["version"] for e in sorted(events, key=lambda e: e["timestamp"])
               if e["alias"] == alias]
    return history[-1]


def rollback_first_ever(events, *, alias="production"):
    history = [e["version"] for e in sorted(events, key=lambda e: e["timestamp"])
               if e["alias"] == alias]
    if len(set(history)) < 2:
        raise ValueError("nothing to roll back to")
    return history[0]


def rollback_none_when_nothing(events, *, alias="production"):
    history = [e["version"] for e in sorted(events, key=lambda e: e["timestamp"])
               if e["alias"] == alias]
    return next((v for v in reversed(history) if v != history[-1]), None)


def rollback_highest_below(events, *, alias="production"):
    # Orders versions by number: the "previous" one is the highest number below the current.
    history = [e["version"] for e in sorted(events, key=lambda e: e["timestamp"])
               if e["alias"] == alias]
    lower = [v for v in history if v < history[-1]]
    if not lower:
        raise ValueError("nothing to roll back to")
    return max(lower)


# 07 slice gate

def _gate(y, a, b, slices, important, tolerance, *, drop=lambda ca, cb: ca - cb,
          overall_allowed=0.0, names=None, check_names=True):
    if check_names:
        unknown = [n for n in important if n not in slices]
        if unknown:
            raise ValueError(f"unknown slices {unknown}")
    y = np.asarray(y)
    ra, rb = np.asarray(a) == y, np.asarray(b) == y
    reasons = ["all rows"] if drop(ra.mean(), rb.mean()) > overall_allowed else []
    for name in (important if names is None else names(slices)):
        mask = np.asarray(slices[name], dtype=bool)
        if drop(ra[mask].mean(), rb[mask].mean()) > tolerance:
            reasons.append(name)
    return reasons


def slices_whole_set_only(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    return _gate(y, champion_pred, candidate_pred, slices, [], tolerance)


def slices_every_slice(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    return _gate(y, champion_pred, candidate_pred, slices, important, tolerance,
                 names=lambda s: list(s))


def slices_absolute_drop(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    return _gate(y, champion_pred, candidate_pred, slices, important, tolerance,
                 drop=lambda ca, cb: abs(ca - cb))


def slices_no_tolerance(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    return _gate(y, champion_pred, candidate_pred, slices, important, 0.0)


def slices_fixed_tolerance(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    return _gate(y, champion_pred, candidate_pred, slices, important, 0.02)


def slices_tolerant_overall(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    return _gate(y, champion_pred, candidate_pred, slices, important, tolerance,
                 overall_allowed=tolerance)


def slices_skipping_unknown(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    return _gate(y, champion_pred, candidate_pred, slices,
                 [n for n in important if n in slices], tolerance)


# 07 feature contract

def _contract(*, ranges=True, nullable=False, strict=True, coerce=False, hour=(0, 23),
              skip_range=(), bounds="in_range"):
    import pandera.pandas as pa

    from mlops_companion import data

    columns = {}
    for name, spec in data.FEATURE_SPECS.items():
        low, high = hour if name == "deploy_hour" else (spec.low, spec.high)
        checks_ = []
        if ranges and name not in skip_range:
            checks_ = [pa.Check.in_range(low, high, include_min=bounds == "in_range",
                                         include_max=bounds == "in_range")]
        columns[name] = pa.Column(float if spec.dtype == "float" else int, checks_,
                                  nullable=nullable)
    return pa.DataFrameSchema(columns, strict=strict, coerce=coerce)


def contract_types_only():
    return _contract(ranges=False)


def contract_nullable():
    return _contract(nullable=True)


def contract_not_strict():
    return _contract(strict=False)


def contract_coercing():
    return _contract(coerce=True)


def contract_hour_1_to_24():
    return _contract(hour=(1, 24))


def contract_rates_only():
    return _contract(skip_range=("p99_latency_ms", "deploy_hour", "is_weekend"))


def contract_exclusive_bounds():
    return _contract(bounds="exclusive")


# 03 patterns

def batches_unchecked(model, X, *, batch_size=256):
    return np.concatenate([model.predict(X.iloc[s:s + batch_size])
                           for s in range(0, len(X), batch_size)])


def batches_refusing_one(model, X, *, batch_size=256):
    if batch_size <= 1:
        raise ValueError(f"`batch_size` must be above 1; got {batch_size}.")
    return batches_unchecked(model, X, batch_size=batch_size)


def batches_overlapping(model, X, *, batch_size=256):
    if batch_size < 1:
        raise ValueError("`batch_size` must be positive")
    return np.concatenate([model.predict(X.iloc[s:s + batch_size + 1])
                           for s in range(0, len(X), batch_size)])


def _shadow_rule(p, q, decide):
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if len(p) != len(q):
        raise ValueError(f"lengths {len(p)} and {len(q)} differ")
    a, b = decide(p), decide(q)
    return {"n": len(p), "agreement": float((a == b).mean()),
            "primary_only": int((a & ~b).sum()), "shadow_only": int((b & ~a).sum()),
            "mean_abs_diff": float(np.abs(p - q).mean())}


def shadow_strictly_above(primary_proba, shadow_proba, *, threshold=0.5):
    return _shadow_rule(primary_proba, shadow_proba, lambda x: x > threshold)


def shadow_threshold_up(primary_proba, shadow_proba, *, threshold=0.5):
    return _shadow_rule(primary_proba, shadow_proba, lambda x: x >= threshold + 0.05)


def shadow_threshold_down(primary_proba, shadow_proba, *, threshold=0.5):
    return _shadow_rule(primary_proba, shadow_proba, lambda x: x >= threshold - 0.05)


def shadow_diff_of_decisions(primary_proba, shadow_proba, *, threshold=0.5):
    report = _shadow(primary_proba, shadow_proba, threshold)
    a = np.asarray(primary_proba) >= threshold
    b = np.asarray(shadow_proba) >= threshold
    return {**report, "mean_abs_diff": float(np.abs(a.astype(float) - b).mean())}


# 04 serving

def _schema_fields(fields, config):
    from pydantic import ConfigDict, create_model

    return create_model("Request", __config__=ConfigDict(**config), **fields)


def _field(kind, low, high, *, exclusive=False, ranged=True):
    from typing import Annotated

    from pydantic import Field

    if not ranged:
        return (kind, ...)
    bounds = {"gt": low, "lt": high} if exclusive else {"ge": low, "le": high}
    return (Annotated[kind, Field(**bounds)], ...)


_STRICT = {"strict": True, "extra": "forbid"}


def schema_two_fields_unranged():
    return _schema_fields({
        "request_rate": _field(float, 0, 100_000), "error_pct": _field(float, 0, 100),
        "p99_latency_ms": _field(float, 0, 600_000, ranged=False),
        "deploy_hour": _field(int, 0, 23), "is_weekend": _field(int, 0, 1, ranged=False),
    }, _STRICT)


def schema_exclusive_bounds():
    return _schema_fields({
        "request_rate": _field(float, 0, 100_000, exclusive=True),
        "error_pct": _field(float, 0, 100, exclusive=True),
        "p99_latency_ms": _field(float, 0, 600_000, exclusive=True),
        "deploy_hour": _field(int, 0, 23), "is_weekend": _field(int, 0, 1),
    }, _STRICT)


def schema_optional_weekend():
    from pydantic import Field

    fields = {
        "request_rate": _field(float, 0, 100_000), "error_pct": _field(float, 0, 100),
        "p99_latency_ms": _field(float, 0, 600_000), "deploy_hour": _field(int, 0, 23),
        "is_weekend": (int, Field(default=0, ge=0, le=1)),
    }
    return _schema_fields(fields, _STRICT)


def schema_float_hour():
    return _schema_fields({
        "request_rate": _field(float, 0, 100_000), "error_pct": _field(float, 0, 100),
        "p99_latency_ms": _field(float, 0, 600_000), "deploy_hour": _field(float, 0, 23),
        "is_weekend": _field(int, 0, 1),
    }, _STRICT)


def schema_hour_off_by_one():
    return _schema_fields({
        "request_rate": _field(float, 0, 100_000), "error_pct": _field(float, 0, 100),
        "p99_latency_ms": _field(float, 0, 600_000), "deploy_hour": _field(int, 1, 24),
        "is_weekend": _field(int, 0, 1),
    }, _STRICT)


# 05 safe deployment

def _pooled_rule(be, bt, ce, ct, *, min_samples, k, enough=lambda n, m: n >= m, z=None,
                 margin=0.0):
    if not enough(ct, min_samples):
        return "insufficient"
    return "rollback" if (z or _z)(be, bt, ce, ct, margin) > k else "continue"


def canary_at_most_minimum(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if not (0 <= be <= bt and 0 <= ce <= ct):
        raise ValueError("counts out of range")
    return _pooled_rule(be, bt, ce, ct, margin=margin, min_samples=min_samples, k=k,
                        enough=lambda n, m: n > m)


def _z_unpooled(be, bt, ce, ct, margin=0.0):
    pb, pc = be / bt, ce / ct
    se = math.sqrt(pb * (1 - pb) / bt + pc * (1 - pc) / ct)
    return 0.0 if se == 0 else (pc - pb - margin) / se


def canary_unpooled(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if not (0 <= be <= bt and 0 <= ce <= ct):
        raise ValueError("counts out of range")
    return _pooled_rule(be, bt, ce, ct, margin=margin, min_samples=min_samples, k=k, z=_z_unpooled)


def canary_unvalidated(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    return _pooled_rule(be, bt, ce, ct, margin=margin, min_samples=min_samples, k=k)


def canary_ignoring_margin(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if not (0 <= be <= bt and 0 <= ce <= ct):
        raise ValueError("counts out of range")
    return _pooled_rule(be, bt, ce, ct, min_samples=min_samples, k=k)


def canary_relative_margin(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if not (0 <= be <= bt and 0 <= ce <= ct):
        raise ValueError("counts out of range")
    return _pooled_rule(be, bt, ce, ct, min_samples=min_samples, k=k, margin=margin * be / bt)


def canary_margin_in_se(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if not (0 <= be <= bt and 0 <= ce <= ct):
        raise ValueError("counts out of range")
    return _pooled_rule(be, bt, ce, ct, min_samples=min_samples, k=k + margin)


def canary_k_shifted(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if not (0 <= be <= bt and 0 <= ce <= ct):
        raise ValueError("counts out of range")
    return _pooled_rule(be, bt, ce, ct, margin=margin, min_samples=min_samples, k=k + 0.5)


def _checked(be, bt, ce, ct):
    if not (0 <= be <= bt and 0 <= ce <= ct):
        raise ValueError("counts out of range")


def canary_mean_of_rates(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    # "Pools" by averaging the two rates, ignoring that the baseline served far more.
    _checked(be, bt, ce, ct)
    if ct < min_samples:
        return "insufficient"
    pb, pc = be / bt, ce / ct
    rate = (pb + pc) / 2
    if rate in (0.0, 1.0):
        return "continue"
    se = math.sqrt(rate * (1 - rate) * (1 / bt + 1 / ct))
    return "rollback" if (pc - pb - margin) / se > k else "continue"


def canary_checking_canary_only(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if not 0 <= ce <= ct:
        raise ValueError("canary errors out of range")
    return _pooled_rule(be, bt, ce, ct, margin=margin, min_samples=min_samples, k=k)


def canary_upper_bound_only(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if be > bt or ce > ct:  # negative counts slip through
        raise ValueError("more errors than requests")
    return _pooled_rule(be, bt, ce, ct, margin=margin, min_samples=min_samples, k=k)


def canary_refusing_all_failed(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.33):
    if not (0 <= be < bt and 0 <= ce < ct):  # `<` for `<=`: every request failing is possible
        raise ValueError("counts out of range")
    return _pooled_rule(be, bt, ce, ct, margin=margin, min_samples=min_samples, k=k)


def canary_two_sided_99(be, bt, ce, ct, *, margin=0.0, min_samples=500, k=2.576):
    _checked(be, bt, ce, ct)
    return _pooled_rule(be, bt, ce, ct, margin=margin, min_samples=min_samples, k=k)


# 06 monitoring

def _drift_report(reference, current, alpha):
    rows = []
    for f in reference.columns:
        statistic, pvalue = stats.ks_2samp(reference[f], current[f])
        rows.append({"feature": f, "statistic": float(statistic), "pvalue": float(pvalue),
                     "drifted": bool(pvalue < alpha)})
    return pd.DataFrame(rows)


def drift_one_warning_per_feature(reference, current, *, alpha=0.01):
    report = _drift_report(reference, current, alpha)
    for feature in report.loc[report["drifted"], "feature"]:
        warnings.warn(f"drift in {feature}", UserWarning, stacklevel=2)
    return report


def drift_warning_names_first_only(reference, current, *, alpha=0.01):
    report = _drift_report(reference, current, alpha)
    drifted = report.loc[report["drifted"], "feature"].tolist()
    if drifted:
        warnings.warn(f"drift in {drifted[0]}", UserWarning, stacklevel=2)
    return report


def drift_warning_names_everything(reference, current, *, alpha=0.01):
    report = _drift_report(reference, current, alpha)
    if report["drifted"].any():
        warnings.warn(f"drift somewhere in {list(report['feature'])}", UserWarning, stacklevel=2)
    return report


def drift_print_not_warn(reference, current, *, alpha=0.01):
    report = _drift_report(reference, current, alpha)
    if report["drifted"].any():
        print("drift!")
    return report


def chi2_proportions(reference, current):
    categories = np.unique(np.concatenate([reference, current]))
    table = np.array([[np.mean(s == c) for c in categories] for s in (reference, current)])
    result = stats.chi2_contingency(table * 100)
    return result.statistic, result.pvalue


def chi2_goodness_of_fit(reference, current):
    categories = np.unique(np.concatenate([reference, current]))
    ref = np.array([np.sum(reference == c) for c in categories], dtype=float) + 0.5
    cur = np.array([np.sum(current == c) for c in categories], dtype=float)
    expected = ref / ref.sum() * cur.sum()
    return tuple(stats.chisquare(cur, expected))


# 07 CI/CD

def _validator(decide):
    def validate(model, X, y, thresholds):
        unknown = [n for n in thresholds if n not in ("accuracy", "f1")]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}")
        values = _metrics(model, X, y, thresholds)
        return {**{n: {"value": v, "passed": bool(decide(v, thresholds[n]))}
                   for n, v in values.items()},
                "directional": {"passed": bool(_directional(model, X))}}
    return validate


validator_strictly_above = _validator(lambda v, t: v > t)
validator_tolerance = _validator(lambda v, t: v >= t - 0.05)
validator_margin = _validator(lambda v, t: v >= t + 0.05)
for _f, _n in [(validator_strictly_above, "validator_strictly_above"),
               (validator_tolerance, "validator_tolerance"), (validator_margin, "validator_margin")]:
    _f.__name__ = _n


def _wilson_checked(successes, n, z, *, refuse=lambda s, n: n < 1 or not 0 <= s <= n):
    if refuse(successes, n):
        raise ValueError("bad counts")
    return _wilson(successes, n, z)


def wilson_refusing_one_trial(successes, n, *, confidence=0.95):
    return _wilson_checked(successes, n, stats.norm.ppf(1 - (1 - confidence) / 2),
                           refuse=lambda s, n: n <= 1 or not 0 <= s <= n)


def wilson_refusing_perfect(successes, n, *, confidence=0.95):
    return _wilson_checked(successes, n, stats.norm.ppf(1 - (1 - confidence) / 2),
                           refuse=lambda s, n: n < 1 or not 0 <= s < n)


def wilson_one_sided_z(successes, n, *, confidence=0.95):
    return _wilson_checked(successes, n, stats.norm.ppf(confidence))


# 08 lifecycle

def _upper(k, n, confidence=0.95):
    from mlops_reference import validation

    return validation.wilson_interval(int(k), int(n), confidence=confidence)[1]


def _alarm(correct, window, threshold, confidence=0.95, *, refuse=lambda w: w < 1,
           below=lambda k, n, t, conf: _upper(k, n, conf) < t, shift=0):
    if refuse(window):
        raise ValueError(f"`window` must be at least 1; got {window}.")
    c = np.asarray(correct, dtype=int)
    for i in range(window - 1, len(c)):
        if below(c[i - window + 1:i + 1].sum(), window, threshold, confidence):
            return i + shift
    return None


def alarm_point_estimate(correct, *, window, threshold, confidence=0.95):
    # the uncorrected rule: the window's accuracy itself below the threshold
    return _alarm(correct, window, threshold, confidence, below=lambda k, n, t, conf: k / n < t)


def _lower(k, n, confidence=0.95):
    from mlops_reference import validation

    return validation.wilson_interval(int(k), int(n), confidence=confidence)[0]


def alarm_lower_bound(correct, *, window, threshold, confidence=0.95):
    return _alarm(correct, window, threshold, confidence,
                  below=lambda k, n, t, conf: _lower(k, n, conf) < t)


def alarm_fixed_confidence(correct, *, window, threshold, confidence=0.95):
    return _alarm(correct, window, threshold, 0.95)


def alarm_refusing_window_one(correct, *, window, threshold, confidence=0.95):
    return _alarm(correct, window, threshold, confidence, refuse=lambda w: w <= 1)


def alarm_window_start(correct, *, window, threshold, confidence=0.95):
    return _alarm(correct, window, threshold, confidence, shift=-(window - 1))


def alarm_threshold_down(correct, *, window, threshold, confidence=0.95):
    return _alarm(correct, window, threshold, confidence,
                  below=lambda k, n, t, conf: _upper(k, n, conf) < t - 0.05)


def alarm_off_by_one(correct, *, window, threshold, confidence=0.95):
    return _alarm(correct, window, threshold, confidence, shift=1)


# 02 registry, with MLflow

def _previous(client, name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _registered(client, name):
    return {int(mv.version) for mv in client.search_model_versions(f"name = '{name}'")}


def promote_without_moving(client, name, version, *, alias="champion"):
    return _previous(client, name, alias)


def promote_returning_new(client, name, version, *, alias="champion"):
    if int(version) not in _registered(client, name):
        raise ValueError("unknown version")
    client.set_registered_model_alias(name, alias, str(version))
    return int(version)


def promote_string_version(client, name, version, *, alias="champion"):
    if int(version) not in _registered(client, name):
        raise ValueError("unknown version")
    previous = _previous(client, name, alias)
    client.set_registered_model_alias(name, alias, str(version))
    return None if previous is None else str(previous)


def promote_fixed_alias(client, name, version, *, alias="champion"):
    if int(version) not in _registered(client, name):
        raise ValueError("unknown version")
    previous = _previous(client, name, "champion")
    client.set_registered_model_alias(name, "champion", str(version))
    return previous


def promote_unvalidated(client, name, version, *, alias="champion"):
    previous = _previous(client, name, alias)
    client.set_registered_model_alias(name, alias, str(version))
    return previous


def promote_counting_versions(client, name, version, *, alias="champion"):
    # Assumes the versions are 1..n: a deleted version leaves a gap.
    if not 1 <= int(version) <= len(client.search_model_versions(f"name = '{name}'")):
        raise ValueError("unknown version")
    previous = _previous(client, name, alias)
    client.set_registered_model_alias(name, alias, str(version))
    return previous


def promote_any_model(client, name, version, *, alias="champion"):
    # Lists the versions of every model in the registry, not of `name`.
    if int(version) not in {int(mv.version) for mv in client.search_model_versions()}:
        raise ValueError("unknown version")
    previous = _previous(client, name, alias)
    client.set_registered_model_alias(name, alias, str(version))
    return previous


def promote_swallowing_errors(client, name, version, *, alias="champion"):
    previous = _previous(client, name, alias)
    try:
        client.set_registered_model_alias(name, alias, str(version))
    except Exception:
        return None
    return previous


# 04 serving, the app

def _app(model, *, schema=True, columns=None, answer=None, method="post", health=True,
         health_body=None, path="/predict"):
    from fastapi import FastAPI

    from mlops_companion import data

    Request = _schema({"strict": True, "extra": "forbid"}) if schema else dict
    app = FastAPI()
    if health:
        @app.get("/healthz")
        def healthz():
            return health_body or {"status": "ok"}

    def predict(request: Request):
        row = request.model_dump() if schema else dict(request)
        X = pd.DataFrame([row], columns=columns or list(data.FEATURES))
        if answer is not None:
            return answer(model, X)
        return {"probability": float(model.predict_proba(X)[0, 1])}

    predict.__annotations__["request"] = Request  # a real class, not the string of
    route = (app.api_route(path, methods=list(method)) if isinstance(method, tuple)
             else getattr(app, method)(path))  # (`from __future__ import annotations`)
    route(predict)
    return app


def app_trusting_json(model):
    return _app(model, schema=False)


def app_without_health(model):
    return _app(model, health=False)


def app_returning_class(model):
    return _app(model, answer=lambda m, X: {"probability": int(m.predict(X)[0])})


def app_sorted_columns(model):
    from mlops_companion import data

    return _app(model, columns=sorted(data.FEATURES))


def app_constant(model):
    return _app(model, answer=lambda m, X: {"probability": 0.02})


def app_predict_by_get(model):
    return _app(model, method="api_route")


def app_predict_any_method(model):
    return _app(model, method=("GET", "POST"))


def app_numpy_rows(model):
    return _app(model, answer=lambda m, X: {"probability": float(m.predict_proba(X.to_numpy())[0, 1])})


def app_health_alive(model):
    return _app(model, health_body={"status": "alive"})


def app_rounding(model):
    return _app(model, answer=lambda m, X: {"probability": round(float(m.predict_proba(X)[0, 1]), 3)})


def app_trailing_slash(model):
    # FastAPI redirects POST /predict to /predict/ (307): only clients that follow it get through.
    return _app(model, path="/predict/")



# 07 CI/CD, the model test

def _accuracy_and_direction(model, fresh):
    X, y = fresh
    correct = int((model.predict(X) == y).sum())
    riskier = X.assign(error_pct=X["error_pct"] + 1)
    rises = model.predict_proba(riskier)[:, 1].mean() > model.predict_proba(X)[:, 1].mean()
    return correct, len(y), rises


def gate_point_estimate(model, fresh):
    correct, n, rises = _accuracy_and_direction(model, fresh)
    assert correct / n >= 0.64
    assert rises


def gate_accuracy_only(model, fresh):
    correct, n, _ = _accuracy_and_direction(model, fresh)
    assert checks_wilson(correct, n)[0] >= 0.64


def gate_direction_only(model, fresh):
    assert _accuracy_and_direction(model, fresh)[2]


def gate_returning_a_verdict(model, fresh):
    correct, n, rises = _accuracy_and_direction(model, fresh)
    return checks_wilson(correct, n)[0] >= 0.64 and rises


def gate_raising_value_error(model, fresh):
    correct, n, rises = _accuracy_and_direction(model, fresh)
    if checks_wilson(correct, n)[0] < 0.64 or not rises:
        raise ValueError("the candidate does not meet the gate")


def gate_upper_bound(model, fresh):
    correct, n, rises = _accuracy_and_direction(model, fresh)
    assert checks_wilson(correct, n)[1] >= 0.64
    assert rises


def gate_too_strict(model, fresh):
    correct, n, rises = _accuracy_and_direction(model, fresh)
    assert checks_wilson(correct, n)[0] >= 0.7
    assert rises


def gate_at_90_percent(model, fresh):
    from mlops_reference import validation

    correct, n, rises = _accuracy_and_direction(model, fresh)
    assert validation.wilson_interval(correct, n, confidence=0.90)[0] >= 0.64
    assert rises


def gate_at_99_percent(model, fresh):
    from mlops_reference import validation

    correct, n, rises = _accuracy_and_direction(model, fresh)
    assert validation.wilson_interval(correct, n, confidence=0.99)[0] >= 0.64
    assert rises


def gate_at_060(model, fresh):
    correct, n, rises = _accuracy_and_direction(model, fresh)
    assert checks_wilson(correct, n)[0] >= 0.60
    assert rises


def checks_wilson(successes, n):
    from mlops_reference import validation

    return validation.wilson_interval(successes, n)



# --------------------------------------------------------------------------- the library
# (exercise, wrong answer, the case that must catch it)

# 06 monitoring: the uncorrected rule

def drift_uncorrected(reference, current, *, alpha=0.01):
    return _report(reference, current, stats.ks_2samp, alpha)


def drift_corrected_by_rows(reference, current, *, alpha=0.01):
    report = _report(reference, current, stats.ks_2samp, alpha, warn=False)
    report = report.assign(drifted=report["pvalue"] < alpha / len(current))
    drifted = report.loc[report["drifted"], "feature"].tolist()
    if drifted:
        warnings.warn(f"drift in {drifted}", UserWarning, stacklevel=2)
    return report


# 09 production: the margin statistic from counters

def _var(n, s, q, ddof=1):
    return (q - s * s / n) / (n - ddof)


def _z_from(canary, baseline, margin, *, ddof=1, signed=False, floor=True, sd=False):
    (nc, sc, qc), (nb, sb, qb) = canary, baseline
    diff = sc / nc - sb / nb
    gap = (diff if signed else abs(diff)) - margin
    gap = max(gap, 0.0) if floor else gap
    vc, vb = _var(nc, sc, qc, ddof), _var(nb, sb, qb, ddof)
    if sd:
        vc, vb = math.sqrt(vc), math.sqrt(vb)
    return gap / math.sqrt(vc / nc + vb / nb)


def margin_ddof0(canary, baseline, *, margin, min_samples):
    if canary[0] < min_samples or baseline[0] < min_samples:
        return 0.0
    return _z_from(canary, baseline, margin, ddof=0)


def margin_signed(canary, baseline, *, margin, min_samples):
    if canary[0] < min_samples or baseline[0] < min_samples:
        return 0.0
    return _z_from(canary, baseline, margin, signed=True)


def margin_unfloored(canary, baseline, *, margin, min_samples):
    if canary[0] < min_samples or baseline[0] < min_samples:
        return 0.0
    return _z_from(canary, baseline, margin, floor=False)


def margin_ignored(canary, baseline, *, margin, min_samples):
    if canary[0] < min_samples or baseline[0] < min_samples:
        return 0.0
    return _z_from(canary, baseline, 0.0)


def margin_at_or_below_minimum(canary, baseline, *, margin, min_samples):
    if canary[0] <= min_samples or baseline[0] <= min_samples:
        return 0.0
    return _z_from(canary, baseline, margin)


def margin_canary_count_only(canary, baseline, *, margin, min_samples):
    if canary[0] < min_samples:
        return 0.0
    return _z_from(canary, baseline, margin)


def margin_sd_not_variance(canary, baseline, *, margin, min_samples):
    if canary[0] < min_samples or baseline[0] < min_samples:
        return 0.0
    return _z_from(canary, baseline, margin, sd=True)


def margin_none_when_insufficient(canary, baseline, *, margin, min_samples):
    if canary[0] < min_samples or baseline[0] < min_samples:
        return None
    return _z_from(canary, baseline, margin)


# 09 production: late labels

def _latest(labels, keep="last", by_time=True):
    ordered = labels.sort_values("labelled_at", kind="stable") if by_time else labels
    return ordered.drop_duplicates("request_id", keep=keep)[["request_id", "incident"]]


def _refuse_orphans(log, labels):
    orphans = sorted(set(labels["request_id"]) - set(log["request_id"]))
    if orphans:
        raise ValueError(f"labels for requests not in the log: {orphans}")


def join_plain_merge(log, labels):
    return log.merge(labels, on="request_id", how="left")


def join_inner(log, labels):
    log = log.drop_duplicates()
    _refuse_orphans(log, labels)
    return log.merge(_latest(labels), on="request_id", how="inner")


def join_first_label(log, labels):
    log = log.drop_duplicates()
    _refuse_orphans(log, labels)
    return log.merge(_latest(labels, keep="first"), on="request_id", how="left")


def join_last_row(log, labels):
    log = log.drop_duplicates()
    _refuse_orphans(log, labels)
    return log.merge(_latest(labels, by_time=False), on="request_id", how="left")


def join_replaying_lines(log, labels):
    _refuse_orphans(log, labels)
    return log.merge(_latest(labels), on="request_id", how="left")


def join_sorted(log, labels):
    log = log.drop_duplicates()
    _refuse_orphans(log, labels)
    return log.merge(_latest(labels), on="request_id", how="left").sort_values(
        "request_id", ignore_index=True)


def join_dropping_orphans(log, labels):
    log = log.drop_duplicates()
    return log.merge(_latest(labels), on="request_id", how="left")


# 10 scale: per-partition scoring

def _score_frame(part, model, features, id_column):
    return pd.DataFrame({id_column: part[id_column].to_numpy(),
                         "score": model.predict_proba(part[list(features)])[:, 1]})


def _missing_columns(part, needed):
    return [c for c in needed if c not in part.columns]


def score_without_ids(part, model, *, features, id_column="row_id"):
    missing = _missing_columns(part, [id_column, *features])
    if missing:
        raise ValueError(f"missing {missing}")
    return pd.DataFrame({"score": model.predict_proba(part[list(features)])[:, 1]})


def score_by_position(part, model, *, features, id_column="row_id"):
    missing = _missing_columns(part, [id_column, *features])
    if missing:
        raise ValueError(f"missing {missing}")
    X = part.iloc[:, 1:1 + len(features)]
    return pd.DataFrame({id_column: part[id_column].to_numpy(),
                         "score": model.predict_proba(X)[:, 1]})


def score_in_place(part, model, *, features, id_column="row_id"):
    missing = _missing_columns(part, [id_column, *features])
    if missing:
        raise ValueError(f"missing {missing}")
    part["score"] = model.predict_proba(part[list(features)])[:, 1]
    return part[[id_column, "score"]]


def score_fixed_id(part, model, *, features, id_column="row_id"):
    missing = _missing_columns(part, ["row_id", *features])
    if missing:
        raise ValueError(f"missing {missing}")
    return _score_frame(part, model, features, "row_id")


def score_key_error(part, model, *, features, id_column="row_id"):
    return _score_frame(part, model, features, id_column)


def score_naming_first_missing(part, model, *, features, id_column="row_id"):
    missing = _missing_columns(part, [id_column, *features])
    if missing:
        raise ValueError(f"missing column {missing[0]!r}")
    return _score_frame(part, model, features, id_column)


def score_features_checked_only(part, model, *, features, id_column="row_id"):
    missing = _missing_columns(part, list(features))
    if missing:
        raise ValueError(f"missing {missing}")
    return _score_frame(part, model, features, id_column)


def score_none_when_empty(part, model, *, features, id_column="row_id"):
    missing = _missing_columns(part, [id_column, *features])
    if missing:
        raise ValueError(f"missing {missing}")
    return None if part.empty else _score_frame(part, model, features, id_column)


# 10 scale: the KS statistic merged from partitions

def _ks_counts(reference, partitions, *, just_before=True, left_both=False):
    reference = np.sort(np.asarray(reference, dtype=float))
    grid = np.unique(reference)
    ref_le = np.searchsorted(reference, grid, side="right") / len(reference)
    ref_lt = np.r_[0.0, ref_le[:-1]]
    n, lt, le = 0, np.zeros(len(grid)), np.zeros(len(grid))
    for part in partitions:
        values = np.sort(np.asarray(part, dtype=float))
        n += len(values)
        lt += np.searchsorted(values, grid, side="left")
        le += np.searchsorted(values, grid, side="left" if left_both else "right")
    d = np.abs(ref_le - le / n).max()
    return float(max(d, np.abs(ref_lt - lt / n).max()) if just_before else d)


def ks_largest_partition(reference, partitions):
    return float(max(stats.ks_2samp(reference, p).statistic for p in partitions if len(p)))


def ks_mean_of_partitions(reference, partitions):
    return float(np.mean([stats.ks_2samp(reference, p).statistic for p in partitions if len(p)]))


def ks_at_reference_points_only(reference, partitions):
    return _ks_counts(reference, partitions, just_before=False)


def ks_left_counts_only(reference, partitions):
    return _ks_counts(reference, partitions, left_both=True)


def ks_histogram(reference, partitions):
    edges = np.linspace(np.min(reference), np.max(reference), 21)
    ref = np.cumsum(np.histogram(reference, edges)[0]) / len(reference)
    counts = sum(np.histogram(p, edges)[0] for p in partitions)
    return float(np.abs(ref - np.cumsum(counts) / counts.sum()).max())


def ks_equal_sizes(reference, partitions):
    reference = np.sort(np.asarray(reference, dtype=float))
    n = len(partitions) * len(partitions[0])  # assumes every partition is as large as the first
    grid = np.unique(reference)
    ref_le = np.searchsorted(reference, grid, side="right") / len(reference)
    ref_lt = np.r_[0.0, ref_le[:-1]]
    lt = sum(np.searchsorted(np.sort(p), grid, side="left") for p in partitions)
    le = sum(np.searchsorted(np.sort(p), grid, side="right") for p in partitions)
    return float(max(np.abs(ref_le - le / n).max(), np.abs(ref_lt - lt / n).max()))



WRONG = [
    # 01 artefacts
    ("save_load_verify", roundtrip_trusting, "changes on loading"),
    ("save_load_verify", roundtrip_self_compare, "changes on loading"),
    ("save_load_verify", roundtrip_memory_size, "survives a round trip"),
    ("save_load_verify", roundtrip_outside_directory, "survives a round trip"),
    ("save_load_verify", roundtrip_kib, "survives a round trip"),
    ("save_load_verify", roundtrip_object_identity, "survives a round trip"),
    ("load_verified", loader_skipping_hash, "wrong hash"),
    ("load_verified", loader_hashing_after, "before unpickling"),
    ("load_verified", loader_wrong_error, "wrong hash"),
    ("load_verified", loader_hashing_the_path, "the right hash loads"),
    ("load_verified", loader_returning_none, "wrong hash"),
    ("load_verified", loader_asserting, "wrong hash"),
    # 02 registry
    ("rollback_version", rollback_minus_one, "not consecutive"),
    ("rollback_version", rollback_any_alias, "other aliases"),
    ("rollback_version", rollback_unsorted, "not in time order"),
    ("rollback_version", rollback_second_last, "re-assigning"),
    ("rollback_version", rollback_current, "three promotions"),
    ("rollback_version", rollback_first_ever, "three promotions"),
    ("rollback_version", rollback_none_when_nothing, "no earlier version"),
    ("rollback_version", rollback_highest_below, "not the next lower number"),
    ("promote", promote_without_moving, "first promotion"),
    ("promote", promote_returning_new, "first promotion"),
    ("promote", promote_string_version, "returns the previous champion"),
    ("promote", promote_fixed_alias, "alias parameter"),
    ("promote", promote_unvalidated, "unregistered version"),
    ("promote", promote_swallowing_errors, "unregistered version"),
    ("promote", promote_counting_versions, "version numbers can have gaps"),
    ("promote", promote_any_model, "another model's versions"),
    # 03 patterns
    ("predict_in_batches", batches_floor, "partial batch"),
    ("predict_in_batches", batches_whole, "partial batch"),
    ("predict_in_batches", batches_empty_tail, "divide evenly"),
    ("predict_in_batches", batches_unchecked, "batch size of zero"),
    ("predict_in_batches", batches_refusing_one, "batch size of one"),
    ("predict_in_batches", batches_overlapping, "partial batch"),
    ("shadow_report", shadow_exact, "decisions, not probabilities"),
    ("shadow_report", shadow_fixed_threshold, "the threshold is used"),
    ("shadow_report", shadow_swapped, "decisions, not probabilities"),
    ("shadow_report", shadow_truncating, "different lengths"),
    ("shadow_report", shadow_strictly_above, "equal to the threshold"),
    ("shadow_report", shadow_threshold_up, "the threshold is used"),
    ("shadow_report", shadow_threshold_down, "decisions, not probabilities"),
    ("shadow_report", shadow_diff_of_decisions, "decisions, not probabilities"),
    # 04 serving
    ("make_request_schema", schema_lax, "string is rejected"),
    ("make_request_schema", schema_allowing_extra, "extra field"),
    ("make_request_schema", schema_without_ranges, "out-of-range"),
    ("make_request_schema", schema_instance, "a valid request"),
    ("make_request_schema", schema_two_fields_unranged, "just outside its range"),
    ("make_request_schema", schema_exclusive_bounds, "both ends of its range"),
    ("make_request_schema", schema_optional_weekend, "missing field"),
    ("make_request_schema", schema_float_hour, "fractional hour"),
    ("make_request_schema", schema_hour_off_by_one, "an impossible hour"),
    ("make_app", app_trusting_json, "invalid requests"),
    ("make_app", app_without_health, "health check"),
    ("make_app", app_returning_class, "the model's probability"),
    ("make_app", app_sorted_columns, "the model's probability"),
    ("make_app", app_constant, "the model's probability"),
    ("make_app", app_predict_by_get, "the model's probability"),
    ("make_app", app_numpy_rows, "the model's probability"),
    ("make_app", app_predict_any_method, "POSTed"),
    ("make_app", app_health_alive, "the health check answers"),
    ("make_app", app_rounding, "not rounded"),
    ("make_app", app_trailing_slash, "the model's probability"),
    # 05 safe deployment
    ("error_rate_decision", canary_jumpy, "insignificant increase"),
    ("error_rate_decision", canary_two_sided, "better canary"),
    ("error_rate_decision", canary_no_minimum, "too little canary traffic"),
    ("error_rate_decision", canary_fixed_z, "k is used"),
    ("error_rate_decision", canary_at_most_minimum, "exactly min_samples"),
    ("error_rate_decision", canary_unpooled, "pooled"),
    ("error_rate_decision", canary_unvalidated, "impossible counts"),
    ("error_rate_decision", canary_ignoring_margin, "a margin tolerates"),
    ("error_rate_decision", canary_relative_margin, "a margin tolerates"),
    ("error_rate_decision", canary_margin_in_se, "a margin tolerates"),
    ("error_rate_decision", canary_k_shifted, "the standard error is pooled"),
    ("error_rate_decision", canary_mean_of_rates, "weighs each group by its size"),
    ("error_rate_decision", canary_checking_canary_only, "impossible counts"),
    ("error_rate_decision", canary_upper_bound_only, "impossible counts"),
    ("error_rate_decision", canary_refusing_all_failed, "failing every request"),
    ("error_rate_decision", canary_two_sided_99, "the default k is the one-sided 2.33"),
    # 06 monitoring
    ("detect_drift", drift_never_flags, "one drifted feature"),
    ("detect_drift", drift_t_test, "two drifted features"),
    ("detect_drift", drift_silent, "named in a warning"),
    ("detect_drift", drift_fixed_alpha, "alpha is the significance level"),
    ("detect_drift", drift_inverted, "one drifted feature"),
    ("detect_drift", drift_one_warning_per_feature, "one warning naming both"),
    ("detect_drift", drift_warning_names_first_only, "one warning naming both"),
    ("detect_drift", drift_warning_names_everything, "one drifted feature"),
    ("detect_drift", drift_print_not_warn, "named in a warning"),
    ("detect_drift", drift_uncorrected, "alpha is shared by the features tested"),
    ("detect_drift", drift_corrected_by_rows, "alpha is the significance level"),
    ("chi_square_drift", chi2_reference_categories, "only the current data has"),
    ("chi_square_drift", chi2_unscaled, "the same distribution of hours"),
    ("chi_square_drift", chi2_ks_instead, "the same distribution of hours"),
    ("chi_square_drift", chi2_proportions, "the same distribution of hours"),
    ("chi_square_drift", chi2_goodness_of_fit, "the same distribution of hours"),
    # 07 CI/CD
    ("validate_model", validator_ignoring_thresholds, "thresholds are enforced"),
    ("validate_model", validator_without_directional, "a good model passes"),
    ("validate_model", validator_always_directional, "reversed model"),
    ("validate_model", validator_skipping_unknown, "unknown metric"),
    ("validate_model", validator_strictly_above, "equal to its threshold"),
    ("validate_model", validator_tolerance, "equal to its threshold"),
    ("validate_model", validator_margin, "equal to its threshold"),
    ("wilson_interval", wald, "8 of 10 at 95%"),
    ("wilson_interval", wilson_fixed_z, "the confidence level is used"),
    ("wilson_interval", wilson_unchecked, "impossible counts"),
    ("wilson_interval", wilson_refusing_one_trial, "a single trial"),
    ("wilson_interval", wilson_refusing_perfect, "10 of 10"),
    ("wilson_interval", wilson_one_sided_z, "8 of 10 at 95%"),
    ("test_candidate", gate_point_estimate, "0.70 on 40 rows"),
    ("test_candidate", gate_accuracy_only, "risk falls as errors rise"),
    ("test_candidate", gate_direction_only, "0.70 on 40 rows"),
    ("test_candidate", gate_returning_a_verdict, "a majority-class dummy"),
    ("test_candidate", gate_raising_value_error, "a majority-class dummy"),
    ("test_candidate", gate_upper_bound, "0.70 on 40 rows"),
    ("test_candidate", gate_too_strict, "the book's pipeline passes"),
    ("test_candidate", gate_at_90_percent, "just below the gate fails"),
    ("test_candidate", gate_at_060, "just below the gate fails"),
    ("test_candidate", gate_at_99_percent, "just above the gate passes"),
    ("slice_gate", slices_whole_set_only, "blocked on busy services"),
    ("slice_gate", slices_every_slice, "only important slices block"),
    ("slice_gate", slices_absolute_drop, "blocked on busy services"),
    ("slice_gate", slices_no_tolerance, "the tolerance is used"),
    ("slice_gate", slices_fixed_tolerance, "the tolerance is used"),
    ("slice_gate", slices_tolerant_overall, "any drop on all rows blocks"),
    ("slice_gate", slices_skipping_unknown, "an unknown slice is an error"),
    ("make_feature_schema", contract_types_only, "an out-of-range value"),
    ("make_feature_schema", contract_nullable, "a missing value"),
    ("make_feature_schema", contract_not_strict, "an extra column"),
    ("make_feature_schema", contract_coercing, "a wrong type"),
    ("make_feature_schema", contract_hour_1_to_24, "a clean batch is accepted"),
    ("make_feature_schema", contract_rates_only, "an out-of-range value"),
    ("make_feature_schema", contract_exclusive_bounds, "a clean batch is accepted"),
    # 08 lifecycle
    ("first_alarm", alarm_cumulative, "a drop to 70% alarms"),
    ("first_alarm", alarm_partial_windows, "only full windows"),
    ("first_alarm", alarm_point_estimate, "a drop to 70% alarms"),
    ("first_alarm", alarm_lower_bound, "a steady 90% never alarms"),
    ("first_alarm", alarm_fixed_confidence, "the confidence level is used"),
    ("first_alarm", alarm_refusing_window_one, "a window of one"),
    ("first_alarm", alarm_window_start, "a drop to 70% alarms"),
    ("first_alarm", alarm_threshold_down, "a drop to 70% alarms"),
    ("first_alarm", alarm_off_by_one, "a drop to 70% alarms"),
    # 09 production
    ("margin_statistic", margin_ddof0, "a canary well above the baseline"),
    ("margin_statistic", margin_signed, "below the baseline counts too"),
    ("margin_statistic", margin_unfloored, "inside the margin gives 0"),
    ("margin_statistic", margin_ignored, "a canary well above the baseline"),
    ("margin_statistic", margin_at_or_below_minimum, "exactly min_samples is enough"),
    ("margin_statistic", margin_canary_count_only, "too few baseline predictions"),
    ("margin_statistic", margin_sd_not_variance, "a canary well above the baseline"),
    ("margin_statistic", margin_none_when_insufficient, "too few canary predictions"),
    ("join_late_labels", join_plain_merge, "a replayed log line counts once"),
    ("join_late_labels", join_inner, "unlabelled ones wait"),
    ("join_late_labels", join_first_label, "a corrected label replaces"),
    ("join_late_labels", join_last_row, "wherever it sits in the table"),
    ("join_late_labels", join_replaying_lines, "a replayed log line counts once"),
    ("join_late_labels", join_sorted, "the log's order is kept"),
    ("join_late_labels", join_dropping_orphans, "unknown request is an error"),
    # 10 scale
    ("score_partition", score_without_ids, "scores next to their row ids"),
    ("score_partition", score_by_position, "scores next to their row ids"),
    ("score_partition", score_in_place, "not modified"),
    ("score_partition", score_fixed_id, "id_column names the id"),
    ("score_partition", score_key_error, "a missing feature is refused"),
    ("score_partition", score_naming_first_missing, "every missing column is named"),
    ("score_partition", score_features_checked_only, "every missing column is named"),
    ("score_partition", score_none_when_empty, "an empty partition"),
    ("ks_from_partitions", ks_largest_partition, "a shifted sample in three partitions"),
    ("ks_from_partitions", ks_mean_of_partitions, "a shifted sample in three partitions"),
    ("ks_from_partitions", ks_at_reference_points_only, "the same distribution in two partitions"),
    ("ks_from_partitions", ks_left_counts_only, "ties"),
    ("ks_from_partitions", ks_histogram, "a shifted sample in three partitions"),
    ("ks_from_partitions", ks_equal_sizes, "a shifted sample in three partitions"),
]


def _check(name):
    return getattr(checks, f"check_{name}")


@pytest.mark.parametrize(("name", "wrong", "case"), WRONG,
                         ids=[f"{n}-{w.__name__}" for n, w, _ in WRONG])
def test_check_rejects_a_plausible_wrong_answer(name, wrong, case):
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        result = _check(name)(wrong)
    assert result.status == _harness.FAILED, result.message
    assert "unexpected keyword argument" not in result.message  # rejected for its mistake,
    assert case in result.message.splitlines()[0], result.message  # not for its signature
    assert result.message in buffer.getvalue()
    assert f'checks.hint("{name}")' in result.message


def test_every_exercise_has_several_wrong_answers():
    counts = {name: sum(1 for n, _, _ in WRONG if n == name) for name in _harness.EXERCISES}
    assert min(counts.values()) >= 5, counts


def test_each_wrong_answer_is_listed_once():
    functions = [w for _, w, _ in WRONG]
    assert len(functions) == len(set(functions))
