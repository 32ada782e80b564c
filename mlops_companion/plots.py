"""The book's figures, as functions that return a matplotlib Figure.

Covers the palette (:data:`OKABE_ITO`, eight colours distinguishable with the common
forms of colour-vision deficiency), the book's style (:func:`use_book_style`, applied
explicitly, never on import) and one function per recurring figure: the canary traffic
schedule, a rollout timeline, reference-vs-current histograms, a drift statistic over
time, the lifecycle loop and accuracy over time.

Colour never carries meaning on its own here: every series also differs by line style,
marker or hatching.

Out of scope: computing anything. The numbers come from :mod:`mlops_reference.rollout`,
:mod:`mlops_reference.drift` and the chapters; this module only draws them.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "OKABE_ITO", "LINESTYLES", "use_book_style", "plot_canary_schedule", "plot_rollout_timeline",
    "plot_drift_histograms", "plot_drift_over_time", "plot_lifecycle", "plot_accuracy_over_time",
]

#: The Okabe-Ito palette (Okabe and Ito, 2008), name -> hex colour.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

# The order colours are used in: the strongest contrasts first, yellow (weak on white) last.
_CYCLE_ORDER = ("blue", "orange", "bluish_green", "vermillion", "reddish_purple",
                "sky_blue", "black", "yellow")
#: Line styles paired with the colour cycle, so series differ without colour too.
LINESTYLES: tuple[Any, ...] = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)),
                               (0, (1, 2)), (0, (8, 3)))


def use_book_style() -> None:
    """Apply the book's plot style to matplotlib's global ``rcParams``.

    Explicit by design: importing this module changes nothing. The style uses the
    Okabe-Ito colours paired with varying line styles, removes the top and right spines,
    keeps backgrounds transparent-friendly (white figure, no frame on legends) and sets
    readable font sizes.

    Examples
    --------
    Does the first colour of the cycle come from the Okabe-Ito palette afterwards?

    >>> import matplotlib as mpl
    >>> with mpl.rc_context():
    ...     use_book_style()
    ...     first = mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
    >>> first == OKABE_ITO["blue"]
    True
    """
    import matplotlib as mpl
    from cycler import cycler

    colours = [OKABE_ITO[name] for name in _CYCLE_ORDER]
    mpl.rcParams.update({
        "axes.prop_cycle": cycler(color=colours) + cycler(linestyle=list(LINESTYLES)),
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.alpha": 0.3, "grid.linestyle": ":", "axes.facecolor": "none",
        "figure.facecolor": "white", "savefig.facecolor": "white", "savefig.transparent": False,
        "legend.frameon": False, "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
        "figure.figsize": (7.0, 4.0), "figure.dpi": 110, "lines.linewidth": 1.8,
        "hatch.linewidth": 0.8,
    })


# ----------------------------------------------------------------------------- helpers
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _colour(i: int) -> str:
    return OKABE_ITO[_CYCLE_ORDER[i % len(_CYCLE_ORDER)]]


def _new_figure(nrows: int = 1, ncols: int = 1, **kwargs: Any):
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, **kwargs)


# ----------------------------------------------------------------------------- rollout
def plot_canary_schedule(schedule: Any = None, *, current_label: str = "Current (v3)",
                         candidate_label: str = "Canary (v4)"):
    """Traffic share of the current model and the canary over a rollout.

    Parameters
    ----------
    schedule : rollout.CanarySchedule, default=None (the default schedule)
    current_label, candidate_label : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    Does the figure show both models' shares, in percent, over hours?

    >>> import matplotlib.pyplot as plt
    >>> fig = plot_canary_schedule()
    >>> ax = fig.axes[0]
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('Hours since rollout start', 'Share of traffic (%)')
    >>> plt.close(fig)
    """
    from mlops_reference.rollout import CanarySchedule

    schedule = CanarySchedule() if schedule is None else schedule
    if not isinstance(schedule, CanarySchedule):
        raise TypeError(f"`schedule` must be a rollout.CanarySchedule; got {type(schedule).__name__}.")
    hours = np.array(schedule.hours + (schedule.hours[-1] + 6,), dtype=float)
    cand = 100 * np.array(schedule.shares + (schedule.shares[-1],))
    fig, ax = _new_figure(figsize=(7.0, 3.8))
    ax.step(hours, 100 - cand, where="post", color=_colour(0), linestyle="-",
            label=current_label)
    ax.step(hours, cand, where="post", color=_colour(1), linestyle="--", label=candidate_label)
    ax.plot(hours[:-1], 100 - cand[:-1], "o", color=_colour(0), markersize=5)
    ax.plot(hours[:-1], cand[:-1], "s", color=_colour(1), markersize=5)
    for h in schedule.hours[1:]:
        ax.axvline(h, color=OKABE_ITO["black"], linestyle=":", linewidth=0.8, alpha=0.5)
    ax.text(hours[-1], 100 - cand[-1] + 3, current_label, ha="right", va="bottom", color=_colour(0))
    ax.text(hours[-1], cand[-1] - 3, candidate_label, ha="right", va="top", color=_colour(1))
    ax.set_xlabel("Hours since rollout start")
    ax.set_ylabel("Share of traffic (%)")
    ax.set_ylim(-5, 105)
    ax.set_xlim(hours[0], hours[-1])
    ax.legend(loc="center right")
    fig.tight_layout()
    return fig


def plot_rollout_timeline(result: Any):
    """A simulated rollout: the canary's share (top) and the monitor's statistic (bottom).

    Parameters
    ----------
    result : rollout.RolloutResult or its ``timeline`` DataFrame
        When the timeline has a ``boundary`` column (as :func:`rollout.simulate_rollout`
        writes), the rule's boundary is drawn look by look.

    Returns
    -------
    matplotlib.figure.Figure
        The rollback, if any, is marked with a cross and labelled in text with the hour
        it took effect: the end of the breaching window (``RolloutResult.rollback_at_hour``).

    Examples
    --------
    Are there two panels sharing the hour axis?

    >>> import matplotlib.pyplot as plt, pandas as pd
    >>> timeline = pd.DataFrame({"step": [0, 1, 2], "hour": [0.0, 1.0, 2.0],
    ...     "share": [0.0, 0.05, 0.1], "n_canary": [0, 120, 230],
    ...     "statistic": [float("nan"), -1.2, 4.5], "boundary": [float("nan"), 3.0, 2.8],
    ...     "decision": ["start", "continue", "rollback"]})
    >>> fig = plot_rollout_timeline(timeline)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['Canary share (%)', 'Margin statistic (standard errors)']
    >>> plt.close(fig)
    """
    timeline = getattr(result, "timeline", result)
    if not isinstance(timeline, pd.DataFrame) or not {"hour", "share", "statistic", "decision"} <= set(timeline.columns):
        raise TypeError(
            "`result` must be a RolloutResult or a timeline DataFrame with columns "
            f"hour, share, statistic, decision; got {type(result).__name__}."
        )
    fig, (top, bottom) = _new_figure(2, 1, sharex=True, figsize=(7.0, 5.0),
                                     gridspec_kw={"height_ratios": [1, 1.3]})
    hours = timeline["hour"].to_numpy(float)
    share = 100 * timeline["share"].to_numpy(float)
    rolled = (timeline["decision"] == "rollback").to_numpy()
    if rolled.any():  # after the last window the share drops to 0
        xs, ys = np.r_[hours, hours[-1] + 1, hours[-1] + 1.5], np.r_[share, 0.0, 0.0]
    else:
        xs, ys = np.r_[hours, hours[-1] + 1], np.r_[share, share[-1]]
    top.step(xs, ys, where="post", color=_colour(1), linestyle="--")
    top.set_ylabel("Canary share (%)")
    monitored = timeline["statistic"].notna().to_numpy()
    stat = timeline["statistic"].to_numpy(float)
    bottom.plot(hours[monitored] + 0.5, stat[monitored],
                color=_colour(0), linestyle="-", marker="o", markersize=4,
                label="(|difference| - margin) / SE")
    insufficient = (timeline["decision"] == "insufficient").to_numpy()
    if insufficient.any():
        bottom.plot(hours[insufficient] + 0.5, np.zeros(insufficient.sum()), linestyle="none",
                    marker="|", markersize=10, color=OKABE_ITO["black"],
                    label="too few canary requests")
    if "boundary" in timeline.columns and monitored.any():
        bound = timeline["boundary"].to_numpy(float)
        finite = monitored & np.isfinite(bound)
        bottom.step(hours[finite] + 0.5, bound[finite], where="mid", color=_colour(3),
                    linestyle=":", linewidth=1.5, label="rollback boundary")
    bottom.axhline(0.0, color=OKABE_ITO["black"], linewidth=0.6)
    if rolled.any():
        i = int(np.flatnonzero(rolled)[0])
        y = stat[i] if np.isfinite(stat[i]) else 0.0
        bottom.plot(hours[i] + 0.5, y, linestyle="none", marker="X", markersize=12,
                    color=_colour(3), label="rollback")
        bottom.annotate(f"rollback at hour {hours[i] + 1:g}", (hours[i] + 0.5, y),
                        xytext=(12, -4), textcoords="offset points", color=_colour(3))
        top.annotate("share back to 0%", (hours[i] + 1.25, 0), xytext=(8, 14),
                     textcoords="offset points", color=_colour(3),
                     arrowprops={"arrowstyle": "->", "color": _colour(3)})
    bottom.set_xlabel("Hours since rollout start")
    bottom.set_ylabel("Margin statistic (standard errors)")
    bottom.legend(loc="best")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- drift
def plot_drift_histograms(reference: pd.DataFrame, current: pd.DataFrame,
                          features: Sequence[str], *, bins: int = 30):
    """Reference vs current histograms, one panel per feature, stacked.

    Parameters
    ----------
    reference, current : DataFrame
    features : sequence of str
    bins : int, default=30

    Returns
    -------
    matplotlib.figure.Figure
        Reference: filled bars; current: hatched outline; ``p99_latency_ms`` on a log axis.

    Examples
    --------
    One panel per feature, titled with its name:

    >>> import matplotlib.pyplot as plt
    >>> from mlops_companion import data
    >>> ref = data.make_production_sample(500, rng=0)
    >>> cur = data.make_production_sample(300, drift={"error_pct": 2.5}, rng=1)
    >>> fig = plot_drift_histograms(ref, cur, ["request_rate", "error_pct"])
    >>> [ax.get_title() for ax in fig.axes]
    ['request_rate', 'error_pct']
    >>> plt.close(fig)
    """
    if isinstance(features, str):
        raise TypeError(f"`features` must be a sequence of column names; got the string {features!r}.")
    features = list(features)
    missing = [f for f in features if f not in reference.columns or f not in current.columns]
    if missing or not features:
        raise ValueError(f"`features` must name columns of both samples; got {features} (missing {missing}).")
    # one panel per row, each as wide as the text column, so a phone shows them readable
    fig, axes = _new_figure(len(features), 1, figsize=(7.0, 2.2 * len(features)), squeeze=False)
    for ax, name in zip(axes[:, 0], features):
        ref = reference[name].to_numpy(float)
        cur = current[name].to_numpy(float)
        log = name == "p99_latency_ms"
        both = np.r_[ref, cur]
        if log:
            low = max(both[both > 0].min(), 1e-9)
            edges = np.geomspace(low, both.max(), bins + 1)
            ax.set_xscale("log")
        else:
            edges = np.histogram_bin_edges(both, bins=bins)
        ax.hist(ref, bins=edges, density=True, color=OKABE_ITO["sky_blue"], alpha=0.6,
                label="reference")
        ax.hist(cur, bins=edges, density=True, histtype="step", hatch="///",
                color=OKABE_ITO["vermillion"], linewidth=1.4, label="current")
        ax.set_title(name)
        ax.set_xlabel(name + (" (log scale)" if log else ""))
        ax.set_yticks([])
    axes[0][0].set_ylabel("Density")
    axes[0][0].legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_drift_over_time(over: pd.DataFrame, *, features: Sequence[str] | None = None,
                         xlabel: str = "Window"):
    """A drift statistic per window, one line per feature, drifted windows marked.

    Parameters
    ----------
    over : DataFrame
        The tidy output of :func:`mlops_reference.drift.drift_over_time`.
    features : sequence of str, default=None (all)
    xlabel : str, default="Window"

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    Does each feature get its own labelled line?

    >>> import matplotlib.pyplot as plt, pandas as pd
    >>> over = pd.DataFrame({"window": [0, 0, 1, 1], "feature": ["a", "b", "a", "b"],
    ...                      "statistic": [0.01, 0.02, 0.2, 0.02],
    ...                      "drifted": [False, False, True, False]})
    >>> fig = plot_drift_over_time(over)
    >>> [line.get_label() for line in fig.axes[0].get_lines()][:2]
    ['a', 'b']
    >>> plt.close(fig)
    """
    needed = {"window", "feature", "statistic"}
    if not isinstance(over, pd.DataFrame) or not needed <= set(over.columns):
        raise ValueError(f"`over` must be a DataFrame with columns {sorted(needed)}; got "
                         f"{list(getattr(over, 'columns', []))}.")
    features = list(dict.fromkeys(over["feature"])) if features is None else list(features)
    windows = list(dict.fromkeys(over["window"]))
    numeric = all(isinstance(w, (int, float, np.number)) for w in windows)
    position = {w: (float(w) if numeric else i) for i, w in enumerate(windows)}
    fig, ax = _new_figure(figsize=(7.0, 3.8))
    flagged: list[tuple[np.ndarray, np.ndarray]] = []
    for i, name in enumerate(features):
        rows = over[over["feature"] == name]
        x = rows["window"].map(position).to_numpy(float)
        y = rows["statistic"].to_numpy(float)
        ax.plot(x, y, color=_colour(i), linestyle=LINESTYLES[i % len(LINESTYLES)],
                marker=_MARKERS[i % len(_MARKERS)], markersize=4, label=name)
        ax.annotate(name, (x[-1], y[-1]), xytext=(9, 0), textcoords="offset points",
                    va="center", color=_colour(i), fontsize=8)
        if "drifted" in rows:
            hit = rows["drifted"].to_numpy(bool)
            flagged.append((x[hit], y[hit]))
    if flagged and sum(len(fx) for fx, _ in flagged):
        ax.plot(np.concatenate([fx for fx, _ in flagged]),
                np.concatenate([fy for _, fy in flagged]), linestyle="none", marker="o",
                markersize=11, markerfacecolor="none", markeredgecolor=OKABE_ITO["black"],
                label="drifted (circled)")
    if not numeric:
        ax.set_xticks(range(len(windows)), [str(w) for w in windows])
    ax.margins(x=0.15)  # room for the direct labels at the right end
    ax.set_xlabel(xlabel)
    ax.set_ylabel("KS statistic")
    ax.legend(loc="upper left", ncols=2, fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- lifecycle
_STAGES = (
    ("Train", "fit the pipeline\non fresh data"),
    ("Register", "hash, version,\nstore the artefact"),
    ("Deploy", "shadow, canary\nor blue/green"),
    ("Monitor", "infrastructure,\ndata, outcomes"),
    ("Retrain", "on drift, decay\nor a schedule"),
)


def plot_lifecycle():
    """The MLOps lifecycle: Train -> Register -> Deploy -> Monitor -> Retrain -> Train.

    Returns
    -------
    matplotlib.figure.Figure
        Five labelled stages on a pentagon, joined clockwise by curved arrows.

    Examples
    --------
    Are all five stages drawn?

    >>> import matplotlib.pyplot as plt
    >>> fig = plot_lifecycle()
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_fontweight() == "bold"]
    ['Train', 'Register', 'Deploy', 'Monitor', 'Retrain']
    >>> plt.close(fig)
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = _new_figure(figsize=(6.2, 5.6))
    n = len(_STAGES)
    angles = np.pi / 2 - 2 * np.pi * np.arange(n) / n  # clockwise from the top
    radius = 1.15
    xy = np.column_stack([radius * np.cos(angles), radius * np.sin(angles)])
    fills = ("sky_blue", "orange", "bluish_green", "reddish_purple", "yellow")
    for (name, detail), (x, y), fill in zip(_STAGES, xy, fills):
        ax.add_patch(FancyBboxPatch((x - 0.34, y - 0.2), 0.68, 0.4,
                                    boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=OKABE_ITO[fill], alpha=0.35,
                                    edgecolor=OKABE_ITO["black"], linewidth=1.0))
        ax.text(x, y + 0.07, name, ha="center", va="center", fontweight="bold", fontsize=11)
        ax.text(x, y - 0.08, detail, ha="center", va="center", fontsize=7.5)
    for i in range(n):
        here, there = xy[i], xy[(i + 1) % n]
        ax.add_patch(FancyArrowPatch(
            here + 0.36 * (there - here), here + 0.64 * (there - here),
            connectionstyle="arc3,rad=-0.2", arrowstyle="-|>",
            mutation_scale=14, color=OKABE_ITO["black"], linewidth=1.3,
            shrinkA=0, shrinkB=0,
        ))
    ax.text(0, 0, "the loop never\nstops: production\nfeeds training", ha="center",
            va="center", fontsize=9, style="italic")
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.35, 1.45)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def plot_accuracy_over_time(df: pd.DataFrame, *, series: Sequence[str], x: str = "week",
                            events: str | None = None):
    """Accuracy per period for several strategies (e.g. with and without retraining).

    Parameters
    ----------
    df : DataFrame
        Column ``x`` and one numeric column per strategy.
    x : str, default="week"
    series : sequence of str
        Columns to draw.
    events : str, default=None
        Name of a boolean column; True rows (e.g. retraining weeks) get a dotted vertical line.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    Does each strategy get its own line, style and marker?

    >>> import matplotlib.pyplot as plt, pandas as pd
    >>> df = pd.DataFrame({"week": [1, 2, 3], "without retraining": [0.8, 0.7, 0.6],
    ...                    "with retraining": [0.8, 0.78, 0.79]})
    >>> fig = plot_accuracy_over_time(df, series=["without retraining", "with retraining"])
    >>> [(l.get_label(), l.get_linestyle(), l.get_marker()) for l in fig.axes[0].get_lines()]
    [('without retraining', '-', 'o'), ('with retraining', '--', 's')]
    >>> plt.close(fig)
    """
    if not isinstance(df, pd.DataFrame) or x not in df.columns:
        raise ValueError(f"`df` must be a DataFrame with a {x!r} column; got "
                         f"{list(getattr(df, 'columns', []))}.")
    series = list(series)
    if not series or any(name not in df.columns for name in series):
        raise ValueError(f"`series` must name columns of `df`; got {series}.")
    fig, ax = _new_figure(figsize=(7.0, 3.8))
    for i, name in enumerate(series):
        ax.plot(df[x], df[name], color=_colour(i), linestyle=LINESTYLES[i % len(LINESTYLES)],
                marker=_MARKERS[i % len(_MARKERS)], markersize=4, label=name)
    if events is not None:
        for j, when in enumerate(df.loc[df[events].astype(bool), x]):
            ax.axvline(when, color=OKABE_ITO["black"], linestyle=":", linewidth=0.9,
                       label=events if j == 0 else "_nolegend_")
    ax.set_xlabel(x.capitalize())
    ax.set_ylabel("Accuracy")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig
