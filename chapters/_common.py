"""Hidden set-up shared by every chapter (the book's `_common.R`, in r4ds's terms).

Each chapter runs it first with ``%run _common.py`` in a cell marked ``include: false``.
It loads the libraries every chapter uses, makes printed tables compact and applies the
book's plot style. It sets no global random seed: every example passes its own ``rng``.
"""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mlops_companion import plots

pd.set_option("display.precision", 4)
pd.set_option("display.max_columns", 12)
pd.set_option("display.width", 100)
np.set_printoptions(precision=4, suppress=True)


# DataFrames: a default 0, 1, 2, ... index says nothing, so it is not displayed (a named or
# non-default index still is). Same limits as pandas' own display (max_rows, max_columns).
def _default_index(frame):
    index = frame.index
    return (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
            and index.name is None)


def _limits():
    return dict(max_rows=pd.get_option("display.max_rows"),
                max_cols=pd.get_option("display.max_columns"))


def _frame_html(frame):
    if not _default_index(frame):
        return frame._repr_html_()
    return frame.to_html(index=False, show_dimensions=False, **_limits())


def _frame_text(frame, printer, cycle):
    if not _default_index(frame):
        printer.text(repr(frame))
        return
    printer.text(frame.to_string(index=False, line_width=pd.get_option("display.width"),
                                 min_rows=pd.get_option("display.min_rows"), **_limits()))


def _show_frames_without_default_index():
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        formatters = shell.display_formatter.formatters
        formatters["text/html"].for_type(pd.DataFrame, _frame_html)
        formatters["text/plain"].for_type(pd.DataFrame, _frame_text)


_show_frames_without_default_index()

plots.use_book_style()
