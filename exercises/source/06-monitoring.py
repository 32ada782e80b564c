# %% [markdown]
# # Exercises: monitoring a deployed model
#
# A drift detector you write yourself, then a question about whether frequent
# retraining makes monitoring unnecessary. Run the set-up cell first.

# %%
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from mlops_companion import checks, data

reference = data.make_production_sample(1000, rng=1)
print(reference.shape)

# %% [markdown] exercise="detect-drift"
# ## A drift detector that reports and warns
#
# Write `detect_drift(reference, current, *, alpha=0.01)` for two DataFrames with the
# scenario's five features. Return a DataFrame with one row per feature and the columns
# `feature`, `statistic`, `pvalue` and `drifted`. Five tests at level `alpha` each would
# raise a false alarm on calm data up to five times as often as `alpha`, so share it out
# (Bonferroni): a feature drifts when `pvalue < alpha / n`, with `n` the number of features
# tested, and `alpha` bounds the chance of *any* false flag. Use the two-sample
# Kolmogorov-Smirnov test for the continuous features (`data.CONTINUOUS_FEATURES`); for
# the discrete ones KS is accepted, a chi-square test on the category counts is better.
# When a feature drifts, emit one `UserWarning` naming every drifted feature; emit none
# otherwise. Test it on a sample in which only `error_pct` has shifted.

# %%
class DriftWarning(UserWarning):
    """Some input features no longer look like the reference data."""


def detect_drift(reference, current, *, alpha=0.01):
    """One row per feature: test statistic, p-value and whether it drifted at `alpha`."""
    # BEGIN SOLUTION
    rows = []
    for feature in reference.columns:
        if feature in data.DISCRETE_FEATURES:
            categories = sorted(set(reference[feature]) | set(current[feature]))
            table = np.array([
                [int((sample[feature] == c).sum()) for c in categories]
                for sample in (reference, current)
            ])
            statistic, pvalue, _, _ = stats.chi2_contingency(table)
            test = "chi-square"
        else:
            statistic, pvalue = stats.ks_2samp(reference[feature], current[feature])
            test = "ks"
        rows.append({"feature": feature, "test": test, "statistic": float(statistic),
                     "pvalue": float(pvalue),
                     "drifted": bool(pvalue < alpha / len(reference.columns))})
    report = pd.DataFrame(rows)
    drifted = report.loc[report["drifted"], "feature"].tolist()
    if drifted:
        warnings.warn(f"drift detected in {', '.join(drifted)}", DriftWarning, stacklevel=2)
    return report
    # END SOLUTION


# %%
checks.check_detect_drift(detect_drift)

# %%
# BEGIN SOLUTION
current = data.make_production_sample(500, drift={"error_pct": 1.5}, rng=2)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    report = detect_drift(reference, current)
print(report.round(4).to_string(index=False))
print("warnings:", [str(w.message) for w in caught])
# END SOLUTION

# %% [markdown] tags=["solution"]
# Only `error_pct` is flagged, and the warning names it. The warning goes through the
# `warnings` module rather than `print`, so a CI job can turn it into an error and a
# notebook can record it, as the cell above does.

# %% [markdown] exercise="chi-square-drift"
# ## Drift in a discrete feature
#
# The KS test assumes a continuous distribution; for a feature with a handful of values
# (an hour, a flag, a plan name) the chi-square test of homogeneity fits better. Write
# `chi_square_drift(reference, current)` for two 1-D arrays of category values, of any
# sizes, returning `(statistic, pvalue)` of that test on the table of counts of *every*
# category seen in either sample. Then ask it whether deployments have moved to office
# hours.

# %%
def chi_square_drift(reference, current):
    """Chi-square test of homogeneity of two samples of a discrete feature."""
    # BEGIN SOLUTION
    reference, current = np.asarray(reference), np.asarray(current)
    categories = np.unique(np.concatenate([reference, current]))
    table = np.array([[np.sum(sample == c) for c in categories] for sample in (reference, current)])
    result = stats.chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)
    # END SOLUTION


# %%
checks.check_chi_square_drift(chi_square_drift)

# %%
# BEGIN SOLUTION
office = np.random.default_rng(4).integers(9, 18, 300)  # deploys now only between 9 and 17
for label, current_hours in [("same policy", data.make_production_sample(300, rng=5)["deploy_hour"]),
                             ("office hours only", office)]:
    statistic, pvalue = chi_square_drift(reference["deploy_hour"], current_hours)
    print(f"{label:<18} chi2 {statistic:7.1f}  p {pvalue:.3g}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# Counting over the union of categories matters: a value never seen in training (a new
# plan, a new region) is exactly the drift a model cannot handle, and a test built on the
# reference's categories alone would not even see it. `chi2_contingency` also takes care
# of the two samples' different sizes, which a hand-rolled `chisquare(current_counts,
# reference_counts)` gets wrong.

# %% [markdown] exercise="weekly-retraining"
# ## "We retrain every week, so drift does not matter"
#
# A colleague makes this argument. When is a weekly retrain enough on its own? What
# could make the model fail badly in the days between two retrains, and what would
# retraining on that week's data do? Name the cheapest check that would catch the most
# dangerous failures, and say what can go wrong between two deployments of a model that
# has no counterpart for ordinary software.

# %% [markdown] tags=["student"]
# *Your answer (a few sentences for each question):*

# %% [markdown] tags=["solution"]
# Weekly retraining is enough when the world changes slowly compared with a week, when
# labels for last week arrive in time to train on, and when a bad week costs little.
# It fails when the change is sudden: an upstream service starts reporting the error
# rate as a fraction instead of a percentage, a client sends a new default, a feature pipeline
# breaks and emits zeros. The model then scores garbage from that moment until the next
# retrain, and retraining on the corrupted week teaches it the corruption. The cheapest
# strong check is on the inputs, which need no labels: a schema and range check plus a
# daily drift test per feature, as in the simulation below. What has no analogue in
# ordinary software is decay without a change: the code and the artefact are identical
# between deployments, yet the service gets worse because its inputs moved.

# %% tags=["solution"]
labelled = data.make_incidents(2000, rng=3)
X_live = labelled[list(data.FEATURES)]
y_live = labelled[data.TARGET]
model = data.make_scenario().pipeline
broken = X_live.assign(error_pct=X_live["error_pct"] / 100)  # a fraction, not a percentage
for label, X in [("healthy inputs", X_live), ("errors as fractions", broken)]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        flagged = detect_drift(reference, X).query("drifted")["feature"].tolist()
    print(f"{label:<20} accuracy {model.score(X, y_live):.3f}   drift flagged: {flagged}")
