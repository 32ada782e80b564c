# %% [markdown]
# # Exercises: testing models in CI/CD
#
# Two exercises on the gate a model passes before promotion: a validator with a
# behavioural test, and an accuracy gate that accounts for the size of the test set.
# Each coding exercise ends with a self-check cell: run it to see whether your function
# behaves as asked. `checks.hint("name")` gives a nudge.

# %%
import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from mlops_companion import checks, data

scenario = data.make_scenario()
print(f"{len(scenario.X_train)} training rows, {len(scenario.X_test)} test rows")

# %% [markdown] exercise="validate-model"
# ## A validation gate with a directional test
#
# Write `validate_model(model, X, y, thresholds)`. `thresholds` maps metric names
# (`"accuracy"`, `"f1"`, `"precision"`, `"recall"`) to the minimum acceptable value. Return a
# dict with, for each requested metric, `{"value": ..., "passed": value >= threshold}`,
# plus a behavioural check under the key `"directional"`: add 1 to `error_pct` in every
# row and report `{"passed": True}` only if the mean predicted probability of an incident
# goes up. An unknown metric name must raise `ValueError` naming it.
# Try your gate on the book's pipeline and on a `DummyClassifier` that always predicts
# the majority class: which checks does each fail, and why?

# %%
METRICS = {"accuracy": accuracy_score, "f1": f1_score,
           "precision": precision_score, "recall": recall_score}


def validate_model(model, X, y, thresholds):
    """Score `model` on (X, y) against minimum `thresholds`, plus a directional test."""
    # BEGIN SOLUTION
    unknown = sorted(set(thresholds) - set(METRICS))
    if unknown:
        raise ValueError(f"`thresholds` must name metrics among {sorted(METRICS)}; got {unknown}.")
    y_pred = model.predict(X)
    result = {}
    for name, minimum in thresholds.items():
        value = float(METRICS[name](y, y_pred, **({} if name == "accuracy" else {"zero_division": 0})))
        result[name] = {"value": value, "threshold": minimum, "passed": value >= minimum}
    riskier = X.copy()
    riskier["error_pct"] = riskier["error_pct"] + 1.0
    before = model.predict_proba(X)[:, 1].mean()
    after = model.predict_proba(riskier)[:, 1].mean()
    result["directional"] = {"value": float(after - before), "passed": bool(after > before)}
    return result
    # END SOLUTION


# %%
checks.check_validate_model(validate_model)

# %%
# BEGIN SOLUTION
def show(result):
    for name, entry in result.items():
        value = f"{entry['value']:+.3f}" if name == "directional" else f"{entry['value']:.3f}"
        print(f"  {name:<12} {value}  {'pass' if entry['passed'] else 'FAIL'}")


thresholds = {"accuracy": 0.70, "f1": 0.75}
dummy = DummyClassifier(strategy="most_frequent").fit(scenario.X_train, scenario.y_train)
for label, model in [("pipeline", scenario.pipeline), ("dummy", dummy)]:
    print(label)
    show(validate_model(model, scenario.X_test, scenario.y_test, thresholds))
# END SOLUTION

# %% [markdown] tags=["solution"]
# The dummy always predicts "incident". Its recall is perfect, so its F1 can look
# respectable; accuracy equals the share of incidents, below the gate. The directional
# test fails too: a constant probability does not rise with `error_pct` (the change is
# exactly zero), which is what a behavioural test is for: it catches a model that
# ignores the signal the domain says matters.

# %% [markdown] exercise="wilson-gate"
# ## Gate on a confidence interval, not a point estimate
#
# A test set of 160 rows measures accuracy with an error bar of several points. Write
# `wilson_interval(successes, n, *, confidence=0.95)` returning `(low, high)`, the Wilson
# score interval for a proportion; raise `ValueError` when `n < 1` or `successes` is not
# in `[0, n]`. Then compare two gates for a threshold of 0.70: on the point estimate and
# on the interval's lower bound. How many test rows would the pipeline need for the
# stricter gate to pass at its current accuracy?

# %%
from scipy.stats import norm


def wilson_interval(successes, n, *, confidence=0.95):
    """Wilson score interval (low, high) for `successes` out of `n`."""
    # BEGIN SOLUTION
    if n < 1:
        raise ValueError(f"`n` must be at least 1; got {n}.")
    if not 0 <= successes <= n:
        raise ValueError(f"`successes` must be between 0 and n={n}; got {successes}.")
    z = norm.ppf(1 - (1 - confidence) / 2)
    p = successes / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
    # END SOLUTION


# %%
checks.check_wilson_interval(wilson_interval)

# %%
# BEGIN SOLUTION
n_test = len(scenario.y_test)
n_correct = int((scenario.pipeline.predict(scenario.X_test) == scenario.y_test).sum())
accuracy = n_correct / n_test
low, high = wilson_interval(n_correct, n_test)
print(f"accuracy {accuracy:.3f}, 95% interval [{low:.3f}, {high:.3f}] on {n_test} rows")
print(f"point-estimate gate (>= 0.70): {'pass' if accuracy >= 0.70 else 'FAIL'}")
print(f"lower-bound gate    (>= 0.70): {'pass' if low >= 0.70 else 'FAIL'}")

for n in [160, 320, 640, 1280, 2560]:
    low_n, _ = wilson_interval(round(accuracy * n), n)
    print(f"  n={n:>5}: lower bound {low_n:.3f}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# The lower-bound gate asks for evidence, not just a good number: with a small test set
# a model near the threshold passes the point-estimate gate by luck about half the time.
# The table shows how the bound tightens with the square root of the number of rows, so
# quadrupling the test set roughly halves the margin the model needs.

# %% [markdown] exercise="model-test"
# ## A model test that can fail
#
# The chapter's model tests are an ordinary pytest file. Write one more test for it,
# `test_candidate(model, fresh)`, where pytest would pass the fitted `model` and `fresh`,
# a tuple `(X, y)` of labelled rows it never saw, as fixtures. With plain `assert`
# statements, it must check that the lower bound of the 95% Wilson interval of the
# model's accuracy on `fresh` is at least `GATE` (0.64, as in the chapter's file) and that
# adding 1 to `error_pct` raises the mean predicted probability of an incident. A test
# that cannot fail is worse than none: the self-check makes sure yours fails for a
# majority-class dummy, for a model whose risk falls as errors rise, and for an accuracy
# of 0.70 measured on only 40 rows. Which of the three would a gate on the point estimate
# let through?

# %%
from mlops_companion import validation

GATE = 0.64


def test_candidate(model, fresh):
    """Accuracy's lower bound reaches GATE, and more errors mean more risk."""
    # BEGIN SOLUTION
    X, y = fresh
    correct = int((model.predict(X) == y).sum())
    low, high = validation.wilson_interval(correct, len(y))
    assert low >= GATE, f"accuracy {correct / len(y):.3f}, 95% interval [{low:.3f}, {high:.3f}]"
    riskier = X.assign(error_pct=X["error_pct"] + 1)
    before = model.predict_proba(X)[:, 1].mean()
    after = model.predict_proba(riskier)[:, 1].mean()
    assert after > before, f"P(incident) went from {before:.3f} to {after:.3f} as errors rose"
    # END SOLUTION


# %%
checks.check_test_candidate(test_candidate)

# %%
# BEGIN SOLUTION
rows = data.make_incidents(2000, rng=2024)
fresh = rows[list(data.FEATURES)], rows[data.TARGET]
few = fresh[0].head(40), fresh[1].head(40)
for label, model, sample in [("pipeline, 2000 rows", scenario.pipeline, fresh),
                             ("dummy, 2000 rows", dummy, fresh),
                             ("pipeline, 40 rows", scenario.pipeline, few)]:
    try:
        test_candidate(model, sample)
        print(f"{label:<20} PASSED")
    except AssertionError as error:
        print(f"{label:<20} FAILED: {error}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# A gate on the point estimate lets the 40-row sample through whenever it happens to score
# 0.64 or more, which for a model near the gate is a coin toss; the lower bound asks for
# enough rows to be sure. The dummy fails either way, and the model whose risk falls as
# errors rise passes any accuracy gate: only the behavioural assertion catches it. Copied
# into the chapter's `model_tests/` file beside fixtures named `model` and `fresh`, the
# function runs in CI unchanged, and its assertion messages are what the log shows.
