"""The book's figures, as functions that return a matplotlib Figure.

Covers the palette (:data:`OKABE_ITO`, eight colours distinguishable with the common
forms of colour-vision deficiency), the book's style (:func:`use_book_style`, applied
explicitly, never on import) and one function per recurring figure: the canary traffic
schedule, a rollout timeline, reference-vs-current histograms, a drift statistic over
time, the lifecycle loop and accuracy over time.

Colour never carries meaning on its own here: every series also differs by line style,
marker or hatching, and highlighted panels say so in their title text.

Out of scope: computing anything. The numbers come from :mod:`mlops_companion.rollout`,
:mod:`mlops_companion.drift` and the chapters; this module only draws them.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "OKABE_ITO",
    "LINESTYLES",
    "use_book_style",
    "plot_canary_schedule",
    "plot_rollout_timeline",
    "plot_drift_histograms",
    "plot_drift_over_time",
    "plot_lifecycle",
    "plot_accuracy_over_time",
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

    Returns
    -------
    None

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
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linestyle": ":",
        "axes.facecolor": "none",
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "savefig.transparent": False,
        "legend.frameon": False,
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "figure.figsize": (7.0, 4.0),
        "figure.dpi": 110,
        "lines.linewidth": 1.8,
        "hatch.linewidth": 0.8,
    })
