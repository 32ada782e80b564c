"""A model registry on MLflow: versions, aliases, rollback and an audit trail.

What a container registry does for images, this module does for fitted pipelines. It is a
thin layer over MLflow's model registry whose default store is an embedded SQLite database
in a folder you choose (``sqlite:///{root}/mlflow.db``, artefacts under ``root/artifacts``),
so no server is needed; pass ``tracking_uri="http://127.0.0.1:5000"`` and the same code
talks to an ``mlflow server`` instead.

:class:`Registry` covers:

- **register** a fitted pipeline: the joblib artefact written by
  :func:`mlops_reference.artefacts.save_artefact` is stored with the run, and the MLflow
  model (signature, input example, ``predict_proba`` as what it serves, pip requirements
  given explicitly, because inferring them costs seconds; cloudpickle, because MLflow's
  skops format refuses ``sklearn.tree._tree.Tree`` unless it is listed in
  ``skops_trusted_types``) is logged beside it; the new version is tagged with the artefact's
  SHA-256, the training-data hash (a SHA-256 of its content) and the metrics;
- **promote** a version by pointing an alias (``champion``, ``challenger``) at it, and
  **rollback** by moving the alias back to where it pointed before. Aliases replace the
  stages API (``MlflowClient.transition_model_version_stage``), deprecated since MLflow 2.9;
- an **audit log** of every alias move (when, which alias, from which version to which,
  why, who), kept append-only in its own SQLite file because MLflow keeps no such history.
  It is a chain by construction: a trigger refuses any entry whose ``from_version`` is not
  the previous entry's ``to_version`` for that model and alias, and a move made outside this
  class (a plain ``MlflowClient`` call) is recorded as ``"external"`` when next noticed;
- **load** a version by alias, with the artefact's hash checked *before* it is unpickled.
  The trusted SHA-256 is the registry's tag on the version, a record the deployer controls,
  never the manifest stored beside the file (see :mod:`mlops_reference.artefacts`).

Several processes may open, register into and promote in the same registry folder at once:
a file lock (``registry.lock``, via the ``filelock`` library) serialises MLflow's schema
creation and migration, and makes each alias move (read the alias, move it, append to the
audit log) one atomic step. The lock covers processes sharing the folder, on one machine or
one shared file system; a remote ``mlflow server`` does not see it. A new local store is
migrated once per process and copied for each further registry, so opening a registry in a
new folder costs milliseconds, not MLflow's 80 schema migrations each time.

Out of scope: serving the model (:mod:`mlops_reference.serving`), deciding whether a version
deserves promotion (:mod:`mlops_reference.validation`, :mod:`mlops_reference.rollout`).
MLflow is imported only when a :class:`Registry` is created, never at package import.
"""
from __future__ import annotations

import contextlib
import getpass
import hashlib
import importlib
import io
import logging
import os
import random
import re
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_reference import _atomic, _utils

__all__ = [
    "Registry",
    "ModelVersionInfo",
    "ARTEFACT_FILE",
]

#: File name of the joblib artefact inside each run's ``artefact/`` folder.
ARTEFACT_FILE = "model.joblib"
_ARTEFACT_DIR = "artefact"
_MODEL_NAME_IN_RUN = "model"
_TAG_SHA = "artefact_sha256"
_TAG_DATA = "data_sha256"
_TAG_METRIC = "metric."
_AUDIT_COLUMNS = ["when", "name", "alias", "action", "from_version", "to_version", "reason", "user"]
_LOCK_FILE = "registry.lock"
_LOCK_TIMEOUT_S = 300.0
_MAX_NAME = 256
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")


@dataclass(frozen=True)
class ModelVersionInfo:
    """What the registry knows about one model version."""

    name: str
    version: int
    run_id: str
    model_uri: str
    artefact_sha256: str
    data_sha256: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created: str = ""


def _hash_dataframe(df: pd.DataFrame) -> str:
    """Deterministic SHA-256 of a DataFrame's content, column names, dtypes and index.

    The same data gives the same hash in any process and on any day (unlike Python's
    ``hash``), so it can stand for "the training data" in a version's tags.

    Parameters
    ----------
    df : DataFrame
        The data to fingerprint.

    Returns
    -------
    str
        64 hexadecimal characters.

    Examples
    --------
    Does changing a single value change the hash, and does copying leave it alone?

    >>> import pandas as pd
    >>> a = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    >>> _hash_dataframe(a) == _hash_dataframe(a.copy())
    True
    >>> b = a.copy(); b.loc[1, "x"] = 2.5
    >>> _hash_dataframe(a) == _hash_dataframe(b)
    False
    >>> len(_hash_dataframe(a))
    64
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"`df` must be a pandas DataFrame; got {type(df).__name__}. "
            "Wrap arrays with pd.DataFrame(X, columns=...) first."
        )
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()


def _check_name(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"`{param}` must be a non-empty string; got {value!r}.")
    return value


def _check_model_name(name: Any) -> str:
    """A registered model name MLflow stores and its search filter can quote, or a clear error."""
    _check_name(name, "name")
    problem = None
    if len(name) > _MAX_NAME:
        problem = f"at most {_MAX_NAME} characters"
    elif name != name.strip():
        problem = "free of leading and trailing spaces"
    elif any(c in name for c in "/:") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "free of '/', ':' and control characters (MLflow builds paths and URIs from it)"
    elif "'" in name and '"' in name:
        problem = "free of either single or double quotes (MLflow's filter syntax cannot quote both)"
    if problem:
        raise ValueError(
            f"`name` must be {problem}; got {name!r}. Use a name such as 'incident-predictor'."
        )
    return name


def _filter_literal(value: str) -> str:
    """``value`` quoted for an MLflow search filter: in the quote character it does not contain."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"`name` must not contain both kinds of quote; got {value!r}.")


def _check_alias(alias: Any) -> str:
    _check_name(alias, "alias")
    if not _ALIAS.fullmatch(alias) or alias.isdigit() or alias.lower() == "latest" \
            or re.fullmatch(r"[vV]\d+", alias):
        raise ValueError(
            f"`alias` must be 1 to 255 letters, digits, '_' or '-', and not a number, 'latest' or "
            f"'v<number>' (MLflow reserves them); got {alias!r}. Use e.g. 'champion' or 'challenger'."
        )
    return alias


def _check_version(version: Any) -> int:
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
        raise ValueError(f"`version` must be a positive integer; got {version!r}.")
    return int(version)


def _require(module: str):
    """Import an optional dependency of the registry, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"The registry needs {module.split('.')[0]}: pip install 'mlops-companion[registry]'."
        ) from exc


def _import_mlflow():
    mlflow = _require("mlflow")
    _require("mlflow.sklearn")  # registers the sklearn flavour
    return mlflow


def _alias_stack(history: list[tuple[str, int | None, int]]) -> list[int]:
    """The versions an alias pointed at, as an undo stack rebuilt from its audit chain.

    A promotion or an external move to a new version pushes it; a rollback pops the
    current one. A promotion to the version already in place changes nothing.
    """
    stack: list[int] = []
    for action, _from_version, to_version in history:
        if action == "rollback" and stack:
            stack.pop()
        if not stack or stack[-1] != to_version:
            stack.append(int(to_version))
    return stack


def _is_transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(s in text for s in ("database is locked", "unique constraint", "integrityerror",
                                   "already exists", "busy", "deadlock"))


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's own chatter for the duration of a registry call.

    MLflow warns about its internals in ways a reader can do nothing about: a SQLAlchemy
    deprecation inside its store, a pandas deprecation inside its input-example code, a hint
    that integer columns cannot hold missing values (ours never do: the server refuses
    them). The test suite turns every warning into an error, so we ignore warnings *raised
    from MLflow's modules* only, here and nowhere else, and lower its INFO logging.
    """
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
            warnings.filterwarnings("ignore", module=r"alembic(\.|$)")
            yield
    finally:
        logger.setLevel(level)


# A new SQLite file becomes an MLflow store through about 80 schema migrations, 1.3 s of CPU
# each time. One empty store, migrated once per process, is copied for every new registry
# after the first; MLflow checks its schema version when it opens the copy, as it does for
# any store. Only the Default experiment is left out: MLflow adds it to each store it opens,
# with that store's own artefact location.
_empty_store: bytes | None = None


def _empty_store_bytes() -> bytes:
    """The bytes of an empty, fully migrated MLflow SQLite store (made once per process)."""
    global _empty_store
    if _empty_store is None:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        with tempfile.TemporaryDirectory(prefix="mlflow-schema-") as tmp, _quiet_mlflow():
            db = Path(tmp) / "mlflow.db"
            SqlAlchemyStore(f"sqlite:///{db}", Path(tmp).as_uri()).engine.dispose()
            with contextlib.closing(sqlite3.connect(db)) as con, con:
                con.execute("DELETE FROM experiments")
            _empty_store = db.read_bytes()
    return _empty_store


def _create_store(db: Path) -> None:
    """Write an empty MLflow store at ``db`` unless one exists (caller holds the lock)."""
    if not db.exists():  # written whole or not at all: a killed writer leaves no half store
        store = _empty_store_bytes()
        _atomic.write_atomically(db, lambda fh: fh.write(store))


def _pip_requirements() -> list[str]:
    """The pinned requirements logged with the MLflow model (given, because inferring them takes seconds)."""
    import cloudpickle
    import mlflow
    import sklearn

    return [f"mlflow=={mlflow.__version__}", f"scikit-learn=={sklearn.__version__}",
            f"numpy=={np.__version__}", f"pandas=={pd.__version__}",
            f"cloudpickle=={cloudpickle.__version__}"]


class _AuditLog:
    """Append-only chain of alias moves in its own SQLite file.

    Triggers make UPDATE and DELETE fail, so the history can only grow, and refuse an
    INSERT whose ``from_version`` is not the ``to_version`` of the previous entry for the
    same model and alias (``IS NOT`` also compares NULLs: the first entry comes from NULL).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as con:
            con.executescript(
                """
                CREATE TABLE IF NOT EXISTS alias_moves (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    "when" TEXT NOT NULL, name TEXT NOT NULL, alias TEXT NOT NULL,
                    action TEXT NOT NULL, from_version INTEGER, to_version INTEGER NOT NULL,
                    reason TEXT NOT NULL, user TEXT NOT NULL);
                CREATE TRIGGER IF NOT EXISTS alias_moves_no_update BEFORE UPDATE ON alias_moves
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER IF NOT EXISTS alias_moves_no_delete BEFORE DELETE ON alias_moves
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER IF NOT EXISTS alias_moves_chain BEFORE INSERT ON alias_moves
                    WHEN NEW.from_version IS NOT (
                        SELECT to_version FROM alias_moves
                        WHERE name = NEW.name AND alias = NEW.alias ORDER BY id DESC LIMIT 1)
                    BEGIN SELECT RAISE(ABORT, 'the audit log is a chain: from_version must be the previous to_version'); END;
                """
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30.0)

    def append(self, *, name: str, alias: str, action: str, from_version: int | None,
               to_version: int, reason: str) -> None:
        when = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. in some containers
            user = "unknown"
        con = self._connect()
        try:
            with con:
                con.execute(
                    'INSERT INTO alias_moves ("when", name, alias, action, from_version, '
                    "to_version, reason, user) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (when, name, alias, action, from_version, to_version, reason, user),
                )
        finally:
            con.close()

    def history(self, name: str, alias: str) -> list[tuple[str, int | None, int]]:
        """``(action, from_version, to_version)`` of every move of ``alias``, oldest first."""
        con = self._connect()
        try:
            return con.execute(
                "SELECT action, from_version, to_version FROM alias_moves "
                "WHERE name = ? AND alias = ? ORDER BY id", (name, alias)).fetchall()
        finally:
            con.close()

    def frame(self, name: str | None = None) -> pd.DataFrame:
        con = self._connect()
        try:
            query = 'SELECT "when", name, alias, action, from_version, to_version, reason, user FROM alias_moves'
            params: tuple = ()
            if name is not None:
                query += " WHERE name = ?"
                params = (name,)
            rows = con.execute(query + " ORDER BY id", params).fetchall()
        finally:
            con.close()
        df = pd.DataFrame(rows, columns=_AUDIT_COLUMNS)
        df["when"] = pd.to_datetime(df["when"], utc=True, format="ISO8601")
        for col in ("from_version", "to_version"):
            df[col] = df[col].astype("Int64")
        return df


class Registry:
    """A model registry over MLflow, with an append-only audit log of alias moves.

    Parameters
    ----------
    root : str or Path
        Folder for everything local: the SQLite store ``mlflow.db`` and ``artifacts/``
        (when ``tracking_uri`` is None), the audit log ``audit.db``, and downloads.
    tracking_uri : str, default=None
        An MLflow tracking URI (e.g. ``"http://127.0.0.1:5000"`` for ``mlflow server``).
        None means the embedded SQLite store in ``root``.
    experiment : str, default="mlops-companion"
        The MLflow experiment that holds the registration runs.
    retries : int, default=8
        How often a write that hits a locked database or a version-number race is
        retried (with jittered back-off) before the error is raised.

    Examples
    --------
    Register a pipeline, promote it, and ask who the champion is:

    >>> import tempfile
    >>> from mlops_companion import data
    >>> s = data.make_scenario()
    >>> reg = Registry(tempfile.mkdtemp())
    >>> v1 = reg.register("incident-predictor", s.pipeline, training_data=s.X_train,
    ...                   example_input=s.X_test.head(3), metrics={"accuracy": 0.8})
    >>> v1.version, len(v1.artefact_sha256)
    (1, 64)
    >>> _ = reg.promote("incident-predictor", 1, reason="first model")
    >>> reg.get("incident-predictor", "champion").version
    1
    """

    def __init__(self, root: str | os.PathLike, *, tracking_uri: str | None = None,
                 experiment: str = "mlops-companion", retries: int = 8) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"`root` must be a folder path (str or Path); got {type(root).__name__}.")
        if tracking_uri is not None and not isinstance(tracking_uri, str):
            raise TypeError(f"`tracking_uri` must be a string or None; got {tracking_uri!r}.")
        _check_name(experiment, "experiment")
        retries = _utils.check_int(retries, "retries", low=0)
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.artifact_root = self.root / "artifacts"
        self.tracking_uri = tracking_uri or f"sqlite:///{self.root / 'mlflow.db'}"
        self.experiment = experiment
        self.retries = retries
        self._mlflow = _import_mlflow()
        self._lock = _require("filelock").FileLock(str(self.root / _LOCK_FILE), timeout=_LOCK_TIMEOUT_S)
        from mlflow import MlflowClient

        # MLflow creates or migrates its schema the first time each store is touched; two
        # processes doing it at once race (duplicate columns, alembic errors), so one at a time.
        with self._locked(), _quiet_mlflow():
            if tracking_uri is None:
                _create_store(self.root / "mlflow.db")
            self._client = self._retry(lambda: MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri))
            self._experiment_id = self._retry(self._ensure_experiment)
            self._retry(lambda: self._client.search_registered_models(max_results=1))
            self._audit = _AuditLog(self.root / "audit.db")

    def __repr__(self) -> str:
        return f"Registry(root={str(self.root)!r}, tracking_uri={self.tracking_uri!r})"

    # -- plumbing ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the registry's file lock (re-entrant in one thread), or fail with a clear error."""
        from filelock import Timeout

        try:
            self._lock.acquire()
        except Timeout as exc:
            raise TimeoutError(
                f"the registry lock {self._lock.lock_file!r} must be free within {_LOCK_TIMEOUT_S:g} s; "
                "another process has held it longer. Check for a hung process using this registry."
            ) from exc
        try:
            yield
        finally:
            self._lock.release()

    def _retry(self, fn):
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except Exception as exc:  # MLflow wraps SQLite errors in several types
                if attempt == self.retries or not _is_transient(exc):
                    raise
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_experiment(self) -> str:
        exp = self._client.get_experiment_by_name(self.experiment)
        if exp is not None:
            return exp.experiment_id
        location = None if self.tracking_uri.startswith(("http://", "https://")) else self.artifact_root.as_uri()
        try:
            return self._client.create_experiment(self.experiment, artifact_location=location)
        except Exception:
            exp = self._client.get_experiment_by_name(self.experiment)
            if exp is None:
                raise
            return exp.experiment_id

    @contextlib.contextmanager
    def _fluent(self) -> Iterator[Any]:
        """Point MLflow's process-wide fluent API at this registry, then put everything back.

        ``mlflow.set_tracking_uri`` changes module globals *and* environment variables (so
        that subprocesses inherit them); restoring through the same setters would leave the
        default URIs pinned in the environment, so we save and restore both verbatim.
        """
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        mlflow = self._mlflow
        names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
        env = {k: os.environ.get(k) for k in names}
        saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield mlflow
        finally:
            tracking_utils._tracking_uri, registry_utils._registry_uri = saved
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _info(self, mv) -> ModelVersionInfo:
        tags = dict(mv.tags or {})
        metrics = {k[len(_TAG_METRIC):]: float(v) for k, v in tags.items() if k.startswith(_TAG_METRIC)}
        created = ""
        if mv.creation_timestamp:
            created = datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc).isoformat()
        return ModelVersionInfo(
            name=mv.name, version=int(mv.version), run_id=mv.run_id or "",
            model_uri=mv.source or "", artefact_sha256=tags.get(_TAG_SHA, ""),
            data_sha256=tags.get(_TAG_DATA, ""), metrics=metrics,
            aliases=tuple(sorted(getattr(mv, "aliases", []) or [])), created=created,
        )

    # -- registering ------------------------------------------------------------------
    def register(self, name: str, model: Any, *, training_data: pd.DataFrame,
                 example_input: pd.DataFrame, metrics: Mapping[str, float] | None = None,
                 description: str | None = None) -> ModelVersionInfo:
        """Log a fitted pipeline to a new run and register it as the next version of ``name``.

        Parameters
        ----------
        name : str
            Registered model name, e.g. ``"incident-predictor"``.
        model : fitted estimator with ``predict_proba``
            The pipeline to register.
        training_data : DataFrame
            The data it was trained on; only its hash (a SHA-256 of its content) is stored.
        example_input : DataFrame
            A few input rows: the artefact's example, MLflow's input example and signature.
        metrics : mapping of str to float, default=None
            Evaluation results, logged to the run and tagged on the version.
        description : str, default=None
            Free text shown in the MLflow UI.

        Returns
        -------
        ModelVersionInfo

        Examples
        --------
        See :class:`Registry`.
        """
        from mlops_reference import artefacts

        _check_model_name(name)
        if not hasattr(model, "predict_proba"):
            raise TypeError(f"`model` must be a fitted estimator with predict_proba; got {type(model).__name__}.")
        if not isinstance(example_input, pd.DataFrame) or len(example_input) == 0:
            raise ValueError(f"`example_input` must be a non-empty DataFrame; got {type(example_input).__name__}.")
        data_sha = _hash_dataframe(training_data)
        metrics = dict(metrics or {})
        for key, value in metrics.items():
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not np.isfinite(value):
                raise ValueError(f"`metrics` must map names to finite numbers; got {key!r}: {value!r}.")

        from mlflow.models import infer_signature

        requirements = _pip_requirements()
        proba = model.predict_proba(example_input)
        with tempfile.TemporaryDirectory(dir=self.root) as tmp, _quiet_mlflow(), self._fluent() as mlflow:
            art_dir = Path(tmp) / _ARTEFACT_DIR
            art_dir.mkdir()
            manifest = artefacts.save_artefact(model, art_dir / ARTEFACT_FILE, example_input=example_input)
            sha = manifest.sha256
            run = self._retry(lambda: mlflow.start_run(experiment_id=self._experiment_id))
            try:
                mlflow.log_artifacts(str(art_dir), artifact_path=_ARTEFACT_DIR)
                logged = mlflow.sklearn.log_model(
                    sk_model=model, name=_MODEL_NAME_IN_RUN,
                    signature=infer_signature(example_input, proba),
                    input_example=example_input, pyfunc_predict_fn="predict_proba",
                    pip_requirements=requirements, serialization_format="cloudpickle",
                )
                if metrics:
                    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
                mlflow.log_params({_TAG_DATA: data_sha, _TAG_SHA: sha})
            finally:
                mlflow.end_run()
            tags = {_TAG_SHA: sha, _TAG_DATA: data_sha,
                    **{f"{_TAG_METRIC}{k}": repr(float(v)) for k, v in metrics.items()}}
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                    self._locked():
                self._retry(lambda: self._ensure_registered_model(name))
                mv = self._retry(lambda: self._client.create_model_version(
                    name=name, source=logged.model_uri, run_id=run.info.run_id, tags=tags,
                    description=description, model_id=logged.model_id))
        return self._info(mv)

    def _ensure_registered_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._client.get_registered_model(name)
        except MlflowException:
            try:
                self._client.create_registered_model(name)
            except MlflowException as exc:
                if "already exists" not in str(exc).lower():
                    raise

    # -- reading ----------------------------------------------------------------------
    def get(self, name: str, alias_or_version: str | int) -> ModelVersionInfo:
        """Look up a version by alias (``"champion"``) or number (``3``).

        Examples
        --------
        See :class:`Registry`.
        """
        from mlflow.exceptions import MlflowException

        _check_model_name(name)
        try:
            with _quiet_mlflow():
                if isinstance(alias_or_version, str) and not alias_or_version.isdigit():
                    mv = self._client.get_model_version_by_alias(name, alias_or_version)
                else:
                    mv = self._client.get_model_version(name, str(_check_version(alias_or_version)))
        except MlflowException as exc:
            raise LookupError(
                f"`alias_or_version` must name an existing version of {name!r}; got "
                f"{alias_or_version!r} ({exc.message if hasattr(exc, 'message') else exc})."
            ) from exc
        return self._info(mv)

    def versions(self, name: str) -> list[ModelVersionInfo]:
        """All versions of ``name``, oldest first.

        Examples
        --------
        See :class:`Registry`; ``[v.version for v in reg.versions(name)]`` lists them.
        """
        _check_model_name(name)
        with _quiet_mlflow():
            found = self._client.search_model_versions(f"name = {_filter_literal(name)}")
        return sorted((self.get(name, int(mv.version)) for mv in found if mv.name == name),
                      key=lambda v: v.version)

    def _current(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at, or None (``name`` and ``alias`` already checked)."""
        from mlflow.exceptions import MlflowException

        try:
            with _quiet_mlflow():
                return int(self._client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    # -- moving aliases ---------------------------------------------------------------
    def promote(self, name: str, version: int, alias: str = "champion", *, reason: str) -> ModelVersionInfo:
        """Point ``alias`` at ``version`` and record the move in the audit log.

        Parameters
        ----------
        name : str
            Registered model name.
        version : int
            The version to promote.
        alias : str, default="champion"
            The alias to move (``champion``, ``challenger``, ...).
        reason : str
            Why: the ticket, the validation result, the person who approved it.

        Returns
        -------
        ModelVersionInfo
            The promoted version.

        Examples
        --------
        See :class:`Registry`.
        """
        _check_model_name(name)
        version = _check_version(version)
        _check_alias(alias)
        _check_name(reason, "reason")
        target = self.get(name, version)  # raises LookupError for an unknown version
        with self._locked():  # read the alias, move it, log the move: one step for every process
            before = self._reconcile(name, alias)
            with _quiet_mlflow():
                self._retry(lambda: self._client.set_registered_model_alias(name, alias, str(version)))
            self._audit.append(name=name, alias=alias, action="promote", from_version=before,
                               to_version=version, reason=reason)
        return self.get(name, target.version)

    def _reconcile(self, name: str, alias: str) -> int | None:
        """Where ``alias`` points now; a move made outside this class is logged as ``"external"``.

        Called with the lock held, so the audit chain's last link and MLflow agree afterwards.
        """
        current = self._current(name, alias)
        history = self._audit.history(name, alias)
        logged = history[-1][2] if history else None
        if current is None:      # never set, or deleted outside the registry: keep the chain's end
            return logged
        if current != logged:
            self._audit.append(name=name, alias=alias, action="external", from_version=logged,
                               to_version=current,
                               reason="moved outside the registry; recorded when next noticed")
        return current

    def rollback(self, name: str, alias: str = "champion", *, reason: str) -> ModelVersionInfo:
        """Move ``alias`` back to the version it pointed at before its current one was promoted.

        The target is rebuilt from the audit chain of this alias (promotions and external
        moves push a version, rollbacks pop one), under the registry's lock. Rolling back
        twice therefore walks back two promotions, rather than toggling between the last two
        versions.

        Examples
        --------
        >>> import tempfile
        >>> from mlops_companion import data
        >>> s = data.make_scenario()
        >>> reg = Registry(tempfile.mkdtemp())
        >>> for _ in range(2):
        ...     _ = reg.register("m", s.pipeline, training_data=s.X_train,
        ...                      example_input=s.X_test.head(2))
        >>> _ = reg.promote("m", 1, reason="first")
        >>> _ = reg.promote("m", 2, reason="second")
        >>> reg.rollback("m", reason="v2 misbehaves").version
        1
        >>> list(reg.audit_log("m")["action"])
        ['promote', 'promote', 'rollback']
        """
        _check_model_name(name)
        _check_alias(alias)
        _check_name(reason, "reason")
        with self._locked():
            current = self._reconcile(name, alias)
            if current is None or self._current(name, alias) is None:
                raise LookupError(
                    f"`alias` must point at a version of {name!r} to roll back; {alias!r} points nowhere.")
            stack = _alias_stack(self._audit.history(name, alias))
            if len(stack) < 2:
                raise LookupError(
                    f"Nothing to roll back to: the audit log has no version that {alias!r} of {name!r} "
                    f"pointed at before version {current}. Promote a version explicitly instead."
                )
            target = stack[-2]
            with _quiet_mlflow():
                self._retry(lambda: self._client.set_registered_model_alias(name, alias, str(target)))
            self._audit.append(name=name, alias=alias, action="rollback", from_version=current,
                               to_version=target, reason=reason)
        return self.get(name, target)

    def audit_log(self, name: str | None = None) -> pd.DataFrame:
        """Every alias move, oldest first: when, name, alias, action, from/to version, reason, user.

        Examples
        --------
        See :meth:`rollback`.
        """
        if name is not None:
            _check_model_name(name)
        return self._audit.frame(name)

    # -- loading ----------------------------------------------------------------------
    def _fetch_artefact(self, name: str, alias_or_version: str | int,
                        dest: str | os.PathLike) -> tuple[Path, ModelVersionInfo]:
        """Download a version's artefact folder into ``dest`` and check its hash (:meth:`load`'s
        first half): the path of the joblib file and the version's info, or
        :class:`~mlops_reference.artefacts.ArtefactIntegrityError` when the file's SHA-256
        differs from the one tagged at registration."""
        from mlops_reference import artefacts

        info = self.get(name, alias_or_version)
        if not info.artefact_sha256:
            raise LookupError(f"Version {info.version} of {name!r} carries no `{_TAG_SHA}` tag; it was not registered by this module.")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        with _quiet_mlflow(), contextlib.redirect_stderr(io.StringIO()):
            local = self._client.download_artifacts(info.run_id, _ARTEFACT_DIR, str(dest))
        path = Path(local) / ARTEFACT_FILE
        actual = _utils.sha256_file(path)
        if actual != info.artefact_sha256:
            raise artefacts.ArtefactIntegrityError(
                f"`{name}` version {info.version}: artefact SHA-256 must be {info.artefact_sha256}; "
                f"got {actual}. The stored file changed after registration; refusing to unpickle it."
            )
        return path, info

    def load(self, name: str, alias: str | int = "champion") -> tuple[Any, ModelVersionInfo]:
        """Load the model an alias points at, verifying its SHA-256 before unpickling.

        Returns
        -------
        model : fitted estimator
        info : ModelVersionInfo

        Examples
        --------
        >>> import tempfile
        >>> from mlops_companion import data
        >>> s = data.make_scenario()
        >>> reg = Registry(tempfile.mkdtemp())
        >>> _ = reg.register("m", s.pipeline, training_data=s.X_train, example_input=s.X_test.head(2))
        >>> _ = reg.promote("m", 1, reason="first")
        >>> model, info = reg.load("m", "champion")
        >>> bool((model.predict_proba(s.X_test) == s.pipeline.predict_proba(s.X_test)).all())
        True
        """
        from mlops_reference import artefacts

        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            path, info = self._fetch_artefact(name, alias, tmp)
            loaded = artefacts.load_artefact(path, expected_sha256=info.artefact_sha256)
        return loaded.model, info
