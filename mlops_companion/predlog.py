"""The prediction log, and joining it to labels that arrive later.

The server hands each answered request to a :class:`PredictionLog` (never blocking, never
raising); :func:`read_prediction_log` reads it back as a table; :func:`simulate_delayed_labels`
stands in for incident reports that arrive hours later; :func:`join_labels`,
:func:`live_accuracy` and :func:`check_skew` are the monitoring job, and :class:`DriftGauges`
exposes the drift job's result to Prometheus.

Out of scope: shipping logs off the machine (a log collector's job), retention and
access control of logged inputs, which may be personal data.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_reference import _utils, drift

from . import data

__all__ = [
    "PredictionLog", "read_prediction_log", "simulate_delayed_labels", "join_labels",
    "LiveAccuracyResult", "live_accuracy", "check_skew", "DriftGauges",
]

_STOP = object()
_LOGGER = logging.getLogger(__name__)
_BATCH = 1000  # records per write at most: a burst is written in a few system calls


class PredictionLog:
    """A non-blocking JSON-lines log of predictions, drained by a background thread.

    Parameters
    ----------
    path : path
        File to append to (created with its folder).
    max_queue : int, default=10000
        Records waiting to be written; beyond that, new records are dropped and counted.
    flush_interval : float, default=0.5
        Seconds between flushes of the file (a crash loses at most this much).

    Attributes
    ----------
    n_written, n_dropped, n_failed : int
        Records written (accepted by the operating system); dropped (queue full, or log
        closed); failed (not serialisable, e.g. a NaN, or refused by the disk). A failed
        write is logged once until one succeeds again, and its partial bytes are cut off.

    Notes
    -----
    A crash can leave a half-written last line: opening the log again ends it, so only the
    torn line is lost, and :func:`read_prediction_log` skips it.

    Examples
    --------
    Log two requests, close, and read them back:

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "predictions.jsonl"
    >>> with PredictionLog(path) as log:
    ...     for i in range(2):
    ...         log.write({"request_id": f"r{i}", "time": 0.0, "model_version": "v1",
    ...                    "artefact_sha256": "ab" * 32, "outputs": [0.25],
    ...                    "inputs": [{"request_rate": 100.0, "error_pct": 1.0,
    ...                                "p99_latency_ms": 80.0, "deploy_hour": 9, "is_weekend": 0}]})
    >>> log.n_written, log.n_dropped
    (2, 0)
    >>> read_prediction_log(path)[["request_id", "probability"]].values.tolist()
    [['r0', 0.25], ['r1', 0.25]]
    """

    def __init__(self, path: str | os.PathLike, *, max_queue: int = 10_000,
                 flush_interval: float = 0.5) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"`path` must be a file path; got {type(path).__name__}.")
        self.path = Path(path)
        self.max_queue = _utils.check_positive_int(max_queue, "max_queue")
        self.flush_interval = _utils.check_positive_number(flush_interval, "flush_interval")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # read access too, to look at the last byte (see Notes)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except PermissionError:  # a write-only file: appended to without the look
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._queue: queue.Queue = queue.Queue(maxsize=self.max_queue)
        self._closed = False
        self._lock = threading.Lock()
        self.n_written = self.n_dropped = self.n_failed = 0
        self._failing = False  # the last write failed (logged once until one succeeds)
        self._torn = self._ends_mid_line()
        if self._torn:
            self._write_batch([])  # ends the torn line now (or before the next records)
        self._thread = threading.Thread(target=self._drain, name=f"prediction-log-{self.path.name}",
                                        daemon=True)
        self._thread.start()

    def _ends_mid_line(self) -> bool:
        """Does the file end with a line a crash left without its newline?"""
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return False
        try:
            return os.pread(self._fd, 1, info.st_size - 1) != b"\n"
        except OSError:  # opened write-only
            return False

    def write(self, record: dict) -> None:
        """Queue ``record`` for writing; never blocks, never raises."""
        try:
            if self._closed:
                raise queue.Full
            self._queue.put_nowait(record)
        except queue.Full:
            with self._lock:
                self.n_dropped += 1
        except Exception:  # noqa: BLE001 - a log must never break a prediction
            with self._lock:
                self.n_failed += 1

    def _drain(self) -> None:
        pending: list[bytes] = []
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if item is not None:
                try:
                    line = json.dumps(item, allow_nan=False, separators=(",", ":"))
                    pending.append(line.encode("utf-8") + b"\n")
                except Exception:  # noqa: BLE001 - count it, keep draining
                    with self._lock:
                        self.n_failed += 1
            if pending and (len(pending) >= _BATCH
                            or time.monotonic() - last_flush >= self.flush_interval):
                self._write_batch(pending)
                pending = []
                last_flush = time.monotonic()
        if pending:
            self._write_batch(pending)
        os.close(self._fd)

    def _write_batch(self, lines: list[bytes]) -> None:
        """Write ``lines`` whole or not at all, and count them only then. Never raises."""
        data = (b"\n" if self._torn else b"") + b"".join(lines)
        start = None
        try:
            info = os.fstat(self._fd)
            start = info.st_size if stat.S_ISREG(info.st_mode) else None
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except Exception as exc:  # noqa: BLE001 - a full disk must not stop the thread
            if start is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)  # cut a partial line off
            with self._lock:
                self.n_failed += len(lines)
            if not self._failing:
                self._failing = True
                _LOGGER.error("prediction log %s: a write failed (%s); %d records lost, and "
                              "every record until writing works again is lost too (counted "
                              "in n_failed)", self.path, exc, len(lines))
            return
        self._torn = False
        with self._lock:
            self.n_written += len(lines)
        if self._failing:
            self._failing = False
            _LOGGER.warning("prediction log %s: writing works again; %d records lost in all "
                            "so far (n_failed)", self.path, self.n_failed)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)  # blocks only if the queue is full, while the thread drains it
        self._thread.join(timeout=timeout)

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"PredictionLog({str(self.path)!r}, written={self.n_written}, dropped={self.n_dropped}, "
                f"failed={self.n_failed})")


def read_prediction_log(path: str | os.PathLike) -> pd.DataFrame:
    """The log as a table: one row per scored observation.

    Columns ``request_id``, ``row`` (position within the request), ``time``,
    ``model_version``, ``artefact_sha256``, the features of :data:`~mlops_companion.data.FEATURES`
    and ``probability``. A truncated last line (a crash mid-write) is skipped.

    Examples
    --------
    See :class:`PredictionLog`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path` must be an existing prediction log; got {str(path)!r}.")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            for i, (x, p) in enumerate(zip(rec["inputs"], rec["outputs"])):
                rows.append({"request_id": rec["request_id"], "row": i, "time": rec["time"],
                             "model_version": rec["model_version"], "artefact_sha256": rec["artefact_sha256"],
                             **{f: x.get(f) for f in data.FEATURES}, "probability": p})
    columns = ["request_id", "row", "time", "model_version", "artefact_sha256", *data.FEATURES, "probability"]
    return pd.DataFrame(rows, columns=columns)


def simulate_delayed_labels(log: pd.DataFrame, *, now: float, mean_delay: float = 3600.0,
                            coefficients: dict | None = None,
                            rng: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Outcomes of logged observations, known only once their delay has passed by ``now``.

    Each observation's outcome is drawn from the scenario's label model
    (:func:`mlops_companion.data.incident_probability`; pass other ``coefficients`` for
    concept drift) and arrives an exponential delay of mean ``mean_delay`` seconds after
    the prediction.

    Returns
    -------
    DataFrame with columns ``request_id``, ``row``, ``incident`` (0/1), ``labelled_at``,
    only for labels that have arrived by ``now``.

    Examples
    --------
    >>> log = pd.DataFrame({"request_id": ["a", "b"], "row": [0, 0], "time": [0.0, 0.0],
    ...                     **{f: [1, 1] for f in data.FEATURES}})
    >>> simulate_delayed_labels(log, now=1e9, rng=0).columns.tolist()
    ['request_id', 'row', 'incident', 'labelled_at']
    """
    now = _utils.check_number(now, "now")
    mean_delay = _utils.check_positive_number(mean_delay, "mean_delay")
    gen = _utils.check_rng(rng)
    p = data.incident_probability(log[list(data.FEATURES)].astype(float), coefficients=coefficients)
    incident = (gen.random(len(log)) < p).astype(int)
    arrives = log["time"].to_numpy(dtype=float) + gen.exponential(mean_delay, len(log))
    out = pd.DataFrame({"request_id": log["request_id"].to_numpy(), "row": log["row"].to_numpy(),
                        "incident": incident, "labelled_at": arrives})
    return out[out["labelled_at"] <= now].reset_index(drop=True)


def join_labels(log: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The log with each observation's label when it has arrived (``incident`` NaN otherwise).

    A label for a request the log does not hold is an error, not a silent drop: it means
    the log lost lines or the labels belong to another system. A log line written twice
    (a replayed or re-shipped line: the same ``request_id`` and ``row`` with the same
    values) is kept once, so its label counts once; the same ``request_id`` and ``row``
    with different values (an id reused, two logs mixed) is an error naming the id, since
    there is no telling which prediction the label belongs to.

    Examples
    --------
    >>> log = pd.DataFrame({"request_id": ["a", "b"], "row": [0, 0], "probability": [0.9, 0.2]})
    >>> labels = pd.DataFrame({"request_id": ["a"], "row": [0], "incident": [1], "labelled_at": [5.0]})
    >>> join_labels(log, labels)["incident"].tolist()
    [1.0, nan]
    """
    for frame, name, need in ((log, "log", ("request_id", "row", "probability")),
                              (labels, "labels", ("request_id", "row", "incident"))):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"`{name}` must be a DataFrame; got {type(frame).__name__}.")
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise ValueError(f"`{name}` must have the columns {list(need)}; missing {missing}.")
    log = log.drop_duplicates()  # a replayed line is the same prediction once more
    clash = log.duplicated(["request_id", "row"], keep=False)
    if clash.any():
        first = log.loc[clash, "request_id"].iloc[0]
        raise ValueError(
            f"`log` must hold one prediction per (request_id, row); request {first!r} appears "
            f"with different values ({int(clash.sum())} rows conflict). Find why an id was "
            "logged twice (reused ids, two logs mixed) before joining labels."
        )
    if labels.duplicated(["request_id", "row"]).any():
        raise ValueError("`labels` must hold at most one label per (request_id, row); got duplicates.")
    keys = pd.MultiIndex.from_frame(log[["request_id", "row"]])
    orphans = labels[~pd.MultiIndex.from_frame(labels[["request_id", "row"]]).isin(keys)]
    if len(orphans):
        raise ValueError(f"`labels` must refer to logged predictions; {len(orphans)} do not "
                         f"(first: {orphans['request_id'].iloc[0]!r}). Check the log for dropped lines.")
    return log.merge(labels, on=["request_id", "row"], how="left").reset_index(drop=True)  # log order


@dataclass(frozen=True)
class LiveAccuracyResult:
    """Accuracy on the predictions whose labels have arrived, with its Wilson interval."""

    accuracy: float
    ci_low: float
    ci_high: float
    n_labelled: int
    n_logged: int
    threshold: float

    @property
    def coverage(self) -> float:
        """Share of logged predictions that have a label so far."""
        return self.n_labelled / self.n_logged if self.n_logged else math.nan


def live_accuracy(joined: pd.DataFrame, *, threshold: float = 0.5, confidence: float = 0.95,
                  by: str | None = None) -> LiveAccuracyResult | pd.DataFrame:
    """Accuracy of the decisions ``probability >= threshold`` on the labelled rows.

    Parameters
    ----------
    joined : DataFrame
        From :func:`join_labels`.
    threshold : float, default=0.5
    confidence : float, default=0.95
    by : str, default=None
        A column (e.g. ``"model_version"``): one result per value, as a table.

    Examples
    --------
    >>> joined = pd.DataFrame({"probability": [0.9, 0.2, 0.7, 0.6], "incident": [1, 0, 0, None]})
    >>> r = live_accuracy(joined)
    >>> r.accuracy, r.n_labelled, r.n_logged
    (0.6666666666666666, 3, 4)
    """
    threshold = _utils.check_level(threshold, "threshold")
    confidence = _utils.check_level(confidence, "confidence")
    if by is not None:
        rows = []
        for value, group in joined.groupby(by, sort=True):
            r = live_accuracy(group, threshold=threshold, confidence=confidence)
            rows.append({by: value, "accuracy": r.accuracy, "ci_low": r.ci_low, "ci_high": r.ci_high,
                         "n_labelled": r.n_labelled, "n_logged": r.n_logged})
        return pd.DataFrame(rows)
    labelled = joined.dropna(subset=["incident"])
    n = len(labelled)
    if n == 0:
        return LiveAccuracyResult(math.nan, 0.0, 1.0, 0, len(joined), threshold)
    correct = int(((labelled["probability"] >= threshold).astype(int) == labelled["incident"].astype(int)).sum())
    low, high = _utils.wilson_interval(correct, n, confidence=confidence)
    return LiveAccuracyResult(correct / n, low, high, n, len(joined), threshold)


def check_skew(reference: pd.DataFrame, log: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """Training-serving skew: the logged features against the training reference.

    :func:`mlops_reference.drift.detect_drift` on the features of
    :data:`~mlops_companion.data.FEATURES` (``warn=False`` unless given), i.e. the
    reference first, the logged inputs second.

    Examples
    --------
    >>> reference = data.make_incidents(500, rng=0)
    >>> logged = data.make_production_sample(300, drift={"error_pct": 3.0}, rng=1)
    >>> bool(check_skew(reference, logged).set_index("feature").loc["error_pct", "drifted"])
    True
    """
    kwargs.setdefault("warn", False)
    features = list(data.FEATURES)
    return drift.detect_drift(reference[features], log[features], **kwargs)


class DriftGauges:
    """The drift job's result as Prometheus gauges (what the ``InputDrift`` alert reads).

    ``model_input_drift_pvalue{feature}``, ``model_input_drift_threshold{feature}`` and
    ``drift_job_last_success_timestamp_seconds``, in ``registry`` (a new
    ``prometheus_client.CollectorRegistry`` when None), set by :meth:`update`.

    Examples
    --------
    >>> from prometheus_client import generate_latest
    >>> gauges = DriftGauges()
    >>> report = pd.DataFrame({"feature": ["error_pct"], "pvalue": [1e-4], "threshold": [0.002]})
    >>> gauges.update(report, timestamp=0.0)
    >>> 'model_input_drift_pvalue{feature="error_pct"} 0.0001' in generate_latest(gauges.registry).decode()
    True
    """

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = CollectorRegistry() if registry is None else registry
        self.pvalue = Gauge("model_input_drift_pvalue", "p-value of the drift test, by feature",
                            ["feature"], registry=self.registry)
        self.threshold = Gauge("model_input_drift_threshold", "corrected significance level, by feature",
                               ["feature"], registry=self.registry)
        self.last_success = Gauge("drift_job_last_success_timestamp_seconds",
                                  "when the drift job last succeeded (Unix time)", registry=self.registry)

    def update(self, report: pd.DataFrame, *, timestamp: float | None = None) -> None:
        """Set the gauges from a :func:`check_skew` / ``drift.detect_drift`` report."""
        missing = [c for c in ("feature", "pvalue", "threshold") if c not in getattr(report, "columns", ())]
        if missing:
            raise ValueError(f"`report` must be a drift report with feature, pvalue and threshold columns; "
                             f"missing {missing}.")
        for row in report.itertuples(index=False):
            self.pvalue.labels(row.feature).set(float(row.pvalue))
            self.threshold.labels(row.feature).set(float(row.threshold))
        self.last_success.set(time.time() if timestamp is None else float(timestamp))
