"""Self-checks of chapter 02, the model registry (exercise set ``02-registry``)."""
from __future__ import annotations

from collections.abc import Callable

from ._harness import (
    CheckResult,
    _Case,
    _call,
    _exercise,
    _expect,
    _expect_raises,
    _run,
)

__all__ = ["check_rollback_version"]

STEM = "02-registry"

_HINT_ROLLBACK_VERSION = (
    'Sort the events by timestamp, keep those for `alias`, take the last version as the '
    'current one, then walk backwards to the first version that differs from it.'
)

# --------------------------------------------------------------------------- rollback_version

def _event(day: int, alias: str, version: int) -> dict:
    return {"timestamp": f"2026-03-{day:02d}T09:00:00", "alias": alias, "version": version}


def _rollback_cases() -> list[_Case]:
    def case(log, expected, alias=None):
        def run(func):
            kwargs = {} if alias is None else {"alias": alias}
            shown = [(e["timestamp"][5:10], e["alias"], e["version"]) for e in log]
            given = f"events (date, alias, version) {shown}" + (f", alias={alias!r}" if alias else "")
            got = _call(func, [dict(e) for e in log], **kwargs)
            _expect(got == expected, given, f"version {expected}", got)
        return run

    def nothing_to_roll_back_to(func):
        log = [_event(1, "production", 4), _event(2, "production", 4)]
        _expect_raises(func, ValueError, "production only ever pointed at version 4", log)

    return [
        _Case("three promotions in a row", case(
            [_event(1, "production", 1), _event(5, "production", 2), _event(9, "production", 3)], 2)),
        _Case("versions are not consecutive", case(
            [_event(1, "production", 1), _event(5, "production", 3), _event(9, "production", 6)], 3)),
        _Case("other aliases are ignored", case(
            [_event(1, "production", 3), _event(5, "production", 6), _event(7, "staging", 7),
             _event(8, "staging", 8)], 3)),
        _Case("the log is not in time order", case(
            [_event(9, "production", 6), _event(1, "production", 2), _event(5, "production", 3)], 3)),
        _Case("re-assigning the same version is not a change", case(
            [_event(1, "production", 3), _event(5, "production", 5), _event(9, "production", 5)], 3)),
        _Case("the alias parameter is used", case(
            [_event(1, "staging", 2), _event(3, "production", 2), _event(4, "staging", 4),
             _event(6, "production", 4)], 2, alias="staging")),
        _Case("no earlier version is an error", nothing_to_roll_back_to),
    ]


@_exercise("rollback_version", STEM, _HINT_ROLLBACK_VERSION)
def check_rollback_version(func: Callable[..., int], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``rollback_version(events, *, alias="production")``.

    ``events`` is a list of dicts ``{"timestamp": ISO string, "alias": str, "version": int}``,
    each recording that ``alias`` was set to ``version``, in any order. The function must
    return the most recent version, before the current one, that ``alias`` pointed to and
    that differs from the current one; and raise ``ValueError`` when there is none.

    Examples
    --------
    "Just subtract one":

    >>> def minus_one(events, *, alias="production"):
    ...     return max(e["version"] for e in events if e["alias"] == alias) - 1
    >>> result = check_rollback_version(minus_one)
    rollback_version: FAILED on case 2 of ..., "versions are not consecutive".
    ...
    """
    return _run("rollback_version", func, _rollback_cases(), verbose=verbose)


