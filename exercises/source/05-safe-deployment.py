# %% [markdown]
# # Exercises: deploying a model safely
#
# How often a shadow disagrees with the model it watches, a canary's rollback rule, how
# often it cries wolf, and a question about what a canary's numbers do and do not tell
# you. Run the set-up cell first.

# %%
import math

import numpy as np

from mlops_companion import checks, data

scenario = data.make_scenario()

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

# %% [markdown] exercise="canary-rule"
# ## A rollback rule for a canary, on error rates
#
# The chapter's `canary_decision` watches the mean predicted probability, which needs no
# labels, with a margin $\delta$ below which a shift does not matter. Once errors can be
# counted, the same idea applies to error rates. Write
# `error_rate_decision(baseline_errors, baseline_total, canary_errors, canary_total, *,
# margin=0.0, min_samples=500, k=2.33)` returning `"insufficient"` while the canary has
# served fewer than `min_samples` requests, `"rollback"` when
# $z = (\hat p_c - \hat p_b - \delta) / \mathrm{SE}$ exceeds `k`, with $\hat p_c$ and
# $\hat p_b$ the two error rates, $\delta$ the `margin` (in error-rate points) and
# $\mathrm{SE} = \sqrt{\bar p (1 - \bar p)(1/n_b + 1/n_c)}$ the pooled standard error
# ($\bar p$ the error rate of both groups together), and `"continue"` otherwise. The test
# is one-sided: a canary that does *better* is never rolled back. Raise `ValueError` for
# error counts outside `[0, total]`. Then estimate by simulation how often the rule rolls
# back a canary that is exactly as good as the baseline, checked once, and checked every
# hour for a day.

# %%
def error_rate_decision(baseline_errors, baseline_total, canary_errors, canary_total, *,
                        margin=0.0, min_samples=500, k=2.33):
    """'insufficient', 'rollback' or 'continue' for a canary compared with its baseline."""
    # BEGIN SOLUTION
    for name, errors, total in [("baseline_errors", baseline_errors, baseline_total),
                                ("canary_errors", canary_errors, canary_total)]:
        if total < 1 or not 0 <= errors <= total:
            raise ValueError(f"`{name}` must be between 0 and its total ({total}); got {errors}.")
    if canary_total < min_samples:
        return "insufficient"
    pooled = (baseline_errors + canary_errors) / (baseline_total + canary_total)
    if pooled in (0.0, 1.0):
        return "continue"
    se = math.sqrt(pooled * (1 - pooled) * (1 / baseline_total + 1 / canary_total))
    z = (canary_errors / canary_total - baseline_errors / baseline_total - margin) / se
    return "rollback" if z > k else "continue"
    # END SOLUTION


# %%
checks.check_error_rate_decision(error_rate_decision)

# %%
# BEGIN SOLUTION
rng = np.random.default_rng(5)
n_runs, error_rate = 2000, 0.02
baseline_per_hour, canary_per_hour = 1000, 60  # about 6% of traffic on the canary

once = hourly = 0
for _ in range(n_runs):
    b = rng.binomial(baseline_per_hour, error_rate, 24).cumsum()
    c = rng.binomial(canary_per_hour, error_rate, 24).cumsum()
    totals_b = baseline_per_hour * np.arange(1, 25)
    totals_c = canary_per_hour * np.arange(1, 25)
    decisions = [error_rate_decision(b[h], totals_b[h], c[h], totals_c[h]) for h in range(24)]
    once += decisions[-1] == "rollback"
    hourly += "rollback" in decisions
print(f"identical models, decided once after 24 h: {once / n_runs:.1%} rolled back")
print(f"identical models, checked every hour:      {hourly / n_runs:.1%} rolled back")
# END SOLUTION

# %% [markdown] tags=["solution"]
# Decided once, the rule rolls back a healthy canary close to as often as its one-sided
# level promises (z > 2.33 is about 1%). Peeking every hour and stopping at the first
# breach gives the noise many chances, so the false-rollback rate climbs several-fold.
# The remedies are a stricter threshold for repeated looks, requiring several
# consecutive breaches, or a sequential test designed for continuous monitoring, which is
# what the chapter's boundaries are. With a margin, the pooled standard error (computed as
# if the two rates were equal) is an approximation; the exact null standard error of a
# non-inferiority test (Farrington and Manning's) differs little at margins of a point or
# two.

# %% [markdown] exercise="canary-flags-more"
# ## The canary flags 30% more
#
# A fraud model is rolled out as a canary on 5% of transactions. A day later the new
# model has flagged 30% more transactions than the current one. Is that a problem?
# What would you need to know before choosing between continuing and rolling back?

# %% [markdown] tags=["student"]
# *Your answer:*

# %% [markdown] tags=["solution"]
# Not necessarily: more flags is a change, not a failure. The current model may miss
# fraud the new one catches, or the new one may be raising false alarms. To decide:
# (1) the precision of the extra flags, from labels as they arrive or from a quick
# manual review of a sample; (2) whether the 5% slice matches the whole population
# (region, merchant type, time of day), since routing can make the canary's traffic
# riskier than average; (3) how many transactions that is in absolute terms, and the
# uncertainty on a day of 5% traffic; (4) what a false flag costs (a blocked customer,
# an analyst's time) against a missed fraud; (5) whether the model's score distribution
# shifted as a whole, which suggests a preprocessing or threshold difference rather than
# better detection. Holding the canary at 5% while labels accumulate is a legitimate
# third option: continuing does not have to mean widening.

# %% tags=["solution"]
# How much of the 30% could be chance? Flags per day at 5% of 200,000 transactions.
base_rate, n_canary = 0.01, 10_000
expected, sd = base_rate * n_canary, math.sqrt(n_canary * base_rate * (1 - base_rate))
print(f"expected {expected:.0f} flags, sd {sd:.1f}; 30% more is {0.3 * expected / sd:.1f} sd")
