"""Batch scoring at scale: a partitioned Parquet dataset scored on a Dask cluster.

Covers
    * :class:`ScoringModel`: which model scores, named by an artefact file and the SHA-256
      you trust (:meth:`ScoringModel.from_artefact`). Only this small description travels with
      each task; each worker process loads the model once, checked against the hash, and
      keeps it (a cache keyed by the hash), so a job over a thousand partitions loads it
      once per worker, not once per partition.
    * :func:`score_parquet`: one task per input file. Each task reads its file, checks
      the columns, scores, and writes one output file atomically (a temporary file, then
      ``os.replace``) with the columns ``score``, ``model_version`` and
      ``artefact_sha256``. A file that exists is complete, and its Parquet metadata
      (written with it, in the same atomic rename) records what it was computed from: the
      SHA-256 and row count of the input partition, the model's SHA-256 and version. A
      re-run skips only the partitions whose output records exactly the input as it is
      now; an input that changed (re-split, grown, rewritten) is scored again, so a job
      that died half-way resumes without duplicating or dropping a row. An output whose
      input no longer exists (4 partitions re-split into 2) is refused, naming the file,
      before anything is written: keeping it would count its rows twice, and deleting
      data is left to you. One run at a time per destination: a lock file
      (``.score_parquet.lock``) refuses a second concurrent run. A worker that dies
      mid-job only loses tasks, which the scheduler runs again elsewhere: every task
      reads its input and replaces its output, so running it twice changes nothing.
      Workers hold one partition at a time, so a dataset many times larger than their
      memory completes. With ``client=None`` the same tasks run one after the other in
      this process: the single-process baseline.
    * :func:`track_peak_memory`: peak resident memory of this process and of each worker
      while a block of code runs, to measure the above.

Before anything is written, every input file's schema (its footer) is read and checked
against the model's features, then every partition's feature columns are read and checked
for missing (null), NaN and infinite values (on the cluster when there is one; the same
pass hashes each file): a missing or mistyped column, a bad value, an unreadable file or a
model whose features the data lack raises a ``ValueError`` naming the partition,
the column and the count, and leaves the destination untouched.

Requires the ``dask`` extra (``pip install "mlops-companion[dask]"``) for a cluster;
pyarrow is needed in any case. The artefact file, the input and the destination must be
reachable by every worker under the same path: on one machine that is automatic, on a
cluster it means a shared file system (or object storage through fsspec, out of scope
here). Out of scope: streaming (online) scoring, see the serving chapter; formats other
than Parquet; partitions that are not files (split large files beforehand).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BatchScoreResult",
    "ScoringModel",
    "score_parquet",
    "track_peak_memory",
]

_META_SHA = b"mlops_reference.artefact_sha256"
_META_VERSION = b"mlops_reference.model_version"
_META_SOURCE_SHA = b"mlops_reference.source_sha256"
_META_SOURCE_ROWS = b"mlops_reference.source_rows"
_LOCK_NAME = ".score_parquet.lock"
OUTPUT_COLUMNS = ("score", "model_version", "artefact_sha256")


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow ships with the dask extra
        raise ImportError(
            'Batch scoring needs pyarrow: pip install "mlops-companion[dask]".'
        ) from exc
    return pa, pq


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class ScoringModel:
    """The model a batch job uses, described by where it lives and its trusted hash.

    Attributes
    ----------
    path : str
        The artefact file (written by :func:`mlops_reference.artefacts.save_artefact`),
        readable from every worker.
    artefact_sha256 : str
        The SHA-256 you trust; every load checks the file against it.
    model_version : str
        Written into every output row, e.g. ``"incident-predictor/3"``.
    feature_names : tuple of str
        The columns the model reads, in order (from the artefact's manifest).
    """

    path: str
    artefact_sha256: str
    model_version: str
    feature_names: tuple[str, ...]

    @classmethod
    def from_artefact(cls, path: str | os.PathLike, *, expected_sha256: str,
                      model_version: str | None = None) -> ScoringModel:
        """Describe an artefact file; it is loaded once here, so a bad file fails now.

        Parameters
        ----------
        path : str or path-like
            The artefact file.
        expected_sha256 : str
            The hash you trust (from your registry or release notes, not from the
            manifest beside the file).
        model_version : str, default=None
            Label written into the output; default ``"sha256:"`` and the hash's first 12
            characters.

        Examples
        --------
        Which columns does a saved pipeline score?

        >>> import tempfile
        >>> from pathlib import Path
        >>> from mlops_companion import data
        >>> from mlops_reference import artefacts
        >>> s = data.make_scenario()
        >>> path = Path(tempfile.mkdtemp()) / "model.joblib"
        >>> manifest = artefacts.save_artefact(s.pipeline, path, example_input=s.X_test.head(3))
        >>> spec = ScoringModel.from_artefact(path, expected_sha256=manifest.sha256)
        >>> spec.feature_names == tuple(data.FEATURES)
        True
        """
        from . import artefacts

        loaded = artefacts.load_artefact(path, expected_sha256=expected_sha256)
        sha = loaded.manifest.sha256
        _remember(sha, loaded.model)
        if model_version is None:
            model_version = f"sha256:{sha[:12]}"
        if not isinstance(model_version, str) or not model_version:
            raise ValueError(f"`model_version` must be a non-empty string; got {model_version!r}.")
        return cls(path=str(Path(path).resolve()), artefact_sha256=sha,
                   model_version=model_version,
                   feature_names=tuple(loaded.manifest.feature_names))


_MODELS: dict[str, Any] = {}
_LOADS: Counter[str] = Counter()  # loads per hash in this process, for tests and curious readers
_MODELS_LOCK = threading.Lock()


def _remember(sha: str, model: Any) -> None:
    with _MODELS_LOCK:
        _MODELS.setdefault(sha, model)
        _LOADS[sha] += 1


def _model_for(spec: ScoringModel) -> Any:
    """The model for ``spec``, loaded at most once per process (keyed by its hash)."""
    with _MODELS_LOCK:
        model = _MODELS.get(spec.artefact_sha256)
        if model is None:
            from . import artefacts

            model = artefacts.load_artefact(spec.path,
                                            expected_sha256=spec.artefact_sha256).model
            _MODELS[spec.artefact_sha256] = model
            _LOADS[spec.artefact_sha256] += 1
    return model


def _loads_in_this_process() -> dict[str, int]:
    return dict(_LOADS)


# ----------------------------------------------------------------------------- checks
def _partition_name(path: Path) -> str:
    return path.name


def _check_schema(schema: Any, spec: ScoringModel, partition: str) -> None:
    pa, _ = _pyarrow()
    for column in spec.feature_names:
        index = schema.get_field_index(column)
        if index < 0:
            raise ValueError(
                f"Partition {partition!r} must have column {column!r}, which the model "
                f"reads; it has {list(schema.names)}. Fix the input or score with a model "
                "trained on these columns."
            )
        kind = schema.field(index).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                or pa.types.is_boolean(kind)):
            raise ValueError(
                f"Partition {partition!r} must hold numbers in column {column!r}; got "
                f"{kind}. Cast it upstream; the batch job does not guess."
            )
    clash = [c for c in OUTPUT_COLUMNS if c in schema.names]
    if clash:
        raise ValueError(
            f"Partition {partition!r} must not already have the output columns {clash}; "
            "it looks like a scored file. Point `source` at the unscored input."
        )


def _read_schema(path: Path) -> Any:
    _, pq = _pyarrow()
    try:
        return pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: Exception) -> ValueError:
    return ValueError(f"Partition {_partition_name(path)!r} must be a readable Parquet "
                           f"file; reading {path} failed: {exc}")


def _read_partition(path: Path, columns: list[str] | None) -> tuple[Any, str, int]:
    """The table of ``path`` (only ``columns``), the SHA-256 of the bytes it was parsed
    from and the file's row count: the file is read once, so the hash is that of the data."""
    import hashlib

    pa, pq = _pyarrow()
    try:
        raw = path.read_bytes()
        with pq.ParquetFile(pa.BufferReader(raw)) as parquet:
            table = parquet.read(columns=columns)
            n_rows = parquet.metadata.num_rows
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise _unreadable(path, exc) from None
    return table, hashlib.sha256(raw).hexdigest(), n_rows


def _check_values(table: Any, spec: ScoringModel, partition: str) -> None:
    """Refuse missing (null), NaN and infinite feature values, naming column and count."""
    pa, _ = _pyarrow()
    import pyarrow.compute as pc

    for column in spec.feature_names:
        values = table.column(column)
        nulls = values.null_count
        nans = infinite = 0
        if pa.types.is_floating(values.type):
            nans = pc.sum(pc.is_nan(values)).as_py() or 0
            infinite = pc.sum(pc.is_inf(values)).as_py() or 0
        if nulls or nans or infinite:
            raise ValueError(
                f"Partition {partition!r} must hold finite values in column {column!r}, "
                f"which the model reads; got {nulls + nans + infinite} bad of "
                f"{table.num_rows} ({nulls} missing, {nans} NaN, {infinite} infinite). "
                "Fix or drop those rows upstream; the batch job does not impute. Nothing "
                "was written."
            )


def _inspect_partition(spec: ScoringModel, source: str) -> tuple[str, int]:
    """Read one partition's features, check their values; return its SHA-256 and rows."""
    path = Path(source)
    table, sha, n_rows = _read_partition(path, list(spec.feature_names))
    _check_values(table, spec, path.name)
    return sha, n_rows


# ----------------------------------------------------------------------------- one task
def _score_partition(spec: ScoringModel, source: str, target: str,
                     keep: tuple[str, ...] | None, source_sha256: str) -> int:
    """Read, check, score and atomically write one partition; return its row count.

    ``source_sha256`` is the hash the job inspected; a file changed since is refused, so
    an output never records an input other than the one it was computed from.
    """
    pa, pq = _pyarrow()
    from . import _atomic

    source_path, partition = Path(source), Path(source).name
    # With `keep`, only the model's features and the kept columns are parsed.
    columns = None if keep is None else list(dict.fromkeys([*spec.feature_names, *keep]))
    table, sha, _ = _read_partition(source_path, columns)
    if sha != source_sha256:
        raise ValueError(
            f"Partition {partition!r} must not change while the job runs; its SHA-256 is "
            f"now {sha[:16]}..., {source_sha256[:16]}... when it was checked. Run again "
            "once the input is complete."
        )
    # Same bytes as inspected, so the schema and values checks hold for them.
    model = _model_for(spec)
    features = table.select(list(spec.feature_names)).to_pandas()
    n_rows = table.num_rows
    scores = (model.predict_proba(features)[:, 1] if n_rows
              else np.empty(0, dtype=np.float64))
    out = table if keep is None else table.select(list(keep))
    zeros = pa.array(np.zeros(n_rows, dtype=np.int32))
    out = out.append_column("score", pa.array(scores, type=pa.float64()))
    out = out.append_column("model_version", pa.DictionaryArray.from_arrays(
        zeros, pa.array([spec.model_version])))
    out = out.append_column("artefact_sha256", pa.DictionaryArray.from_arrays(
        zeros, pa.array([spec.artefact_sha256])))
    out = out.replace_schema_metadata({
        **(out.schema.metadata or {}),
        _META_SHA: spec.artefact_sha256.encode(), _META_VERSION: spec.model_version.encode(),
        _META_SOURCE_SHA: source_sha256.encode(), _META_SOURCE_ROWS: str(n_rows).encode(),
    })
    # Dictionary encoding for the two constant columns only: pyarrow's default tries it on
    # every column, and on unique ids or continuous scores it builds a dictionary, overflows
    # it and falls back (half the time of a partition of ids scored by a linear model).
    _atomic.write_atomically(Path(target), lambda fh: pq.write_table(
        out, fh, use_dictionary=["model_version", "artefact_sha256"]))
    return n_rows


# ----------------------------------------------------------------------------- the job
@dataclass(frozen=True)
class BatchScoreResult:
    """What a :func:`score_parquet` run did.

    Attributes
    ----------
    destination : Path
    n_partitions : int
        Input files.
    n_written : int
        Partitions scored and written by this run, including those in ``redone``: written
        by an earlier run from an input that has changed since.
    n_skipped : int
        Partitions already written by an earlier run with the same model from the same
        input (same SHA-256 and row count); their names are in ``skipped``.
    n_rows_written : int
        Rows written by this run.
    model_version, artefact_sha256 : str
    seconds : float
        Wall-clock time of the run.
    """

    destination: Path
    n_partitions: int
    n_written: int
    n_skipped: int
    n_rows_written: int
    model_version: str
    artefact_sha256: str
    seconds: float
    skipped: tuple[str, ...] = field(default=(), repr=False)
    redone: tuple[str, ...] = field(default=(), repr=False)


def _check_keep(keep: Any) -> tuple[str, ...] | None:
    if keep is None:
        return None
    if isinstance(keep, str) or not isinstance(keep, Sequence):
        raise TypeError(f"`keep` must be a sequence of column names or None; got {keep!r}.")
    return tuple(str(k) for k in keep)


def _remove_temporaries(destination: Path) -> None:
    """Remove the hidden temporary files of writers that were killed before their rename."""
    for stale in destination.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def score_parquet(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    model: ScoringModel,
    *,
    client: Any = None,
    keep: Sequence[str] | None = None,
) -> BatchScoreResult:
    """Score every Parquet file of ``source`` into ``destination``, one file per partition.

    Parameters
    ----------
    source : str or path-like
        A folder of ``*.parquet`` files, one per partition (as ``dask.dataframe.to_parquet`` writes).
    destination : str or path-like
        Output folder (created); ``destination/<input file name>`` per partition.
    model : ScoringModel
        The model and its trusted hash.
    client : distributed.Client, default=None
        Run the partitions on this cluster; ``None`` runs them one by one in this process.
    keep : sequence of str, default=None
        Input columns copied to the output before ``score``, ``model_version`` and
        ``artefact_sha256`` (``None``: all); only they and the model's features are decoded.

    Returns
    -------
    BatchScoreResult
        A re-run skips an output whose metadata records this model and the input as it is
        now (``result.skipped``), and scores again one whose input changed or that records
        none, written by an older version (``result.redone``).

    Raises
    ------
    ValueError
        Before anything is written: a partition is unreadable, lacks a column the model
        reads or holds it as non-numbers or with missing (null), NaN or infinite values
        (named, with the column and the count), or ``destination`` holds another model's
        output, an unreadable file or an output whose input is gone (named; neither kept nor
        deleted). Also, leaving no partial file, for an input that changes while the job runs.
    RuntimeError
        Another run holds ``destination``'s lock file (``.score_parquet.lock``).

    Examples
    --------
    Score two partitions in this process; how many rows came out, and which model?

    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> from mlops_companion import data
    >>> from mlops_reference import artefacts
    >>> s = data.make_scenario()
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> manifest = artefacts.save_artefact(s.pipeline, root / "model.joblib",
    ...                                    example_input=s.X_test.head(3))
    >>> (root / "in").mkdir()
    >>> s.X_test.iloc[:100].to_parquet(root / "in" / "part-0.parquet")
    >>> s.X_test.iloc[100:].to_parquet(root / "in" / "part-1.parquet")
    >>> spec = ScoringModel.from_artefact(root / "model.joblib",
    ...                                   expected_sha256=manifest.sha256, model_version="v1")
    >>> result = score_parquet(root / "in", root / "out", spec)
    >>> result.n_rows_written == len(s.X_test), result.n_written
    (True, 2)
    >>> pd.read_parquet(root / "out")["model_version"].astype(str).unique().tolist()
    ['v1']
    >>> score_parquet(root / "in", root / "out", spec).n_skipped  # a re-run skips both
    2
    """
    started = time.perf_counter()
    source, destination, files, keep = _check_job(source, destination, model, keep)
    inspected = _inspect(client, files, model, keep)  # every partition, before writing anything
    destination.mkdir(parents=True, exist_ok=True)
    with _exclusive(destination):  # one run at a time in `destination`
        todo, skipped, redone = _plan(files, inspected, destination, model)
        counts = _score(client, todo, model, keep, destination)
    return BatchScoreResult(
        destination=destination, n_partitions=len(files), n_written=len(todo),
        n_skipped=len(skipped), n_rows_written=int(sum(counts)),
        model_version=model.model_version, artefact_sha256=model.artefact_sha256,
        seconds=time.perf_counter() - started, skipped=tuple(skipped), redone=tuple(redone),
    )


def _check_job(source: Any, destination: Any, model: Any, keep: Any
               ) -> tuple[Path, Path, list[Path], tuple[str, ...] | None]:
    """:func:`score_parquet`'s argument checks; also lists the input files."""
    if not isinstance(model, ScoringModel):
        raise TypeError(
            f"`model` must be a ScoringModel; got {type(model).__name__}. Build one with "
            "ScoringModel.from_artefact(path, expected_sha256=...)."
        )
    keep = _check_keep(keep)
    source, destination = Path(source), Path(destination)
    if not source.is_dir():
        raise FileNotFoundError(f"`source` must be a folder of Parquet files; got {source}.")
    files = sorted(p for p in source.glob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        raise ValueError(f"`source` must hold at least one *.parquet file; {source} has none.")
    if destination.resolve() == source.resolve():
        raise ValueError("`destination` must differ from `source`; got the same folder.")
    return source, destination, files, keep


def _inspect(client: Any, files: list[Path], model: ScoringModel,
             keep: tuple[str, ...] | None) -> list[tuple[str, int]]:
    """Check every partition's schema (footers), then its feature values (read on the cluster
    when there is one); return each file's SHA-256 and row count, from the same pass."""
    for path in files:
        schema = _read_schema(path)
        _check_schema(schema, model, path.name)
        if keep is not None:
            absent = [k for k in keep if k not in schema.names]
            if absent:
                raise ValueError(
                    f"Partition {path.name!r} must have the columns in `keep`; it lacks {absent}."
                )
    return _run(client, _inspect_partition, [model] * len(files), [str(p) for p in files])


def _score(client: Any, todo: list[tuple[str, str, str]], model: ScoringModel,
           keep: tuple[str, ...] | None, destination: Path) -> list[int]:
    """Score the partitions ``todo`` (source, target, source hash); return their row counts."""
    _remove_temporaries(destination)  # left by a process killed mid-write earlier
    counts = _run(client, _score_partition, [model] * len(todo), [s for s, _, _ in todo],
                  [t for _, t, _ in todo], [keep] * len(todo), [h for _, _, h in todo])
    # Every partition is written now; a worker killed mid-write during this run left
    # its temporary file behind (its task ran again elsewhere and wrote the whole file).
    _remove_temporaries(destination)
    return counts


def _run(client: Any, function: Any, *arguments: list) -> list:
    """``function`` over the argument lists: on the cluster, or one by one here."""
    if client is None:
        return [function(*args) for args in zip(*arguments)]
    futures = client.map(function, *arguments, pure=False)
    try:
        return client.gather(futures)
    except BaseException:
        client.cancel(futures)
        raise


@contextlib.contextmanager
def _exclusive(destination: Path) -> Iterator[None]:
    """Hold ``destination``'s lock file, or refuse at once: another run is writing there."""
    try:
        import filelock
    except ImportError as exc:  # pragma: no cover - filelock ships with the dask extra
        raise ImportError('Batch scoring needs filelock: pip install "mlops-companion[dask]".'
                          ) from exc
    lock = filelock.FileLock(destination / _LOCK_NAME, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise RuntimeError(
            f"`destination` must not be in use by another score_parquet run; {destination} is "
            f"locked ({_LOCK_NAME} is held by another run). Wait for that run to finish, or "
            "write to another folder."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _plan(files: list[Path], inspected: list[tuple[str, int]], destination: Path,
          model: ScoringModel) -> tuple[list[tuple[str, str, str]], list[str], list[str]]:
    """Which partitions to score (source, target, source hash), skip, or score again."""
    _, pq = _pyarrow()
    names = {p.name for p in files}
    stale = sorted(p.name for p in destination.glob("*.parquet")
                   if not p.name.startswith((".", "_")) and p.name not in names)
    if stale:
        raise ValueError(
            f"`destination` must hold only outputs of partitions in `source`; {stale} have no "
            "input any more (was the input re-split?), and keeping them would count their "
            "rows twice. Nothing was written: delete them, or write to a new folder."
        )
    todo, skipped, redone = [], [], []
    for path, (sha, n_rows) in zip(files, inspected):
        target = destination / path.name
        if not target.exists():
            todo.append((str(path), str(target), sha))
            continue
        try:
            meta = pq.read_schema(target).metadata or {}
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
            raise ValueError(
                f"`destination` must hold readable Parquet files; {target} is not ({exc}). "
                "Nothing was written: delete it (it is scored again), or write to a new folder."
            ) from None
        scored_by = meta.get(_META_SHA, b"?").decode()
        version = meta.get(_META_VERSION, b"?").decode()
        if scored_by != model.artefact_sha256 or version != model.model_version:
            raise ValueError(
                f"`destination` must hold only output of this model; {target.name} was "
                f"scored by a model with SHA-256 {scored_by} ({version!r}). "
                "Write to a new folder per model version."
            )
        if (meta.get(_META_SOURCE_SHA, b"").decode() == sha
                and meta.get(_META_SOURCE_ROWS, b"").decode() == str(n_rows)):
            skipped.append(path.name)
        else:  # the input changed since (or an output without provenance): score it again
            todo.append((str(path), str(target), sha))
            redone.append(path.name)
    return todo, skipped, redone


# ----------------------------------------------------------------------------- measuring
class _Sampler:
    """Samples this process's resident memory in a thread until stopped."""

    def __init__(self, interval: float) -> None:
        import psutil

        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> tuple[int, int]:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        return self.start, self.peak


_SAMPLERS: dict[str, _Sampler] = {}


def _start_sampler(token: str, interval: float) -> None:
    _SAMPLERS[token] = _Sampler(interval)


def _stop_sampler(token: str) -> tuple[int, int] | None:
    sampler = _SAMPLERS.pop(token, None)  # None: the worker was restarted meanwhile
    return None if sampler is None else sampler.stop()


@contextlib.contextmanager
def track_peak_memory(client: Any = None, *, interval: float = 0.01
                      ) -> Iterator[dict[str, tuple[int, int]]]:
    """Peak resident memory of this process (and of each worker) while the block runs.

    Yields a dict filled when the block ends: ``"local"`` and each worker's address map
    to ``(rss_at_start, peak_rss)`` in bytes, sampled every ``interval`` seconds (a
    spike shorter than that can be missed); a worker restarted meanwhile is left out. Needs psutil (installed with ``distributed``).

    Examples
    --------
    Does allocating 80 MB show up in this process's peak?

    >>> with track_peak_memory() as peaks:
    ...     block = np.ones(10_000_000)
    ...     time.sleep(0.05)
    >>> start, peak = peaks["local"]
    >>> peak - start > 50e6
    True
    """
    import uuid

    token = uuid.uuid4().hex
    result: dict[str, tuple[int, int]] = {}
    local = _Sampler(interval)
    if client is not None:
        client.run(_start_sampler, token, interval)
    try:
        yield result
    finally:
        result["local"] = local.stop()
        if client is not None:
            result.update({address: peaks for address, peaks
                           in client.run(_stop_sampler, token).items() if peaks is not None})
