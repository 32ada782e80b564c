"""Self-checks of chapter 08, the model lifecycle (exercise set ``08-lifecycle``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._harness import CheckResult, Case, call, exercise, expect, expect_raises, run


STEM = "08-lifecycle"

_HINT_FIRST_ALARM = (
    'Only full windows count: the first candidate index is window - 1. For each window, '
    'count the correct predictions k and take the upper end of the Wilson interval of '
    'k / window at `confidence` (validation.wilson_interval); alarm at the first window '
    'whose upper end is strictly below the threshold.'
)

# --------------------------------------------------------------------------- first_alarm
def _first_alarm_reference(correct: np.ndarray, window: int, threshold: float,
                           confidence: float) -> int | None:
    from mlops_reference import validation

    totals = np.convolve(correct.astype(float), np.ones(window), mode="valid")
    for i, k in enumerate(np.rint(totals).astype(int)):
        if validation.wilson_interval(int(k), window, confidence=confidence)[1] < threshold:
            return i + window - 1
    return None


def _pattern(n: int, accuracy_tenths: int) -> np.ndarray:
    """``n`` outcomes, ``accuracy_tenths`` of every ten correct, spread evenly."""
    return np.array([i % 10 < accuracy_tenths for i in range(n)], dtype=bool)


def _first_alarm_cases() -> list[Case]:
    def case(correct, window, threshold, description, confidence=None):
        def run(func):
            level = 0.95 if confidence is None else confidence
            expected = _first_alarm_reference(correct, window, threshold, level)
            given = f"{description}; window={window}, threshold={threshold}" + (
                "" if confidence is None else f", confidence={confidence}")
            kwargs = {} if confidence is None else {"confidence": confidence}
            got = call(func, correct.copy(), window=window, threshold=threshold, **kwargs)
            expect(got == expected, given,
                   "None (no alarm)" if expected is None else f"index {expected}", got)
        return run

    def bad_window(func):
        error = expect_raises(func, ValueError, "window=0", _pattern(20, 9), window=0, threshold=0.8)
        expect("window" in str(error), "window=0", "the message to name `window`", str(error))

    steady = _pattern(500, 9)
    decline = np.concatenate([_pattern(400, 9), _pattern(200, 7)])
    late = np.concatenate([_pattern(3000, 9), _pattern(300, 7)])
    bad_start = np.concatenate([np.zeros(5, dtype=bool), _pattern(295, 9)])
    noisy = _pattern(300, 8)
    return [
        Case("a steady 90% never alarms", case(steady, 50, 0.85, "500 outcomes, 90% correct")),
        Case("a drop to 70% alarms", case(decline, 50, 0.85, "400 outcomes at 90%, then 200 at 70%")),
        Case("a late drop after a long good run", case(
            late, 100, 0.85, "3000 outcomes at 90%, then 300 at 70%")),
        Case("only full windows count", case(
            bad_start, 50, 0.85, "5 wrong outcomes, then 295 at 90%")),
        Case("a dip that noise explains does not alarm", case(
            noisy, 50, 0.85, "300 outcomes at 80%: below 0.85, but not significantly in 50")),
        Case("the confidence level is used", case(
            decline, 50, 0.85, "400 outcomes at 90%, then 200 at 70%", confidence=0.6)),
        Case("a window of one prediction", case(
            decline, 1, 0.9, "400 outcomes at 90%, then 200 at 70%")),
        Case("window=0 is an error", bad_window),
    ]


@exercise("first_alarm", STEM, _HINT_FIRST_ALARM)
def check_first_alarm(func: Callable[..., int | None], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``first_alarm(correct, *, window, threshold, confidence=0.95)``.

    ``correct`` is a boolean array, one entry per labelled prediction in time order. The
    function must return the index of the first prediction at which the accuracy over the
    last ``window`` predictions (full windows only) is *significantly* below ``threshold``:
    the upper end of its Wilson interval at ``confidence`` is strictly below it. A point
    estimate below the threshold is not enough, since a window of a few dozen predictions
    dips below any threshold by chance. Return ``None`` if that never happens, and raise
    ``ValueError`` naming ``window`` when it is below 1.

    Examples
    --------
    Cumulative accuracy reacts far too late:

    >>> import numpy as np
    >>> def cumulative(correct, *, window, threshold, confidence=0.95):
    ...     running = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    ...     hits = np.flatnonzero(running < threshold)
    ...     return int(hits[0]) if hits.size else None
    >>> result = check_first_alarm(cumulative)
    first_alarm: FAILED on case 2 of ..., "a drop to 70% alarms".
    ...
    """
    return run("first_alarm", func, _first_alarm_cases(), verbose=verbose)
