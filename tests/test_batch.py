"""Tests of mlops_reference.batch: partitioned scoring on a real LocalCluster.

One cluster (two worker processes, one thread each, loopback only) serves the module; the
out-of-core test starts its own, with a small memory limit. Bounded in time: each job is
a few seconds of work; waits have generous limits because the machine may be busy.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_companion import data
from mlops_reference import _atomic, artefacts, batch

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
distributed = pytest.importorskip("distributed")

FEATURES = list(data.FEATURES)
_CLUSTER = dict(threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None,
                # the scheduler's HTTP endpoint (health checks) on a free loopback port
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, **_CLUSTER) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def model_spec(tmp_path_factory):
    scenario = data.make_scenario()
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    manifest = artefacts.save_artefact(scenario.pipeline, path,
                                       example_input=scenario.X_test.head(5))
    return batch.ScoringModel.from_artefact(path, expected_sha256=manifest.sha256,
                                            model_version="incident-predictor/7")


def _write_dataset(folder: Path, sizes, seed=0) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    frames, start = [], 0
    for i, n in enumerate(sizes):
        frame = data.make_incidents(max(n, 1), rng=seed + i)[FEATURES].iloc[:n]
        frame.insert(0, "row_id", np.arange(start, start + n, dtype=np.int64))
        frame.to_parquet(folder / f"part-{i:05d}.parquet", index=False)
        frames.append(frame)
        start += n
    return pd.concat(frames, ignore_index=True)


def _expected(spec, frame) -> pd.Series:
    model = artefacts.load_artefact(spec.path, expected_sha256=spec.artefact_sha256).model
    return pd.Series(model.predict_proba(frame[FEATURES])[:, 1], index=frame["row_id"])


def _read_output(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder).sort_values("row_id", kind="stable").reset_index(drop=True)


def _check_output(folder: Path, spec, frame) -> None:
    out = _read_output(folder)
    assert out["row_id"].tolist() == sorted(frame["row_id"])  # no row dropped or duplicated
    assert np.array_equal(out["score"].to_numpy(), _expected(spec, frame).sort_index().to_numpy())
    assert set(out["model_version"].astype(str)) == {spec.model_version}
    assert set(out["artefact_sha256"].astype(str)) == {spec.artefact_sha256}
    # no temporary file left behind (the lock file stays: removing it would race a waiter)
    assert [p.name for p in folder.glob(".*")] in ([], [".score_parquet.lock"])


@pytest.mark.slow
def test_cluster_gives_the_single_process_scores(client, model_spec, tmp_path):
    frame = _write_dataset(tmp_path / "in", [700, 0, 1500, 1, 900, 1200])
    single = batch.score_parquet(tmp_path / "in", tmp_path / "single", model_spec)
    on_cluster = batch.score_parquet(tmp_path / "in", tmp_path / "cluster", model_spec,
                                     client=client)
    assert (single.n_written, on_cluster.n_written) == (6, 6)
    assert single.n_rows_written == on_cluster.n_rows_written == len(frame)
    _check_output(tmp_path / "cluster", model_spec, frame)
    pd.testing.assert_frame_equal(_read_output(tmp_path / "single"),
                                  _read_output(tmp_path / "cluster"))
    # The model travelled as a path and a hash: each worker loaded it at most once.
    loads = client.run(batch._loads_in_this_process)
    assert all(n.get(model_spec.artefact_sha256, 0) <= 1 for n in loads.values()), loads
    assert sum(n.get(model_spec.artefact_sha256, 0) for n in loads.values()) >= 1


_INTERRUPTED_JOB = textwrap.dedent("""
    import sys
    from mlops_reference import batch
    spec = batch.ScoringModel(path=sys.argv[3], artefact_sha256=sys.argv[4],
                              model_version=sys.argv[5], feature_names=tuple(sys.argv[6:]))
    batch.score_parquet(sys.argv[1], sys.argv[2], spec)
""")


@pytest.mark.slow
def test_rerun_after_an_interrupted_job_completes_without_duplicates(client, model_spec,
                                                                     tmp_path):
    frame = _write_dataset(tmp_path / "in", [30_000] * 10, seed=10)
    out = tmp_path / "out"
    job = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED_JOB, str(tmp_path / "in"), str(out),
         model_spec.path, model_spec.artefact_sha256, model_spec.model_version, *FEATURES])
    deadline = time.monotonic() + 240
    while len(list(out.glob("part-*.parquet"))) < 2 and job.poll() is None:
        assert time.monotonic() < deadline, "the single-process job wrote nothing in time"
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)  # the job dies half-way, as a preempted VM would
    job.wait(timeout=60)
    done_before = len(list(out.glob("part-*.parquet")))
    assert 2 <= done_before < 10
    (out / ".part-00009.parquet.leftover.tmp").write_bytes(b"half a file")  # a torn write

    resumed = batch.score_parquet(tmp_path / "in", out, model_spec, client=client)
    assert resumed.n_skipped == done_before
    assert resumed.n_written == 10 - done_before
    _check_output(out, model_spec, frame)
    again = batch.score_parquet(tmp_path / "in", out, model_spec, client=client)
    assert (again.n_written, again.n_skipped, again.n_rows_written) == (0, 10, 0)
    _check_output(out, model_spec, frame)


def test_a_writer_killed_during_the_job_leaves_no_temporary_file(model_spec, tmp_path,
                                                                  monkeypatch):
    # What a worker SIGKILLed between writing and renaming leaves, made deterministic: its
    # temporary file appears while the job runs (the partition is then written again, whole,
    # by another task). Seen once under load in the killed-worker test below.
    frame = _write_dataset(tmp_path / "in", [500, 700, 300])
    out = tmp_path / "out"
    real = batch._score_partition

    def killed_writer_beside(model, source, target, *rest):
        Path(out / f".{Path(target).name}.dead-writer.tmp").write_bytes(b"half a file")
        return real(model, source, target, *rest)

    monkeypatch.setattr(batch, "_score_partition", killed_writer_beside)
    result = batch.score_parquet(tmp_path / "in", out, model_spec)
    assert result.n_written == 3
    _check_output(out, model_spec, frame)  # includes: no temporary file left behind


@pytest.mark.slow
def test_a_worker_killed_mid_job_does_not_change_the_result(client, model_spec, tmp_path):
    frame = _write_dataset(tmp_path / "in", [6000] * 16, seed=30)
    out = tmp_path / "out"
    pids = client.run(os.getpid)
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(batch.score_parquet, tmp_path / "in", out, model_spec,
                          client=client)
        deadline = time.monotonic() + 240
        while not list(out.glob("part-*.parquet")):
            assert time.monotonic() < deadline and not job.done(), "the job wrote nothing"
            time.sleep(0.01)
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # one worker dies mid-job
        written_at_kill = len(list(out.glob("part-*.parquet")))
        result = job.result(timeout=600)
    assert written_at_kill < 16
    assert result.n_written == 16 and result.n_rows_written == len(frame)
    _check_output(out, model_spec, frame)
    client.wait_for_workers(2, timeout=120)  # the nanny restarted it
    assert set(client.run(os.getpid).values()) != set(pids.values())


@pytest.mark.slow
def test_out_of_core_dataset_larger_than_the_memory_limit(tmp_path):
    """A dataset larger than each worker's memory limit completes, and no worker is
    paused or restarted: each holds one partition at a time."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = data.make_incidents(2000, rng=0)
    cheap = make_pipeline(StandardScaler(), LogisticRegression()).fit(train[FEATURES],
                                                                      train[data.TARGET])
    manifest = artefacts.save_artefact(cheap, tmp_path / "cheap.joblib",
                                       example_input=train[FEATURES].head(3))
    spec = batch.ScoringModel.from_artefact(tmp_path / "cheap.joblib",
                                            expected_sha256=manifest.sha256)
    limit = 512 * 2**20
    gen = np.random.default_rng(1)
    n_parts, rows = 60, 200_000
    (tmp_path / "in").mkdir()
    for i in range(n_parts):
        part = {"row_id": np.arange(i * rows, (i + 1) * rows, dtype=np.int64)}
        part.update({f: gen.random(rows) * 10 for f in FEATURES})
        pq.write_table(batch._pyarrow()[0].table(part), tmp_path / "in" / f"part-{i:03d}.parquet",
                       use_dictionary=False)  # random floats: a dictionary only costs time
    in_memory = n_parts * rows * 8 * (len(FEATURES) + 1)
    assert in_memory > limit

    import dask

    # Pausing at 80% of the limit would stall the job near the threshold without proving
    # anything; the limit itself (a worker above 95% is restarted) is what is tested.
    with dask.config.set({"distributed.worker.memory.pause": False}), \
            distributed.LocalCluster(n_workers=2, memory_limit=limit, **_CLUSTER) as cluster, \
            distributed.Client(cluster) as small:
        pids = small.run(os.getpid)
        with batch.track_peak_memory(small) as peaks:
            result = batch.score_parquet(tmp_path / "in", tmp_path / "out", spec,
                                         client=small, keep=["row_id"])
        assert small.run(os.getpid) == pids  # nobody was killed for using too much
    assert result.n_rows_written == n_parts * rows
    worker_peaks = [peak for name, (_, peak) in peaks.items() if name != "local"]
    assert len(worker_peaks) == 2 and max(worker_peaks) < limit, peaks
    ids = pq.read_table(tmp_path / "out", columns=["row_id"]).column(0).to_numpy()
    assert np.array_equal(np.sort(ids), np.arange(n_parts * rows))


# ----------------------------------------------------------------------------- bad input
def _assert_nothing_written(folder: Path) -> None:
    assert not folder.exists() or not any(folder.iterdir())


@pytest.mark.slow
def test_bad_partitions_are_named_before_anything_is_written(client, model_spec, tmp_path):
    _write_dataset(tmp_path / "in", [50, 60, 70])
    bad = tmp_path / "in" / "part-00001.parquet"
    good = pd.read_parquet(bad)

    good.drop(columns="error_pct").to_parquet(bad, index=False)
    with pytest.raises(ValueError,
                       match=r"Partition 'part-00001.parquet' must have column 'error_pct'"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", model_spec, client=client)
    _assert_nothing_written(tmp_path / "out")

    good.assign(error_pct=good["error_pct"].astype(str)).to_parquet(bad, index=False)
    with pytest.raises(ValueError,
                       match=r"'part-00001.parquet' must hold numbers in column 'error_pct'"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", model_spec, client=client)
    _assert_nothing_written(tmp_path / "out")

    bad.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(ValueError,
                       match=r"'part-00001.parquet' must be a readable Parquet file"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", model_spec, client=client)
    _assert_nothing_written(tmp_path / "out")

    good.to_parquet(bad, index=False)
    other = batch.ScoringModel(path=model_spec.path, artefact_sha256=model_spec.artefact_sha256,
                               model_version="x", feature_names=(*FEATURES, "cpu_pct"))
    with pytest.raises(ValueError,
                       match=r"'part-00000.parquet' must have column 'cpu_pct', which the model reads"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", other, client=client)
    _assert_nothing_written(tmp_path / "out")


def test_a_partition_that_breaks_after_the_check_leaves_no_partial_file(model_spec, tmp_path,
                                                                        monkeypatch):
    _write_dataset(tmp_path / "in", [30, 40])

    def broken_write(target, write):  # the disk fills up half-way through a write
        with open(target.parent / f".{target.name}.x.tmp", "wb") as fh:
            fh.write(b"half")
        (target.parent / f".{target.name}.x.tmp").unlink()
        raise OSError("No space left on device")

    monkeypatch.setattr(_atomic, "write_atomically", broken_write)
    with pytest.raises(OSError, match="No space left"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", model_spec)
    assert [p.name for p in (tmp_path / "out").iterdir()] == [".score_parquet.lock"]


def test_parameter_errors(model_spec, tmp_path):
    _write_dataset(tmp_path / "in", [20])
    with pytest.raises(TypeError, match=r"`model` must be a ScoringModel; got str"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", "model.joblib")
    with pytest.raises(TypeError, match=r"`keep` must be a sequence of column names"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", model_spec, keep="row_id")
    with pytest.raises(FileNotFoundError, match=r"`source` must be a folder"):
        batch.score_parquet(tmp_path / "nope", tmp_path / "out", model_spec)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"`source` must hold at least one \*.parquet file"):
        batch.score_parquet(tmp_path / "empty", tmp_path / "out", model_spec)
    with pytest.raises(ValueError, match=r"`destination` must differ from `source`"):
        batch.score_parquet(tmp_path / "in", tmp_path / "in", model_spec)
    with pytest.raises(ValueError, match=r"must have the columns in `keep`"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", model_spec, keep=["nope"])
    batch.score_parquet(tmp_path / "in", tmp_path / "out", model_spec)
    other = batch.ScoringModel(path=model_spec.path, artefact_sha256="0" * 64,
                               model_version="x", feature_names=model_spec.feature_names)
    with pytest.raises(ValueError, match=r"`destination` must hold only output of this model"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", other)
    with pytest.raises(artefacts.ArtefactIntegrityError):
        batch.ScoringModel.from_artefact(model_spec.path, expected_sha256="0" * 64)
    with pytest.raises(ValueError, match=r"`model_version` must be a non-empty string"):
        batch.ScoringModel.from_artefact(model_spec.path,
                                         expected_sha256=model_spec.artefact_sha256,
                                         model_version="")


# ----------------------------------------------------------------------------- resuming
def _resplit(folder: Path, frame: pd.DataFrame, n_files: int) -> None:
    """The same rows written again as ``n_files`` partitions (the old files removed)."""
    for old in folder.glob("*.parquet"):
        old.unlink()
    bounds = np.linspace(0, len(frame), n_files + 1).astype(int)
    for i, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        frame.iloc[start:stop].to_parquet(folder / f"part-{i:05d}.parquet", index=False)


def test_input_resplit_into_more_files_is_scored_again_without_duplicates(model_spec, tmp_path):
    frame = _write_dataset(tmp_path / "in", [250, 250, 250, 250])
    out = tmp_path / "out"
    batch.score_parquet(tmp_path / "in", out, model_spec)
    _resplit(tmp_path / "in", frame, 8)  # same rows, 8 files: part-00000 .. part-00007
    again = batch.score_parquet(tmp_path / "in", out, model_spec)
    assert (again.n_written, again.n_skipped, again.n_rows_written) == (8, 0, len(frame))
    assert again.redone == tuple(f"part-{i:05d}.parquet" for i in range(4))
    _check_output(out, model_spec, frame)  # every row once


def test_partition_grown_between_runs_is_scored_again(model_spec, tmp_path):
    frame = _write_dataset(tmp_path / "in", [100, 100, 100])
    out = tmp_path / "out"
    batch.score_parquet(tmp_path / "in", out, model_spec)
    grown = pd.read_parquet(tmp_path / "in" / "part-00001.parquet")
    extra = data.make_incidents(50, rng=99)[FEATURES]
    extra.insert(0, "row_id", np.arange(300, 350, dtype=np.int64))
    grown = pd.concat([grown, extra], ignore_index=True)
    grown.to_parquet(tmp_path / "in" / "part-00001.parquet", index=False)
    again = batch.score_parquet(tmp_path / "in", out, model_spec)
    assert again.skipped == ("part-00000.parquet", "part-00002.parquet")
    assert again.redone == ("part-00001.parquet",) and again.n_rows_written == 150
    _check_output(out, model_spec, pd.concat([frame, extra], ignore_index=True))  # 50 more


def test_output_whose_input_is_gone_is_refused_naming_it(model_spec, tmp_path):
    frame = _write_dataset(tmp_path / "in", [100] * 4)
    out = tmp_path / "out"
    batch.score_parquet(tmp_path / "in", out, model_spec)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    _resplit(tmp_path / "in", frame, 2)  # part-00002 and part-00003 have no input any more
    with pytest.raises(ValueError, match=r"`destination` must hold only outputs of partitions "
                       r"in `source`; \['part-00002.parquet', 'part-00003.parquet'\] have no "
                       r"input any more .* Nothing was written"):
        batch.score_parquet(tmp_path / "in", out, model_spec)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")} == before


def test_truncated_output_is_named(model_spec, tmp_path):
    _write_dataset(tmp_path / "in", [100, 100])
    out = tmp_path / "out"
    batch.score_parquet(tmp_path / "in", out, model_spec)
    damaged = out / "part-00001.parquet"
    damaged.write_bytes(damaged.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"`destination` must hold readable Parquet files; "
                       r".*part-00001\.parquet is not"):
        batch.score_parquet(tmp_path / "in", out, model_spec)


@pytest.mark.parametrize(("kind", "count"), [("NaN", 3), ("infinite", 2), ("missing", 4)])
def test_bad_feature_values_are_named_before_anything_is_written(model_spec, tmp_path,
                                                                 kind, count):
    _write_dataset(tmp_path / "in", [50, 60, 70])
    bad = tmp_path / "in" / "part-00002.parquet"  # the last: two would be written before it
    frame = pd.read_parquet(bad)
    if kind == "missing":  # a null in an integer column, as Parquet stores it
        column = "deploy_hour"
        frame[column] = frame[column].astype("Int64")
        frame.loc[frame.index[:count], column] = pd.NA
        frame.to_parquet(bad, index=False)
    else:
        column = "error_pct"
        frame.loc[frame.index[:count], column] = np.nan if kind == "NaN" else np.inf
        table = pa.Table.from_pandas(frame, preserve_index=False)  # (pandas writes NaN as null)
        table = table.set_column(table.schema.get_field_index(column), column,
                                 pa.array(frame[column].to_numpy()))  # NaN stays NaN
        pq.write_table(table, bad)
    counts = {"missing": 0, "NaN": 0, "infinite": 0, kind: count}
    with pytest.raises(ValueError,
                       match=rf"Partition 'part-00002.parquet' must hold finite values in column "
                             rf"'{column}', which the model reads; got {count} bad of 70 "
                             rf"\({counts['missing']} missing, {counts['NaN']} NaN, "
                             rf"{counts['infinite']} infinite\)"):
        batch.score_parquet(tmp_path / "in", tmp_path / "out", model_spec)
    _assert_nothing_written(tmp_path / "out")


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(model_spec, tmp_path,
                                                                            monkeypatch):
    import threading

    frame = _write_dataset(tmp_path / "in", [100, 100])
    out = tmp_path / "out"
    real, scoring, go_on = batch._score_partition, threading.Event(), threading.Event()

    def slow(*args):  # the first run, caught in the middle of its first partition
        scoring.set()
        assert go_on.wait(120)
        return real(*args)

    monkeypatch.setattr(batch, "_score_partition", slow)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(batch.score_parquet, tmp_path / "in", out, model_spec)
        try:
            assert scoring.wait(120), "the first run never started scoring"
            monkeypatch.setattr(batch, "_score_partition", real)
            with pytest.raises(RuntimeError, match=r"`destination` must not be in use by "
                               r"another score_parquet run; .* is locked"):
                batch.score_parquet(tmp_path / "in", out, model_spec)
        finally:
            go_on.set()
        assert first.result(timeout=120).n_written == 2
    _check_output(out, model_spec, frame)
