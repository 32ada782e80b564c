"""Tests of mlops_reference.drift: agreement with scipy, corrections, PSI, bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlops_companion import data
from mlops_reference import drift


def test_public_surface():
    assert set(drift.__all__) == {
        "DriftWarning", "DriftReference", "detect_drift", "drift_over_time", "psi",
    }
    assert issubclass(drift.DriftWarning, UserWarning)


def _samples(n1, n2, seed=0):
    g = np.random.default_rng(seed)
    ref = np.column_stack([
        g.normal(size=n1),
        np.round(g.normal(size=n1), 1),          # heavy ties
        g.integers(0, 6, n1).astype(float),      # discrete-looking values, tested with KS
        g.exponential(size=n1),
    ])
    cur = np.column_stack([
        g.normal(0.05, size=n2),
        np.round(g.normal(0.1, size=n2), 1),
        g.integers(0, 6, n2).astype(float),
        g.exponential(1.3, size=n2),
    ])
    return ref, cur


@pytest.mark.parametrize("n1, n2", [(40, 25), (3000, 700), (12_000, 900), (60_000, 20_000),
                                    (15_000, 3)])
def test_ks_matches_scipy(n1, n2):
    ref, cur = _samples(n1, n2, seed=n1)
    report = drift.detect_drift(ref, cur, discrete=[], correction=None, warn=False)
    assert list(report["test"]) == ["ks"] * 4
    for j in range(ref.shape[1]):
        expected = stats.ks_2samp(ref[:, j], cur[:, j])
        assert report["statistic"].iloc[j] == expected.statistic  # identical, not close
        assert abs(report["pvalue"].iloc[j] - expected.pvalue) <= 1e-9


def test_ks_statistic_identical_when_samples_share_values():
    g = np.random.default_rng(3)
    a = np.sort(g.integers(0, 30, 20_000).astype(float))
    b = np.sort(g.integers(2, 30, 15_000).astype(float))
    assert drift._ks.ks_statistic(a, b) == stats.ks_2samp(a, b).statistic


def test_kstwo_sf_matches_scipy_on_a_grid():
    wide = np.r_[np.linspace(0.0005, 0.03, 25), np.linspace(0.05, 0.7, 10)]
    # scipy itself is slow for n near 10**5 (the point of the fast path): fewer points there.
    for n, d in ((100, wide), (141, wide), (2_000, wide),
                 (90_909, np.array([0.004, 0.006, 0.009, 0.015, 0.03, 0.08, 0.3]))):
        assert np.max(np.abs(drift._ks.kstwo_sf(d, float(n)) - stats.kstwo.sf(d, n))) <= 1e-9


def test_chi2_matches_scipy_and_scenario_kinds():
    ref = data.make_production_sample(3000, rng=0)
    cur = data.make_production_sample(1000, drift={"is_weekend": 0.2}, rng=1)
    report = drift.detect_drift(ref, cur, warn=False).set_index("feature")
    assert report.loc["deploy_hour", "test"] == "chi2"
    assert report.loc["error_pct", "test"] == "ks"
    table = pd.crosstab(
        np.r_[np.zeros(len(ref)), np.ones(len(cur))],
        np.r_[ref["is_weekend"], cur["is_weekend"]],
    ).to_numpy()
    expected = stats.chi2_contingency(table)
    assert report.loc["is_weekend", "statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert report.loc["is_weekend", "pvalue"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert bool(report.loc["is_weekend", "drifted"])


def test_chi2_handles_categories_missing_from_one_side():
    ref = pd.DataFrame({"level": np.repeat([1, 2, 3], 200)})
    cur = pd.DataFrame({"level": np.repeat([2, 3, 4], 200)})
    report = drift.detect_drift(ref, cur, warn=False)
    assert report["test"].iloc[0] == "chi2"
    assert report["pvalue"].iloc[0] < 1e-10
    assert report["psi"].iloc[0] > 1.0


def test_integer_columns_with_few_levels_are_discrete_by_default():
    g = np.random.default_rng(0)
    frame = pd.DataFrame({"tier": g.integers(0, 3, 500), "load": g.normal(size=500)})
    report = drift.detect_drift(frame, frame.iloc[:200], warn=False)
    assert list(report["test"]) == ["chi2", "ks"]


def test_warning_names_each_drifted_feature_and_can_be_silenced():
    ref = data.make_production_sample(2000, rng=0)
    cur = data.make_production_sample(800, drift={"error_pct": 2.0, "request_rate": 80}, rng=1)
    with pytest.warns(drift.DriftWarning, match="error_pct") as record:
        drift.detect_drift(ref, cur)
    assert "request_rate" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drift.detect_drift(ref, cur, warn=False)


def test_no_drift_no_warning_and_psi_small():
    ref = data.make_production_sample(4000, rng=0)
    cur = data.make_production_sample(4000, rng=1)
    report = drift.detect_drift(ref, cur)  # a warning would fail the test (filterwarnings=error)
    assert not report["drifted"].any()
    assert (report["psi"] < 0.05).all()


def test_psi_grows_with_the_shift():
    ref = data.make_production_sample(3000, rng=0)
    values = []
    for shift in (0.0, 1.0, 3.0):
        cur = data.make_production_sample(3000, drift={"error_pct": shift}, rng=1)
        rep = drift.detect_drift(ref, cur, warn=False).set_index("feature")
        values.append(rep.loc["error_pct", "psi"])
    assert values[0] < 0.05 < values[1] < values[2]
    assert values[2] > 0.25


def test_corrections_thresholds():
    ref, cur = _samples(5000, 2000)
    n = ref.shape[1]
    none = drift.detect_drift(ref, cur, correction=None, warn=False)
    bonf = drift.detect_drift(ref, cur, correction="bonferroni", warn=False)
    fdr = drift.detect_drift(ref, cur, correction="fdr", warn=False)
    assert (none["threshold"] == 0.01).all()
    assert np.allclose(bonf["threshold"], 0.01 / n)
    # Benjamini-Hochberg by hand: largest i with p_(i) < i * alpha / n.
    p = np.sort(fdr["pvalue"].to_numpy())
    hits = np.nonzero(p < np.arange(1, n + 1) * 0.01 / n)[0]
    cutoff = (hits[-1] + 1) * 0.01 / n if len(hits) else 0.01 / n
    assert np.allclose(fdr["threshold"], cutoff)
    assert (fdr["drifted"] == (fdr["pvalue"] < cutoff)).all()
    assert bonf["drifted"].sum() <= fdr["drifted"].sum() <= none["drifted"].sum()


def test_reference_reused_gives_the_same_table():
    ref = data.make_production_sample(3000, rng=0)
    cur = data.make_production_sample(600, drift={"p99_latency_ms": 0.3}, rng=1)
    fitted = drift.DriftReference.fit(ref)
    a = fitted.test(cur, warn=False)
    b = drift.detect_drift(ref, cur, warn=False)
    c = drift.detect_drift(fitted, cur, warn=False)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert list(a.columns) == ["feature", "test", "statistic", "pvalue", "threshold",
                               "drifted", "psi"]


def test_arrays_with_feature_names_and_feature_subset():
    ref, cur = _samples(2000, 500)
    names = ["a", "b", "c", "d"]
    report = drift.detect_drift(ref, cur, feature_names=names, features=["d", "a"], warn=False)
    assert list(report["feature"]) == ["d", "a"]
    assert report["statistic"].iloc[0] == stats.ks_2samp(ref[:, 3], cur[:, 3]).statistic


def test_drift_over_time_is_tidy_and_tracks_growth():
    ref = data.make_production_sample(3000, rng=0)
    windows = [data.make_production_sample(500, drift={"error_pct": s}, rng=i)
               for i, s in enumerate([0.0, 0.5, 1.5, 3.0])]
    over = drift.drift_over_time(ref, windows)
    assert list(over.columns[:3]) == ["window", "feature", "test"]
    assert len(over) == 4 * len(data.FEATURES)
    ks = over[over["feature"] == "error_pct"].set_index("window")["statistic"]
    assert ks.is_monotonic_increasing
    labelled = drift.drift_over_time(ref, {"week 1": windows[0], "week 2": windows[3]})
    assert set(labelled["window"]) == {"week 1", "week 2"}


def _ref():
    return data.make_production_sample(200, rng=0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(alpha=0.0), ValueError, r"`alpha` must be a number in \(0, 1\); got 0.0"),
        (dict(alpha=1.5), ValueError, r"`alpha` must be .* got 1.5"),
        (dict(alpha="0.01"), TypeError, r"`alpha` must be"),
        (dict(correction="holm"), ValueError, r"`correction` must be one of .* got 'holm'"),
        (dict(features=["nope"]), ValueError, r"`features` must name columns"),
        (dict(features="error_pct"), TypeError, r"`features` must be a sequence"),
        (dict(discrete=["nope"]), ValueError, r"`discrete` must name monitored features"),
    ],
)
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        drift.detect_drift(_ref(), _ref(), warn=False, **kwargs)


def test_bad_inputs():
    ref = _ref()
    with_nan = ref.copy()
    with_nan.loc[3, "error_pct"] = np.nan
    with pytest.raises(ValueError, match=r"`current` must contain only finite values; column 'error_pct'"):
        drift.detect_drift(ref, with_nan, warn=False)
    with_inf = ref.copy()
    with_inf.loc[3, "request_rate"] = -np.inf
    with pytest.raises(ValueError, match=r"`reference` must contain only finite values"):
        drift.detect_drift(with_inf, ref, warn=False)
    nan_discrete = ref.astype({"is_weekend": float})
    nan_discrete.loc[0, "is_weekend"] = np.nan
    with pytest.raises(ValueError, match=r"`current` must contain only finite values; column 'is_weekend'"):
        drift.detect_drift(ref, nan_discrete, warn=False)
    with pytest.raises(ValueError, match=r"`current` must have at least one row"):
        drift.detect_drift(ref, ref.iloc[:0], warn=False)
    with pytest.raises(ValueError, match=r"`current` must have the reference's features .* missing \['is_weekend'\]"):
        drift.detect_drift(ref, ref.drop(columns="is_weekend"), warn=False)
    text = ref.assign(error_pct=ref["error_pct"].astype(str))
    with pytest.raises(TypeError, match=r"`reference` must hold numeric, bool or categorical columns only; column 'error_pct'"):
        drift.detect_drift(text, ref, warn=False)
    with pytest.raises(TypeError, match=r"`reference` must be a pandas DataFrame or a 2-D numpy array; got list"):
        drift.detect_drift([[1.0, 2.0]], ref, warn=False)
    with pytest.raises(ValueError, match=r"`reference` must be 2-D"):
        drift.detect_drift(np.zeros(5), np.zeros(5), warn=False)
    with pytest.raises(ValueError, match=r"`current` must have as many columns as `reference` \(2\); got 3"):
        drift.detect_drift(np.zeros((5, 2)) + np.arange(5)[:, None], np.ones((5, 3)), warn=False)
    with pytest.raises(ValueError, match=r"`feature_names` must name every column"):
        drift.detect_drift(np.ones((5, 2)), np.ones((5, 2)), feature_names=["a"], warn=False)
    with pytest.raises(TypeError, match=r"`windows` must be a sequence or mapping"):
        drift.drift_over_time(ref, ref)
    with pytest.raises(ValueError, match=r"`windows` must hold at least one sample"):
        drift.drift_over_time(ref, [])
    with pytest.raises(ValueError, match=r"`n_bins` must be an integer >= 2"):
        drift.DriftReference.fit(ref, n_bins=1)
    with pytest.raises(ValueError, match=r"`reference_props` and `current_props` must be 1-D"):
        drift.psi([0.5, 0.5], [1.0])


def test_benchmark_script_runs_and_agrees_with_scipy():
    """Smoke test of benchmarks/bench_drift.py at a small size (the full run takes ~15 s)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_drift.py"
    out = subprocess.run(
        [sys.executable, str(script), "--n-reference", "20000", "--n-current", "12000",
         "--n-features", "4", "--repeat", "1"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert out.count("statistics identical to scipy: True") == 2
    assert "ratio" in out and "extra peak memory" in out


# ----------------------------------------------------------------------------- partitions
def test_counts_from_random_partitions_give_scipys_statistic():
    """The per-partition cell counts add up to scipy's KS on the concatenated data."""
    from mlops_reference.drift import _ks

    g = np.random.default_rng(11)
    for trial in range(60):
        n1, n2 = int(g.integers(1, 400)), int(g.integers(1, 400))
        digits = int(g.integers(0, 3))  # 0 digits: heavy ties
        a = np.round(g.normal(size=n1), digits)
        b = np.round(g.normal(g.uniform(-0.5, 0.5), size=n2), digits)
        values, ref_le = np.unique(a, return_counts=True)
        ref_le = np.cumsum(ref_le)
        cuts = np.sort(g.integers(0, n2 + 1, int(g.integers(0, 6))))
        pieces = np.split(b, cuts)  # repeated cuts make empty partitions
        cells = sum(_ks.cell_counts(values, p) for p in pieces)
        want = stats.ks_2samp(a, b)
        d = _ks.statistic_from_counts(ref_le, cells, n1, n2)
        assert d == stats.ks_2samp(a, b, method="asymp").statistic, trial
        got = _ks.ks_from_counts(values, ref_le, cells, n1, n2)
        assert got[0] == want.statistic, trial
        assert abs(got[1] - want.pvalue) <= 1e-12, trial


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _frame(g, n, shift=0.0):
    return pd.DataFrame({
        "x": g.normal(shift, 1, n),
        "ties": np.round(g.normal(shift, 1, n), 1),
        "level": g.integers(0, 6, n),
        "colour": pd.Categorical(g.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2])),
    })


def _identity(piece):
    return piece


def _partitioned(frame, g, n_parts):
    """A Dask DataFrame over random, unequal partitions, some of them empty."""
    import dask.dataframe as dd

    cuts = np.sort(g.integers(0, len(frame) + 1, n_parts - 3))
    cuts = np.sort(np.r_[0, cuts, cuts[:2], len(frame)])  # repeats: empty partitions
    pieces = [frame.iloc[lo:hi] for lo, hi in zip(cuts[:-1], cuts[1:])]
    assert any(len(p) == 0 for p in pieces)
    return dd.from_map(_identity, pieces, meta=frame.iloc[:0], enforce_metadata=False)


@pytest.mark.slow
@pytest.mark.parametrize("n1, n2, seed", [(4000, 3000, 0), (30_000, 45_000, 1), (12_000, 5, 2)])
def test_dask_frame_matches_scipy_on_the_concatenated_data(dask_client, n1, n2, seed):
    g = np.random.default_rng(seed)
    ref, cur = _frame(g, n1), _frame(g, n2, shift=0.03)
    fitted = drift.DriftReference.fit(ref)
    got = fitted.test(_partitioned(cur, g, 9), warn=False).set_index("feature")
    in_memory = fitted.test(cur, warn=False).set_index("feature")
    for f in ("x", "ties"):
        want = stats.ks_2samp(ref[f], cur[f])
        assert got.loc[f, "statistic"] == want.statistic
        assert abs(got.loc[f, "pvalue"] - want.pvalue) <= 1e-9
    for f in ("level", "colour"):
        table = pd.crosstab(np.r_[np.zeros(n1), np.ones(n2)],
                            np.r_[ref[f].astype(object), cur[f].astype(object)]).to_numpy()
        want = stats.chi2_contingency(table)
        assert got.loc[f, "test"] == "chi2"
        assert got.loc[f, "statistic"] == pytest.approx(want.statistic, rel=1e-12)
        assert abs(got.loc[f, "pvalue"] - want.pvalue) <= 1e-9
    pd.testing.assert_frame_equal(got, in_memory)  # PSI included, bit for bit


@pytest.mark.slow
def test_dask_frame_bad_partitions_name_partition_and_column(dask_client):
    g = np.random.default_rng(3)
    ref, cur = _frame(g, 2000), _frame(g, 900)
    fitted = drift.DriftReference.fit(ref)
    pieces = [cur.iloc[:300], cur.iloc[300:600].copy(), cur.iloc[600:]]
    pieces[1]["x"] = pieces[1]["x"].astype(str)
    import dask.dataframe as dd

    mistyped = dd.from_map(_identity, pieces, meta=cur.iloc[:0], enforce_metadata=False)
    with pytest.raises(TypeError, match=r"column 'x'; partition 1 has dtype (object|string|str)"):
        fitted.test(mistyped, warn=False)
    pieces[1] = cur.iloc[300:600].assign(ties=np.nan)
    with_nan = dd.from_map(_identity, pieces, meta=cur.iloc[:0], enforce_metadata=False)
    with pytest.raises(ValueError, match=r"finite values; column 'ties' \(partition 1\)"):
        fitted.test(with_nan, warn=False)
    pieces[1] = cur.iloc[300:600].drop(columns="level")
    lacking = dd.from_map(_identity, pieces, meta=cur.iloc[:0], enforce_metadata=False)
    with pytest.raises(ValueError, match=r"column 'level'; partition 1 lacks it"):
        fitted.test(lacking, warn=False)
    with pytest.raises(ValueError, match=r"missing \['level'\]"):
        fitted.test(dd.from_pandas(cur.drop(columns="level"), npartitions=2), warn=False)
    with pytest.raises(TypeError, match=r"`reference` must be in memory"):
        drift.DriftReference.fit(dd.from_pandas(ref, npartitions=2))
    with pytest.raises(ValueError, match=r"`current` must have at least one row"):
        fitted.test(dd.from_pandas(cur.iloc[:0], npartitions=1), warn=False)


def test_discrete_by_dtype_or_by_the_caller():
    g = np.random.default_rng(5)
    frame = pd.DataFrame({"hour": g.integers(0, 24, 600), "load": g.normal(size=600),
                          "flag": g.random(600) < 0.3,
                          "tier": pd.Categorical(g.choice(["a", "b"], 600))})
    report = drift.detect_drift(frame, frame.iloc[:300], warn=False)
    assert list(report["test"]) == ["chi2", "ks", "chi2", "chi2"]
    as_ks = drift.detect_drift(frame, frame.iloc[:300], discrete=["tier"], warn=False)
    assert list(as_ks["test"]) == ["ks", "ks", "ks", "chi2"]
    with pytest.raises(TypeError, match=r"`discrete` must include categorical column 'tier'"):
        drift.detect_drift(frame, frame, discrete=[], warn=False)
