"""Drift tests of a Dask DataFrame against a fitted reference, without collecting it.

Each partition is reduced, where it lives, to counts that add up exactly across
partitions: for a continuous feature the counts of its values in the cells around the
reference's distinct values (see :mod:`._ks`), which also give the PSI bin counts (the PSI
edges are reference values); for a discrete feature its category counts. The partial
counts are summed in a tree (eight at a time) on the workers; only the totals, whose size
depends on the reference and not on the data, reach the caller. The statistics are then
those of scipy on the concatenated data: the same integers, divided the same way.
"""
from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd

from . import _ks
from . import _stats

_SPLIT_EVERY = 8


def _partition_counts(df: pd.DataFrame, index: int, spec: dict[str, Any]) -> dict[str, Any]:
    """Counts of one partition (runs on a worker)."""
    where = f" (partition {index})"
    out: dict[str, Any] = {"n": len(df), "ks": {}, "chi2": {}}
    for f, values in spec["ks"].items():
        if f not in df.columns:
            raise ValueError(f"`current` must have column {f!r}; partition {index} lacks it.")
        series = df[f]
        if not (pd.api.types.is_numeric_dtype(series.dtype)
                or pd.api.types.is_bool_dtype(series.dtype)):
            raise TypeError(
                f"`current` must hold numbers in column {f!r}; partition {index} has dtype "
                f"{series.dtype}. Fix the upstream schema or cast the column."
            )
        x = series.to_numpy(dtype=np.float64)
        if not np.isfinite(x).all():
            raise _stats.not_finite("current", f, where)
        out["ks"][f] = _ks.cell_counts(values, x)
    for f in spec["chi2"]:
        if f not in df.columns:
            raise ValueError(f"`current` must have column {f!r}; partition {index} lacks it.")
        series = df[f]
        if isinstance(series.dtype, pd.CategoricalDtype):
            col = series.astype(object).to_numpy()
        elif pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            col = series.to_numpy()
        else:
            raise TypeError(
                f"`current` must hold numeric, bool or categorical values in column {f!r}; "
                f"partition {index} has dtype {series.dtype}."
            )
        out["chi2"][f] = _stats.category_counts(col, "current", f, where)
    return out


def _combine(*parts: dict[str, Any]) -> dict[str, Any]:
    """Sum the counts of several partitions (exact: integers)."""
    out = {"n": sum(p["n"] for p in parts), "ks": {}, "chi2": {}}
    for f in parts[0]["ks"]:
        total = parts[0]["ks"][f].copy()
        for p in parts[1:]:
            total += p["ks"][f]
        out["ks"][f] = total
    for f in parts[0]["chi2"]:
        merged = pd.concat([p["chi2"][f] for p in parts])
        out["chi2"][f] = merged.groupby(level=0, sort=True).sum()
    return out


def partition_counts_total(reference: Any, current: Any) -> dict[str, Any]:
    """Summed counts of every partition of ``current`` (a Dask DataFrame)."""
    import dask

    missing = [f for f in reference.features if f not in current.columns]
    if missing:
        raise ValueError(
            f"`current` must have the reference's features {reference.features}; missing "
            f"{missing}. Test windows with the same columns as the reference."
        )
    spec = {
        "ks": {f: reference._distinct_values(f)[0]
               for f in reference.features if reference.kinds[f] == "ks"},
        "chi2": [f for f in reference.features if reference.kinds[f] == "chi2"],
    }
    # The reference's values travel once, as one task that every partition's task depends
    # on: on a distributed cluster the scheduler hands it to each worker that needs it.
    # (Not `Client.scatter(..., broadcast=True)`: it can wait forever for a busy worker,
    # dask/distributed#4907; a hang seen here under a loaded test run.)
    spec_task = dask.delayed(spec, name=f"drift-reference-{uuid.uuid4().hex}", traverse=False)
    parts = current[reference.features].to_delayed()
    count = dask.delayed(_partition_counts, pure=True)
    level = [count(p, i, spec_task) for i, p in enumerate(parts)]
    combine = dask.delayed(_combine, pure=True)
    while len(level) > 1:
        level = [combine(*level[i:i + _SPLIT_EVERY])
                 for i in range(0, len(level), _SPLIT_EVERY)]
    (total,) = dask.compute(level[0])
    return total


def test_partitioned(reference: Any,
                     current: Any) -> dict[str, tuple[str, float, float, float]]:
    """Rows ``feature -> (test, statistic, pvalue, psi)`` for a Dask DataFrame."""
    total = partition_counts_total(reference, current)
    n1, n2 = reference.n_reference, int(total["n"])
    rows: dict[str, tuple[str, float, float, float]] = {}
    for f in reference.features:
        _stats.check_rows(n2, "current", f)
        if reference.kinds[f] == "ks":
            values, ref_le = reference._distinct_values(f)
            cells = total["ks"][f]
            d, p = _ks.ks_from_counts(values, ref_le, cells, n1, n2)
            # PSI edges are reference values: #{b <= edge} is a cumulative cell count.
            cum = np.concatenate([[0], np.cumsum(cells)])
            at_edges = cum[2 * np.searchsorted(values, reference._edges[f]) + 2]
            bins = np.diff(np.concatenate([[0], at_edges, [n2]]))
            rows[f] = ("ks", d, p, _stats.psi(reference._ref_props[f], bins / n2))
        else:
            counts = total["chi2"][f].astype(np.int64)
            rows[f] = ("chi2", *_stats.chi2_from_counts(reference._categories[f], counts))
    return rows
