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

plots.use_book_style()
