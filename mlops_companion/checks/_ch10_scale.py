"""Self-checks of chapter 10, beyond one machine (exercise set ``10-scale``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ._harness import CheckResult, Case, call, exercise, expect, expect_raises, run


STEM = "10-scale"

_HINT_KS_FROM_PARTITIONS = (
    'Take the grid g = np.unique(reference). For each partition count, with np.searchsorted '
    'on its sorted values, how many values lie below each g (side="left") and at or below it '
    '(side="right"); add the counts over partitions. D is the largest of |F_ref(g) - '
    'at_or_below / n| and |F_ref(just before g) - below / n|.'
)
_HINT_SCORE_PARTITION = (
    'Check the columns first: missing = [c for c in [id_column, *features] if c not in '
    'part.columns]; raise ValueError naming all of them. Then build a NEW DataFrame with '
    'part[id_column] and model.predict_proba(part[features])[:, 1]; never write into part.'
)

# --------------------------------------------------------------------------- ks_from_partitions
def _ks_cases() -> list[Case]:
    from scipy.stats import ks_2samp

    def case(reference, partitions, description):
        def run(func):
            given = (f"{description}: reference of {len(reference)} values, partitions of "
                     f"sizes {[len(p) for p in partitions]}")
            expected = float(ks_2samp(reference, np.concatenate(partitions)).statistic)
            got = call(func, reference.copy(), [p.copy() for p in partitions])
            expect(isinstance(got, (float, np.floating)) and abs(float(got) - expected) < 1e-12,
                   given, f"D = {expected!r}, scipy's ks_2samp on the concatenated data", got)
        return run

    gen = np.random.default_rng(1010)
    ref = gen.normal(0.0, 1.0, 400)
    shifted = [gen.normal(0.3, 1.0, n) for n in (120, 80, 200)]
    same = [gen.normal(0.0, 1.0, n) for n in (150, 150)]
    hours_ref = gen.integers(0, 24, 500).astype(float)
    hours = [gen.integers(6, 20, n).astype(float) for n in (90, 60, 30)]
    # current values fall between the reference's points: the gap is largest just before one
    sparse_ref = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    between = [np.array([0.5, 0.6, 0.7]), np.array([0.8, 0.9])]
    outside = [np.array([-5.0, -4.0]), np.array([10.0]), np.array([2.0, 2.5])]
    return [
        Case("a shifted sample in three partitions", case(ref, shifted, "a shift of 0.3 sd")),
        Case("the same distribution in two partitions", case(ref, same, "no shift")),
        Case("ties: discrete values repeated in both samples", case(
            hours_ref, hours, "hours of the day")),
        Case("the largest gap lies just before a reference value", case(
            sparse_ref, between, "all current values between two reference values")),
        Case("values outside the reference's range", case(
            sparse_ref, outside, "current values below, above and inside the reference")),
        Case("an empty partition changes nothing", case(
            ref, [shifted[0], np.array([]), shifted[1]], "one partition is empty")),
        Case("a single partition", case(ref, shifted[2:], "one partition")),
    ]


@exercise("ks_from_partitions", STEM, _HINT_KS_FROM_PARTITIONS)
def check_ks_from_partitions(func: Callable[..., float], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``ks_from_partitions(reference, partitions)``.

    ``reference`` is a 1-D array, ``partitions`` a list of 1-D arrays (the current window,
    split). The function must return the two-sample Kolmogorov-Smirnov statistic of the
    reference against all partitions together, merged from per-partition counts, equal
    (to 1e-12) to ``scipy.stats.ks_2samp(reference, np.concatenate(partitions)).statistic``,
    ties, empty partitions and values outside the reference's range included.

    Examples
    --------
    The largest per-partition statistic is not the statistic of the whole:

    >>> import numpy as np
    >>> from scipy import stats
    >>> def largest(reference, partitions):
    ...     return max(stats.ks_2samp(reference, p).statistic for p in partitions if len(p))
    >>> result = check_ks_from_partitions(largest)
    ks_from_partitions: FAILED on case 1 of ..., "a shifted sample in three partitions".
    ...
    """
    return run("ks_from_partitions", func, _ks_cases(), verbose=verbose)


# --------------------------------------------------------------------------- score_partition
class _RowModel:
    """Reads its inputs by position, as a fitted model does: p = first / 10 + second / 100."""

    def __init__(self) -> None:
        self.seen_columns: list[list[str]] = []

    def predict_proba(self, X):
        self.seen_columns.append(list(getattr(X, "columns", [])))
        values = np.asarray(X, dtype=float).reshape(len(X), -1)
        p = values[:, 0] / 10 + values[:, 1] / 100
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _partition(n: int = 6, *, start: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"row_id": np.arange(start, start + n) * 7 % 1000,
                         "b": np.arange(n, dtype=float), "a": np.arange(n, dtype=float) / 2,
                         "other": "x"}, index=np.arange(n) + 40)


def _score_cases() -> list[Case]:
    features = ["a", "b"]

    def scores_with_ids(func):
        part = _partition()
        given = "a partition with row_id, b, a, other (columns not in feature order)"
        got = call(func, part.copy(), _RowModel(), features=features)
        expect(isinstance(got, pd.DataFrame), given, "a DataFrame", type(got).__name__)
        expect("row_id" in got.columns and "score" in got.columns, given,
               "columns row_id and score", f"columns {list(got.columns)}")
        expect(list(got["row_id"]) == list(part["row_id"]), given,
               "the partition's row ids, in order", list(got["row_id"]))
        expected = part["a"].to_numpy() / 10 + part["b"].to_numpy() / 100
        expect(np.allclose(got["score"].to_numpy(dtype=float), expected, rtol=0, atol=1e-12),
               given, f"score = predict_proba(part[features])[:, 1] = {expected.round(3).tolist()}",
               got["score"].round(3).tolist())

    def input_untouched(func):
        part = _partition()
        before = part.copy()
        given = "a partition of 6 rows"
        call(func, part, _RowModel(), features=features)
        expect(part.equals(before), given, "the partition left unchanged (no column added)",
               f"its columns afterwards: {list(part.columns)}")

    def id_column_used(func):
        part = _partition().rename(columns={"row_id": "request_id"})
        given = "ids in a column named request_id, id_column='request_id'"
        got = call(func, part.copy(), _RowModel(), features=features, id_column="request_id")
        expect(isinstance(got, pd.DataFrame) and "request_id" in got.columns, given,
               "a request_id column in the result", f"columns {list(getattr(got, 'columns', []))}")
        expect(list(got["request_id"]) == list(part["request_id"]), given,
               "the partition's request ids, in order", list(got["request_id"]))

    def missing(drop):
        def run(func):
            part = _partition().drop(columns=drop)
            given = f"a partition without {drop}"
            error = expect_raises(func, ValueError, given, part, _RowModel(), features=features)
            absent = [c for c in drop if c not in str(error)]
            expect(not absent, given, f"the message to name every missing column {drop}",
                   str(error))
        return run

    def refused_before_scoring(func):
        part = _partition().drop(columns=["b"])
        model = _RowModel()
        given = "a partition without b"
        expect_raises(func, ValueError, given, part, model, features=features)
        expect(model.seen_columns == [], given, "the model never called",
               f"predict_proba called with columns {model.seen_columns}")

    def empty(func):
        part = _partition().iloc[:0]
        given = "an empty partition (what Dask passes to find out the output's columns)"
        got = call(func, part.copy(), _RowModel(), features=features)
        expect(isinstance(got, pd.DataFrame) and len(got) == 0
               and {"row_id", "score"} <= set(got.columns), given,
               "an empty DataFrame with columns row_id and score", got)

    return [
        Case("scores next to their row ids", scores_with_ids),
        Case("the input partition is not modified", input_untouched),
        Case("id_column names the id", id_column_used),
        Case("a missing feature is refused", missing(["a"])),
        Case("every missing column is named", missing(["a", "row_id"])),
        Case("refused before the model runs", refused_before_scoring),
        Case("an empty partition", empty),
    ]


@exercise("score_partition", STEM, _HINT_SCORE_PARTITION)
def check_score_partition(func: Callable[..., pd.DataFrame], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``score_partition(part, model, *, features, id_column="row_id")``.

    It must return a new DataFrame with the partition's ``id_column`` (same values, same
    order) and ``score``, the model's ``predict_proba`` of the ``features`` columns
    (selected by name), leave ``part`` unchanged, work on an empty partition, and raise
    ``ValueError`` naming every missing column (the id included) before calling the model.

    Examples
    --------
    A version that drops the ids cannot be joined back to the requests:

    >>> def scores_only(part, model, *, features, id_column="row_id"):
    ...     import pandas as pd
    ...     return pd.DataFrame({"score": model.predict_proba(part[features])[:, 1]})
    >>> result = check_score_partition(scores_only)
    score_partition: FAILED on case 1 of ..., "scores next to their row ids".
    ...
    """
    return run("score_partition", func, _score_cases(), verbose=verbose)
