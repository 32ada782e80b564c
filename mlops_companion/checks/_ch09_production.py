"""Self-checks of chapter 09, running in production (exercise set ``09-production``)."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from ._harness import (
    CheckResult,
    Case,
    call,
    exercise,
    expect,
    expect_raises,
    run,
)

__all__ = ["check_join_late_labels", "check_margin_statistic"]

STEM = "09-production"

_HINT_JOIN_LATE_LABELS = (
    'Drop exact duplicate log lines first (log.drop_duplicates()). For the labels, sort by '
    'labelled_at and keep the last per request_id. Refuse labels whose request_id is not in '
    'the log, then log.merge(labels[["request_id", "incident"]], how="left") keeps log order.'
)
_HINT_MARGIN_STATISTIC = (
    'Each side: mean = s / n, variance = (q - s**2 / n) / (n - 1) (ddof=1). Then '
    'max(abs(mean_c - mean_b) - margin, 0) / sqrt(var_c / n_c + var_b / n_b); return 0.0 '
    'while either count is below min_samples, as the query\'s "or vector(0)" does.'
)

# --------------------------------------------------------------------------- join_late_labels


def _log(ids, probabilities) -> pd.DataFrame:
    return pd.DataFrame({"request_id": list(ids), "probability": list(probabilities)})


def _labels(ids, incidents, times) -> pd.DataFrame:
    return pd.DataFrame({"request_id": list(ids), "incident": list(incidents),
                         "labelled_at": list(times)})


def _join_cases() -> list[Case]:
    def case(log, labels, expected_ids, expected_incident, description):
        def check(func):
            given = f"{description}; log ids {list(log['request_id'])}, label ids {list(labels['request_id'])}"
            got = call(func, log.copy(), labels.copy())
            expect(isinstance(got, pd.DataFrame), given, "a DataFrame", type(got).__name__)
            missing = [c for c in ("request_id", "probability", "incident") if c not in got.columns]
            expect(not missing, given, "columns request_id, probability, incident",
                    f"columns {list(got.columns)}")
            expect(list(got["request_id"]) == expected_ids, given,
                    f"one row per logged prediction, in log order: {expected_ids}",
                    list(got["request_id"]))
            incident = [None if pd.isna(v) else int(v) for v in got["incident"]]
            expect(incident == expected_incident, given,
                    f"incident {expected_incident} (None: no label yet)", incident)
        return check

    def orphan(func):
        log = _log(["a", "b"], [0.9, 0.2])
        labels = _labels(["a", "zz"], [1, 0], [5.0, 6.0])
        given = "a label for request 'zz', which the log does not hold"
        error = expect_raises(func, ValueError, given, log, labels)
        expect("zz" in str(error), given, "the message to name 'zz'", str(error))

    return [
        Case("labels join their predictions; unlabelled ones wait", case(
            _log(["a", "b", "c"], [0.9, 0.2, 0.7]), _labels(["c", "a"], [0, 1], [3.0, 4.0]),
            ["a", "b", "c"], [1, None, 0], "three predictions, two labels")),
        Case("a replayed log line counts once", case(
            _log(["a", "b", "a"], [0.9, 0.2, 0.9]), _labels(["a", "b"], [1, 0], [3.0, 4.0]),
            ["a", "b"], [1, 0], "the line for 'a' written twice")),
        Case("a corrected label replaces the first one", case(
            _log(["a", "b"], [0.9, 0.2]), _labels(["a", "b", "a"], [1, 0, 0], [3.0, 4.0, 9.0]),
            ["a", "b"], [0, 0], "'a' labelled 1 at t=3, corrected to 0 at t=9")),
        Case("the latest label wins, wherever it sits in the table", case(
            _log(["a", "b"], [0.9, 0.2]), _labels(["a", "b", "a"], [0, 0, 1], [9.0, 4.0, 3.0]),
            ["a", "b"], [0, 0], "'a' labelled 0 at t=9, listed before its first label (1 at t=3)")),
        Case("the log's order is kept", case(
            _log(["q", "c", "m"], [0.1, 0.8, 0.6]), _labels(["m", "q"], [1, 0], [2.0, 1.0]),
            ["q", "c", "m"], [0, None, 1], "ids not in alphabetical order")),
        Case("no labels yet", case(
            _log(["a", "b"], [0.9, 0.2]), _labels([], [], []), ["a", "b"], [None, None],
            "an empty label table")),
        Case("a label for an unknown request is an error", orphan),
    ]


@exercise("join_late_labels", STEM, _HINT_JOIN_LATE_LABELS)
def check_join_late_labels(func: Callable[..., pd.DataFrame], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``join_late_labels(log, labels)``.

    ``log`` has ``request_id`` and ``probability`` (a replayed line may appear twice, with
    the same values), ``labels`` has ``request_id``, ``incident`` and ``labelled_at`` (a
    label may be corrected later). The function must return one row per logged prediction,
    in log order, with the *latest* label of its request in ``incident`` (NaN while none
    has arrived), and raise ``ValueError`` naming a labelled request the log does not hold.

    Examples
    --------
    A plain merge counts a replayed line twice:

    >>> def merge(log, labels):
    ...     return log.merge(labels, on="request_id", how="left")
    >>> result = check_join_late_labels(merge)
    join_late_labels: FAILED on case 2 of ..., "a replayed log line counts once".
    ...
    """
    return run("join_late_labels", func, _join_cases(), verbose=verbose)


# --------------------------------------------------------------------------- margin_statistic


def _moments(values: np.ndarray) -> tuple[int, float, float]:
    return len(values), float(values.sum()), float((values ** 2).sum())


def _margin_reference(c: np.ndarray, b: np.ndarray, margin: float, min_samples: int) -> float:
    if len(c) < min_samples or len(b) < min_samples:
        return 0.0
    se = math.sqrt(c.var(ddof=1) / len(c) + b.var(ddof=1) / len(b))
    return max(abs(c.mean() - b.mean()) - margin, 0.0) / se


def _margin_cases() -> list[Case]:
    gen = np.random.default_rng(909)
    baseline = gen.beta(2, 5, 400)
    far = gen.beta(2, 5, 120) + 0.08
    below = gen.beta(2, 5, 120) - 0.08
    close = gen.beta(2, 5, 150) + 0.005
    tiny_c, tiny_b = np.array([0.2, 0.5, 0.9, 0.4, 0.6]), np.array([0.1, 0.3, 0.2, 0.25])

    def case(c, b, margin, min_samples, description):
        def check(func):
            expected = _margin_reference(c, b, margin, min_samples)
            given = (f"{description}: canary n={len(c)}, baseline n={len(b)}, margin={margin}, "
                     f"min_samples={min_samples}")
            got = call(func, _moments(c), _moments(b), margin=margin, min_samples=min_samples)
            ok = isinstance(got, (int, float, np.floating)) and math.isclose(
                float(got), expected, rel_tol=1e-9, abs_tol=1e-12)
            expect(ok, given, f"Z = {expected:.6g}", got)
        return check

    def different_margins(func):
        given = "the same sums with margin=0.01, then margin=0.05"
        got = [call(func, _moments(far), _moments(baseline), margin=m, min_samples=50)
               for m in (0.01, 0.05)]
        expected = [_margin_reference(far, baseline, m, 50) for m in (0.01, 0.05)]
        expect(all(isinstance(g, (int, float, np.floating)) for g in got)
                and np.allclose(got, expected, rtol=1e-9), given,
                f"Z = {expected[0]:.4f}, then {expected[1]:.4f}", got)

    return [
        Case("a canary well above the baseline", case(far, baseline, 0.02, 50, "shift +0.08")),
        Case("a canary below the baseline counts too", case(below, baseline, 0.02, 50,
                                                             "shift -0.08")),
        Case("a shift inside the margin gives 0", case(close, baseline, 0.02, 50,
                                                        "shift +0.005")),
        Case("the margin is used", different_margins),
        Case("variances use n - 1", case(tiny_c, tiny_b, 0.0, 2, "five and four scores")),
        Case("too few canary predictions give 0", case(far[:49], baseline, 0.02, 50,
                                                        "49 canary scores")),
        Case("exactly min_samples is enough", case(far[:50], baseline, 0.02, 50,
                                                    "50 canary scores")),
        Case("too few baseline predictions give 0", case(far, baseline[:30], 0.02, 50,
                                                          "30 baseline scores")),
    ]


@exercise("margin_statistic", STEM, _HINT_MARGIN_STATISTIC)
def check_margin_statistic(func: Callable[..., float], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``margin_statistic(canary, baseline, *, margin, min_samples)``.

    ``canary`` and ``baseline`` are ``(count, sum, sum of squares)`` of predicted
    probabilities, the three counters the server exports. The function must return what the
    chapter's PromQL computes: ``max(|mean_c - mean_b| - margin, 0) / SE`` with ``SE`` from
    the two ``ddof=1`` variances, or 0.0 while either count is below ``min_samples``.

    Examples
    --------
    A version that forgets the absolute value never sees a canary that scores too low:

    >>> import math
    >>> def signed(canary, baseline, *, margin, min_samples):
    ...     (nc, sc, qc), (nb, sb, qb) = canary, baseline
    ...     if nc < min_samples or nb < min_samples:
    ...         return 0.0
    ...     var = lambda n, s, q: (q - s * s / n) / (n - 1)
    ...     se = math.sqrt(var(nc, sc, qc) / nc + var(nb, sb, qb) / nb)
    ...     return max(sc / nc - sb / nb - margin, 0.0) / se
    >>> result = check_margin_statistic(signed)
    margin_statistic: FAILED on case 2 of ..., "a canary below the baseline counts too".
    ...
    """
    return run("margin_statistic", func, _margin_cases(), verbose=verbose)
