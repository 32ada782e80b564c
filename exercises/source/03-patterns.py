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

# %% [markdown] exercise="shadow-agreement"
# ## How often does the shadow disagree?
#
# In a shadow deployment the candidate model scores every request but its answers are
# only logged. Write `shadow_report(primary_proba, shadow_proba, *, threshold=0.5)` for
# the incident probabilities the two models gave the same requests. Return a dict with
# `n`, `agreement` (share of requests where the two *decisions*, `proba >= threshold`,
# are the same), `primary_only` and `shadow_only` (requests only that model flags) and
# `mean_abs_diff` (mean absolute difference of the probabilities). Raise `ValueError`
# giving both lengths when they differ. Then compare the book's pipeline with a candidate
# trained on fresh data, on calm traffic and on traffic where `error_pct` has drifted.

# %%
def shadow_report(primary_proba, shadow_proba, *, threshold=0.5):
    """Agreement between the decisions of a primary and a shadow model on the same requests."""
    # BEGIN SOLUTION
    primary_proba = np.asarray(primary_proba, dtype=float)
    shadow_proba = np.asarray(shadow_proba, dtype=float)
    if primary_proba.shape != shadow_proba.shape:
        raise ValueError(f"`primary_proba` and `shadow_proba` must have the same length; "
                         f"got {len(primary_proba)} and {len(shadow_proba)}.")
    primary = primary_proba >= threshold
    shadow = shadow_proba >= threshold
    return {
        "n": int(primary.size),
        "agreement": float((primary == shadow).mean()),
        "primary_only": int((primary & ~shadow).sum()),
        "shadow_only": int((shadow & ~primary).sum()),
        "mean_abs_diff": float(np.abs(primary_proba - shadow_proba).mean()),
    }
    # END SOLUTION


# %%
checks.check_shadow_report(shadow_report)

# %%
# BEGIN SOLUTION
fresh = data.make_incidents(800, rng=31)
candidate = data.fit_pipeline(fresh[list(data.FEATURES)], fresh[data.TARGET], random_state=7)
for label, drift in [("calm traffic", None), ("error_pct drifted", {"error_pct": 2.0})]:
    traffic = data.make_production_sample(2000, drift=drift, rng=32)
    report = shadow_report(scenario.pipeline.predict_proba(traffic)[:, 1],
                           candidate.predict_proba(traffic)[:, 1])
    print(f"{label:<18} agreement {report['agreement']:.3f}  primary only "
          f"{report['primary_only']:>3}  shadow only {report['shadow_only']:>3}  "
          f"mean |diff| {report['mean_abs_diff']:.3f}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# Two models trained on different samples of the same world already disagree on a
# noticeable share of requests: that is the noise floor against which a shadow run is
# judged, and why a shadow needs labels, or at least a review of the disagreements, before
# it is promoted. The split between `primary_only` and `shadow_only` says which way the
# candidate leans, which a single agreement rate hides. Drift does not necessarily lower
# agreement: once `error_pct` climbs, both models flag almost every request and agree
# more, so agreement alone cannot stand in for a drift check.
