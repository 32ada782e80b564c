"""The grading harness of the self-checks: results, cases, and how a check runs them.

Private: the public names are re-exported by :mod:`mlops_companion.checks`. A chapter module
declares each exercise's cases (a list of :class:`Case`) and a public ``check_<name>``
function that hands them to :func:`run`, registered with :func:`exercise`.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__: list[str] = []

PASSED = "passed"
FAILED = "failed"
NOT_ATTEMPTED = "not attempted"

#: Each self-checked exercise (the student's function name) and its exercise set, in
#: chapter order; filled by the chapter modules as they are imported.
EXERCISES: dict[str, str] = {}
HINTS: dict[str, str] = {}


def exercise(name: str, stem: str, hint: str) -> Callable[[Callable], Callable]:
    """Register the check of exercise ``name`` (set ``stem``) and its hint."""
    def register(check: Callable) -> Callable:
        EXERCISES[name] = stem
        HINTS[name] = hint
        return check
    return register


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one self-check.

    Attributes
    ----------
    name : str
        The exercise, e.g. ``"validate_model"``.
    status : {"passed", "failed", "not attempted"}
        What happened.
    message : str
        The text the check printed: which case failed, with input, expectation and result.
    """

    name: str
    status: str
    message: str
    _printed: bool = field(default=False, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return self.status == PASSED

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        # The check already printed its message; showing the returned object as the
        # cell's value would print it twice.
        if not self._printed:
            print(self.message)


class CaseFailed(Exception):
    """Raised inside a case: what went in, what the exercise expects and what came out."""

    def __init__(self, given: str, expected: str, got: str) -> None:
        super().__init__(expected)
        self.given, self.expected, self.got = given, expected, got


@dataclass(frozen=True)
class Case:
    description: str
    run: Callable[[Callable[..., Any]], None]


def call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # Students' code (and scikit-learn, and the functions under test that warn on purpose)
    # may warn; a check reports behaviour, so warnings never escape it as errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def call_recording(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = func(*args, **kwargs)
    return value, list(caught)


def _short(value: Any, limit: int = 160) -> str:
    if isinstance(value, np.generic):  # show 0.8, not np.float64(0.8)
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run(name: str, func: Any, cases: Iterable[Case], *, verbose: bool) -> CheckResult:
    if not callable(func):
        raise TypeError(
            f"`func` must be the function you wrote for the {name!r} exercise; got "
            f"{type(func).__name__} {_short(func, 60)}. Pass the function itself, without calling it."
        )
    cases = list(cases)
    status, message = PASSED, f"{name}: passed all {len(cases)} cases."
    for number, case in enumerate(cases, start=1):
        header = f'{name}: FAILED on case {number} of {len(cases)}, "{case.description}".'
        try:
            # A check reports behaviour: warnings (from the student's code, the libraries it
            # calls, or the test client) never escape it as errors.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                case.run(func)
        except NotImplementedError:
            status = NOT_ATTEMPTED
            message = (
                f"{name}: not attempted yet. The function still raises NotImplementedError; "
                "replace the stub with your code, run that cell, then run this check again."
            )
            break
        except CaseFailed as failure:
            status = FAILED
            message = "\n".join([
                header,
                f"  input:    {failure.given}",
                f"  expected: {failure.expected}",
                f"  got:      {failure.got}",
                f'  Need a nudge? Run checks.hint("{name}").',
            ])
            break
        except Exception as error:  # the student's code raised something unexpected
            status = FAILED
            message = "\n".join([
                header,
                f"  your function raised {type(error).__name__}: {error}",
                f'  Need a nudge? Run checks.hint("{name}").',
            ])
            break
    if verbose:
        print(message)
    return CheckResult(name, status, message, _printed=verbose)


def expect(condition: bool, given: str, expected: str, got: Any) -> None:
    if not condition:
        raise CaseFailed(given, expected, got if isinstance(got, str) else _short(got))


def expect_raises(func: Callable[..., Any], exc_type: type[BaseException], given: str,
                  *args: Any, **kwargs: Any) -> BaseException:
    try:
        value = call(func, *args, **kwargs)
    except NotImplementedError:
        raise
    except exc_type as error:
        return error
    except Exception as error:
        raise CaseFailed(given, f"{exc_type.__name__} (or a subclass) to be raised",
                         f"{type(error).__name__}: {error}") from None
    raise CaseFailed(given, f"{exc_type.__name__} (or a subclass) to be raised",
                     f"no error; it returned {_short(value)}")


def hint(name: str) -> None:
    """Print a hint for the exercise ``name``.

    Parameters
    ----------
    name : str
        An exercise with a check (``checks.check_<name>``), e.g. ``"detect_drift"``.

    Examples
    --------
    Stuck on the drift detector?

    >>> from mlops_companion import checks
    >>> checks.hint("detect_drift")
    Hint for detect_drift: For each column, scipy.stats.ks_2samp(...)...
    """
    if name not in HINTS:
        raise ValueError(f"`name` must be one of {sorted(HINTS)}; got {name!r}.")
    print(f"Hint for {name}: {HINTS[name]}")


# --------------------------------------------------------------------------- shared data
@functools.lru_cache(maxsize=1)
def scenario():
    from mlops_companion import data

    return data.make_scenario()

