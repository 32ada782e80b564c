"""Data drift: has the distribution of a model's inputs moved away from the reference?

Covers
    * :func:`detect_drift`: one test per feature, the two-sample Kolmogorov-Smirnov (KS)
      test for continuous features and a chi-square test of the category counts for
      discrete ones, with a Bonferroni or Benjamini-Hochberg (false discovery rate)
      correction for testing many features at once, and the population stability index
      (PSI) as an effect size.
    * :class:`DriftReference`: the reference side prepared once (sorted columns, PSI bin
      edges, category counts) and tested against many current windows, which is what a
      monitoring job does all day.
    * :func:`drift_over_time`: the same tests over a sequence of windows, as a tidy table.

The KS statistics and p-values are those of :func:`scipy.stats.ks_2samp` with its default
``method="auto"``: when both samples hold at most 10,000 values scipy's exact computation
is called as is; otherwise the statistic is computed here (bit-identical) and the
p-value is the asymptotic one scipy uses, ``scipy.stats.kstwo.sf(D, round(n1 * n2 /
(n1 + n2)))``, with its slowest branch (the exact one-sided sum) evaluated in numpy.

Out of scope: multivariate drift, drift of predictions or labels (concept drift needs
labels; see the monitoring chapter) and streaming/online detectors.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "DriftWarning",
    "DriftReference",
    "detect_drift",
    "drift_over_time",
    "psi",
    "CORRECTIONS",
]

#: Accepted values of ``correction``.
CORRECTIONS = ("bonferroni", "fdr", None)
_COLUMNS = ["feature", "test", "statistic", "pvalue", "threshold", "drifted", "psi"]
_EXACT_MAX_N = 10_000  # ks_2samp(method="auto") is exact up to this sample size
_PSI_FLOOR = 1e-4  # proportion used in place of an empty bin, as is customary for PSI
_MAX_DISCRETE_LEVELS = 20


class DriftWarning(UserWarning):
    """Emitted by :func:`detect_drift` when at least one feature has drifted."""


# ----------------------------------------------------------------------------- input checks
def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) \
            or not 0.0 < float(alpha) < 1.0:
        raise ValueError(
            f"`alpha` must be a number strictly between 0 and 1; got {alpha!r}. "
            "A usual choice is 0.01."
        )
    return float(alpha)


def _check_correction(correction: Any) -> str | None:
    if correction not in CORRECTIONS:
        raise ValueError(
            f"`correction` must be one of 'bonferroni', 'fdr' or None; got {correction!r}."
        )
    return correction


def _columns_of(X: Any, name: str, feature_names: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Split a DataFrame or a 2-D array into named 1-D numeric columns (views where possible)."""
    if isinstance(X, pd.DataFrame):
        if feature_names is not None and list(feature_names) != [str(c) for c in X.columns]:
            raise ValueError(
                f"`feature_names` must match the columns of `{name}` when it is a DataFrame; "
                f"got {list(feature_names)} and {list(X.columns)}. Drop `feature_names`."
            )
        cols: dict[str, np.ndarray] = {}
        for col in X.columns:
            series = X[col]
            if not (pd.api.types.is_numeric_dtype(series.dtype)
                    or pd.api.types.is_bool_dtype(series.dtype)):
                raise TypeError(
                    f"`{name}` must hold numeric columns only; column {col!r} has dtype "
                    f"{series.dtype}. Encode categories as integers first."
                )
            cols[str(col)] = series.to_numpy()
        if not cols:
            raise ValueError(f"`{name}` must have at least one column; got none.")
        return cols
    if isinstance(X, (pd.Series, list, tuple)) or not hasattr(X, "ndim"):
        raise TypeError(
            f"`{name}` must be a pandas DataFrame or a 2-D numpy array; got {type(X).__name__}."
        )
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must be 2-D (rows x features); got an array of shape {arr.shape}. "
            "Use X.reshape(-1, 1) for a single feature."
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must hold numbers; got dtype {arr.dtype}.")
    if feature_names is None:
        feature_names = [f"x{j}" for j in range(arr.shape[1])]
    if len(feature_names) != arr.shape[1]:
        raise ValueError(
            f"`feature_names` must name every column of `{name}`: {arr.shape[1]} names "
            f"expected; got {len(feature_names)}."
        )
    return {str(n): arr[:, j] for j, n in enumerate(feature_names)}


def _check_rows(col: np.ndarray, name: str, feature: str) -> None:
    if col.shape[0] == 0:
        raise ValueError(f"`{name}` must have at least one row; got an empty sample for {feature!r}.")


def _check_sorted_finite(sorted_col: np.ndarray, name: str, feature: str) -> None:
    # After sorting, -inf sits first and +inf and NaN last: two reads check the column.
    if not (np.isfinite(sorted_col[0]) and np.isfinite(sorted_col[-1])):
        raise ValueError(
            f"`{name}` must contain only finite values; column {feature!r} has NaN or "
            "infinite values. Drop or impute them before testing for drift."
        )


def _is_discrete(feature: str, col: np.ndarray) -> bool:
    from .data import FEATURE_SPECS

    if feature in FEATURE_SPECS:
        return FEATURE_SPECS[feature].kind == "discrete"
    if col.dtype == bool:
        return True
    if np.issubdtype(col.dtype, np.integer):
        return len(np.unique(col)) <= _MAX_DISCRETE_LEVELS
    return False


def psi(reference_props: Any, current_props: Any) -> float:
    """Population stability index between two vectors of bin proportions.

    ``PSI = sum((c - r) * ln(c / r))``, with empty bins counted as a proportion of 1e-4.
    A common reading: below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a large one.

    Examples
    --------
    How large is the PSI when a tenth of the mass moves between two bins?

    >>> round(psi([0.5, 0.5], [0.4, 0.6]), 4)
    0.0405
    """
    r = np.maximum(np.asarray(reference_props, dtype=float), _PSI_FLOOR)
    c = np.maximum(np.asarray(current_props, dtype=float), _PSI_FLOOR)
    if r.shape != c.shape or r.ndim != 1:
        raise ValueError(
            f"`reference_props` and `current_props` must be 1-D of the same length; "
            f"got shapes {r.shape} and {c.shape}."
        )
    return float(np.sum((c - r) * np.log(c / r)))


# ----------------------------------------------------------------------------- the reference
@dataclass(frozen=True)
class _Discrete:
    categories: np.ndarray
    counts: np.ndarray


class DriftReference:
    """A reference sample prepared once for many drift tests.

    Build it with :meth:`fit`; then :meth:`test` compares any number of current samples
    against it. Fitting sorts each continuous column once (kept in a Fortran-ordered
    array, so the extra memory is one copy of those columns), computes the PSI bin edges
    (deciles of the reference) and counts the categories of each discrete column.

    Examples
    --------
    Does a reference fitted once flag a shifted ``error_pct`` in a new window?

    >>> from mlops_companion import data
    >>> ref = DriftReference.fit(data.make_production_sample(2000, rng=0))
    >>> report = ref.test(data.make_production_sample(500, drift={"error_pct": 2.5}, rng=1),
    ...                   warn=False)
    >>> report.loc[report["drifted"], "feature"].tolist()
    ['error_pct']
    """

    def __init__(self) -> None:  # use DriftReference.fit(...)
        self.features: list[str] = []
        self.kinds: dict[str, str] = {}
        self.n_reference = 0
        self._sorted = np.empty((0, 0))
        self._position: dict[str, int] = {}
        self._edges: dict[str, np.ndarray] = {}
        self._ref_props: dict[str, np.ndarray] = {}
        self._discrete: dict[str, _Discrete] = {}
        self._array_input = False
        self._n_columns = 0

    @classmethod
    def fit(
        cls,
        reference: Any,
        *,
        features: Sequence[str] | None = None,
        feature_names: Sequence[str] | None = None,
        discrete: Sequence[str] | None = None,
        n_bins: int = 10,
    ) -> DriftReference:
        """Prepare ``reference`` (a DataFrame, or a 2-D array with ``feature_names``).

        Parameters
        ----------
        reference : DataFrame or ndarray of shape (n_samples, n_features)
        features : sequence of str, default=None
            Columns to monitor; ``None`` means all.
        feature_names : sequence of str, default=None
            Column names when ``reference`` is an array (default ``x0, x1, ...``).
        discrete : sequence of str, default=None
            Features to test with chi-square; ``None`` takes the kind from
            :data:`mlops_companion.data.FEATURE_SPECS` for the scenario's features, and
            treats other integer columns with at most 20 distinct values as discrete.
        n_bins : int, default=10
            Quantile bins of the reference used for the PSI of continuous features.
        """
        if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
            raise ValueError(f"`n_bins` must be an integer of at least 2; got {n_bins!r}.")
        cols = _columns_of(reference, "reference", feature_names)
        if features is None:
            names = list(cols)
        else:
            if isinstance(features, str):
                raise TypeError(f"`features` must be a sequence of column names; got the string {features!r}.")
            names = [str(f) for f in features]
            missing = [f for f in names if f not in cols]
            if missing or not names:
                raise ValueError(
                    f"`features` must name columns of `reference` {list(cols)}; got {names}."
                )
        if discrete is not None:
            if isinstance(discrete, str):
                raise TypeError(f"`discrete` must be a sequence of column names; got the string {discrete!r}.")
            unknown = [f for f in discrete if f not in names]
            if unknown:
                raise ValueError(
                    f"`discrete` must name monitored features {names}; got unknown {unknown}."
                )
        self = cls()
        self._array_input = not isinstance(reference, pd.DataFrame)
        self._n_columns = len(cols)
        self.features = names
        for f in names:
            _check_rows(cols[f], "reference", f)
            is_disc = (f in discrete) if discrete is not None else _is_discrete(f, cols[f])
            self.kinds[f] = "chi2" if is_disc else "ks"
        self.n_reference = len(cols[names[0]])

        continuous = [f for f in names if self.kinds[f] == "ks"]
        self._sorted = np.empty((self.n_reference, len(continuous)), dtype=np.float64, order="F")
        for j, f in enumerate(continuous):
            out = self._sorted[:, j]  # contiguous: the array is Fortran-ordered
            out[:] = cols[f]
            out.sort(kind="quicksort")
            _check_sorted_finite(out, "reference", f)
            self._position[f] = j
            q = (np.arange(1, n_bins) * self.n_reference) // n_bins
            edges = np.unique(out[q])
            self._edges[f] = edges
            self._ref_props[f] = _bin_props(out, edges)
        for f in names:
            if self.kinds[f] == "chi2":
                col = np.asarray(cols[f], dtype=np.float64)
                if not np.isfinite(col).all():
                    _check_sorted_finite(np.array([np.nan]), "reference", f)
                cats, counts = np.unique(col, return_counts=True)
                self._discrete[f] = _Discrete(cats, counts)
        return self

    # ------------------------------------------------------------------------- testing
    def test(
        self,
        current: Any,
        *,
        feature_names: Sequence[str] | None = None,
        alpha: float = 0.01,
        correction: str | None = "bonferroni",
        warn: bool = True,
    ) -> pd.DataFrame:
        """Test ``current`` against the reference; see :func:`detect_drift` for the output."""
        alpha = _check_alpha(alpha)
        correction = _check_correction(correction)
        cols = _columns_of(current, "current", feature_names)
        if self._array_input and not isinstance(current, pd.DataFrame) \
                and len(cols) != self._n_columns:
            raise ValueError(
                f"`current` must have as many columns as `reference` ({self._n_columns}); "
                f"got {len(cols)}."
            )
        missing = [f for f in self.features if f not in cols]
        if missing:
            raise ValueError(
                f"`current` must have the reference's features {self.features}; missing "
                f"{missing}. Test windows with the same columns as the reference."
            )
        n_cur = len(cols[self.features[0]])
        for f in self.features:
            _check_rows(cols[f], "current", f)

        continuous = [f for f in self.features if self.kinds[f] == "ks"]
        n1, n2 = self.n_reference, n_cur
        d = np.empty(len(continuous))
        psis: dict[str, float] = {}
        exact = max(n1, n2) <= _EXACT_MAX_N
        pvals = np.empty(len(continuous))
        for i, f in enumerate(continuous):
            a = self._sorted[:, self._position[f]]
            b = np.sort(np.asarray(cols[f], dtype=np.float64))
            _check_sorted_finite(b, "current", f)
            psis[f] = psi(self._ref_props[f], _bin_props(b, self._edges[f]))
            if not exact:
                d[i] = _ks_statistic(a, b)
            else:
                with warnings.catch_warnings():
                    # ks_2samp warns when it falls back from exact to asymptotic; its
                    # default behaviour (and p-value) is what we reproduce here.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res = stats.ks_2samp(a, b)
                # scipy's exact path snaps D to the lattice of attainable values
                # (multiples of 1 / lcm(n1, n2)); report its value so both agree.
                d[i], pvals[i] = res.statistic, res.pvalue
        if continuous and not exact:
            m, n = sorted([float(n1), float(n2)], reverse=True)
            pvals = _kstwo_sf(d, float(np.round(m * n / (m + n))))

        rows: dict[str, tuple[str, float, float, float]] = {}
        for i, f in enumerate(continuous):
            rows[f] = ("ks", float(d[i]), float(pvals[i]), psis[f])
        for f in self.features:
            if self.kinds[f] == "chi2":
                rows[f] = ("chi2", *self._chi2(f, cols[f]))

        table = pd.DataFrame(
            [(f, *rows[f][:3]) for f in self.features],
            columns=["feature", "test", "statistic", "pvalue"],
        )
        thresholds = _thresholds(table["pvalue"].to_numpy(), alpha, correction)
        table["threshold"] = thresholds
        table["drifted"] = table["pvalue"].to_numpy() < thresholds
        table["psi"] = [rows[f][3] for f in self.features]
        if warn and table["drifted"].any():
            drifted = table.loc[table["drifted"], "feature"].tolist()
            warnings.warn(
                f"Drift detected in {len(drifted)} feature(s): {', '.join(drifted)} "
                f"(alpha={alpha}, correction={correction!r}).",
                DriftWarning,
                stacklevel=2,
            )
        return table

    def _chi2(self, feature: str, col: np.ndarray) -> tuple[float, float, float]:
        ref = self._discrete[feature]
        cur = np.asarray(col, dtype=np.float64)
        if not np.isfinite(cur).all():
            _check_sorted_finite(np.array([np.nan]), "current", feature)
        cats, counts = np.unique(cur, return_counts=True)
        union = np.union1d(ref.categories, cats)
        table = np.zeros((2, len(union)))
        table[0, np.searchsorted(union, ref.categories)] = ref.counts
        table[1, np.searchsorted(union, cats)] = counts
        value = psi(table[0] / table[0].sum(), table[1] / table[1].sum())
        if len(union) < 2:
            return 0.0, 1.0, value
        res = stats.chi2_contingency(table)
        return float(res.statistic), float(res.pvalue), value


def _bin_props(sorted_col: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of a sorted sample in the bins (-inf, e1], (e1, e2], ..., (e_last, inf)."""
    cum = np.searchsorted(sorted_col, edges, side="right")
    counts = np.diff(np.concatenate([[0], cum, [len(sorted_col)]]))
    return counts / len(sorted_col)


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
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


def _kstwo_sf(d: np.ndarray, n: float) -> np.ndarray:
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


def _thresholds(pvalues: np.ndarray, alpha: float, correction: str | None) -> np.ndarray:
    m = len(pvalues)
    if correction is None:
        return np.full(m, alpha)
    if correction == "bonferroni":
        return np.full(m, alpha / m)
    # Benjamini-Hochberg: the largest i with p_(i) < i * alpha / m sets one cut-off for all.
    ranked = np.sort(pvalues)
    below = np.nonzero(ranked < np.arange(1, m + 1) * alpha / m)[0]
    cutoff = (below[-1] + 1) * alpha / m if len(below) else alpha / m
    return np.full(m, cutoff)


# ----------------------------------------------------------------------------- functions
def detect_drift(
    reference: Any,
    current: Any,
    *,
    features: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    discrete: Sequence[str] | None = None,
    alpha: float = 0.01,
    correction: str | None = "bonferroni",
    warn: bool = True,
) -> pd.DataFrame:
    """Test every feature of ``current`` for drift away from ``reference``.

    Parameters
    ----------
    reference : DataFrame, ndarray of shape (n_samples, n_features) or DriftReference
        What the model was trained on (or a reference fitted once with
        :meth:`DriftReference.fit`).
    current : DataFrame or ndarray of shape (n_samples, n_features)
        Recent production inputs, with the same columns.
    features : sequence of str, default=None
        Features to test; ``None`` means all columns.
    feature_names : sequence of str, default=None
        Column names when the inputs are arrays (default ``x0, x1, ...``).
    discrete : sequence of str, default=None
        Features to test with chi-square (see :meth:`DriftReference.fit` for the default).
    alpha : float, default=0.01
        Family-wise (Bonferroni) or false-discovery (``"fdr"``) error rate, or the
        per-feature level when ``correction=None``.
    correction : {"bonferroni", "fdr", None}, default="bonferroni"
        ``"bonferroni"`` tests each of the m features at ``alpha / m``; ``"fdr"`` applies
        the Benjamini-Hochberg step-up rule; ``None`` tests each at ``alpha``.
    warn : bool, default=True
        Emit a :class:`DriftWarning` naming the drifted features.

    Returns
    -------
    DataFrame
        One row per feature: ``feature``, ``test`` ("ks" or "chi2"), ``statistic``,
        ``pvalue``, ``threshold`` (the corrected level), ``drifted`` (``pvalue <
        threshold``) and ``psi``.

    Examples
    --------
    Which feature of a production sample has drifted, when only ``error_pct`` was shifted?

    >>> import warnings
    >>> from mlops_companion import data
    >>> reference = data.make_production_sample(1000, rng=1)
    >>> current = data.make_production_sample(500, drift={"error_pct": 2.5}, rng=2)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     report = detect_drift(reference, current)
    >>> report[["feature", "test", "drifted"]]
             feature  test  drifted
    0   request_rate    ks    False
    1      error_pct    ks     True
    2 p99_latency_ms    ks    False
    3    deploy_hour  chi2    False
    4     is_weekend  chi2    False
    >>> str(caught[0].message)
    "Drift detected in 1 feature(s): error_pct (alpha=0.01, correction='bonferroni')."
    """
    if isinstance(reference, DriftReference):
        if features is not None or discrete is not None:
            raise ValueError(
                "`features` and `discrete` must be None when `reference` is a fitted "
                "DriftReference; they were fixed by DriftReference.fit."
            )
        ref = reference
    else:
        ref = DriftReference.fit(reference, features=features, feature_names=feature_names,
                                 discrete=discrete)
    return ref.test(current, feature_names=feature_names, alpha=alpha,
                    correction=correction, warn=warn)


def drift_over_time(
    reference: Any,
    windows: Sequence[Any] | Mapping[Any, Any],
    *,
    features: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    discrete: Sequence[str] | None = None,
    alpha: float = 0.01,
    correction: str | None = "bonferroni",
    warn: bool = False,
) -> pd.DataFrame:
    """Test a sequence of windows against one reference, fitted once.

    Parameters
    ----------
    reference : DataFrame, ndarray or DriftReference
    windows : sequence of samples, or mapping of label -> sample
        Labels default to 0, 1, 2, ...
    warn : bool, default=False
        Emit a :class:`DriftWarning` per drifted window.
    Other parameters as in :func:`detect_drift`.

    Returns
    -------
    DataFrame
        Tidy: one row per (window, feature) with the columns ``window`` followed by those
        of :func:`detect_drift`.

    Examples
    --------
    Does the KS statistic of ``error_pct`` grow as the shift grows?

    >>> from mlops_companion import data
    >>> reference = data.make_production_sample(2000, rng=0)
    >>> windows = {s: data.make_production_sample(500, drift={"error_pct": s}, rng=i)
    ...            for i, s in enumerate([0.0, 0.5, 1.0, 2.0])}
    >>> over = drift_over_time(reference, windows)
    >>> ks = over[over["feature"] == "error_pct"]["statistic"]
    >>> bool(ks.is_monotonic_increasing)
    True
    """
    if isinstance(windows, Mapping):
        items = list(windows.items())
    elif isinstance(windows, (pd.DataFrame, np.ndarray)) or not isinstance(windows, Iterable):
        raise TypeError(
            f"`windows` must be a sequence or mapping of samples; got {type(windows).__name__}. "
            "Wrap a single sample in a list."
        )
    else:
        items = list(enumerate(windows))
    if not items:
        raise ValueError("`windows` must hold at least one sample; got none.")
    if isinstance(reference, DriftReference):
        ref = reference
    else:
        ref = DriftReference.fit(reference, features=features, feature_names=feature_names,
                                 discrete=discrete)
    tables = []
    for label, window in items:
        t = ref.test(window, feature_names=feature_names, alpha=alpha,
                     correction=correction, warn=warn)
        t.insert(0, "window", [label] * len(t))
        tables.append(t)
    return pd.concat(tables, ignore_index=True)
