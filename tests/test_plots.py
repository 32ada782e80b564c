"""Tests of mlops_companion.plots: palette, style, and each figure's axes and labels."""
from __future__ import annotations

import importlib

import matplotlib as mpl
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mlops_companion import data, plots
from mlops_reference import drift, rollout

PALETTE = {mcolors.to_hex(c).lower() for c in plots.OKABE_ITO.values()}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _colours_used(fig) -> set[str]:
    found = set()
    for ax in fig.axes:
        for line in ax.get_lines():
            found.add(mcolors.to_hex(line.get_color()).lower())
        for patch in ax.patches:
            found.add(mcolors.to_hex(patch.get_edgecolor()).lower())
            found.add(mcolors.to_hex(patch.get_facecolor()).lower())
    return found


def test_public_surface_and_palette():
    assert set(plots.__all__) == {
        "OKABE_ITO", "LINESTYLES", "use_book_style", "plot_canary_schedule",
        "plot_rollout_timeline", "plot_drift_histograms", "plot_drift_over_time",
        "plot_lifecycle", "plot_accuracy_over_time",
    }
    assert len(plots.OKABE_ITO) == 8
    assert plots.OKABE_ITO["orange"].upper() == "#E69F00"
    assert plots.OKABE_ITO["blue"].upper() == "#0072B2"


def test_import_changes_no_rcparams():
    with mpl.rc_context():
        mpl.rcdefaults()
        before = dict(mpl.rcParams)
        importlib.reload(plots)
        assert dict(mpl.rcParams) == before


def test_use_book_style_sets_explicit_params():
    with mpl.rc_context():
        assert plots.use_book_style() is None
        cycle = mpl.rcParams["axes.prop_cycle"].by_key()
        assert {c.lower() for c in cycle["color"]} == PALETTE
        assert len(set(map(str, cycle["linestyle"]))) == len(cycle["linestyle"])
        assert mpl.rcParams["axes.spines.top"] is False
        assert mpl.rcParams["axes.spines.right"] is False


def test_canary_schedule_figure():
    fig = plots.plot_canary_schedule()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Hours since rollout start"
    styles = {line.get_linestyle() for line in ax.get_lines() if line.get_marker() in ("None", "")}
    assert {"-", "--"} <= styles  # the two series differ by line style, not only colour
    assert _colours_used(fig) & PALETTE
    with pytest.raises(TypeError, match=r"`schedule` must be a rollout.CanarySchedule"):
        plots.plot_canary_schedule([0, 1])


def test_rollout_timeline_marks_rollback_with_marker_and_text():
    traffic = pd.DataFrame({"x": np.random.default_rng(1).random(18 * 1500)})
    result = rollout.simulate_rollout(
        lambda X: X["x"].to_numpy(), lambda X: np.clip(X["x"].to_numpy() + 0.2, 0, 1),
        traffic, window_size=1500, rng=0)
    assert result.rolled_back
    fig = plots.plot_rollout_timeline(result)
    top, bottom = fig.axes
    assert "X" in [line.get_marker() for line in bottom.get_lines()]
    assert f"rollback at hour {result.rollback_at_hour:g}" in [t.get_text() for t in bottom.texts]
    assert "rollback boundary" in [line.get_label() for line in bottom.get_lines()]
    assert _colours_used(fig) <= PALETTE | {"#000000"}
    with pytest.raises(TypeError, match=r"`result` must be a RolloutResult"):
        plots.plot_rollout_timeline(pd.DataFrame({"a": [1]}))


def test_drift_histograms_hatching_log_axis_and_titles():
    ref = data.make_production_sample(800, rng=0)
    cur = data.make_production_sample(400, drift={"error_pct": 2.5}, rng=1)
    feats = ["request_rate", "error_pct", "p99_latency_ms"]
    fig = plots.plot_drift_histograms(ref, cur, feats)
    assert [ax.get_title() for ax in fig.axes] == feats
    assert [ax.get_xscale() for ax in fig.axes] == ["linear", "linear", "log"]
    assert any(p.get_hatch() for ax in fig.axes for p in ax.patches)
    assert _colours_used(fig) & PALETTE
    with pytest.raises(ValueError, match=r"`features` must name columns of both samples"):
        plots.plot_drift_histograms(ref, cur, ["nope"])
    with pytest.raises(TypeError, match=r"`features` must be a sequence"):
        plots.plot_drift_histograms(ref, cur, "error_pct")


def test_drift_over_time_lines_and_markers():
    ref = data.make_production_sample(1000, rng=0)
    windows = {w: data.make_production_sample(300, drift={"error_pct": 0.6 * w}, rng=w)
               for w in range(5)}
    over = drift.drift_over_time(ref, windows)
    fig = plots.plot_drift_over_time(over, features=["error_pct", "request_rate"])
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines[:2]] == ["error_pct", "request_rate"]
    assert lines[0].get_marker() != lines[1].get_marker()
    assert ax.get_ylabel() == "KS statistic"
    with pytest.raises(ValueError, match=r"`over` must be a DataFrame with columns"):
        plots.plot_drift_over_time(pd.DataFrame({"a": [1]}))


def test_lifecycle_has_five_stages_and_a_loop_of_arrows():
    fig = plots.plot_lifecycle()
    ax = fig.axes[0]
    bold = [t.get_text() for t in ax.texts if t.get_fontweight() == "bold"]
    assert bold == ["Train", "Register", "Deploy", "Monitor", "Retrain"]
    arrows = [p for p in ax.patches if type(p).__name__ == "FancyArrowPatch"]
    assert len(arrows) == 5


def test_accuracy_over_time_styles_and_events():
    df = pd.DataFrame({"week": range(1, 7), "without retraining": np.linspace(0.8, 0.6, 6),
                       "with retraining": [0.8, 0.78, 0.72, 0.79, 0.8, 0.79],
                       "retrained": [False, False, True, False, False, False]})
    fig = plots.plot_accuracy_over_time(df, series=["without retraining", "with retraining"],
                                        events="retrained")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    assert lines[0].get_marker() != lines[1].get_marker()
    assert "retrained" in [line.get_label() for line in lines]
    assert ax.get_ylabel() == "Accuracy"
    with pytest.raises(ValueError, match=r"`df` must be a DataFrame with a 'week' column"):
        plots.plot_accuracy_over_time(pd.DataFrame({"a": [1]}), series=["a"])
