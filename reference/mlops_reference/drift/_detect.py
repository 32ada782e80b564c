"""Drift tests on in-memory samples and on Dask DataFrames (the public face is ``drift``)."""
from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._utils import check_int, check_level, check_one_of
from . import _ks, _stats

#: Accepted values of ``correction``.
_CORRECTIONS = ("bonferroni", "fdr", None)


class DriftWarning(UserWarning):
    """Emitted by :func:`detect_drift` when at least one feature has drifted."""


# ----------------------------------------------------------------------------- input checks
def _is_dask_frame(X: Any) -> bool:
    if "dask" not in sys.modules:  # never import dask for an in-memory sample
        return False
    import dask.dataframe as dd

    return isinstance(X, dd.DataFrame)


def _is_discrete_dtype(dtype: Any) -> bool:
    return (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype))


def _check_names(value: Any, name: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"`{name}` must be a sequence of column names; got {value!r}.")
    return [str(v) for v in value]


def _columns_of(X: Any, name: str, feature_names: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Split a DataFrame or a 2-D array into named 1-D columns (views where possible).

    Numeric and bool columns come back as numpy arrays of their dtype; categorical columns
    as object arrays of their labels.
    """
    if isinstance(X, pd.DataFrame):
        if feature_names is not None and list(feature_names) != [str(c) for c in X.columns]:
            raise ValueError(
                f"`feature_names` must match the columns of `{name}` when it is a DataFrame; "
                f"got {list(feature_names)} and {list(X.columns)}. Drop `feature_names`."
            )
        cols: dict[str, np.ndarray] = {}
        for col in X.columns:
            series = X[col]
            if isinstance(series.dtype, pd.CategoricalDtype):
                cols[str(col)] = series.astype(object).to_numpy()
                continue
            if not (pd.api.types.is_numeric_dtype(series.dtype)
                    or pd.api.types.is_bool_dtype(series.dtype)):
                raise TypeError(
                    f"`{name}` must hold numeric, bool or categorical columns only; column "
                    f"{col!r} has dtype {series.dtype}. Convert text to a pandas Categorical "
                    "or encode it as integers first."
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


def _check_sorted_finite(sorted_col: np.ndarray, name: str, feature: str) -> None:
    # After sorting, -inf sits first and +inf and NaN last: two reads check the column.
    if not (np.isfinite(sorted_col[0]) and np.isfinite(sorted_col[-1])):
        raise _stats.not_finite(name, feature)


def _check_features(features: Any, discrete: Any, columns: list[str]) -> tuple[list[str], list[str] | None]:
    """The features to monitor and the ones declared discrete, checked against ``columns``."""
    names = columns if features is None else _check_names(features, "features")
    if not names or any(f not in columns for f in names):
        raise ValueError(f"`features` must name columns of `reference` {columns}; got {names}.")
    if discrete is not None:
        discrete = _check_names(discrete, "discrete")
        unknown = [f for f in discrete if f not in names]
        if unknown:
            raise ValueError(f"`discrete` must name monitored features {names}; got unknown {unknown}.")
    return names, discrete


# ----------------------------------------------------------------------------- the reference
class DriftReference:
    """A reference sample prepared once for many drift tests.

    Build it with :meth:`fit`; then :meth:`test` compares any number of current samples
    against it, in memory (a DataFrame or an array) or partitioned (a Dask DataFrame,
    never collected). Fitting sorts each continuous column once (kept in a
    Fortran-ordered array, so the extra memory is one copy of those columns), computes
    the PSI bin edges (quantiles of the reference) and counts the categories of each
    discrete column.

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
        self._categories: dict[str, pd.Series] = {}
        self._distinct: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._array_input = False
        self._n_columns = 0

    def __repr__(self) -> str:
        return (f"DriftReference(n_reference={self.n_reference}, "
                f"kinds={self.kinds!r})")

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
            In memory: a reference is what the model was trained on, a sample that fits.
        features : sequence of str, default=None
            Columns to monitor; ``None`` means all.
        feature_names : sequence of str, default=None
            Column names when ``reference`` is an array (default ``x0, x1, ...``).
        discrete : sequence of str, default=None
            Features to test with chi-square on their category counts; the others get the
            KS test. ``None`` decides by dtype: integer, bool and categorical columns are
            discrete, floating-point columns continuous. Pass ``discrete=[]`` to test
            every feature with KS (integer counts with many values, for example).
        n_bins : int, default=10
            Quantile bins of the reference used for the PSI of continuous features.

        Returns
        -------
        DriftReference
        """
        n_bins = check_int(n_bins, "n_bins", low=2)
        if _is_dask_frame(reference):
            raise TypeError(
                "`reference` must be in memory (a pandas DataFrame or a numpy array); got a "
                "Dask DataFrame. Fit on a sample: reference.sample(frac=...).compute()."
            )
        cols = _columns_of(reference, "reference", feature_names)
        names, discrete = _check_features(features, discrete, list(cols))
        self = cls()
        self._array_input = not isinstance(reference, pd.DataFrame)
        self._n_columns = len(cols)
        self.features = names
        for f in names:
            _stats.check_rows(len(cols[f]), "reference", f)
            # Object arrays only come from categorical columns (see _columns_of).
            is_disc = ((f in discrete) if discrete is not None
                       else cols[f].dtype == object or _is_discrete_dtype(cols[f].dtype))
            if not is_disc and cols[f].dtype == object:
                raise TypeError(
                    f"`discrete` must include categorical column {f!r}: the KS test needs "
                    "numbers. Leave `discrete=None` to decide by dtype."
                )
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
            self._ref_props[f] = _stats.bin_props(out, edges)
        for f in names:
            if self.kinds[f] == "chi2":
                self._categories[f] = _stats.category_counts(cols[f], "reference", f)
        return self

    def _distinct_values(self, feature: str) -> tuple[np.ndarray, np.ndarray]:
        """Distinct sorted values of a continuous feature and ``#{a <= v}`` at each."""
        if feature not in self._distinct:
            a = self._sorted[:, self._position[feature]]
            new = np.empty(len(a), dtype=bool)
            new[-1] = True
            np.not_equal(a[1:], a[:-1], out=new[:-1])
            last = np.flatnonzero(new)      # last index of each run of ties
            self._distinct[feature] = (a[last].copy(), last + 1)
        return self._distinct[feature]

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
        """Test ``current`` against the reference; see :func:`detect_drift` for the output.

        ``current`` may be a Dask DataFrame: it is then tested partition by partition
        without being collected, with the same result as on the concatenated data (see
        :mod:`mlops_reference.drift`).
        """
        alpha = check_level(alpha, "alpha")
        correction = check_one_of(correction, "correction", _CORRECTIONS)
        if _is_dask_frame(current):
            from ._partitioned import test_partitioned

            rows = test_partitioned(self, current)
        else:
            rows = self._test_in_memory(current, feature_names)
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

    def _test_in_memory(self, current: Any, feature_names: Sequence[str] | None
                        ) -> dict[str, tuple[str, float, float, float]]:
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
            _stats.check_rows(len(cols[f]), "current", f)

        continuous = [f for f in self.features if self.kinds[f] == "ks"]
        n1, n2 = self.n_reference, n_cur
        d = np.empty(len(continuous))
        psis: dict[str, float] = {}
        exact = max(n1, n2) <= _ks.EXACT_MAX_N
        pvals = np.empty(len(continuous))
        for i, f in enumerate(continuous):
            if cols[f].dtype == object:
                raise TypeError(f"`current` must hold numbers in column {f!r}; got categories.")
            a = self._sorted[:, self._position[f]]
            b = np.sort(np.asarray(cols[f], dtype=np.float64))
            _check_sorted_finite(b, "current", f)
            psis[f] = _stats.psi(self._ref_props[f], _stats.bin_props(b, self._edges[f]))
            if exact:
                # scipy's exact path snaps D to the lattice of attainable values
                # (multiples of 1 / lcm(n1, n2)); report its value so both agree.
                d[i], pvals[i] = _ks.scipy_ks(a, b)
            else:
                d[i] = _ks.ks_statistic(a, b)
        if continuous and not exact:
            pvals = _ks.asymptotic_pvalues(d, n1, n2)

        rows: dict[str, tuple[str, float, float, float]] = {}
        for i, f in enumerate(continuous):
            rows[f] = ("ks", float(d[i]), float(pvals[i]), psis[f])
        for f in self.features:
            if self.kinds[f] == "chi2":
                counts = _stats.category_counts(cols[f], "current", f)
                rows[f] = ("chi2", *_stats.chi2_from_counts(self._categories[f], counts))
        return rows


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
    current : DataFrame, ndarray of shape (n_samples, n_features) or dask DataFrame
        Recent production inputs, with the same columns. A Dask DataFrame is tested
        partition by partition, never collected.
    features : sequence of str, default=None
        Features to test; ``None`` means all columns.
    feature_names : sequence of str, default=None
        Column names when the inputs are arrays (default ``x0, x1, ...``).
    discrete : sequence of str, default=None
        Features to test with chi-square; ``None`` decides by dtype (integer, bool and
        categorical columns are discrete; see :meth:`DriftReference.fit`).
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
