# %% [markdown]
# # Exercises: testing models in CI/CD
#
# Exercises on the gates a model passes before promotion: a validator with a
# behavioural test, an accuracy gate that accounts for the size of the test set, a model
# test that can fail, a release gate on slices, and a data contract for the features.
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
from mlops_reference import validation

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

# %% [markdown] exercise="slice-gate"
# ## A release gate on slices
#
# Write `slice_gate(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02)`.
# `slices` maps slice names to boolean masks over the rows. Return the list of reasons to
# block the candidate: `"all rows"` if its accuracy on all rows is below the champion's,
# and the name of every slice in `important` on which its accuracy is more than
# `tolerance` below the champion's. An empty list releases it. A name in `important` that
# is not in `slices` must raise `ValueError` naming it. Then take the chapter's candidate
# (`data.fit_candidate_without_rate(3000, rng=7)`: the same kind of model without
# `request_rate`, trained on more rows) and find the smallest tolerance at which your gate
# would release it.

# %%
def slice_gate(y, champion_pred, candidate_pred, slices, *, important, tolerance=0.02):
    """Reasons to block the candidate: worse on all rows, or too much worse on an important slice."""
    # BEGIN SOLUTION
    unknown = [name for name in important if name not in slices]
    if unknown:
        raise ValueError(f"`important` must name slices among {sorted(slices)}; got {unknown}.")
    y = np.asarray(y)
    champion_right = np.asarray(champion_pred) == y
    candidate_right = np.asarray(candidate_pred) == y
    reasons = []
    if candidate_right.mean() < champion_right.mean():
        reasons.append("all rows")
    for name in important:
        mask = np.asarray(slices[name], dtype=bool)
        if champion_right[mask].mean() - candidate_right[mask].mean() > tolerance:
            reasons.append(name)
    return reasons
    # END SOLUTION


# %%
checks.check_slice_gate(slice_gate)

# %%
# BEGIN SOLUTION
features = list(data.FEATURES)
busy_from = scenario.X_train["request_rate"].quantile(0.9)
evaluation = data.make_incidents(4000, rng=2025)
candidate = data.fit_candidate_without_rate(3000, rng=7)
y_eval = evaluation[data.TARGET].to_numpy()
champion_pred = scenario.pipeline.predict(evaluation[features])
candidate_pred = candidate.predict(evaluation[features])
slices = {"busy services": (evaluation["request_rate"] >= busy_from).to_numpy(),
          "weekend": (evaluation["is_weekend"] == 1).to_numpy()}
for tolerance in [0.02, 0.05, 0.08, 0.1]:
    reasons = slice_gate(y_eval, champion_pred, candidate_pred, slices,
                         important=["busy services", "weekend"], tolerance=tolerance)
    print(f"tolerance {tolerance:.2f}: {'blocked by ' + ', '.join(reasons) if reasons else 'released'}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# The candidate loses about eight points of accuracy on busy services, so any tolerance
# below that blocks it and a tolerance of ten points releases it. A tolerance is a
# product decision, and the slice's interval tells you whether the data can support it:
# with a few hundred busy rows, a drop of two points is within noise, so a tight
# tolerance needs a larger evaluation set for that slice, not a looser rule.

# %% [markdown] exercise="feature-contract"
# ## A data contract that refuses bad frames
#
# Write `make_feature_schema()` returning a pandera schema (a `DataFrameSchema`, or a
# `DataFrameModel` class) for the five features of `data.FEATURE_SPECS`: each column's
# type (`float` or `int`), its range from the specification, no missing values, and no
# column the model does not know. The self-check plants frames with a missing column, a
# wrong type, a value just outside each range, a missing value and an extra column, and
# expects pandera's `SchemaError` (or `SchemaErrors`) for each. Why must the schema not
# coerce types?

# %%
import pandera.pandas as pa


def make_feature_schema():
    """A pandera schema of the incident features: types, ranges, no missing values, no extras."""
    # BEGIN SOLUTION
    columns = {
        name: pa.Column(float if spec.dtype == "float" else int,
                        pa.Check.in_range(spec.low, spec.high), nullable=False)
        for name, spec in data.FEATURE_SPECS.items()
    }
    return pa.DataFrameSchema(columns, strict=True, coerce=False, name="incident features")
    # END SOLUTION


# %%
checks.check_make_feature_schema(make_feature_schema)

# %%
# BEGIN SOLUTION
schema = make_feature_schema()
batch = data.make_production_sample(200, rng=5)
batch.loc[batch.index[:2], "error_pct"] = 130.0
batch.loc[batch.index[5], "deploy_hour"] = 24
try:
    schema.validate(batch, lazy=True)
except pa.errors.SchemaErrors as errors:
    print(errors.failure_cases[["column", "check", "failure_case", "index"]].to_string())
# END SOLUTION

# %% [markdown] tags=["solution"]
# With `lazy=True` one run lists every violation (both error rates above 100 and the hour
# 24), which is what a pipeline should log. A coercing schema would turn a float column
# into integers silently, and `12.7` would become hour 12: coercion belongs in the code
# that produces the data, where someone decides it, not in the check that guards it.
