"""Tests for mlops_reference.artefacts: integrity before unpickling, versions, replay, atomicity."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_companion import data
from mlops_reference import artefacts
from mlops_reference import _utils


@pytest.fixture(scope="module")
def scenario():
    return data.make_scenario()


@pytest.fixture()
def saved(tmp_path, scenario):
    path = tmp_path / "model.joblib"
    manifest = artefacts.save_artefact(scenario.pipeline, path, example_input=scenario.X_test.head(5))
    return path, manifest


# ---------------------------------------------------------------- a booby-trapped "model"
def _rebuild(marker: str):
    """Runs at unpickling time: leaves a marker file, then returns a working model."""
    Path(marker).write_text("unpickled")
    return _Trap(marker)


class _Trap:
    """A tiny classifier whose pickle, when loaded, creates a marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def predict_proba(self, X):
        p = np.full(len(X), 0.25)
        return np.column_stack([1 - p, p])

    def __reduce__(self):
        return (_rebuild, (self.marker,))


@pytest.fixture()
def trap(tmp_path, scenario):
    marker = tmp_path / "UNPICKLED"
    path = tmp_path / "trap.joblib"
    manifest = artefacts.save_artefact(_Trap(str(marker)), path, example_input=scenario.X_test.head(2))
    return path, manifest, marker


def test_trap_marker_proves_unpickling(trap):
    """Control: loading the untouched trap does unpickle it, so the marker is a valid probe."""
    path, manifest, marker = trap
    assert not marker.exists()
    artefacts.load_artefact(path, expected_sha256=manifest.sha256)
    assert marker.exists()


def test_flipped_byte_refused_before_unpickling(trap):
    path, manifest, marker = trap
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(artefacts.ArtefactIntegrityError, match="SHA-256 must be the trusted"):
        artefacts.load_artefact(path, expected_sha256=manifest.sha256)
    assert not marker.exists()


def test_truncated_file_refused_before_unpickling(trap):
    path, manifest, marker = trap
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(artefacts.ArtefactIntegrityError, match=r"truncated"):
        artefacts.load_artefact(path, expected_sha256=manifest.sha256)
    assert not marker.exists()


def test_swapped_file_and_manifest_refused(trap, saved):
    """An attacker who replaces both files still cannot match the hash the caller trusts."""
    path, manifest, marker = trap
    good_path, good_manifest = saved
    with pytest.raises(artefacts.ArtefactIntegrityError, match="SHA-256 must be the trusted"):
        artefacts.load_artefact(path, expected_sha256=good_manifest.sha256)
    assert not marker.exists()


def test_manifest_from_other_artefact_refused(saved, tmp_path, scenario):
    path, manifest = saved
    other = tmp_path / "other.joblib"
    artefacts.save_artefact(scenario.pipeline, other, example_input=scenario.X_test.head(2), compress=3)
    artefacts.manifest_path(path).write_bytes(artefacts.manifest_path(other).read_bytes())
    other_size = json.loads(artefacts.manifest_path(path).read_text())["size_bytes"]
    assert other_size != manifest.size_bytes
    with pytest.raises(artefacts.ArtefactIntegrityError, match="bytes as its manifest records"):
        artefacts.load_artefact(path, expected_sha256=manifest.sha256)


def test_manifest_hash_must_match_trusted(saved):
    path, manifest = saved
    mpath = artefacts.manifest_path(path)
    doc = json.loads(mpath.read_text())
    doc["sha256"] = "0" * 64
    mpath.write_text(json.dumps(doc))
    with pytest.raises(artefacts.ArtefactIntegrityError, match="manifest's SHA-256 must match"):
        artefacts.load_artefact(path, expected_sha256=manifest.sha256)


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize(("fmt", "level"), [("joblib", 0), ("joblib", 3), ("skops", 0), ("skops", 5)])
def test_round_trip_identical_predictions(tmp_path, scenario, fmt, level):
    path = tmp_path / f"m.{fmt}"
    m = artefacts.save_artefact(scenario.pipeline, path, example_input=scenario.X_test.head(4),
                                compress=level, format=fmt)
    assert m.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert m.size_bytes == path.stat().st_size
    loaded = artefacts.load_artefact(path, expected_sha256=m.sha256.upper())
    np.testing.assert_array_equal(loaded.model.predict_proba(scenario.X_test),
                                  scenario.pipeline.predict_proba(scenario.X_test))
    assert loaded.manifest == m
    assert loaded.load_seconds > 0


def test_manifest_contents(saved, scenario):
    path, m = saved
    on_disk = json.loads(artefacts.manifest_path(path).read_text())
    assert on_disk["sha256"] == m.sha256
    assert set(on_disk["versions"]) >= {"python", "numpy", "scipy", "scikit-learn", "joblib"}
    assert tuple(on_disk["feature_names"]) == data.FEATURES
    assert on_disk["created_utc"].endswith("+00:00")
    pd.testing.assert_frame_equal(m.example_frame(), scenario.X_test.head(5).reset_index(drop=True))
    np.testing.assert_array_equal(
        np.array(on_disk["expected_output"]), scenario.pipeline.predict_proba(scenario.X_test.head(5))[:, 1])
    assert artefacts.load_artefact(path, expected_sha256=m.sha256).manifest == m


def test_sha256_file_streams_in_chunks(tmp_path):
    p = tmp_path / "blob"
    payload = os.urandom(10_000)
    p.write_bytes(payload)
    assert _utils.sha256_file(p, chunk_size=7) == hashlib.sha256(payload).hexdigest()


# ---------------------------------------------------------------- versions
def _edit_manifest(path: Path, **changes):
    mpath = artefacts.manifest_path(path)
    doc = json.loads(mpath.read_text())
    for key, value in changes.items():
        doc[key] = value
    mpath.write_text(json.dumps(doc))


def test_version_mismatch_refused_then_allowed_with_warning(saved):
    path, m = saved
    _edit_manifest(path, versions={**m.versions, "scikit-learn": "0.24.2"})
    with pytest.raises(artefacts.ArtefactVersionError, match=r"scikit-learn saved with 0\.24\.2, installed"):
        artefacts.load_artefact(path, expected_sha256=m.sha256)
    with pytest.warns(UserWarning, match="scikit-learn saved with 0.24.2") as caught:
        loaded = artefacts.load_artefact(path, expected_sha256=m.sha256, allow_version_mismatch=True)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert loaded.model is not None


def test_python_patch_release_is_not_a_mismatch(saved):
    path, m = saved
    major, minor, *_ = m.versions["python"].split(".")
    _edit_manifest(path, versions={**m.versions, "python": f"{major}.{minor}.999"})
    artefacts.load_artefact(path, expected_sha256=m.sha256)


def test_replay_mismatch(saved):
    path, m = saved
    _edit_manifest(path, expected_output=[v + 0.01 for v in m.expected_output])
    with pytest.raises(ValueError, match="the replayed example must reproduce .* largest difference of 0.01"):
        artefacts.load_artefact(path, expected_sha256=m.sha256)
    artefacts.load_artefact(path, expected_sha256=m.sha256, replay=False)
    artefacts.load_artefact(path, expected_sha256=m.sha256, replay_atol=0.02)


def test_model_fitted_on_arrays_round_trips(tmp_path, scenario):
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression().fit(scenario.X_train.to_numpy(), scenario.y_train)
    path = tmp_path / "lr.joblib"
    m = artefacts.save_artefact(lr, path, example_input=scenario.X_test.head(3))
    loaded = artefacts.load_artefact(path, expected_sha256=m.sha256)
    assert np.array_equal(loaded.model.coef_, lr.coef_)


# ---------------------------------------------------------------- skops allow-list
def test_skops_refuses_types_not_on_allow_list(tmp_path, scenario):
    path = tmp_path / "m.skops"
    m = artefacts.save_artefact(scenario.pipeline, path, example_input=scenario.X_test.head(2), format="skops")
    with pytest.raises(artefacts.ArtefactUntrustedTypeError, match=r"sklearn\.tree\._tree\.Tree"):
        artefacts.load_artefact(path, expected_sha256=m.sha256, trusted_types=())


# ---------------------------------------------------------------- atomicity
def test_crash_mid_write_keeps_previous_artefact(saved, scenario, monkeypatch):
    path, old = saved
    old_bytes = path.read_bytes()
    old_manifest = artefacts.manifest_path(path).read_bytes()

    import joblib

    def exploding_dump(obj, fh, **kwargs):
        fh.write(b"half a model")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(joblib, "dump", exploding_dump)
    with pytest.raises(OSError, match="simulated"):
        artefacts.save_artefact(scenario.pipeline, path, example_input=scenario.X_test.head(3), compress=3)
    assert path.read_bytes() == old_bytes
    assert artefacts.manifest_path(path).read_bytes() == old_manifest
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, artefacts.manifest_path(path).name])
    monkeypatch.undo()
    artefacts.load_artefact(path, expected_sha256=old.sha256)


def test_overwrite_replaces_both_files(saved, scenario):
    path, old = saved
    new = artefacts.save_artefact(scenario.pipeline, path, example_input=scenario.X_test.head(3), compress=3)
    assert new.sha256 != old.sha256
    assert json.loads(artefacts.manifest_path(path).read_text())["sha256"] == new.sha256
    with pytest.raises(artefacts.ArtefactIntegrityError):
        artefacts.load_artefact(path, expected_sha256=old.sha256)


# ---------------------------------------------------------------- compare_formats
def test_compare_formats_table(scenario):
    table = artefacts.compare_formats(scenario.pipeline, example_input=scenario.X_test.head(2),
                                      variants=[("joblib", 0), ("joblib", 9)], n_repeats=2)
    assert list(table.columns) == ["format", "compress", "size_bytes", "load_ms", "size_ratio", "load_ratio"]
    assert table.loc[0, "size_ratio"] == 1.0
    assert table.loc[1, "size_bytes"] < table.loc[0, "size_bytes"]
    assert (table["load_ms"] > 0).all()


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"format": "pickle"}, ValueError, r"`format` must be one of \['joblib', 'skops'\]; got 'pickle'"),
        ({"compress": 10}, ValueError, r"`compress` must be an integer from 0 .* got 10"),
        ({"compress": -1}, ValueError, r"`compress` must be an integer"),
        ({"compress": "high"}, ValueError, r"`compress` must be an integer"),
        ({"example_input": np.zeros((2, 5))}, TypeError, r"`example_input` must be a pandas DataFrame"),
        ({"example_input": "empty"}, ValueError, r"`example_input` must have between 1 and 100 rows; got 0"),
        ({"example_input": "wrong_columns"}, ValueError, r"`example_input` must have the model's columns"),
        ({"example_input": "nan"}, ValueError, r"`example_input` must hold finite numbers"),
        ({"model": object()}, TypeError, r"`model` must be a fitted classifier with predict_proba; got object"),
        ({"path": ""}, TypeError, r"`path` must be a non-empty str or os.PathLike"),
        ({"path": "missing_dir/model.joblib"}, FileNotFoundError, r"`path` must be in an existing folder"),
    ],
)
def test_save_artefact_bad_input(tmp_path, scenario, kwargs, error, match):
    X = scenario.X_test.head(3)
    examples = {"empty": X.iloc[:0], "wrong_columns": X[list(reversed(X.columns))],
                "nan": X.assign(error_pct=np.nan)}
    args = {"model": scenario.pipeline, "path": tmp_path / "m.joblib", "example_input": X}
    args.update(kwargs)
    if isinstance(args["example_input"], str):
        args["example_input"] = examples[args["example_input"]]
    if args["path"] == "missing_dir/model.joblib":
        args["path"] = tmp_path / "missing_dir" / "model.joblib"
    model, path = args.pop("model"), args.pop("path")
    with pytest.raises(error, match=match):
        artefacts.save_artefact(model, path, **args)
    assert not (tmp_path / "m.joblib").exists()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"expected_sha256": "abc"}, ValueError, r"`expected_sha256` must be a SHA-256 digest"),
        ({"expected_sha256": None}, ValueError, r"`expected_sha256` must be a SHA-256 digest \(64 hexadecimal characters\); got None"),
        ({"expected_sha256": "g" * 64}, ValueError, r"`expected_sha256` must be a SHA-256 digest"),
        ({"allow_version_mismatch": "yes"}, TypeError, r"`allow_version_mismatch` must be True or False"),
        ({"replay_atol": -1.0}, ValueError, r"`replay_atol` must be a number >= 0; got -1.0"),
        ({"replay_atol": float("nan")}, TypeError, r"`replay_atol` must be a finite number; got nan"),
        ({"trusted_types": "sklearn.tree._tree.Tree"}, TypeError, r"`trusted_types` must be a sequence"),
    ],
)
def test_load_artefact_bad_input(saved, kwargs, error, match):
    path, m = saved
    args = {"expected_sha256": m.sha256, **kwargs}
    with pytest.raises(error, match=match):
        artefacts.load_artefact(path, **args)


def test_load_missing_files(tmp_path, saved):
    path, m = saved
    with pytest.raises(FileNotFoundError, match="`path` must be an existing artefact file"):
        artefacts.load_artefact(tmp_path / "nope.joblib", expected_sha256=m.sha256)
    artefacts.manifest_path(path).unlink()
    with pytest.raises(FileNotFoundError, match="the manifest of `path` must exist"):
        artefacts.load_artefact(path, expected_sha256=m.sha256)


# ---------------------------------------------------------------- not a regular file
# Each load runs in a child process with a time limit and an address-space limit, so that a
# regression (a FIFO read that blocks forever, /dev/zero or an 8 GiB file read into memory)
# fails the test instead of hanging the suite or exhausting the machine's memory.
_BOUNDED_LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from mlops_reference import artefacts
try:
    artefacts.load_artefact(sys.argv[1], expected_sha256=sys.argv[2])
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
else:
    print("loaded")
"""


def _load_in_a_bounded_process(path: Path, sha256: str, *, seconds: float = 90) -> str:
    try:
        run = subprocess.run([sys.executable, "-c", _BOUNDED_LOAD, str(path), sha256],
                             capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"load_artefact({str(path)!r}) did not return within {seconds} s")
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.strip()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_fifo_in_place_of_the_artefact_is_refused_without_blocking(saved):
    path, m = saved
    path.unlink()
    os.mkfifo(path)
    said = _load_in_a_bounded_process(path, m.sha256)
    assert re.match(r"ArtefactIntegrityError: `path` must be a regular file; got a FIFO "
                    r"\(named pipe\) at '.*model\.joblib'\. Nothing was read", said), said


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_symlink_to_dev_zero_is_refused_before_reading(saved):
    path, m = saved
    path.unlink()
    path.symlink_to("/dev/zero")
    said = _load_in_a_bounded_process(path, m.sha256)
    assert re.match(r"ArtefactIntegrityError: `path` must be a regular file; got a character "
                    r"device at '.*model\.joblib' \(a link to '/dev/zero'\)", said), said


def test_sparse_file_larger_than_the_manifest_is_refused_before_reading(saved):
    path, m = saved
    with open(path, "r+b") as fh:
        fh.truncate(8 << 30)  # 8 GiB that take no space on disk
    said = _load_in_a_bounded_process(path, m.sha256)
    assert said == (f"ArtefactIntegrityError: the artefact must be {m.size_bytes} bytes as its "
                    f"manifest records; got {8 << 30} bytes (grown). Do not load it: fetch it "
                    "again."), said


def test_directory_in_place_of_the_artefact_is_refused(saved):
    path, m = saved
    path.unlink()
    path.mkdir()
    with pytest.raises(artefacts.ArtefactIntegrityError,
                       match=r"`path` must be a regular file; got a directory at '.*model\.joblib'"):
        artefacts.load_artefact(path, expected_sha256=m.sha256)


@pytest.mark.parametrize(
    ("content", "match"),
    [("{not json", "must be valid JSON"), ("[1, 2]", "must hold a JSON object"),
     ('{"sha256": "00"}', "must have the fields")],
)
def test_corrupt_manifest(saved, content, match):
    path, m = saved
    artefacts.manifest_path(path).write_text(content)
    with pytest.raises(artefacts.ArtefactIntegrityError, match=match):
        artefacts.load_artefact(path, expected_sha256=m.sha256)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [({"chunk_size": 0}, ValueError, r"`chunk_size` must be an integer >= 1; got 0"),
     ({"chunk_size": 1.5}, TypeError, r"`chunk_size` must be an integer; got 1.5")],
)
def test_sha256_file_bad_input(tmp_path, kwargs, error, match):
    p = tmp_path / "f"
    p.write_bytes(b"x")
    with pytest.raises(error, match=match):
        _utils.sha256_file(p, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_repeats": 0}, r"`n_repeats` must be an integer >= 1; got 0"),
     ({"variants": []}, r"`variants` must name at least one"),
     ({"variants": [("joblib",)]}, r"each entry of `variants` must be a \(format, compress\) pair"),
     ({"variants": [("zip", 0)]}, r"`format` must be one of")],
)
def test_compare_formats_bad_input(scenario, kwargs, match):
    with pytest.raises(ValueError, match=match):
        artefacts.compare_formats(scenario.pipeline, example_input=scenario.X_test.head(2), **kwargs)


def test_manifest_path_bad_input():
    with pytest.raises(TypeError, match=r"`path` must be a non-empty str"):
        artefacts.manifest_path(None)


def test_exception_hierarchy():
    assert issubclass(artefacts.ArtefactIntegrityError, ValueError)
    assert issubclass(artefacts.ArtefactVersionError, RuntimeError)
    assert issubclass(artefacts.ArtefactUntrustedTypeError, TypeError)


def test_public_surface():
    assert sorted(artefacts.__all__) == sorted(
        ["SKOPS_TRUSTED_TYPES", "ArtefactManifest", "LoadedArtefact", "ArtefactIntegrityError",
         "ArtefactVersionError", "ArtefactUntrustedTypeError", "save_artefact", "load_artefact",
         "manifest_path", "compare_formats"])
    for name in artefacts.__all__:
        assert hasattr(artefacts, name)


# ---------------------------------------------------------------- crash safety (issue 11)
def _save_forever(path: str, models: tuple, example: pd.DataFrame, done) -> None:
    """Child process: save the two models alternately until killed; count finished saves."""
    i = 0
    while True:
        artefacts.save_artefact(models[i % 2], path, example_input=example)
        i += 1
        done.value = i


def _loads_with(path: Path, sha: str) -> bool:
    try:
        artefacts.load_artefact(path, expected_sha256=sha)
    except artefacts.ArtefactIntegrityError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal := __import__("signal"), "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_at_random_instants_never_loses_both_artefacts(tmp_path, scenario):
    """Kill a process saving in a loop at random instants: old or new always loads, never neither."""
    import multiprocessing
    import time
    import warnings

    other = data.make_scenario(rng=5).pipeline
    models = (other, scenario.pipeline)           # the child saves B, A, B, A, ...
    example = scenario.X_test.head(3)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sha_a = artefacts.save_artefact(scenario.pipeline, scratch / "a.joblib", example_input=example).sha256
    sha_b = artefacts.save_artefact(other, scratch / "b.joblib", example_input=example).sha256
    assert sha_a != sha_b
    path = tmp_path / "live" / "model.joblib"
    path.parent.mkdir()
    started = time.perf_counter()
    assert artefacts.save_artefact(scenario.pipeline, path, example_input=example).sha256 == sha_a
    one_save = time.perf_counter() - started   # kill instants span a few saves, on any machine load

    ctx = multiprocessing.get_context("fork")     # the child inherits the fitted models and imports
    rng = np.random.default_rng(20261128)
    outcome = {"old": 0, "new": 0, "strays": 0, "saves": 0}
    deadline = time.monotonic() + 240
    n_kills = 0
    while n_kills < 30 and time.monotonic() < deadline:
        done = ctx.Value("i", 0, lock=False)
        with warnings.catch_warnings():           # Python >= 3.12 warns about fork with threads
            warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks", category=DeprecationWarning)
            proc = ctx.Process(target=_save_forever, args=(str(path), models, example, done))
            proc.start()
        time.sleep(rng.uniform(0.0, 4 * one_save))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=60)
        assert proc.exitcode == -signal.SIGKILL, f"the saving child died on its own (exit {proc.exitcode})"
        n_kills += 1
        finished = done.value
        outcome["saves"] += finished
        last_done = sha_a if finished % 2 == 0 else sha_b      # state before the save in flight
        in_flight = sha_b if finished % 2 == 0 else sha_a
        loads_old, loads_new = _loads_with(path, last_done), _loads_with(path, in_flight)
        assert loads_old != loads_new, f"kill {n_kills}: old loads {loads_old}, new loads {loads_new}"
        outcome["old" if loads_old else "new"] += 1
        outcome["strays"] += sum(p.name.startswith(".") for p in path.parent.iterdir())
        # the next save (here, in this process) finishes or removes what the kill left behind
        artefacts.save_artefact(scenario.pipeline, path, example_input=example)
        assert sorted(p.name for p in path.parent.iterdir()) == [path.name, artefacts.manifest_path(path).name]
        assert _loads_with(path, sha_a)
    assert n_kills >= 20, f"only {n_kills} kills fitted in the time budget"
    assert outcome["saves"] > 0, "the child never finished a save: the kills tested nothing"
    print(f"\n{n_kills} kills: {outcome}")


class _StopBeforeInstall(BaseException):
    """Stands for a kill after the manifest's rename and before the bytes' rename."""


def test_save_stopped_between_commit_and_install_loads_new_and_next_save_finishes(saved, scenario, monkeypatch):
    path, old = saved
    real_replace = os.replace

    def replace(src, dst):
        if str(src).endswith(".pending") and Path(dst) == path:
            raise _StopBeforeInstall
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_StopBeforeInstall):
        artefacts.save_artefact(scenario.pipeline, path, example_input=scenario.X_test.head(3), compress=3)
    monkeypatch.undo()
    new_sha = json.loads(artefacts.manifest_path(path).read_text())["sha256"]
    assert new_sha != old.sha256 and _utils.sha256_file(path) == old.sha256   # path still holds the old bytes
    assert [p.name for p in path.parent.glob("*.pending")] == [f".{path.name}.{new_sha}.pending"]
    assert artefacts.load_artefact(path, expected_sha256=new_sha).manifest.sha256 == new_sha
    with pytest.raises(artefacts.ArtefactIntegrityError, match="SHA-256 must be the trusted"):
        artefacts.load_artefact(path, expected_sha256=old.sha256)
    # the next save rolls the interrupted one forward, then writes its own; nothing is left over
    (path.parent / f".{path.name}.0123456789abcdef.tmp").write_bytes(b"half a model")
    final = artefacts.save_artefact(scenario.pipeline, path, example_input=scenario.X_test.head(2))
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, artefacts.manifest_path(path).name])
    assert _utils.sha256_file(path) == final.sha256


def test_leftovers_of_other_artefacts_are_not_touched(saved, scenario):
    path, _ = saved
    neighbour = path.parent / f".{path.name}.v2.0123456789abcdef.tmp"   # belongs to "model.joblib.v2"
    neighbour.write_bytes(b"x")
    artefacts.save_artefact(scenario.pipeline, path, example_input=scenario.X_test.head(2))
    assert neighbour.exists()


def _edit(doc: dict, field: str, value) -> dict:
    if value is _DROP:
        doc.pop(field)
    elif "." in field:
        outer, inner = field.split(".")
        doc[outer][inner] = value
    else:
        doc[field] = value
    return doc


_DROP = object()


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("manifest_version", 2, r"`manifest_version` must be the integer 1; got 2"),
        ("manifest_version", "1", r"`manifest_version` must be the integer 1; got '1'"),
        ("artefact", "", r"`artefact` must be a non-empty file name"),
        ("artefact", "../../etc/passwd", r"`artefact` must be a non-empty file name without folders"),
        ("format", "pickle", r"`format` must be one of \['joblib', 'skops'\]; got 'pickle'"),
        ("compress", "x", r"`compress` must be an integer from 0 to 9; got 'x'"),
        ("compress", True, r"`compress` must be an integer from 0 to 9; got True"),
        ("sha256", "ABC", r"`sha256` must be 64 lowercase hex characters; got 'ABC'"),
        ("sha256", None, r"`sha256` must be 64 lowercase hex characters; got None"),
        ("size_bytes", -1, r"`size_bytes` must be a non-negative integer; got -1"),
        ("size_bytes", 1.5, r"`size_bytes` must be a non-negative integer; got 1.5"),
        ("created_utc", "yesterday", r"`created_utc` must be an ISO 8601 timestamp; got 'yesterday'"),
        ("created_utc", 0, r"`created_utc` must be an ISO 8601 timestamp; got 0"),
        ("versions", ["sklearn"], r"`versions` must be an object mapping library names"),
        ("versions", {"numpy": 2}, r"`versions` must be an object mapping library names"),
        ("feature_names", "abc", r"`feature_names` must be a non-empty list of column names"),
        ("example_input", [], r"`example_input` must be an object with exactly the keys"),
        ("example_input.columns", ["a"], r"`example_input.columns` must be equal to `feature_names`"),
        ("example_input.dtypes", ["float64"], r"`example_input.dtypes` must be a list of 5 dtype names"),
        ("example_input.dtypes", ["no-such-dtype"] * 5, r"`example_input.dtypes` must be dtype names pandas"),
        ("example_input.data", [], r"`example_input.data` must be 1 to 100 rows of 5 finite numbers"),
        ("example_input.data", [[1, 2]], r"`example_input.data` must be 1 to 100 rows of 5 finite numbers"),
        ("example_input.data", [["a"] * 5], r"`example_input.data` must be 1 to 100 rows"),
        ("expected_output", [0.5], r"`expected_output` must be a list of 5 probabilities; got \[0.5\]"),
        ("expected_output", ["x"] * 5, r"`expected_output` must be a list of 5 probabilities"),
        ("expected_output", [2.0] * 5, r"`expected_output` must be a list of 5 probabilities"),
        ("expected_output", _DROP, r"must have the fields .* missing \['expected_output'\]"),
    ],
)
def test_malformed_manifest_raises_the_typed_error_naming_the_field(saved, field, value, match):
    path, m = saved
    mpath = artefacts.manifest_path(path)
    mpath.write_text(json.dumps(_edit(json.loads(mpath.read_text()), field, value)))
    with pytest.raises(artefacts.ArtefactIntegrityError, match=match):
        artefacts.load_artefact(path, expected_sha256=m.sha256)
    with pytest.raises(artefacts.ArtefactIntegrityError, match=match):
        artefacts._read_manifest(path)  # the loader's first step, on its own


def test_manifest_with_nan_in_the_example_is_refused(saved):
    path, m = saved
    mpath = artefacts.manifest_path(path)
    mpath.write_text(mpath.read_text().replace('"data": [\n      [\n        ', '"data": [\n      [\n        NaN, ', 1))
    with pytest.raises(artefacts.ArtefactIntegrityError, match=r"`example_input.data` must be"):
        artefacts.load_artefact(path, expected_sha256=m.sha256)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["manifest_version", "artefact", "format", "compress", "sha256", "size_bytes",
                              "created_utc", "versions", "feature_names", "example_input",
                              "expected_output"]),
       value=_json)
def test_any_value_in_any_manifest_field_gives_a_manifest_or_the_typed_error(saved, field, value):
    """Property: whatever JSON sits in a field, from_dict returns or raises ArtefactIntegrityError."""
    doc = json.loads(artefacts.manifest_path(saved[0]).read_text())
    doc[field] = value
    try:
        artefacts.ArtefactManifest.from_dict(doc)
    except artefacts.ArtefactIntegrityError as exc:
        assert f"`{field}" in str(exc) or "must have the fields" in str(exc)
