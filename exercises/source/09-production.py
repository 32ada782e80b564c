# %% [markdown]
# # Exercises: running in production
#
# Two computations a production system makes every hour: the canary's margin statistic
# from the counters Prometheus scrapes, and live accuracy from a prediction log joined to
# labels that arrive late. Run the set-up cell first.

# %%
import math

import numpy as np
import pandas as pd

from mlops_companion import checks, data
from mlops_reference import rollout

scenario = data.make_scenario()

# %% [markdown] exercise="margin-statistic"
# ## The canary statistic from three counters
#
# Prometheus does not keep the scores, only three counters per model version: how many
# predictions, their sum and the sum of their squares. Write
# `margin_statistic(canary, baseline, *, margin, min_samples)`, where `canary` and
# `baseline` are `(count, sum, sum_of_squares)` tuples, returning what the chapter's query
# computes: $\max(|\bar c - \bar b| - \delta, 0) / \mathrm{SE}$, with each mean
# $S / n$, each variance $(Q - S^2/n)/(n - 1)$ and $\mathrm{SE} = \sqrt{s_c^2/n_c +
# s_b^2/n_b}$; return `0.0` while either count is below `min_samples`, as the query's
# `or vector(0)` does. Then check it against the scores themselves, and against the
# package's monitor, on one hour of a canary whose latency arrives in seconds.

# %%
def margin_statistic(canary, baseline, *, margin, min_samples):
    """The margin statistic from (count, sum, sum of squares) of each side; 0.0 if too few."""
    # BEGIN SOLUTION
    (n_c, sum_c, sq_c), (n_b, sum_b, sq_b) = canary, baseline
    if n_c < min_samples or n_b < min_samples:
        return 0.0
    var_c = (sq_c - sum_c ** 2 / n_c) / (n_c - 1)
    var_b = (sq_b - sum_b ** 2 / n_b) / (n_b - 1)
    se = math.sqrt(var_c / n_c + var_b / n_b)
    return max(abs(sum_c / n_c - sum_b / n_b) - margin, 0.0) / se
    # END SOLUTION


# %%
checks.check_margin_statistic(margin_statistic)

# %%
# BEGIN SOLUTION
hour = data.make_production_sample(2000, rng=9)
seconds = hour.assign(p99_latency_ms=hour["p99_latency_ms"] / 1000)
to_canary = np.random.default_rng(1).random(len(hour)) < 0.25
b = scenario.pipeline.predict_proba(hour[~to_canary])[:, 1]
c = scenario.pipeline.predict_proba(seconds[to_canary])[:, 1]


def counters(scores):
    return len(scores), float(scores.sum()), float((scores ** 2).sum())


z = margin_statistic(counters(c), counters(b), margin=0.02, min_samples=50)
monitor = rollout.CanaryMonitor(margin=0.02, looks=1, min_samples=50)
print(f"from counters {z:.6f} | package monitor {monitor.update(b, c).statistic:.6f}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# The three counters are enough because a mean and a variance are functions of $n$,
# $\sum p$ and $\sum p^2$, and counters add across pods and over time (`increase` and
# `sum` in PromQL). The floor at zero is the one difference from the monitor, whose
# statistic goes negative inside the margin: both stay below any positive boundary, so
# they take the same decisions. With very many predictions, $Q - S^2/n$ subtracts two large
# close numbers; in double precision that is harmless at a canary's scale, but it is why
# the package's monitor computes variances from the scores when it has them.

# %% [markdown] exercise="join-late-labels"
# ## Join late labels without double counting
#
# Labels arrive hours after the predictions, sometimes twice (an on-call engineer corrects
# one), and the log shipper sometimes replays a line. Write `join_late_labels(log,
# labels)`: `log` has `request_id` and `probability`, `labels` has `request_id`,
# `incident` and `labelled_at`. Return one row per logged prediction, in log order (a
# replayed line, identical to the first, counts once), with the *latest* label of its
# request in `incident` (by `labelled_at`, wherever it sits in the table; NaN while no
# label has arrived). A label for a request the log does not hold means lost log lines:
# raise `ValueError` naming it. Then compute live accuracy on a simulated day, with and
# without the mistakes this guards against.

# %%
def join_late_labels(log, labels):
    """Each logged prediction once, with the latest label of its request (NaN if none)."""
    # BEGIN SOLUTION
    log = log.drop_duplicates()
    orphans = sorted(set(labels["request_id"]) - set(log["request_id"]))
    if orphans:
        raise ValueError(f"`labels` must refer to logged requests; {orphans} are not in the log.")
    latest = (labels.sort_values("labelled_at", kind="stable")
              .drop_duplicates("request_id", keep="last")[["request_id", "incident"]])
    return log.merge(latest, on="request_id", how="left").reset_index(drop=True)
    # END SOLUTION


# %%
checks.check_join_late_labels(join_late_labels)

# %%
# BEGIN SOLUTION
day = data.make_incidents(1000, rng=13)
log = pd.DataFrame({"request_id": [f"r{i}" for i in range(len(day))],
                    "probability": scenario.pipeline.predict_proba(day[list(data.FEATURES)])[:, 1]})
gen = np.random.default_rng(14)
arrived = gen.random(len(day)) < 0.6  # labels so far
labels = pd.DataFrame({"request_id": log["request_id"][arrived],
                       "incident": day[data.TARGET][arrived], "labelled_at": 1.0})
wrong_first = labels.sample(50, random_state=1).assign(incident=lambda f: 1 - f["incident"],
                                                       labelled_at=0.5)  # later corrected
labels = pd.concat([wrong_first, labels], ignore_index=True)
replayed = pd.concat([log, log.sample(100, random_state=2)], ignore_index=True)

joined = join_late_labels(replayed, labels).dropna(subset=["incident"])
naive = replayed.merge(labels, on="request_id")
for name, frame in [("joined", joined), ("plain merge", naive)]:
    accuracy = ((frame["probability"] >= 0.5) == frame["incident"]).mean()
    print(f"{name:<12} rows {len(frame):>4}  live accuracy {accuracy:.3f}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# The plain merge has more rows than there are labelled requests: each replayed line and
# each corrected label adds a row, and the superseded labels, wrong by construction here,
# pull the accuracy down. The interval a dashboard puts around live accuracy would also be
# too narrow, because it would count the same request several times. Keeping the log's
# order and all its rows (a left join) leaves the unlabelled predictions visible, which is
# how the coverage of the labels is measured.
