"""The prediction log: never blocks or raises, survives concurrent writers; the delayed-label job."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

from mlops_companion import data, predlog

ROW = {"request_rate": 120.0, "error_pct": 2.0, "p99_latency_ms": 90.0, "deploy_hour": 14, "is_weekend": 0}


def _record(i, p=0.5, version="v1"):
    return {"request_id": f"r{i}", "time": float(i), "model_version": version, "artefact_sha256": "ab" * 32,
            "inputs": [ROW], "outputs": [p]}


def test_records_round_trip(tmp_path):
    path = tmp_path / "log" / "predictions.jsonl"
    with predlog.PredictionLog(path) as log:
        for i in range(50):
            log.write(_record(i, p=i / 100))
    assert (log.n_written, log.n_dropped, log.n_failed) == (50, 0, 0)
    frame = predlog.read_prediction_log(path)
    assert list(frame["request_id"]) == [f"r{i}" for i in range(50)]
    assert np.allclose(frame["probability"], np.arange(50) / 100)
    assert set(json.loads(path.read_text().splitlines()[0])) == set(_record(0, p=0.0))


def test_concurrent_writers_lose_nothing_below_capacity(tmp_path):
    path = tmp_path / "predictions.jsonl"
    log = predlog.PredictionLog(path, max_queue=100_000)
    threads = [threading.Thread(target=lambda t=t: [log.write(_record(t * 1000 + i)) for i in range(500)])
               for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 4000 == log.n_written
    assert len({json.loads(line)["request_id"] for line in lines}) == 4000  # no torn or mixed lines


def test_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    log = predlog.PredictionLog(tmp_path / "p.jsonl", max_queue=5)
    real = log._write_batch

    def slow_disk(lines):  # every write takes 50 ms: the disk is slow, requests must not be
        time.sleep(0.05)
        real(lines)

    log._write_batch = slow_disk
    start = time.perf_counter()
    for i in range(200):
        log.write(_record(i))
    elapsed = time.perf_counter() - start
    log.close()
    assert log.n_dropped > 0 and log.n_written + log.n_dropped == 200
    # 200 writes to a 50 ms disk would take 10 s if write() waited for it.
    assert elapsed < 5.0


def test_bad_records_and_writes_after_close_never_raise(tmp_path):
    log = predlog.PredictionLog(tmp_path / "p.jsonl")
    log.write(_record(0, p=float("nan")))  # not JSON
    log.write({"request_id": object()})    # not serialisable
    log.write(_record(1))
    log.close()
    log.write(_record(2))                  # after close: dropped, no exception
    log.close()                            # idempotent
    assert (log.n_written, log.n_failed, log.n_dropped) == (1, 2, 1)


def test_truncated_last_line_is_skipped(tmp_path):
    path = tmp_path / "p.jsonl"
    with predlog.PredictionLog(path) as log:
        log.write(_record(0))
    with open(path, "a") as fh:
        fh.write('{"request_id": "r1", "inp')
    assert list(predlog.read_prediction_log(path)["request_id"]) == ["r0"]


def test_first_record_after_a_crash_mid_line_starts_its_own_line(tmp_path):
    path = tmp_path / "p.jsonl"
    with predlog.PredictionLog(path) as log:
        log.write(_record(0))
    with open(path, "a") as fh:
        fh.write('{"request_id": "r1", "inp')  # the process died mid-write
    with predlog.PredictionLog(path) as log:  # restarted
        log.write(_record(2))
    assert list(predlog.read_prediction_log(path)["request_id"]) == ["r0", "r2"]
    assert path.read_text().splitlines()[1] == '{"request_id": "r1", "inp'  # only it is lost


@pytest.fixture()
def small_disk(tmp_path):
    """A real 64 KiB file system (tmpfs), which fills up; mounting needs root."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the full-disk test writes to a real full disk)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(folder):
    """Take every free byte of ``folder``'s file system; return the file holding them."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"x" * 4096)
        except OSError:
            pass
    return filler


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the prediction log's thread did not catch up in time"
        time.sleep(0.01)


def test_full_disk_losses_are_counted_when_the_write_fails_and_the_writer_recovers(
        small_disk, caplog):
    filler = _fill(small_disk)
    path = small_disk / "predictions.jsonl"
    log = predlog.PredictionLog(path, flush_interval=0.05)
    with caplog.at_level("ERROR", logger="mlops_companion.predlog"):
        for i in range(1000):
            log.write(_record(i))
        _wait(lambda: log.n_written + log.n_failed >= 1000)
    assert (log.n_written, log.n_failed, log.n_dropped) == (0, 1000, 0)  # nothing reached the disk
    assert path.stat().st_size == 0  # no partial line left behind
    assert any("a write failed" in r.getMessage() and "records lost" in r.getMessage()
               for r in caplog.records), caplog.text
    assert log._thread.is_alive()

    filler.unlink()  # space returns
    for i in range(1000, 1010):
        log.write(_record(i))
    _wait(lambda: log.n_written >= 10)
    log.close()
    assert (log.n_written, log.n_failed) == (10, 1000)
    assert list(predlog.read_prediction_log(path)["request_id"]) == [f"r{i}" for i in range(1000, 1010)]


def test_a_replayed_log_line_counts_its_label_once():
    log = _logged(10, rng=7)
    replayed = pd.concat([log, log.iloc[[3]]], ignore_index=True)  # line r3 shipped twice
    labels = pd.DataFrame({"request_id": ["r3"], "row": [0], "incident": [1], "labelled_at": [1.0]})
    joined = predlog.join_labels(replayed, labels)
    assert len(joined) == 10 and joined["incident"].notna().sum() == 1
    assert predlog.live_accuracy(joined).n_labelled == 1

    conflicting = replayed.copy()
    conflicting.loc[10, "probability"] = 0.123  # the same id, another prediction
    with pytest.raises(ValueError, match=r"`log` must hold one prediction per \(request_id, row\); "
                       r"request 'r3' appears with different values \(2 rows conflict\)"):
        predlog.join_labels(conflicting, labels)


def _logged(n, rng):
    X = data.make_production_sample(n, rng=rng)
    return pd.DataFrame({"request_id": [f"r{i}" for i in range(n)], "row": 0,
                         "time": np.arange(n, dtype=float), "model_version": "v1",
                         **{f: X[f].to_numpy() for f in data.FEATURES},
                         "probability": data.incident_probability(X)})


def test_delayed_labels_arrive_over_time():
    log = _logged(2000, rng=0)
    early = predlog.simulate_delayed_labels(log, now=2000.0, mean_delay=3600, rng=1)
    late = predlog.simulate_delayed_labels(log, now=1e7, mean_delay=3600, rng=1)
    assert 0 < len(early) < len(late) == len(log)
    assert (early["labelled_at"] <= 2000).all()


def test_live_accuracy_of_the_true_model_matches_its_expected_accuracy():
    # The scenario's own probabilities: expected accuracy is mean(max(p, 1 - p)).
    log = _logged(4000, rng=2)
    labels = predlog.simulate_delayed_labels(log, now=1e9, rng=3)
    r = predlog.live_accuracy(predlog.join_labels(log, labels))
    expected = float(np.maximum(log["probability"], 1 - log["probability"]).mean())
    assert r.ci_low <= expected <= r.ci_high
    assert r.n_labelled == r.n_logged == 4000 and r.coverage == 1.0


def test_live_accuracy_by_version():
    log = _logged(400, rng=4)
    log.loc[200:, "model_version"] = "v2"
    log.loc[200:, "probability"] = 1 - log.loc[200:, "probability"]  # v2 is inverted
    joined = predlog.join_labels(log, predlog.simulate_delayed_labels(log, now=1e9, rng=5))
    table = predlog.live_accuracy(joined, by="model_version").set_index("model_version")
    assert table.loc["v1", "ci_low"] > table.loc["v2", "ci_high"]


def test_join_refuses_labels_for_unlogged_requests():
    log = _logged(10, rng=6)
    labels = pd.DataFrame({"request_id": ["nope"], "row": [0], "incident": [1], "labelled_at": [1.0]})
    with pytest.raises(ValueError, match="`labels` must refer to logged predictions; 1 do not"):
        predlog.join_labels(log, labels)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"path": 3}, TypeError, "`path` must be a file path"),
    ({"max_queue": 0}, ValueError, "`max_queue` must be an integer >= 1"),
    ({"flush_interval": 0}, ValueError, "`flush_interval` must be a number > 0"),
])
def test_prediction_log_checks_arguments(tmp_path, kwargs, error, match):
    kwargs.setdefault("path", tmp_path / "p.jsonl")
    with pytest.raises(error, match=match):
        predlog.PredictionLog(**kwargs)


@pytest.mark.parametrize("call, error, match", [
    (lambda: predlog.join_labels("log", pd.DataFrame()), TypeError, "`log` must be a DataFrame"),
    (lambda: predlog.join_labels(pd.DataFrame({"request_id": []}), pd.DataFrame()), ValueError,
     r"`log` must have the columns"),
    (lambda: predlog.live_accuracy(pd.DataFrame(), threshold=1.0), ValueError, "`threshold` must be a number in"),
    (lambda: predlog.simulate_delayed_labels(pd.DataFrame(), now=0, mean_delay=-1), ValueError,
     "`mean_delay` must be a number > 0"),
    (lambda: predlog.read_prediction_log("/nowhere.jsonl"), FileNotFoundError, "must be an existing prediction log"),
])
def test_job_functions_check_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_skew_check_finds_the_shifted_feature():
    reference = data.make_incidents(1000, rng=7)
    shifted = data.make_production_sample(400, drift={"error_pct": 3.0}, rng=8)
    report = predlog.check_skew(reference, shifted).set_index("feature")
    assert report.loc["error_pct", "drifted"] and not report.drop("error_pct")["drifted"].any()


def test_drift_gauges_can_be_updated():
    from prometheus_client import generate_latest

    gauges = predlog.DriftGauges()
    report = pd.DataFrame({"feature": ["a", "b"], "pvalue": [0.5, 1e-6], "threshold": [0.002, 0.002]})
    gauges.update(report, timestamp=10.0)
    gauges.update(report.assign(pvalue=[0.4, 0.3]), timestamp=20.0)
    text = generate_latest(gauges.registry).decode()
    assert 'model_input_drift_pvalue{feature="b"} 0.3' in text
    assert "drift_job_last_success_timestamp_seconds 20.0" in text
    with pytest.raises(ValueError, match="`report` must be a drift report"):
        gauges.update(pd.DataFrame({"feature": ["a"]}))
