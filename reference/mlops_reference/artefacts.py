"""Model artefacts: one file for the fitted pipeline, one JSON manifest beside it.

Covers saving a fitted model atomically (:func:`save_artefact`), loading it back with
every check a serving process should make before trusting it (:func:`load_artefact`:
the SHA-256 against a value you trust, *before* any unpickling; the library versions;
a replay of a recorded example) and the size and load-time trade-off between formats
(:func:`compare_formats`).

Two formats are supported: ``"joblib"`` (pickle underneath, optionally compressed) and
``"skops"`` (a zip of JSON and arrays that is loaded without executing arbitrary code,
provided the caller only trusts the types it expects).

**Where the trusted SHA-256 comes from.** From a record the deployer controls and an
attacker who can write to the artefact's folder cannot: the registry's tag on the version
(:mod:`mlops_reference.registry`) or the deployment configuration that names the artefact.
Never from the manifest lying next to the file: whoever can replace the file can replace
the manifest with it. :func:`save_artefact` returns the hash so you can record it there;
:func:`load_artefact` requires it and checks the bytes against it before unpickling them.

**Crash safety.** A save is committed by one atomic rename: the manifest's. The new bytes
are first written to a hidden, content-addressed file beside the target
(``.<name>.<sha256>.pending``), flushed to disk, then the manifest that names that hash is
renamed into place, then the pending file is renamed onto ``path``. A process killed at any
instant leaves either the previous manifest (and the previous file) or the new manifest
(and the new bytes, at ``path`` or still pending, which :func:`load_artefact` finds).
The next save finishes or removes whatever an interrupted one left behind. One writer per
``path`` at a time; readers may load while it saves.

Out of scope: where artefacts live and which one is "in production"; that is the
registry's job (:mod:`mlops_reference.registry`). An artefact also carries no Python
environment: the manifest only *records* the versions so a mismatch is caught.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import math
import os
import platform
import re
import stat
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from mlops_reference import _atomic, _utils

__all__ = [
    "SKOPS_TRUSTED_TYPES",
    "ArtefactManifest",
    "LoadedArtefact",
    "ArtefactIntegrityError",
    "ArtefactVersionError",
    "ArtefactUntrustedTypeError",
    "save_artefact",
    "load_artefact",
    "manifest_path",
    "compare_formats",
]

#: The artefact formats :func:`save_artefact` can write.
_FORMATS = ("joblib", "skops")

#: Types a skops file of the book's standard pipeline contains that skops does not trust
#: by default. Everything else in that pipeline (Pipeline, StandardScaler,
#: GradientBoostingClassifier, numpy arrays) is on skops' own safe list already.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = ("sklearn.tree._tree.Tree",)

_SHA256 = _utils.SHA256_PATTERN
_MAX_EXAMPLE_ROWS = 100
_MANIFEST_VERSION = 1


# --------------------------------------------------------------------------- errors
class ArtefactIntegrityError(ValueError):
    """The artefact is not the file you trusted: wrong hash, truncated, or manifest disagrees."""


class ArtefactVersionError(RuntimeError):
    """The installed libraries differ from those the artefact was saved with."""


class ArtefactUntrustedTypeError(TypeError):
    """A skops file contains types that are not on the caller's allow-list."""


# --------------------------------------------------------------------------- manifest
@dataclass(frozen=True)
class ArtefactManifest:
    """What was saved, how, and what it must reproduce: the JSON file beside the artefact.

    Attributes
    ----------
    artefact : str
        File name of the artefact (same folder as the manifest).
    format : str
        ``"joblib"`` or ``"skops"``.
    compress : int
        Compression level used (0 means none).
    sha256 : str
        Hex SHA-256 of the artefact file's bytes.
    size_bytes : int
        Size of the artefact file.
    created_utc : str
        ISO 8601 creation time, UTC.
    versions : mapping of str to str
        Python and library versions of the process that saved it.
    feature_names : tuple of str
        Input columns, in order.
    example_input : mapping
        A few input rows: ``{"columns": [...], "dtypes": [...], "data": [[...], ...]}``.
    expected_output : tuple of float
        ``predict_proba(example_input)[:, 1]`` at save time.
    """

    artefact: str
    format: str
    compress: int
    sha256: str
    size_bytes: int
    created_utc: str
    versions: Mapping[str, str]
    feature_names: tuple[str, ...]
    example_input: Mapping[str, Any]
    expected_output: tuple[float, ...]
    manifest_version: int = _MANIFEST_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain JSON-ready Python objects."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["versions"] = dict(self.versions)
        out["feature_names"] = list(self.feature_names)
        out["example_input"] = {k: list(v) if isinstance(v, (list, tuple)) else v
                                for k, v in self.example_input.items()}
        out["expected_output"] = list(self.expected_output)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArtefactManifest:
        """Build a manifest from :meth:`to_dict`'s output (e.g. parsed JSON), checking every field.

        Each malformed field raises :class:`ArtefactIntegrityError` naming it, before any
        artefact byte is read, so a damaged or hand-edited manifest is reported as such
        rather than as an ``AttributeError`` deep inside the loader.
        """
        if not isinstance(d, Mapping):
            raise ArtefactIntegrityError(
                f"the manifest must be a JSON object; got {type(d).__name__}. "
                "Re-save the artefact with save_artefact()."
            )
        names = [f for f in cls.__dataclass_fields__ if f != "manifest_version"]
        missing = [n for n in names if n not in d]
        if missing:
            raise ArtefactIntegrityError(
                f"the manifest must have the fields {names}; missing {missing}. "
                "Re-save the artefact with save_artefact()."
            )
        version = d.get("manifest_version", _MANIFEST_VERSION)
        if _not_int(version) or version != _MANIFEST_VERSION:
            _bad_field("manifest_version", f"the integer {_MANIFEST_VERSION}", version)
        if not isinstance(d["artefact"], str) or not d["artefact"] or "/" in d["artefact"] \
                or "\\" in d["artefact"]:
            _bad_field("artefact", "a non-empty file name without folders", d["artefact"])
        if d["format"] not in _FORMATS:
            _bad_field("format", f"one of {list(_FORMATS)}", d["format"])
        if _not_int(d["compress"]) or not 0 <= d["compress"] <= 9:
            _bad_field("compress", "an integer from 0 to 9", d["compress"])
        if not isinstance(d["sha256"], str) or not _SHA256.fullmatch(d["sha256"]):
            _bad_field("sha256", "64 lowercase hex characters", d["sha256"])
        if _not_int(d["size_bytes"]) or d["size_bytes"] < 0:
            _bad_field("size_bytes", "a non-negative integer", d["size_bytes"])
        created = d["created_utc"]
        try:
            datetime.fromisoformat(created)
        except (TypeError, ValueError):
            _bad_field("created_utc", "an ISO 8601 timestamp", created)
        versions = d["versions"]
        if not isinstance(versions, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in versions.items()):
            _bad_field("versions", "an object mapping library names to version strings", versions)
        features = d["feature_names"]
        if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
            _bad_field("feature_names", "a non-empty list of column names", features)
        example = d["example_input"]
        if not isinstance(example, Mapping) or sorted(example) != ["columns", "data", "dtypes"]:
            _bad_field("example_input", "an object with exactly the keys columns, dtypes, data", example)
        columns, dtypes, rows = example["columns"], example["dtypes"], example["data"]
        if columns != features:
            # Either field may be the damaged one: the message names both.
            _bad_field("example_input.columns", f"equal to `feature_names` {_short(features)}", columns)
        if not isinstance(dtypes, list) or len(dtypes) != len(columns) or not all(
                isinstance(t, str) for t in dtypes):
            _bad_field("example_input.dtypes", f"a list of {len(columns)} dtype names", dtypes)
        if not isinstance(rows, list) or not 1 <= len(rows) <= _MAX_EXAMPLE_ROWS or not all(
                isinstance(r, list) and len(r) == len(columns)
                and all(_utils.is_real(v) and math.isfinite(v) for v in r) for r in rows):
            _bad_field("example_input.data",
                       f"1 to {_MAX_EXAMPLE_ROWS} rows of {len(columns)} finite numbers", rows)
        outputs = d["expected_output"]
        if not isinstance(outputs, list) or len(outputs) != len(rows) or not all(
                _utils.is_real(v) and 0.0 <= v <= 1.0 for v in outputs):
            _bad_field("expected_output", f"a list of {len(rows)} probabilities", outputs)
        manifest = cls(
            artefact=d["artefact"], format=d["format"], compress=int(d["compress"]),
            sha256=d["sha256"], size_bytes=int(d["size_bytes"]), created_utc=created,
            versions=MappingProxyType(dict(versions)),
            feature_names=tuple(features),
            example_input=MappingProxyType({"columns": list(columns), "dtypes": list(dtypes),
                                            "data": [list(r) for r in rows]}),
            expected_output=tuple(float(v) for v in outputs),
            manifest_version=int(version),
        )
        try:
            manifest.example_frame()
        except (TypeError, ValueError) as exc:
            _bad_field("example_input.dtypes", "dtype names pandas understands", dtypes, detail=str(exc))
        return manifest

    def example_frame(self) -> pd.DataFrame:
        """The recorded example input as a DataFrame with its original dtypes."""
        ex = self.example_input
        frame = pd.DataFrame(list(ex["data"]), columns=list(ex["columns"]))
        return frame.astype(dict(zip(ex["columns"], ex["dtypes"])))


@dataclass(frozen=True)
class LoadedArtefact:
    """A model that passed every check of :func:`load_artefact`, with its manifest."""

    model: Any
    manifest: ArtefactManifest
    load_seconds: float = field(default=float("nan"), compare=False)


# --------------------------------------------------------------------------- helpers
def _not_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad_field(field_name: str, want: str, got: Any, *, detail: str = "") -> None:
    raise ArtefactIntegrityError(
        f"the manifest's `{field_name}` must be {want}; got {_short(got)}"
        + (f" ({detail})" if detail else "")
        + ". The manifest is damaged or was edited by hand: re-save the artefact with save_artefact()."
    )


def manifest_path(path: str | os.PathLike) -> Path:
    """Where the manifest of the artefact at ``path`` lives: ``<name>.manifest.json``.

    Examples
    --------
    What is the manifest of ``models/incident.joblib`` called?

    >>> manifest_path("models/incident.joblib").name
    'incident.joblib.manifest.json'
    """
    p = _check_path(path)
    return p.with_name(p.name + ".manifest.json")


def _check_path(path: Any, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise TypeError(f"`{name}` must be a non-empty str or os.PathLike; got {path!r}.")
    return Path(path)


def _library_versions() -> dict[str, str]:
    """Versions of Python, numpy, scipy, scikit-learn, joblib (and skops when installed)."""
    import joblib
    import scipy
    import sklearn

    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
    }
    try:
        import skops
    except ImportError:  # pragma: no cover - skops is an optional extra
        pass
    else:
        versions["skops"] = skops.__version__
    return versions


def _check_format(format: Any, compress: Any) -> tuple[str, int]:
    _utils.check_one_of(format, "format", _FORMATS)
    if isinstance(compress, bool):
        compress = 3 if compress else 0
    if not isinstance(compress, (int, np.integer)) or not 0 <= compress <= 9:
        raise ValueError(
            f"`compress` must be an integer from 0 (none) to 9 (smallest), or a bool; got {compress!r}."
        )
    return format, int(compress)


def _feature_names(model: Any) -> tuple[str, ...] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else tuple(str(n) for n in names)


def _check_example(model: Any, example_input: Any) -> pd.DataFrame:
    if not isinstance(example_input, pd.DataFrame):
        raise TypeError(
            f"`example_input` must be a pandas DataFrame of a few input rows; got {type(example_input).__name__}. "
            "Pass e.g. X_test.head(5)."
        )
    if not 1 <= len(example_input) <= _MAX_EXAMPLE_ROWS:
        raise ValueError(
            f"`example_input` must have between 1 and {_MAX_EXAMPLE_ROWS} rows; got {len(example_input)}."
        )
    names = _feature_names(model)
    if names is not None and tuple(example_input.columns) != names:
        raise ValueError(
            f"`example_input` must have the model's columns {list(names)} in that order; "
            f"got {list(example_input.columns)}."
        )
    values = example_input.to_numpy()
    if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values.astype(float)).all():
        raise ValueError("`example_input` must hold finite numbers only; got NaN, inf or non-numeric values.")
    return example_input


def _positive_proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    if hasattr(model, "n_features_in_") and getattr(model, "feature_names_in_", None) is None:
        X = X.to_numpy()  # fitted on a plain array: scikit-learn would warn about names
    return np.asarray(model.predict_proba(X), dtype=float)[:, 1]


def _dump(model: Any, fh: io.BufferedWriter, format: str, compress: int) -> None:
    if format == "joblib":
        import joblib

        joblib.dump(model, fh, compress=compress)
    else:
        import zipfile

        import skops.io as sio

        if compress:
            sio.dump(model, fh, compression=zipfile.ZIP_DEFLATED, compresslevel=compress)
        else:
            sio.dump(model, fh)


def _pending_name(target: Path, sha256: str) -> Path:
    """The content-addressed name of committed bytes not yet renamed onto ``target``."""
    return target.with_name(f".{target.name}.{sha256}.pending")


def _leftover_pattern(target: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(target.name)}\.(?:[0-9a-f]{{16}}\.tmp|[0-9a-f]{{64}}\.pending)")


def _committed_sha(target: Path) -> str | None:
    """The SHA-256 the manifest of ``target`` names, or None if there is no usable manifest."""
    try:
        raw = json.loads(manifest_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    sha = raw.get("sha256") if isinstance(raw, dict) else None
    return sha if isinstance(sha, str) and _SHA256.fullmatch(sha) else None


def _finish_interrupted(target: Path) -> None:
    """Roll forward a save killed after its commit: move the pending bytes onto ``target``."""
    sha = _committed_sha(target)
    if sha is not None:
        pending = _pending_name(target, sha)
        if pending.is_file():
            os.replace(pending, target)
            _atomic.fsync_dir(target.parent)


def _remove_leftovers(target: Path) -> list[str]:
    """Delete temporary and superseded pending files of ``target``; return their names."""
    pattern = _leftover_pattern(target)
    removed = []
    for entry in target.parent.iterdir():
        if pattern.fullmatch(entry.name):
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


def _check_save_arguments(model: Any, path: Any, example_input: Any, format: Any, compress: Any
                          ) -> tuple[Path, pd.DataFrame, str, int]:
    """:func:`save_artefact`'s argument checks: the target, the example rows and the format."""
    target = _check_path(path)
    format, compress = _check_format(format, compress)
    if not callable(getattr(model, "predict_proba", None)):
        raise TypeError(
            f"`model` must be a fitted classifier with predict_proba; got {type(model).__name__}."
        )
    example = _check_example(model, example_input)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"`path` must be in an existing folder; got {str(target)!r}, whose folder does not exist. "
            "Create it first (Path(...).mkdir(parents=True))."
        )
    return target, example, format, compress


def _new_manifest(target: Path, format: str, compress: int, sha: str, size: int,
                  example: pd.DataFrame, expected: np.ndarray) -> ArtefactManifest:
    """The manifest of bytes just written: how, where, in what environment, and the example."""
    return ArtefactManifest(
        artefact=target.name,
        format=format,
        compress=compress,
        sha256=sha,
        size_bytes=size,
        created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=MappingProxyType(_library_versions()),
        feature_names=tuple(str(c) for c in example.columns),
        example_input=MappingProxyType({
            "columns": [str(c) for c in example.columns],
            "dtypes": [str(t) for t in example.dtypes],
            "data": example.to_numpy(dtype=object).tolist(),
        }),
        expected_output=tuple(float(v) for v in expected),
    )


def _save_atomically(model: Any, target: Path, format: str, compress: int,
                     example: pd.DataFrame, expected: np.ndarray) -> ArtefactManifest:
    """The three steps of :func:`save_artefact` (see the module docstring); on an exception,
    whatever this save wrote before its commit is removed."""
    tmp = _atomic.tmp_name(target)
    pending = None
    committed = False
    try:
        # 1. the new bytes, under a temporary name, then under their content address
        _atomic.write_new(tmp, lambda fh: _dump(model, fh, format, compress))
        sha = _utils.sha256_file(tmp)
        size = tmp.stat().st_size
        pending = _pending_name(target, sha)
        os.replace(tmp, pending)
        _atomic.fsync_dir(target.parent)
        manifest = _new_manifest(target, format, compress, sha, size, example, expected)
        text = json.dumps(manifest.to_dict(), indent=2, default=_json_default)
        # 2. the commit: one atomic rename of the manifest that names the new hash
        tmp = _atomic.tmp_name(target)
        _atomic.write_new(tmp, lambda fh: fh.write(text.encode("utf-8")))
        os.replace(tmp, manifest_path(target))
        committed = True
        _atomic.fsync_dir(target.parent)
        # 3. the committed bytes move onto `path`; a kill before this is finished by the
        #    next save, and load_artefact reads the pending file meanwhile
        os.replace(pending, target)
        _atomic.fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if pending is not None and not committed:
            pending.unlink(missing_ok=True)
        raise
    return manifest


# --------------------------------------------------------------------------- save
def save_artefact(
    model: Any,
    path: str | os.PathLike,
    *,
    example_input: pd.DataFrame,
    compress: int | bool = 0,
    format: str = "joblib",
) -> ArtefactManifest:
    """Save a fitted model as one artefact file plus a JSON manifest beside it.

    The save survives being killed at any instant: the new bytes go to a hidden file named
    by their SHA-256 and are flushed to disk; one atomic rename of the manifest commits
    them; then they are renamed onto ``path``. Until the commit, ``path`` and its manifest
    are the previous artefact; from it on, they are the new one (see the module docstring).
    An exception leaves the previous artefact as it was; the next save removes any
    temporary file an interrupted one left behind.

    Parameters
    ----------
    model : fitted estimator with ``predict_proba``
        Usually the whole pipeline, so preprocessing travels with the model.
    path : str or path-like
        Artefact file to write; its folder must exist. The manifest goes to
        :func:`manifest_path` of it.
    example_input : DataFrame of 1 to 100 rows
        Rows whose predictions are recorded and replayed at load time.
    compress : int from 0 to 9 or bool, default=0
        Compression level (``True`` means 3). For skops it is the zip deflate level.
    format : {"joblib", "skops"}, default="joblib"
        ``"joblib"`` is pickle-based: loading it runs code. ``"skops"`` loads only
        allow-listed types.

    Returns
    -------
    ArtefactManifest
        What was written; record ``manifest.sha256`` in the registry or the deployment
        configuration, and pass it from there to :func:`load_artefact`.

    Examples
    --------
    How large is the standard pipeline once saved, and does the manifest know its hash?

    >>> import hashlib, tempfile, pathlib
    >>> from mlops_companion import data
    >>> s = data.make_scenario()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     m = save_artefact(s.pipeline, pathlib.Path(d) / "model.joblib",
    ...                       example_input=s.X_test.head(3))
    ...     same = m.sha256 == hashlib.sha256((pathlib.Path(d) / "model.joblib").read_bytes()).hexdigest()
    >>> same, m.size_bytes > 10_000, len(m.expected_output)
    (True, True, 3)
    """
    target, example, format, compress = _check_save_arguments(model, path, example_input,
                                                              format, compress)
    expected = _positive_proba(model, example)
    _finish_interrupted(target)  # a save killed after its commit is completed first
    manifest = _save_atomically(model, target, format, compress, example, expected)
    _remove_leftovers(target)  # whatever earlier, interrupted saves left behind
    return manifest


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} in a manifest")


# --------------------------------------------------------------------------- load
def _read_manifest(path: str | os.PathLike) -> ArtefactManifest:
    """Read the manifest that sits beside the artefact at ``path`` (no checks on the artefact)."""
    mpath = manifest_path(path)
    if not mpath.is_file():
        raise FileNotFoundError(
            f"the manifest of `path` must exist at {str(mpath)!r}; it does not. "
            "Save artefacts with save_artefact(), which writes both files."
        )
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtefactIntegrityError(
            f"the manifest {str(mpath)!r} must be valid JSON; got a parse error: {exc}."
        ) from exc
    if not isinstance(raw, dict):
        raise ArtefactIntegrityError(f"the manifest {str(mpath)!r} must hold a JSON object; got {type(raw).__name__}.")
    return ArtefactManifest.from_dict(raw)


def _version_mismatches(recorded: Mapping[str, str], fmt: str) -> dict[str, tuple[str, str]]:
    current = _library_versions()
    keys = ["python", "numpy", "scipy", "scikit-learn", "joblib"] + (["skops"] if fmt == "skops" else [])
    out = {}
    for key in keys:
        was, now = recorded.get(key, "unknown"), current.get(key, "not installed")
        if key == "python":  # pickles move freely between patch releases of Python
            was, now = ".".join(was.split(".")[:2]), ".".join(now.split(".")[:2])
        if was != now:
            out[key] = (recorded.get(key, "unknown"), current.get(key, "not installed"))
    return out


def _skops_load(payload: bytes, trusted_types: Iterable[str]):
    """Load skops bytes, trusting only the allow-listed types that are actually present.

    skops refuses, by default, any type outside its safe list, and
    ``get_untrusted_types`` names those found in the file. It is tempting to pass that
    list straight back as ``trusted=``; doing so trusts whatever the file says it
    contains, which is exactly what an attacker controls, and turns skops back into
    pickle with extra steps. So the file's list is compared with an allow-list the
    *caller* wrote down in advance, and anything unexpected is refused.
    """
    import skops.io as sio

    allowed = set(trusted_types)
    untrusted = sio.get_untrusted_types(data=payload)
    unexpected = sorted(set(untrusted) - allowed)
    if unexpected:
        raise ArtefactUntrustedTypeError(
            f"the skops artefact must contain only allow-listed types; got untrusted {unexpected}. "
            "Inspect them, and only if you know what they do, add them to `trusted_types`."
        )
    return sio.loads(payload, trusted=sorted(set(untrusted) & allowed))


_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def _read_regular(path: Path, size: int) -> tuple[bytes | None, int | None]:
    """The bytes of ``path`` if it is a regular file of ``size`` bytes, and its size.

    ``(None, None)`` when nothing is there; ``(None, actual_size)`` when the size differs,
    without reading a byte. Anything but a regular file (a FIFO that would block forever,
    a device such as ``/dev/zero`` that never ends, a directory) raises
    :class:`ArtefactIntegrityError` saying what it is. The checks look at the descriptor
    opened (``fstat``), not at the name, so nothing can be swapped in between; opening
    does not block (``O_NONBLOCK``: a FIFO without a writer).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:  # pragma: no cover - platforms that refuse to open folders
        mode = stat.S_IFDIR
    else:
        mode = None
    with contextlib.ExitStack() as stack:
        if mode is None:
            stack.callback(os.close, fd)
            info = os.fstat(fd)
            mode = info.st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for is_kind, name in _NOT_REGULAR if is_kind(mode)),
                        "not a regular file")
            real = os.path.realpath(path)
            where = f"{str(path)!r}" + (f" (a link to {real!r})" if real != os.path.abspath(path) else "")
            raise ArtefactIntegrityError(
                f"`path` must be a regular file; got {kind} at {where}. Nothing was read: "
                "point `path` at the artefact file save_artefact() wrote."
            )
        if info.st_size != size:
            return None, info.st_size
        stack.pop_all()
        with os.fdopen(fd, "rb") as fh:
            payload = fh.read(size + 1)  # one byte more: a file growing meanwhile shows
    return payload, len(payload)


def _read_committed(p: Path, *, attempts: int = 3
                    ) -> tuple[ArtefactManifest, bytes | None, str | None, int]:
    """The manifest of ``p``, the bytes it commits to (read once), their hash and size.

    The bytes are those of ``p`` or, when a save was stopped between its commit and its
    last rename, of the pending file named by the manifest's hash. If a save runs while
    we read (manifest of one save, file of the next), the pair is read again. A file whose
    size differs from the manifest's is never read: the bytes are then ``None`` and the
    size is the file's.
    """
    for attempt in range(attempts):
        manifest = _read_manifest(p)
        payload, size = _read_regular(p, manifest.size_bytes)
        digest = None if payload is None else hashlib.sha256(payload).hexdigest()
        if digest == manifest.sha256:
            return manifest, payload, digest, size
        staged, _ = _read_regular(_pending_name(p, manifest.sha256), manifest.size_bytes)
        if staged is not None and hashlib.sha256(staged).hexdigest() == manifest.sha256:
            return manifest, staged, manifest.sha256, len(staged)
        if _read_manifest(p).sha256 == manifest.sha256:
            break  # nothing moved while we read: the mismatch is real
        time.sleep(0.01 * (attempt + 1))
    if size is None:
        raise FileNotFoundError(
            f"`path` must be an existing artefact file; got {str(p)!r}, which does not exist."
        )
    return manifest, payload, digest, size


def _check_load_arguments(path: Any, expected_sha256: Any, allow_version_mismatch: Any,
                          replay_atol: Any, trusted_types: Any) -> tuple[Path, str, float]:
    """:func:`load_artefact`'s argument checks: the path, the trusted hash and the tolerance."""
    p = _check_path(path)
    trusted = _utils.check_sha256(expected_sha256, "expected_sha256")
    if not isinstance(allow_version_mismatch, bool):
        raise TypeError(f"`allow_version_mismatch` must be True or False; got {allow_version_mismatch!r}.")
    replay_atol = _utils.check_number(replay_atol, "replay_atol", low=0.0)
    if isinstance(trusted_types, str) or not all(isinstance(t, str) for t in trusted_types):
        raise TypeError(f"`trusted_types` must be a sequence of type names (str); got {trusted_types!r}.")
    if not p.exists() and not manifest_path(p).is_file():
        raise FileNotFoundError(
            f"`path` must be an existing artefact file; got {str(p)!r}, which does not exist."
        )
    return p, trusted, replay_atol


def _verified_bytes(p: Path, trusted: str) -> tuple[ArtefactManifest, bytes]:
    """Checks 1-3 of :func:`load_artefact`: the manifest and the bytes, if they are the trusted ones."""
    manifest, payload, actual, size = _read_committed(p)
    if payload is None or size != manifest.size_bytes:
        raise ArtefactIntegrityError(
            f"the artefact must be {manifest.size_bytes} bytes as its manifest records; got {size} bytes "
            f"({'truncated' if size < manifest.size_bytes else 'grown'}). Do not load it: fetch it again."
        )
    if not hmac.compare_digest(actual, trusted):
        raise ArtefactIntegrityError(
            f"the artefact's SHA-256 must be the trusted {trusted[:16]}...; got {actual[:16]}... "
            "The file was modified or replaced: do not load it."
        )
    if not hmac.compare_digest(manifest.sha256, trusted):
        raise ArtefactIntegrityError(
            f"the manifest's SHA-256 must match the trusted {trusted[:16]}...; got {manifest.sha256[:16]}... "
            "The manifest belongs to another artefact: re-save both files together."
        )
    return manifest, payload


def _check_versions(manifest: ArtefactManifest, allow_version_mismatch: bool) -> None:
    """Check 4 of :func:`load_artefact`: the installed versions are the recorded ones."""
    mismatches = _version_mismatches(manifest.versions, manifest.format)
    if mismatches:
        detail = "; ".join(f"{k} saved with {a}, installed {b}" for k, (a, b) in mismatches.items())
        if not allow_version_mismatch:
            raise ArtefactVersionError(
                f"the installed library versions must match the artefact's manifest; got {detail}. "
                "Install the recorded versions, or pass allow_version_mismatch=True and rely on the replay check."
            )
        # stacklevel 3: the warning names the line that called load_artefact
        warnings.warn(f"loading despite version mismatch: {detail}", UserWarning, stacklevel=3)


def _deserialise(manifest: ArtefactManifest, payload: bytes, trusted_types: Iterable[str]) -> Any:
    """Step 5 of :func:`load_artefact`, on bytes that passed checks 1-4."""
    if manifest.format == "joblib":
        import joblib

        return joblib.load(io.BytesIO(payload))
    return _skops_load(payload, trusted_types)


def _check_replay(model: Any, manifest: ArtefactManifest, replay_atol: float) -> None:
    """Check 6 of :func:`load_artefact`: the recorded example gives the recorded output."""
    got = _positive_proba(model, manifest.example_frame())
    want = np.asarray(manifest.expected_output)
    if not _utils.replay_matches(got, want, atol=replay_atol):
        worst = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
        raise ValueError(
            f"the replayed example must reproduce the recorded output within {replay_atol:g}; "
            f"got a largest difference of {worst:.3g}. The model does not behave as when it was saved."
        )


def load_artefact(
    path: str | os.PathLike,
    *,
    expected_sha256: str,
    allow_version_mismatch: bool = False,
    replay: bool = True,
    replay_atol: float = _utils.REPLAY_ATOL,
    trusted_types: Sequence[str] = SKOPS_TRUSTED_TYPES,
) -> LoadedArtefact:
    """Load an artefact only after checking it is the file you trust, then that it behaves.

    The checks run in this order, and the first failure stops everything:

    1. both files exist (:class:`FileNotFoundError`);
    2. the file is a regular file (a symlink to one is followed) and its size equals the
       manifest's, both checked on the opened descriptor before a byte is read: a FIFO,
       a device such as ``/dev/zero``, a directory or a file larger than recorded (a
       sparse 8 GiB file) is refused, naming what was found, and a truncated file is named
       as such (:class:`ArtefactIntegrityError`);
    3. the SHA-256 of the bytes read equals ``expected_sha256`` (compared in constant
       time with :func:`hmac.compare_digest`), and the manifest records the same hash
       (:class:`ArtefactIntegrityError`; so does every malformed manifest field). Only
       bytes that passed are deserialised; they are read once, so the file cannot be
       swapped between the check and the load. If a save was killed after its commit,
       the committed bytes are read from its pending file (see :func:`save_artefact`);
    4. the installed Python (major.minor) and library versions equal the recorded ones
       (:class:`ArtefactVersionError`, or a :class:`UserWarning` when
       ``allow_version_mismatch=True``);
    5. the bytes are deserialised (for skops, only ``trusted_types`` beyond skops' own
       safe list are accepted: :class:`ArtefactUntrustedTypeError`);
    6. the recorded example input is replayed and must give the recorded output within
       ``replay_atol`` (:class:`ValueError`).

    Parameters
    ----------
    path : str or path-like
        The artefact file written by :func:`save_artefact`.
    expected_sha256 : str
        The hash you trust: from the registry or the deployment configuration, never
        from the manifest beside the file (see the module docstring).
    allow_version_mismatch : bool, default=False
        Opt in to loading under different library versions (with a warning).
    replay : bool, default=True
        Replay the recorded example and compare outputs.
    replay_atol : float, default=1e-9
        Largest absolute difference the replay accepts (``_utils.REPLAY_ATOL``).
    trusted_types : sequence of str, default=SKOPS_TRUSTED_TYPES
        For skops files: the types, beyond skops' defaults, you accept, written down in
        advance; never ``skops.io.get_untrusted_types`` of the file being loaded.

    Returns
    -------
    LoadedArtefact
        ``.model``, ``.manifest`` and ``.load_seconds``.

    Examples
    --------
    Does a reloaded pipeline predict exactly what the saved one did?

    >>> import tempfile, pathlib
    >>> from mlops_companion import data
    >>> s = data.make_scenario()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "model.joblib"
    ...     m = save_artefact(s.pipeline, p, example_input=s.X_test.head(5))
    ...     loaded = load_artefact(p, expected_sha256=m.sha256)
    >>> bool((loaded.model.predict_proba(s.X_test) == s.pipeline.predict_proba(s.X_test)).all())
    True
    """
    start = time.perf_counter()
    p, trusted, replay_atol = _check_load_arguments(path, expected_sha256, allow_version_mismatch,
                                                    replay_atol, trusted_types)
    manifest, payload = _verified_bytes(p, trusted)  # 1-3: integrity, before deserialising
    _check_versions(manifest, allow_version_mismatch)  # 4
    model = _deserialise(manifest, payload, trusted_types)  # 5
    if replay:  # 6
        _check_replay(model, manifest, replay_atol)
    return LoadedArtefact(model, manifest, time.perf_counter() - start)


# --------------------------------------------------------------------------- formats
def compare_formats(
    model: Any,
    *,
    example_input: pd.DataFrame,
    variants: Sequence[tuple[str, int]] = (("joblib", 0), ("joblib", 3), ("skops", 0), ("skops", 3)),
    n_repeats: int = 5,
) -> pd.DataFrame:
    """Size on disk and load time of one model in several formats, relative to the first.

    Each variant is saved with :func:`save_artefact` in a temporary folder; its load
    time is the median over ``n_repeats`` of the full :func:`load_artefact` (hash check,
    deserialisation and replay), so it is what a serving process pays at start-up.

    Parameters
    ----------
    model : fitted estimator with ``predict_proba``
    example_input : DataFrame
        Passed to :func:`save_artefact`.
    variants : sequence of (format, compress), default=joblib 0 and 3, skops 0 and 3
        The first one is the baseline of the ratio columns.
    n_repeats : int, default=5
        Loads timed per variant.

    Returns
    -------
    DataFrame
        Columns ``format, compress, size_bytes, load_ms, size_ratio, load_ratio``.

    Examples
    --------
    Is the compressed joblib file smaller than the uncompressed one?

    >>> from mlops_companion import data
    >>> s = data.make_scenario()
    >>> table = compare_formats(s.pipeline, example_input=s.X_test.head(3), n_repeats=1)
    >>> list(table["format"])
    ['joblib', 'joblib', 'skops', 'skops']
    >>> bool(table.loc[1, "size_ratio"] < 1.0)
    True
    """
    n_repeats = _utils.check_positive_int(n_repeats, "n_repeats")
    variants = list(variants)
    if not variants:
        raise ValueError("`variants` must name at least one (format, compress) pair; got an empty sequence.")
    checked = []
    for v in variants:
        if not isinstance(v, (tuple, list)) or len(v) != 2:
            raise ValueError(f"each entry of `variants` must be a (format, compress) pair; got {v!r}.")
        checked.append(_check_format(*v))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for i, (fmt, level) in enumerate(checked):
            p = Path(folder) / f"model-{i}.{fmt}"
            m = save_artefact(model, p, example_input=example_input, compress=level, format=fmt)
            times = [load_artefact(p, expected_sha256=m.sha256).load_seconds for _ in range(n_repeats)]
            rows.append({"format": fmt, "compress": level, "size_bytes": m.size_bytes,
                         "load_ms": 1000 * float(np.median(times))})
    table = pd.DataFrame(rows)
    table["size_ratio"] = table["size_bytes"] / table.loc[0, "size_bytes"]
    table["load_ratio"] = table["load_ms"] / table.loc[0, "load_ms"]
    return table
