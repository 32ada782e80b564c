# %% [markdown]
# # Exercises: the model registry
#
# A registry records which version each alias (such as `production`) pointed to, and
# when. Here you use that record to answer the first question of an incident (which
# version do we roll back to?), then move an alias with plain MLflow calls, keeping the
# record yourself. Run the set-up cell first.

# %%
from mlops_companion import checks

# %% [markdown] exercise="rollback-version"
# ## Which version do we roll back to?
#
# Write `rollback_version(events, *, alias="production")`. `events` is an audit log: a
# list of dicts `{"timestamp": "2026-03-01T09:00:00", "alias": "production", "version": 4}`,
# each recording that `alias` was set to `version`, in no particular order. Return the
# version that `alias` pointed to most recently before its current version (skipping
# re-assignments of the current version itself); raise `ValueError` if there is none.
# Version numbers are not consecutive: not every registered version reaches production.

# %%
def rollback_version(events, *, alias="production"):
    """The version `alias` held before its current one, according to the audit log."""
    # BEGIN SOLUTION
    history = [e["version"] for e in sorted(events, key=lambda e: e["timestamp"])
               if e["alias"] == alias]
    if not history:
        raise ValueError(f"`alias` {alias!r} does not appear in the audit log.")
    current = history[-1]
    for version in reversed(history):
        if version != current:
            return version
    raise ValueError(f"`alias` {alias!r} has only ever pointed to version {current}; "
                     "there is nothing to roll back to.")
    # END SOLUTION


# %%
checks.check_rollback_version(rollback_version)

# %%
# BEGIN SOLUTION
audit_log = [
    {"timestamp": "2026-02-02T10:15:00", "alias": "production", "version": 3},
    {"timestamp": "2026-02-20T16:40:00", "alias": "staging", "version": 7},
    {"timestamp": "2026-02-09T11:00:00", "alias": "staging", "version": 5},
    {"timestamp": "2026-02-10T09:30:00", "alias": "production", "version": 5},
    {"timestamp": "2026-02-23T08:05:00", "alias": "production", "version": 7},
    {"timestamp": "2026-02-23T08:20:00", "alias": "production", "version": 7},
]
print("production now:", max(audit_log, key=lambda e: (e["alias"] == "production", e["timestamp"]))["version"])
print("roll back to:", rollback_version(audit_log))
# END SOLUTION

# %% [markdown] tags=["solution"]
# Sorting first matters because audit logs are often merged from several sources and
# read back in any order. "Current version minus one" would have picked version 6, which
# never served production; the log, not the numbering, is the source of truth. In an
# MLflow registry the same question is answered from the alias history your deployment
# tooling records, because the registry itself keeps only where each alias points now.

# %% [markdown] exercise="promote-with-mlflow"
# ## Promote with MLflow, and remember what you replaced
#
# With plain MLflow calls, as in the chapter, write `promote(client, name, version, *,
# alias="champion")` for an `mlflow.MlflowClient`: point `alias` of the registered model
# `name` at `version` and return the version (an int) the alias pointed to before, or
# `None` if it was not set. Refuse, with `ValueError` and without moving the alias, a
# `version` that is not registered under `name`. Then register the book's pipeline twice
# in a fresh registry (`mlflow.sklearn.log_model(..., registered_model_name=...)`), promote
# version 1 and then version 2, and serve predictions from
# `models:/incident-predictor@champion`. Where would you record the value `promote`
# returns, and why does the registry not keep it for you?

# %%
def promote(client, name, version, *, alias="champion"):
    """Point `alias` of model `name` at `version`; return the version it replaced, or None."""
    # BEGIN SOLUTION
    from mlflow.exceptions import MlflowException

    registered = {int(mv.version) for mv in client.search_model_versions(f"name = '{name}'")}
    if int(version) not in registered:
        raise ValueError(f"`version` must be a registered version of {name!r} "
                         f"{sorted(registered)}; got {version!r}. Register it first.")
    try:
        previous = int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:  # the alias is not set yet
        previous = None
    client.set_registered_model_alias(name, alias, str(version))
    return previous
    # END SOLUTION


# %%
checks.check_promote(promote)

# %%
# BEGIN SOLUTION
import logging
import tempfile
import warnings
from pathlib import Path

import mlflow
import sklearn
from mlflow import MlflowClient

from mlops_companion import data

logging.getLogger("mlflow").setLevel(logging.ERROR)  # no migration chatter in the output
scenario = data.make_scenario()
folder = Path(tempfile.mkdtemp(prefix="registry-"))
mlflow.set_tracking_uri(f"sqlite:///{folder.as_posix()}/mlflow.db")
mlflow.set_registry_uri(f"sqlite:///{folder.as_posix()}/mlflow.db")
mlflow.set_experiment("incident-predictor")
with warnings.catch_warnings():  # MLflow's hints about type hints are noise here
    warnings.simplefilter("ignore")
    for _ in range(2):
        with mlflow.start_run():
            # MLflow 3 saves with skops by default, which refuses tree models unless each
            # type is trusted; pickle is fine for a model you trained yourself. Naming the
            # requirements spares MLflow loading the model in a subprocess to guess them.
            mlflow.sklearn.log_model(scenario.pipeline, name="model",
                                     registered_model_name="incident-predictor",
                                     serialization_format="cloudpickle",
                                     pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    client = MlflowClient()
    replaced = [promote(client, "incident-predictor", v) for v in (1, 2)]
    champion = mlflow.pyfunc.load_model("models:/incident-predictor@champion")
print("replaced:", replaced)
print("champion predicts:", champion.predict(scenario.X_test.head(3)).tolist())
# END SOLUTION

# %% [markdown] tags=["solution"]
# The first promotion replaces nothing, the second replaces version 1: that number is the
# rollback target, and MLflow forgets it the moment the alias moves, because an alias is a
# pointer, not a history. Record it where promotions are decided (the deployment job's log,
# an audit table, the pull request that triggered the release) so that the first exercise's
# question, which version do we roll back to, has an answer during an incident.
