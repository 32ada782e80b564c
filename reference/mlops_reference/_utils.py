"""Private helpers shared by every module: one home for each small idea.

Argument checks (the error template "`param` must be <constraint>; got <value>."), the Wilson
score interval, the SHA-256 of a file and the replay tolerance live here once, and every
public module calls them (scikit-learn keeps the same things in ``utils/validation.py``).
Shared by the package's modules and by the kit; nothing here is part of the public API (the
public face of the Wilson interval is ``validation.wilson_interval``).
"""
from __future__ import annotations

import hashlib
import math
import os
import re
from typing import Any, Iterable

import numpy as np
from scipy import stats

__all__: list[str] = []

#: Largest absolute difference allowed when a stored example input is replayed through a
#: loaded model. The same library versions reproduce probabilities to about 1e-15; 1e-9 leaves
#: room for a different BLAS summation order on another machine and nothing more.
REPLAY_ATOL = 1e-9

_CHUNK = 1 << 20

#: A hex SHA-256 digest, lower case.
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


# --------------------------------------------------------------------------- argument checks
def is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within ``[low, high]``; TypeError or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer; got {value!r}.")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            want = f"an integer >= {low}"
        elif low is None:
            want = f"an integer <= {high}"
        else:
            want = f"an integer between {low} and {high}"
        raise ValueError(f"`{name}` must be {want}; got {value!r}.")
    return int(value)


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1."""
    return check_int(value, name, low=1)


def check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within the given bounds (closed unless ``*_open``)."""
    if not is_real(value) or not math.isfinite(float(value)):
        raise TypeError(f"`{name}` must be a finite number; got {value!r}.")
    v = float(value)
    below = low is not None and (v <= low if low_open else v < low)
    above = high is not None and (v >= high if high_open else v > high)
    if below or above:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        if low is None:
            want = f"{'<' if high_open else '<='} {high:g}"
        elif high is None:
            want = f"{'>' if low_open else '>='} {low:g}"
        else:
            want = f"in {lo}, {hi}"
        raise ValueError(f"`{name}` must be a number {want}; got {value!r}.")
    return v


def check_positive_number(value: Any, name: str) -> float:
    """``value`` as a finite float > 0."""
    return check_number(value, name, low=0.0, low_open=True)


def check_fraction(value: Any, name: str) -> float:
    """A share or probability in the closed interval [0, 1]."""
    return check_number(value, name, low=0.0, high=1.0)


def check_level(value: Any, name: str) -> float:
    """A significance level or confidence strictly between 0 and 1."""
    return check_number(value, name, low=0.0, high=1.0, low_open=True, high_open=True)


def check_one_of(value: Any, name: str, options: Iterable[Any]) -> Any:
    """``value`` if it is one of ``options``, else a ValueError listing them."""
    options = list(options)
    if value not in options:
        raise ValueError(f"`{name}` must be one of {options!r}; got {value!r}.")
    return value


def check_finite_mapping(value: Any, name: str, keys: Iterable[str]) -> dict[str, float]:
    """A mapping from some of ``keys`` to finite numbers, as a dict of floats."""
    keys = list(keys)
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ValueError(f"`{name}` keys must be among {keys}; got unknown {unknown}.")
    for key, v in value.items():
        if not is_real(v) or not np.isfinite(v):
            raise ValueError(f"`{name}[{key!r}]` must be a finite number; got {v!r}.")
    return {key: float(v) for key, v in value.items()}


# --------------------------------------------------------------------------- statistics
def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes / n`` (public face: ``validation.wilson_interval``).

    The bounds are exactly 0.0 at ``successes == 0`` and exactly 1.0 at ``successes == n``.
    """
    n = check_int(n, "n", low=1)
    successes = check_int(successes, "successes", low=0, high=n)
    conf = check_level(confidence, "confidence")
    z = float(stats.norm.ppf(0.5 + conf / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return float(low), float(high)


# --------------------------------------------------------------------------- files and models
def sha256_file(path: str | os.PathLike, *, chunk_size: int = _CHUNK) -> str:
    """Hex SHA-256 of a file, read in chunks (the registry, the loader and the container's
    start-up check all hash artefacts with it)."""
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(value: Any, name: str) -> str:
    """A trusted SHA-256 digest, lower-cased; the one statement of where it must come from."""
    if not isinstance(value, str) or not SHA256_PATTERN.fullmatch(value.lower()):
        raise ValueError(
            f"`{name}` must be a SHA-256 digest (64 hexadecimal characters); got {value!r}. "
            "Take it from a record you control (the registry version, the deployment "
            "configuration), never from the manifest stored next to the artefact."
        )
    return value.lower()


def replay_matches(got: Any, want: Any, *, atol: float = REPLAY_ATOL) -> bool:
    """Does a replayed output reproduce the recorded one (same shape, within ``atol``)?"""
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=0.0, atol=atol))


def check_rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Turn ``rng`` (a seed, a Generator or None) into a Generator, once, at the edge.

    Examples
    --------
    Do two calls with the same seed draw the same numbers?

    >>> check_rng(7).integers(100) == check_rng(7).integers(100)
    np.True_
    >>> check_rng("7")
    Traceback (most recent call last):
    ...
    TypeError: `rng` must be an int seed, a numpy.random.Generator or None; got '7'. Pass e.g. rng=42.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"`rng` must be an int seed, a numpy.random.Generator or None; got {rng!r}. "
        "Pass e.g. rng=42."
    )
