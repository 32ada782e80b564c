"""Self-checks of chapter 02, the model registry (exercise set ``02-registry``)."""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._harness import CheckResult, Case, CaseFailed, call, exercise, expect, expect_raises, run


STEM = "02-registry"

_HINT_ROLLBACK_VERSION = (
    'Sort the events by timestamp, keep those for `alias`, take the last version as the '
    'current one, then walk backwards to the first version that differs from it.'
)

_HINT_PROMOTE = (
    "List the versions with client.search_model_versions(f\"name = '{name}'\") and raise "
    "ValueError if `version` is not among them. Read the alias with "
    "client.get_model_version_by_alias(name, alias) (it raises MlflowException when the alias "
    "is not set: previous = None), then move it with client.set_registered_model_alias(name, "
    "alias, str(version)). MLflow's versions are strings: return int(previous.version).",
)

# --------------------------------------------------------------------------- rollback_version
def _event(day: int, alias: str, version: int) -> dict:
    return {"timestamp": f"2026-03-{day:02d}T09:00:00", "alias": alias, "version": version}


def _rollback_cases() -> list[Case]:
    def case(log, expected, alias=None):
        def run(func):
            kwargs = {} if alias is None else {"alias": alias}
            shown = [(e["timestamp"][5:10], e["alias"], e["version"]) for e in log]
            given = f"events (date, alias, version) {shown}" + (f", alias={alias!r}" if alias else "")
            got = call(func, [dict(e) for e in log], **kwargs)
            expect(got == expected, given, f"version {expected}", got)
        return run

    def nothing_to_roll_back_to(func):
        log = [_event(1, "production", 4), _event(2, "production", 4)]
        expect_raises(func, ValueError, "production only ever pointed at version 4", log)

    return [
        Case("three promotions in a row", case(
            [_event(1, "production", 1), _event(5, "production", 2), _event(9, "production", 3)], 2)),
        Case("versions are not consecutive", case(
            [_event(1, "production", 1), _event(5, "production", 3), _event(9, "production", 6)], 3)),
        Case("other aliases are ignored", case(
            [_event(1, "production", 3), _event(5, "production", 6), _event(7, "staging", 7),
             _event(8, "staging", 8)], 3)),
        Case("the log is not in time order", case(
            [_event(9, "production", 6), _event(1, "production", 2), _event(5, "production", 3)], 3)),
        Case("re-assigning the same version is not a change", case(
            [_event(1, "production", 3), _event(5, "production", 5), _event(9, "production", 5)], 3)),
        Case("the alias parameter is used", case(
            [_event(1, "staging", 2), _event(3, "production", 2), _event(4, "staging", 4),
             _event(6, "production", 4)], 2, alias="staging")),
        Case("after a rollback, the previous version is the one that served, not the next "
             "lower number", case(
                  [_event(1, "production", 5), _event(5, "production", 3),
                   _event(9, "production", 7)], 3)),
        Case("no earlier version is an error", nothing_to_roll_back_to),
    ]


@exercise("rollback_version", STEM, _HINT_ROLLBACK_VERSION)
def check_rollback_version(func: Callable[..., int], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``rollback_version(events, *, alias="production")``.

    ``events`` is a list of dicts ``{"timestamp": ISO string, "alias": str, "version": int}``,
    each recording that ``alias`` was set to ``version``, in any order. The function must
    return the most recent version, before the current one, that ``alias`` pointed to and
    that differs from the current one (the log decides, not the numbering: after a
    rollback from 5 to 3 and a promotion of 7, the answer is 3); and raise ``ValueError``
    when there is none.

    Examples
    --------
    "Just subtract one":

    >>> def minus_one(events, *, alias="production"):
    ...     return max(e["version"] for e in events if e["alias"] == alias) - 1
    >>> result = check_rollback_version(minus_one)
    rollback_version: FAILED on case 2 of ..., "versions are not consecutive".
    ...
    """
    return run("rollback_version", func, _rollback_cases(), verbose=verbose)


# --------------------------------------------------------------------------- promote
@contextlib.contextmanager
def _quiet():
    """Silence MLflow's and alembic's log lines while the check's registry is set up."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@functools.lru_cache(maxsize=1)
def _registry() -> tuple[Any, str]:
    """A real MLflow registry on a temporary SQLite file, one per process, removed at exit."""
    import atexit

    from mlflow import MlflowClient

    from mlops_reference import registry

    folder = tempfile.mkdtemp(prefix="check-registry-")
    atexit.register(shutil.rmtree, folder, True)
    with _quiet():  # the book's registry creates the store (migrated once per process)
        uri = registry.Registry(folder).tracking_uri
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return client, folder


def _registered_model(n_versions: int) -> tuple[Any, str]:
    """A fresh registered model with versions 1..n_versions (each a placeholder folder)."""
    client, folder = _registry()
    name = f"incident-predictor-{uuid.uuid4().hex[:8]}"
    with _quiet():
        client.create_registered_model(name)
        for version in range(1, n_versions + 1):
            source = Path(folder, name, str(version))
            source.mkdir(parents=True)
            client.create_model_version(name, source=source.as_uri())
    return client, name


def _alias_target(client: Any, name: str, alias: str) -> int | None:
    from mlflow.exceptions import MlflowException

    try:
        with _quiet():
            return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


class _Untouchable(Exception):
    pass


class _NoClientYet:
    """Stands for the client in a first, cheap call: any use of it ends the call."""

    def __getattr__(self, name: str) -> Any:
        raise _Untouchable(name)


def _probe(func: Callable[..., Any]) -> None:
    try:
        call(func, _NoClientYet(), "incident-predictor", 1)
    except NotImplementedError:
        raise
    except Exception:  # _Untouchable, or anything the real cases will report better
        pass


def _promote(func, client, name, version, alias, given):
    kwargs = {} if alias is None else {"alias": alias}
    return call(func, client, name, version, **kwargs)


def _promote_cases() -> list[Case]:
    def first(func):
        _probe(func)  # an untouched stub is "not attempted" before MLflow starts (seconds)
        client, name = _registered_model(3)
        given = "a model with versions 1, 2, 3 and no alias yet; promote version 2"
        got = _promote(func, client, name, 2, None, given)
        expect(got is None, given, "None (the alias pointed nowhere before)", got)
        now = _alias_target(client, name, "champion")
        expect(now == 2, given, "the alias 'champion' to point at version 2 afterwards",
               "no alias" if now is None else f"version {now}")

    def second(func):
        client, name = _registered_model(3)
        given = "versions 1, 2, 3; promote version 1, then version 3"
        _promote(func, client, name, 1, None, given)
        got = _promote(func, client, name, 3, None, given)
        expect(got == 1 and type(got) is int, given,
               "1, the previous champion, as an int (MLflow gives versions as strings)", got)
        now = _alias_target(client, name, "champion")
        expect(now == 3, given, "the alias 'champion' to point at version 3 afterwards",
               "no alias" if now is None else f"version {now}")

    def other_alias(func):
        client, name = _registered_model(2)
        given = "versions 1, 2; promote 1 to 'champion', then 2 with alias='challenger'"
        _promote(func, client, name, 1, None, given)
        got = _promote(func, client, name, 2, "challenger", given)
        expect(got is None, given, "None ('challenger' pointed nowhere before)", got)
        targets = (_alias_target(client, name, "champion"),
                   _alias_target(client, name, "challenger"))
        expect(targets == (1, 2), given, "champion -> 1 and challenger -> 2",
               f"champion -> {targets[0]}, challenger -> {targets[1]}")

    def refused(func, client, name, version, stays, given):
        """``version`` is refused with ValueError, and the alias stays on ``stays``."""
        expect_raises(func, ValueError, given, client, name, version)
        now = _alias_target(client, name, "champion")
        expect(now == stays, given, f"the alias to stay on version {stays}",
               "no alias" if now is None else f"version {now}")

    def unknown(func):
        client, name = _registered_model(2)
        given = "versions 1, 2; promote 1, then the unregistered version 7"
        _promote(func, client, name, 1, None, given)
        refused(func, client, name, 7, 1, given)

    def gaps(func):
        client, name = _registered_model(3)
        with _quiet():
            client.delete_model_version(name, "2")
        given = "versions 1 and 3 (version 2 was deleted); promote 3, then 2"
        try:
            got = _promote(func, client, name, 3, None, given)
        except ValueError as error:
            raise CaseFailed(given, "version 3 to be promoted: it is registered",
                             f"ValueError: {error}") from None
        expect(got is None and _alias_target(client, name, "champion") == 3, given,
               "version 3 to be promoted (it is registered; there are only two versions)",
               f"it returned {got!r}, champion -> {_alias_target(client, name, 'champion')}")
        refused(func, client, name, 2, 3, given)

    def other_model(func):
        client, name = _registered_model(2)
        _registered_model(3)  # another model, with a version 3
        given = ("versions 1, 2 of this model, and another model with versions 1, 2, 3; "
                 "promote 1, then 3")
        _promote(func, client, name, 1, None, given)
        refused(func, client, name, 3, 1, given)

    return [
        Case("the first promotion of an alias returns None", first),
        Case("a promotion returns the previous champion", second),
        Case("the alias parameter is used", other_alias),
        Case("an unregistered version is refused", unknown),
        Case("another model's versions do not count", other_model),
        Case("version numbers can have gaps", gaps),
    ]


@exercise("promote", STEM, _HINT_PROMOTE)
def check_promote(func: Callable[..., int | None], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``promote(client, name, version, *, alias="champion")``.

    Given an ``mlflow.MlflowClient``, it must point ``alias`` of the registered model
    ``name`` at ``version`` and return the version (an int) the alias pointed to before, or
    None if it was not set; and raise ``ValueError`` (leaving the alias where it was) when
    ``version`` is not a registered version of ``name`` (versions can have gaps, and
    another model's versions do not count). The cases run on a real MLflow registry in a
    temporary SQLite file.

    Examples
    --------
    Forgetting to move the alias:

    >>> def read_only(client, name, version, *, alias="champion"):
    ...     return None
    >>> result = check_promote(read_only)
    promote: FAILED on case 1 of ..., "the first promotion of an alias returns None".
    ...
    """
    return run("promote", func, _promote_cases(), verbose=verbose)
