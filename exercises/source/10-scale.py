# %% [markdown]
# # Exercises: beyond one machine
#
# The two pieces of a partitioned job that must be exactly right: the function each
# partition runs, and a statistic merged from partitions without collecting them. Run the
# set-up cell first.

# %%
import numpy as np
import pandas as pd
from scipy import stats

from mlops_companion import checks, data

scenario = data.make_scenario()
features = list(data.FEATURES)

# %% [markdown] exercise="score-partition"
# ## A partition-scoring function that keeps its ids
#
# Write `score_partition(part, model, *, features, id_column="row_id")`, the function a
# Dask job passes to `map_partitions`. Return a *new* DataFrame with two columns: the
# partition's `id_column` (same values, same order) and `score`, the model's
# `predict_proba` of the `features` columns, selected by name, for the positive class.
# Leave `part` unchanged, and return an empty frame with both columns for an empty
# partition (Dask calls the function on one to learn the output's columns unless given
# `meta`). When any of the needed columns is missing, raise `ValueError` naming every
# missing one, before the model runs. Then score a partition of the scenario's traffic
# with its columns shuffled, and one with a column dropped.

# %%
def score_partition(part, model, *, features, id_column="row_id"):
    """One partition's scores, next to its ids; refuse a partition missing a column."""
    # BEGIN SOLUTION
    needed = [id_column, *features]
    missing = [column for column in needed if column not in part.columns]
    if missing:
        raise ValueError(f"`part` must have the columns {needed}; missing {missing}.")
    if len(part) == 0:
        return pd.DataFrame({id_column: part[id_column].to_numpy(),
                             "score": np.empty(0, dtype=float)})
    return pd.DataFrame({id_column: part[id_column].to_numpy(),
                         "score": model.predict_proba(part[list(features)])[:, 1]})
    # END SOLUTION


# %%
checks.check_score_partition(score_partition)

# %%
# BEGIN SOLUTION
part = data.make_production_sample(1000, rng=10)
part.insert(0, "row_id", np.arange(5000, 6000))
shuffled = part[["is_weekend", "row_id", *reversed(features[:-1])]]
scored = score_partition(shuffled, scenario.pipeline, features=features)
direct = scenario.pipeline.predict_proba(part[features])[:, 1]
print("same scores whatever the column order:", bool(np.array_equal(scored["score"], direct)))
try:
    score_partition(part.drop(columns=["error_pct"]), scenario.pipeline, features=features)
except ValueError as error:
    print("refused:", error)
# END SOLUTION

# %% [markdown] tags=["solution"]
# Selecting features by name is what makes the function safe against an upstream job that
# reorders columns; a model given columns by position would score garbage without a
# complaint. Returning the ids is what lets the scores be joined back to the requests, and
# checking every column before scoring turns a renamed column into one clear error instead
# of a `KeyError` from deep inside a worker, half-way through the job.

# %% [markdown] exercise="ks-from-partitions"
# ## The KS statistic, merged from partitions
#
# Write `ks_from_partitions(reference, partitions)`: `reference` is a 1-D array (the
# training data of one feature), `partitions` a list of 1-D arrays (this week's values,
# split as they are stored). Return the two-sample Kolmogorov-Smirnov statistic of the
# reference against all partitions together, computed from counts each partition can
# produce on its own: on the common grid of the reference's distinct values, how many of
# its values lie below each grid point and how many at or below it. Add the counts, and
# never concatenate the partitions. The result must equal
# `scipy.stats.ks_2samp(reference, np.concatenate(partitions)).statistic` exactly, with ties,
# empty partitions and values outside the reference's range. Then compare your merged
# statistic with the average and the largest of the per-partition statistics on a
# drifted week.

# %%
def ks_from_partitions(reference, partitions):
    """Two-sample KS statistic of reference against all partitions, merged from counts."""
    # BEGIN SOLUTION
    reference = np.sort(np.asarray(reference, dtype=float))
    grid = np.unique(reference)
    ref_at_or_below = np.searchsorted(reference, grid, side="right") / len(reference)
    ref_below = np.r_[0.0, ref_at_or_below[:-1]]
    n = 0
    below = np.zeros(len(grid), dtype=np.int64)
    at_or_below = np.zeros(len(grid), dtype=np.int64)
    for part in partitions:  # each partition could be counted on its own worker
        values = np.sort(np.asarray(part, dtype=float))
        n += len(values)
        below += np.searchsorted(values, grid, side="left")
        at_or_below += np.searchsorted(values, grid, side="right")
    return float(max(np.abs(ref_at_or_below - at_or_below / n).max(),
                     np.abs(ref_below - below / n).max()))
    # END SOLUTION


# %%
checks.check_ks_from_partitions(ks_from_partitions)

# %%
# BEGIN SOLUTION
reference = scenario.X_train["p99_latency_ms"].to_numpy()
week = data.make_production_sample(4000, drift={"p99_latency_ms": 0.2}, rng=12)["p99_latency_ms"]
parts = np.array_split(week.to_numpy(), 8)
merged = ks_from_partitions(reference, parts)
per_part = [stats.ks_2samp(reference, p).statistic for p in parts]
print(f"merged {merged:.4f} | scipy on all {stats.ks_2samp(reference, week).statistic:.4f} | "
      f"mean of partitions {np.mean(per_part):.4f} | largest {max(per_part):.4f}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# The per-partition statistics are each computed on an eighth of the data, so each carries
# the noise of a small sample: their mean and their maximum sit above the statistic of the
# whole week, and their p-values would be judged against the wrong sample size. Counts, by
# contrast, add up: each worker sends two integers per grid point, and the merged statistic
# is the one scipy computes on the collected data, to the last bit.
