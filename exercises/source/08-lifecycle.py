# %% [markdown]
# # Exercises: the model lifecycle
#
# Labels arrive late, but they arrive: once they do, a rolling accuracy tells you when
# the model needs retraining. Run the set-up cell first.

# %%
import numpy as np

from mlops_companion import checks, data
from mlops_reference import validation

scenario = data.make_scenario()

# %% [markdown] exercise="retraining-alarm"
# ## When should the alarm go off?
#
# Write `first_alarm(correct, *, window, threshold, confidence=0.95)`. `correct` is a
# boolean array, one entry per labelled prediction in time order (True when the prediction
# was right). A window of a few dozen predictions dips below any threshold by chance, so
# alarming on the window's accuracy itself would page someone for noise. Alarm instead when
# the accuracy is *shown* to be below the threshold: return the index of the first
# prediction at which the upper end of the Wilson interval (at `confidence`) of the
# accuracy over the last `window` predictions is strictly below `threshold`, counting only
# full windows, or `None` if that never happens; raise `ValueError` naming `window` when
# it is below 1. Then apply it to the book's model on a stream whose label relationship
# changes half-way.

# %%
def first_alarm(correct, *, window, threshold, confidence=0.95):
    """Index of the first full window whose accuracy is significantly below `threshold`, or None."""
    # BEGIN SOLUTION
    if window < 1:
        raise ValueError(f"`window` must be at least 1; got {window}.")
    correct = np.asarray(correct, dtype=int)
    if len(correct) < window:
        return None
    totals = np.concatenate([[0], np.cumsum(correct)])
    for end in range(window, len(correct) + 1):
        k = int(totals[end] - totals[end - window])
        if validation.wilson_interval(k, window, confidence=confidence)[1] < threshold:
            return end - 1
    return None
    # END SOLUTION


# %%
checks.check_first_alarm(first_alarm)

# %%
# BEGIN SOLUTION
before = data.make_incidents(2000, rng=21)
changed = dict(data.COEFFICIENTS, error_pct=0.1, is_weekend=1.5)  # concept drift
after = data.make_incidents(2000, coefficients=changed, rng=22)
stream = [before, after]
correct = np.concatenate([
    scenario.pipeline.predict(part[list(data.FEATURES)]) == part[data.TARGET] for part in stream
])
print(f"accuracy before the change {correct[:2000].mean():.3f}, after {correct[2000:].mean():.3f}")
for window in [50, 200, 500]:
    alarm = first_alarm(correct, window=window, threshold=0.6)
    where = "never" if alarm is None else f"at index {alarm} ({alarm - 2000:+d} after the change)"
    print(f"window {window:>3}: alarm {where}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# The interval makes the window's size part of the rule: a short window needs a deep drop
# before its upper bound falls below the threshold, a long one sees a shallow drop but
# only after it has filled with post-change outcomes. Without the interval, a short window
# fires on noise (an alarm before the change is a false alarm). Choose the window from the cost of each
# mistake, and remember that with delayed labels every alarm is late by the label delay
# too, which is why input drift checks, needing no labels, run alongside.
