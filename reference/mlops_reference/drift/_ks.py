"""Two-sample Kolmogorov-Smirnov internals: the statistic, its p-value, and its exact
computation from counts that add up across partitions.

Everything here reproduces :func:`scipy.stats.ks_2samp` (``method="auto"``,
``alternative="two-sided"``): the same integer counts divided by the same sample sizes, so
the statistic is bit-identical, and the same p-value (scipy's own call when both samples
hold at most 10,000 values, its asymptotic formula beyond).

Counting over partitions
------------------------
Let ``v_0 < v_1 < ... < v_{J-1}`` be the distinct values of the reference ``a`` (n1 values)
and ``b`` the current sample (n2 values, split into partitions). ``F_a - F_b`` only rises at
points of ``a`` and only falls at points of ``b``, so

* its maximum is reached at some ``v_j``: ``#{a <= v_j} / n1 - #{b <= v_j} / n2``;
* the maximum of ``F_b - F_a`` on ``[v_{j-1}, v_j)`` is its left limit at ``v_j``:
  ``#{b < v_j} / n2 - #{a < v_j} / n1`` (and ``0`` past the last ``v``).

Both need, for every ``j``, the counts ``#{b < v_j}`` and ``#{b <= v_j}`` only. Each
partition places its values into ``2 J + 1`` cells (strictly between two reference values,
or equal to one) with a binary search and ``np.bincount``; the cell counts of the
partitions add up to those of the whole sample, exactly, whatever the partitioning (empty
partitions contribute zeros). Cumulative sums of the total give both counts.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import special, stats

EXACT_MAX_N = 10_000  # ks_2samp(method="auto") is exact up to this sample size


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided KS statistic of sorted samples ``a`` (reference) and ``b`` (current).

    ``F_a - F_b`` only rises at points of ``a`` and only falls at points of ``b``, so its
    maximum sits just before a point of ``b`` and its minimum at a point of ``b``: it is
    enough to place the (few) points of ``b`` into ``a``, not the pooled sample into both.
    The counts are the same integers scipy divides, so the statistic is bit-identical.
    """
    n1, n2 = len(a), len(b)
    # Rank of each value of b within b: first and one-past-last index of its run of ties.
    new_run = np.empty(n2, dtype=bool)
    new_run[0] = True
    np.not_equal(b[1:], b[:-1], out=new_run[1:])
    starts = np.flatnonzero(new_run)
    values = b[starts]
    ends = np.append(starts[1:], n2)
    # Positions of the distinct values of b in a; a second search only for values tied with a.
    a_left = np.searchsorted(a, values, side="left")
    a_right = a_left.copy()
    inside = a_left < n1
    tied = np.flatnonzero(inside)[a[a_left[inside]] == values[inside]]
    if len(tied):
        a_right[tied] = np.searchsorted(a, values[tied], side="right")
    up = np.max(a_left / n1 - starts / n2)    # sup of F_a - F_b
    down = np.max(ends / n2 - a_right / n1)   # sup of F_b - F_a
    return float(max(up, down, 0.0))


def _smirnov_sum(n: int, x: float) -> float:
    """One-sided exact tail P(D+_n >= x), the Birnbaum-Tingey sum, in log space."""
    j = np.arange(0, int(np.floor(n * (1 - x))) + 1, dtype=float)
    with np.errstate(divide="ignore"):  # a last term with x + j/n == 1 is exactly 0
        log_terms = (special.gammaln(n + 1) - special.gammaln(j + 1)
                     - special.gammaln(n - j + 1)
                     + (n - j) * np.log1p(-x - j / n) + (j - 1) * np.log(x + j / n))
    top = log_terms.max()
    return float(x * np.exp(top) * np.exp(log_terms - top).sum())


def kstwo_sf(d: np.ndarray, n: float) -> np.ndarray:
    """``scipy.stats.kstwo.sf(d, n)``, faster where scipy is slowest.

    scipy (Simard and L'Ecuyer's algorithm) answers ``2 * smirnov(n, d)`` when
    ``n * d**2 >= 2.2`` (and 0 beyond 370) for ``n > 140``; its ``smirnov`` takes tens of
    milliseconds for n near 10**5. The same exact one-sided sum is evaluated here with
    numpy (agreement to about 1e-12); every other branch is left to scipy.
    """
    d = np.asarray(d, dtype=float)
    out = np.empty_like(d)
    nxx = n * d * d
    mine = (n > 140) & (d > 0) & (d < 0.5) & (n * d > 1) & (n * d < n - 1) & (nxx >= 2.2)
    for i in np.flatnonzero(mine):
        out[i] = 0.0 if nxx[i] >= 370.0 else min(1.0, 2.0 * _smirnov_sum(int(n), float(d[i])))
    rest = ~mine
    if rest.any():
        out[rest] = stats.kstwo.sf(d[rest], n)
    return np.clip(out, 0.0, 1.0)


def asymptotic_pvalues(d: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """scipy's ``method="asymp"`` two-sided p-values for statistics ``d``."""
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return kstwo_sf(np.asarray(d, dtype=float), float(np.round(m * n / (m + n))))


def scipy_ks(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``scipy.stats.ks_2samp(a, b)`` (statistic, p-value), without its fallback warning."""
    with warnings.catch_warnings():
        # ks_2samp warns when it falls back from exact to asymptotic; its default
        # behaviour (and p-value) is what the package reproduces.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ks_2samp(a, b)
    return float(res.statistic), float(res.pvalue)


# ----------------------------------------------------------------------------- counts
def cell_counts(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Counts of ``x`` in the ``2 J + 1`` cells around the distinct reference ``values``.

    Cell ``2 j`` holds the points strictly between ``values[j - 1]`` and ``values[j]``
    (below ``values[0]`` for ``j = 0``, above the last value for ``j = J``); cell
    ``2 j + 1`` holds the points equal to ``values[j]``. ``x`` need not be sorted: it is
    sorted here (a copy), and the reference values are placed into it, ``2 J`` binary
    searches in a partition that fits the cache better than the reverse.
    """
    xs = np.sort(x)
    below = np.searchsorted(xs, values, side="left")     # #{x < v_j}
    at_or_below = np.searchsorted(xs, values, side="right")  # #{x <= v_j}
    cells = np.empty(2 * len(values) + 1, dtype=np.int64)
    cells[1:-1:2] = at_or_below - below
    cells[0:-1:2] = below - np.concatenate([[0], at_or_below[:-1]])
    cells[-1] = len(xs) - (at_or_below[-1] if len(values) else 0)
    return cells


def statistic_from_counts(ref_le: np.ndarray, cells: np.ndarray, n1: int, n2: int) -> float:
    """Two-sided KS statistic from the reference's cumulative counts and the cell counts.

    ``ref_le[j] = #{a <= v_j}``; ``cells`` as returned by :func:`cell_counts` (summed over
    partitions). The same integers divided by the same sizes as in scipy: bit-identical.
    """
    cum = np.concatenate([[0], np.cumsum(cells)])
    b_lt = cum[1:-1:2]           # #{b < v_j} = cum[2j + 1], j = 0..J-1
    b_le = cum[2::2]             # #{b <= v_j}
    ref_lt = np.concatenate([[0], ref_le[:-1]])
    up = np.max(ref_le / n1 - b_le / n2)
    down = np.max(b_lt / n2 - ref_lt / n1)
    return float(max(up, down, 0.0))


def proxy_sample(cells: np.ndarray) -> np.ndarray:
    """A sample with the current sample's order pattern against the reference's values.

    Reference value ``v_j`` stands as ``2 j + 1`` and every point strictly between two
    reference values as the even number between them. The KS statistic (and so scipy's
    exact p-value) depends only on this pattern: within a gap, ``F_a`` is constant and the
    gap's points only matter through their count.
    """
    return np.repeat(np.arange(len(cells), dtype=np.float64), cells)


def ks_from_counts(ref_values: np.ndarray, ref_le: np.ndarray, cells: np.ndarray,
                   n1: int, n2: int) -> tuple[float, float]:
    """(statistic, p-value) of ``ks_2samp(reference, current)`` from the summed counts."""
    if max(n1, n2) <= EXACT_MAX_N:
        # Small samples: scipy's exact path (it snaps D to its lattice); hand it samples
        # with the same order pattern, rebuilt from the counts (at most 10,000 values).
        ref_counts = np.diff(np.concatenate([[0], ref_le]))
        a = np.repeat(2 * np.arange(len(ref_values), dtype=np.float64) + 1, ref_counts)
        return scipy_ks(a, proxy_sample(cells))
    d = statistic_from_counts(ref_le, cells, n1, n2)
    return d, float(asymptotic_pvalues(np.array([d]), n1, n2)[0])
