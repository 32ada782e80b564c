"""Private helpers shared by the in-memory and the partitioned drift tests (``_detect``, ``_partitioned``).

Input checks of a column, category counts, the PSI of bin proportions and the chi-square
test of two count vectors: what both paths compute the same way, in one place.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: Proportion used in place of an empty bin, as is customary for PSI.
PSI_FLOOR = 1e-4


def check_rows(n_rows: int, name: str, feature: str) -> None:
    if n_rows == 0:
        raise ValueError(f"`{name}` must have at least one row; got an empty sample for {feature!r}.")


def not_finite(name: str, feature: str, where: str = "") -> ValueError:
    return ValueError(
        f"`{name}` must contain only finite values; column {feature!r}{where} has NaN or "
        "infinite values. Drop or impute them before testing for drift."
    )


def category_counts(col: np.ndarray, name: str, feature: str, where: str = "") -> pd.Series:
    """Counts of each category (numbers as float64, so 1 and 1.0 are one category)."""
    if col.dtype != object:
        col = np.asarray(col, dtype=np.float64)
        if not np.isfinite(col).all():
            raise not_finite(name, feature, where)
    counts = pd.Series(col).value_counts(dropna=False, sort=False)
    if counts.index.hasnans:
        raise not_finite(name, feature, where)
    return counts


def psi(reference_props: Any, current_props: Any) -> float:
    """Population stability index between two vectors of bin proportions.

    ``PSI = sum((c - r) * ln(c / r))`` over the bins, with ``r`` and ``c`` the reference
    and current shares of each bin and an empty bin counted as a share of 1e-4. It is a
    symmetrised Kullback-Leibler divergence, so it is never negative. A common reading:
    below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a large one; but sampling
    noise alone gives a PSI of about ``(bins - 1) * (1 / n_ref + 1 / n_cur)``, so small
    samples or many bins raise that floor.

    Examples
    --------
    How large is the PSI when a tenth of the mass moves between two bins?

    >>> round(psi([0.5, 0.5], [0.4, 0.6]), 4)
    0.0405
    """
    r = np.maximum(np.asarray(reference_props, dtype=float), PSI_FLOOR)
    c = np.maximum(np.asarray(current_props, dtype=float), PSI_FLOOR)
    if r.shape != c.shape or r.ndim != 1:
        raise ValueError(
            f"`reference_props` and `current_props` must be 1-D of the same length; "
            f"got shapes {r.shape} and {c.shape}."
        )
    return float(np.sum((c - r) * np.log(c / r)))


def bin_props(sorted_col: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of a sorted sample in the bins (-inf, e1], (e1, e2], ..., (e_last, inf)."""
    cum = np.searchsorted(sorted_col, edges, side="right")
    counts = np.diff(np.concatenate([[0], cum, [len(sorted_col)]]))
    return counts / len(sorted_col)


def chi2_from_counts(ref: pd.Series, cur: pd.Series) -> tuple[float, float, float]:
    """(statistic, p-value, PSI) of the 2 x k table of reference and current counts."""
    union = ref.index.union(cur.index)
    if not union.is_monotonic_increasing:  # a union of mixed labels may come back unsorted
        union = union.sort_values()
    table = np.vstack([ref.reindex(union, fill_value=0).to_numpy(dtype=np.float64),
                       cur.reindex(union, fill_value=0).to_numpy(dtype=np.float64)])
    value = psi(table[0] / table[0].sum(), table[1] / table[1].sum())
    if len(union) < 2:
        return 0.0, 1.0, value
    res = stats.chi2_contingency(table)
    return float(res.statistic), float(res.pvalue), value
