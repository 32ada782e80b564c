# %% [markdown]
# # Exercises: deployment patterns
#
# Batch scoring is the simplest pattern and covers most needs; it still has to fit in
# memory. Run the set-up cell first.

# %%
import numpy as np

from mlops_companion import checks, data

scenario = data.make_scenario()

# %% [markdown] exercise="predict-in-batches"
# ## Score a large table in chunks
#
# Write `predict_in_batches(model, X, *, batch_size=256)`: call `model.predict` on
# consecutive chunks of at most `batch_size` rows of the DataFrame `X` and return all
# predictions, in order, as one array. No chunk may be empty, and a `batch_size` below 1
# raises `ValueError` naming `batch_size`. Check that the result equals one call on the
# whole table.

# %%
def predict_in_batches(model, X, *, batch_size=256):
    """`model.predict(X)`, computed on chunks of at most `batch_size` rows."""
    # BEGIN SOLUTION
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    chunks = [model.predict(X.iloc[start:start + batch_size])
              for start in range(0, len(X), batch_size)]
    return np.concatenate(chunks) if chunks else np.empty(0)
    # END SOLUTION


# %%
checks.check_predict_in_batches(predict_in_batches)

# %%
# BEGIN SOLUTION
nightly = data.make_production_sample(10_000, rng=11)
batched = predict_in_batches(scenario.pipeline, nightly, batch_size=1024)
print(f"{len(batched)} predictions in {-(-len(nightly) // 1024)} chunks; "
      f"same as one call: {np.array_equal(batched, scenario.pipeline.predict(nightly))}; "
      f"predicted incident share {batched.mean():.3f}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# The pipeline scores each row independently, so chunking changes memory use, not the
# answer; the equality check proves it for this model. That would not hold for a
# preprocessing step that looks across rows at prediction time (say, scaling with the
# batch's own mean), which is one more reason to fit every statistic at training time.
