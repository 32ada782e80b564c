"""Self-checks of chapter 08, the model lifecycle (exercise set ``08-lifecycle``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._harness import (
    CheckResult,
    _Case,
    _call,
    _exercise,
    _expect,
    _expect_raises,
    _run,
)

__all__ = ["check_first_alarm"]

STEM = "08-lifecycle"

_HINT_FIRST_ALARM = (
    'Only full windows count: the first candidate index is window - 1. A cumulative sum '
    "makes every window's accuracy cheap: (c[i+1] - c[i+1-window]) / window. Alarm when "
    'it is strictly below the threshold.'
)

# --------------------------------------------------------------------------- first_alarm

def _first_alarm_reference(correct: np.ndarray, window: int, threshold: float) -> int | None:
    totals = np.convolve(correct.astype(float), np.ones(window), mode="valid")
    below = np.flatnonzero(totals < threshold * window - 1e-9)
    return None if below.size == 0 else int(below[0]) + window - 1


def _pattern(n: int, accuracy_tenths: int) -> np.ndarray:
    """``n`` outcomes, ``accuracy_tenths`` of every ten correct, spread evenly."""
    return np.array([i % 10 < accuracy_tenths for i in range(n)], dtype=bool)


def _first_alarm_cases() -> list[_Case]:
    def case(correct, window, threshold, description):
        def run(func):
            expected = _first_alarm_reference(correct, window, threshold)
            given = f"{description}; window={window}, threshold={threshold}"
            got = _call(func, correct.copy(), window=window, threshold=threshold)
            _expect(got == expected, given,
                    "None (no alarm)" if expected is None else f"index {expected}", got)
        return run

    def bad_window(func):
        error = _expect_raises(func, ValueError, "window=0", _pattern(20, 9), window=0, threshold=0.8)
        _expect("window" in str(error), "window=0", "the message to name `window`", str(error))

    steady = _pattern(500, 9)
    decline = np.concatenate([_pattern(400, 9), _pattern(200, 7)])
    late = np.concatenate([_pattern(3000, 9), _pattern(300, 7)])
    bad_start = np.concatenate([np.zeros(5, dtype=bool), _pattern(295, 9)])
    exactly = _pattern(300, 8)
    return [
        _Case("a steady 90% never alarms", case(steady, 50, 0.85, "500 outcomes, 90% correct")),
        _Case("a drop to 70% alarms", case(decline, 50, 0.85, "400 outcomes at 90%, then 200 at 70%")),
        _Case("a late drop after a long good run", case(
            late, 100, 0.85, "3000 outcomes at 90%, then 300 at 70%")),
        _Case("only full windows count", case(
            bad_start, 50, 0.85, "5 wrong outcomes, then 295 at 90%")),
        _Case("an accuracy equal to the threshold is not below it", case(
            exactly, 50, 0.8, "300 outcomes at exactly 80%")),
        _Case("a window of one prediction", case(
            decline, 1, 0.5, "400 outcomes at 90%, then 200 at 70%")),
        _Case("window=0 is an error", bad_window),
    ]


@_exercise("first_alarm", STEM, _HINT_FIRST_ALARM)
def check_first_alarm(func: Callable[..., int | None], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``first_alarm(correct, *, window, threshold)``.

    ``correct`` is a boolean array, one entry per labelled prediction in time order. The
    function must return the index of the first prediction at which the accuracy over the
    last ``window`` predictions (full windows only) is strictly below ``threshold``, or
    ``None``; and raise ``ValueError`` naming ``window`` when it is below 1.

    Examples
    --------
    Cumulative accuracy reacts far too late:

    >>> import numpy as np
    >>> def cumulative(correct, *, window, threshold):
    ...     running = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    ...     hits = np.flatnonzero(running < threshold)
    ...     return int(hits[0]) if hits.size else None
    >>> result = check_first_alarm(cumulative)
    first_alarm: FAILED on case 2 of ..., "a drop to 70% alarms".
    ...
    """
    return _run("first_alarm", func, _first_alarm_cases(), verbose=verbose)
