# %% [markdown]
# # Exercises: the model registry
#
# A registry records which version each alias (such as `production`) pointed to, and
# when. Here you use that record to answer the first question of an incident: which
# version do we roll back to? Run the set-up cell first.

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
