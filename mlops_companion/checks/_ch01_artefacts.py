"""Self-checks of chapter 01, model artefacts (exercise set ``01-artefacts``)."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._harness import CheckResult, Case, call, exercise, expect, expect_raises, run, scenario


STEM = "01-artefacts"

_HINT_SAVE_LOAD_VERIFY = (
    'joblib.dump(model, path); os.path.getsize(path) is the size on disk; time '
    "joblib.load with time.perf_counter(); compare the ORIGINAL model's predictions with "
    "the LOADED model's (np.array_equal).",
)
_HINT_LOAD_VERIFIED = (
    "Read the file's bytes, hash them with hashlib.sha256, compare with "
    'hmac.compare_digest, and raise ValueError on a mismatch BEFORE calling joblib.load: '
    'unpickling runs code.'
)

# --------------------------------------------------------------------------- save_load_verify
class _Shapeshifter:
    """A 'model' that predicts differently once it has been unpickled (a lost preprocessing step)."""

    def __init__(self) -> None:
        self.loaded = False

    def predict(self, X):
        n = len(X)
        return np.ones(n, dtype=int) if self.loaded else np.zeros(n, dtype=int)

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.loaded = True


def _touch(path: str) -> None:
    Path(path).write_text("unpickled\n", encoding="utf-8")


class _Tripwire:
    """Unpickling this object creates a marker file: proof that a loader ran the pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_touch, (self.marker,))


def _save_load_verify_cases() -> list[Case]:
    def good(func):
        s = scenario()
        with tempfile.TemporaryDirectory() as folder:
            given = "the book's fitted pipeline, its test set, an empty directory"
            info = call(func, s.pipeline, s.X_test, folder)
            expect(isinstance(info, Mapping), given, "a dict", type(info).__name__)
            for key in ("path", "size_bytes", "load_seconds", "identical"):
                expect(key in info, given, f"the key {key!r}", f"keys {sorted(info)}")
            path = Path(info["path"])
            expect(path.is_file() and path.resolve().parent == Path(folder).resolve(), given,
                   f"'path' to be a file inside {folder!r}", str(path))
            size = os.path.getsize(path)
            expect(int(info["size_bytes"]) == size, given,
                   f"size_bytes = {size} (the file's size on disk)", info["size_bytes"])
            expect(isinstance(info["load_seconds"], (float, int)) and 0 <= info["load_seconds"] < 60,
                   given, "load_seconds: a number of seconds, >= 0", info["load_seconds"])
            expect(bool(info["identical"]) is True, given, "identical is True", info["identical"])

    def shapeshifter(func):
        with tempfile.TemporaryDirectory() as folder:
            X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
            given = "a model whose predictions change once it is loaded back"
            info = call(func, _Shapeshifter(), X, folder)
            expect(bool(info["identical"]) is False, given,
                   "identical is False (compare the original's predictions with the loaded copy's)",
                   info["identical"])

    return [
        Case("the book's pipeline survives a round trip", good),
        Case("a model that changes on loading is caught", shapeshifter),
    ]


@exercise("save_load_verify", STEM, _HINT_SAVE_LOAD_VERIFY)
def check_save_load_verify(func: Callable[..., Mapping], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``save_load_verify(model, X, directory)``.

    It must save ``model`` into ``directory`` (joblib), load it back, and return a dict with
    ``path`` (the file written), ``size_bytes`` (its size on disk), ``load_seconds`` and
    ``identical`` (whether the loaded model's predictions on ``X`` equal the original's).

    Examples
    --------
    A version that forgets to compare anything:

    >>> import joblib, os
    >>> def trusting(model, X, directory):
    ...     path = os.path.join(directory, "model.joblib")
    ...     joblib.dump(model, path)
    ...     return {"path": path, "size_bytes": os.path.getsize(path),
    ...             "load_seconds": 0.0, "identical": True}
    >>> result = check_save_load_verify(trusting)
    save_load_verify: FAILED on case 2 of ..., "a model that changes on loading is caught".
    ...
    """
    return run("save_load_verify", func, _save_load_verify_cases(), verbose=verbose)


def _load_verified_cases() -> list[Case]:
    import hashlib

    import joblib

    def write(folder, payload, name):
        path = os.path.join(folder, name)
        joblib.dump(payload, path)
        return path, hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def right_hash(func):
        payload = {"weights": [0.5, -1.25, 2.0], "version": 3}
        with tempfile.TemporaryDirectory() as folder:
            path, digest = write(folder, payload, "model.joblib")
            given = "a joblib file and its correct SHA-256"
            got = call(func, path, expected_sha256=digest)
            expect(got == payload, given, f"the loaded object {payload!r}", got)

    def wrong_hash(func):
        with tempfile.TemporaryDirectory() as folder:
            marker = os.path.join(folder, "UNPICKLED")
            path, digest = write(folder, _Tripwire(marker), "model.joblib")
            wrong = digest[::-1]
            given = "a joblib file and a SHA-256 that does not match it"
            expect_raises(func, ValueError, given, path, expected_sha256=wrong)
            expect(not os.path.exists(marker), given,
                   "the file NOT to be unpickled when the hash does not match",
                   "the pickle ran (it created its marker file): hash the bytes before loading")

    def tampered(func):
        payload = {"weights": [1.0, 2.0]}
        with tempfile.TemporaryDirectory() as folder:
            path, digest = write(folder, payload, "model.joblib")
            with open(path, "ab") as handle:  # one byte appended after the hash was taken
                handle.write(b"\x00")
            given = "a file changed by one byte after its hash was recorded"
            expect_raises(func, ValueError, given, path, expected_sha256=digest)

    return [
        Case("the right hash loads the object", right_hash),
        Case("a wrong hash is refused before unpickling", wrong_hash),
        Case("a tampered file is refused", tampered),
    ]


@exercise("load_verified", STEM, _HINT_LOAD_VERIFIED)
def check_load_verified(func: Callable[..., Any], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``load_verified(path, *, expected_sha256)``.

    It must return the object stored in the joblib file at ``path`` when the file's SHA-256
    equals ``expected_sha256``, and otherwise raise ``ValueError`` (a subclass is fine)
    *without unpickling the file*: a test pickle records whether it was run.

    Examples
    --------
    A loader that checks the hash only after loading:

    >>> import hashlib, joblib
    >>> def late(path, *, expected_sha256):
    ...     model = joblib.load(path)
    ...     with open(path, "rb") as handle:
    ...         if hashlib.sha256(handle.read()).hexdigest() != expected_sha256:
    ...             raise ValueError("hash mismatch")
    ...     return model
    >>> result = check_load_verified(late)
    load_verified: FAILED on case 2 of ..., "a wrong hash is refused before unpickling".
    ...
    """
    return run("load_verified", func, _load_verified_cases(), verbose=verbose)


