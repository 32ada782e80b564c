"""Self-checks of chapter 05, deploying a model safely (exercise set ``05-safe-deployment``)."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ._harness import (
    CheckResult,
    Case,
    call,
    exercise,
    expect,
    expect_raises,
    run,
)

__all__ = ["check_shadow_report", "check_error_rate_decision"]

STEM = "05-safe-deployment"

_HINT_ERROR_RATE_DECISION = (
    "Return 'insufficient' while canary_total < min_samples. Otherwise pool the error "
    'rate p = (errors_b + errors_c) / (n_b + n_c); z = (p_c - p_b - margin) / sqrt(p (1 - '
    'p) (1/n_b + 1/n_c)); roll back only if z > k (one-sided: a better canary never '
    'rolls back).'
)

_HINT_SHADOW_REPORT = (
    'Turn both probability arrays into decisions first (proba >= threshold), then compare '
    'the decisions: agreement is their mean equality; primary_only counts rows where only '
    'the primary says 1. mean_abs_diff compares the probabilities themselves.'
)

# --------------------------------------------------------------------------- shadow_report

def _shadow_cases() -> list[Case]:
    primary = [0.2, 0.7, 0.6, 0.4, 0.9]
    shadow = [0.3, 0.4, 0.8, 0.45, 0.95]

    def case(p, q, expected, **kwargs):
        def check(func):
            given = f"primary_proba={p}, shadow_proba={q}" + "".join(
                f", {k}={v}" for k, v in kwargs.items())
            got = call(func, np.array(p), np.array(q), **kwargs)
            expect(isinstance(got, Mapping), given, "a dict", type(got).__name__)
            for key, value in expected.items():
                ok = key in got and abs(float(got[key]) - value) < 1e-9
                expect(ok, given, f"{key} = {value:g}", got.get(key, f"no key {key!r}"))
        return check

    def mismatch(func):
        error = expect_raises(func, ValueError, "arrays of lengths 3 and 2",
                               np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2]))
        expect("3" in str(error) and "2" in str(error), "arrays of lengths 3 and 2",
                "the message to give both lengths", str(error))

    return [
        Case("two identical models agree everywhere", case(
            primary, primary, {"n": 5, "agreement": 1.0, "primary_only": 0, "shadow_only": 0,
                               "mean_abs_diff": 0.0})),
        Case("decisions, not probabilities, are compared", case(
            primary, shadow, {"n": 5, "agreement": 0.8, "primary_only": 1, "shadow_only": 0,
                              "mean_abs_diff": 0.14})),
        Case("the threshold is used", case(
            primary, shadow, {"agreement": 0.6, "primary_only": 1, "shadow_only": 1},
            threshold=0.42)),
        Case("a probability equal to the threshold is flagged", case(
            [0.5, 0.52, 0.47, 0.25, 0.75], [0.45, 0.5, 0.5, 0.3, 0.75],
            {"n": 5, "agreement": 0.6, "primary_only": 1, "shadow_only": 1,
             "mean_abs_diff": 0.03})),
        Case("arrays of different lengths are an error", mismatch),
    ]


@exercise("shadow_report", STEM, _HINT_SHADOW_REPORT)
def check_shadow_report(func: Callable[..., Mapping], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``shadow_report(primary_proba, shadow_proba, *, threshold=0.5)``.

    Given the incident probabilities the primary and the shadow model gave the same
    requests, it must return a dict with ``n``, ``agreement`` (share of requests where the
    two *decisions*, ``proba >= threshold``, agree), ``primary_only`` and ``shadow_only``
    (requests only that model flags) and ``mean_abs_diff`` (mean absolute difference of
    the probabilities); and raise ``ValueError`` giving both lengths when they differ.

    Examples
    --------
    Comparing probabilities instead of decisions finds no agreement at all:

    >>> import numpy as np
    >>> def exact(primary_proba, shadow_proba, *, threshold=0.5):
    ...     same = np.asarray(primary_proba) == np.asarray(shadow_proba)
    ...     return {"n": len(same), "agreement": same.mean(), "primary_only": 0,
    ...             "shadow_only": 0, "mean_abs_diff": 0.0}
    >>> result = check_shadow_report(exact)
    shadow_report: FAILED on case 2 of ..., "decisions, not probabilities, are compared".
      input:    primary_proba=[0.2, 0.7, 0.6, 0.4, 0.9], shadow_proba=[0.3, 0.4, 0.8, 0.45, 0.95]
      expected: agreement = 0.8
      got:      0.0
    ...
    """
    return run("shadow_report", func, _shadow_cases(), verbose=verbose)


# --------------------------------------------------------------------------- error_rate_decision

def _canary_cases() -> list[Case]:
    def case(args, expected, **kwargs):
        def check(func):
            names = ("baseline_errors", "baseline_total", "canary_errors", "canary_total")
            given = ", ".join(f"{n}={v}" for n, v in zip(names, args))
            given += "".join(f", {k}={v}" for k, v in kwargs.items())
            got = call(func, *args, **kwargs)
            expect(got == expected, given, repr(expected), got)
        return check

    def bad_counts(func):
        expect_raises(func, ValueError, "canary_errors=700 > canary_total=600", 200, 10_000, 700, 600)
        expect_raises(func, ValueError, "baseline_errors=-5 (negative)", -5, 10_000, 10, 600)
        expect_raises(func, ValueError, "canary_errors=-1 (negative)", 200, 10_000, -1, 600)
        expect_raises(func, ValueError, "baseline_errors=10001 > baseline_total=10000",
                       10_001, 10_000, 10, 600)

    return [
        Case("too little canary traffic", case((200, 10_000, 10, 100), "insufficient")),
        Case("a clearly worse canary", case((200, 10_000, 30, 600), "rollback")),
        Case("the same error rate", case((200, 10_000, 12, 600), "continue")),
        Case("a better canary is never rolled back", case((200, 10_000, 2, 600), "continue")),
        Case("a small, insignificant increase", case((200, 10_000, 15, 600), "continue")),
        Case("k is used (z is about 2.2)", case((200, 10_000, 20, 600), "rollback", k=1.64)),
        Case("the default k of 2.33 (z is about 2.2)", case((200, 10_000, 20, 600), "continue")),
        Case("no errors anywhere", case((0, 10_000, 0, 600), "continue")),
        Case("min_samples is used", case((200, 10_000, 30, 600), "insufficient", min_samples=1000)),
        Case("exactly min_samples canary requests are enough", case((200, 10_000, 30, 500), "rollback")),
        Case("the standard error is pooled (z is about 2.8 pooled, 2.1 unpooled)",
              case((200, 10_000, 22, 600), "rollback")),
        Case("a margin tolerates a small increase (z is about 1.6)",
              case((200, 10_000, 30, 600), "continue", margin=0.02)),
        Case("the margin is in error-rate points (z is about 3.3)",
              case((200, 10_000, 30, 600), "rollback", margin=0.01)),
        Case("the default k is the one-sided 2.33, not 2.58 (z is about 2.5)",
              case((20, 1000, 39, 1000), "rollback")),
        Case("the pooled rate weighs each group by its size (z is about 2.5 pooled, 2.2 "
              "from the plain mean of the two rates)", case((200, 10_000, 21, 600), "rollback")),
        Case("a canary failing every request is rolled back", case((200, 10_000, 600, 600), "rollback")),
        Case("impossible counts are errors", bad_counts),
    ]


@exercise("error_rate_decision", STEM, _HINT_ERROR_RATE_DECISION)
def check_error_rate_decision(func: Callable[..., str], *, verbose: bool = True) -> CheckResult:
    """Check ``error_rate_decision(baseline_errors, baseline_total, canary_errors, canary_total, *, margin=0.0, min_samples=500, k=2.33)``.

    It must return ``"insufficient"`` while the canary has fewer than ``min_samples``
    requests, ``"rollback"`` when the one-sided z statistic ``(p_c - p_b - margin) / SE``
    exceeds ``k``, where ``p_c`` and ``p_b`` are the two error rates and ``SE`` the pooled
    two-proportion standard error (its rate weighs each group by its size), ``"continue"``
    otherwise (also when there are no errors at all), roll back a canary failing every
    request, and raise ``ValueError`` for counts outside ``[0, total]``, negative baseline
    or canary counts included. Cases sit near the default ``k`` on both sides.

    Examples
    --------
    Rolling back on any increase is too jumpy:

    >>> def jumpy(baseline_errors, baseline_total, canary_errors, canary_total, *,
    ...           margin=0.0, min_samples=500, k=2.33):
    ...     if canary_total < min_samples:
    ...         return "insufficient"
    ...     worse = canary_errors / canary_total > baseline_errors / baseline_total
    ...     return "rollback" if worse else "continue"
    >>> result = check_error_rate_decision(jumpy)
    error_rate_decision: FAILED on case 5 of ..., "a small, insignificant increase".
    ...
    """
    return run("error_rate_decision", func, _canary_cases(), verbose=verbose)


