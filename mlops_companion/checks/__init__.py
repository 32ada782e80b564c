"""Self-checks for the exercise notebooks: behavioural tests a student runs on their own code.

Naming convention: the check of an exercise that asks for a function ``name`` is
``checks.check_<name>``, so a notebook reads ``checks.check_wilson_interval(wilson_interval)``
and a student's ``wilson_interval`` never shadows the check (nor the other way round);
``checks.hint(name)`` prints a nudge.

Each check runs a handful of public test cases and prints one of three results:

* **passed**: every case behaved as the exercise asks;
* **not attempted yet**: the function still raises ``NotImplementedError`` (the stub); the
  check reports it and returns normally, so "Run all" goes through an untouched notebook;
* **failed**: the first case that went wrong, with its input, what was expected and what came.

Every check also returns its result (``.status``, ``.passed``, ``.message``), so tests (and
curious students) can assert on it. All cases are in the open, one private module per chapter (``_ch01_artefacts`` ...
``_ch10_scale``), with the harness that runs them in ``_harness``: reading them is
allowed, and often instructive. The same cases are the *contract* of each exercise: the book's
tests run them on the worked solutions, on a library of plausible wrong answers (each must be
rejected), and, where the package implements the same idea, on the package.

Out of scope: grading, servers, anything that needs a network. Checks only call the
function they are given, on small data generated with :mod:`mlops_companion.data`; the
application of exercise 4.2 is called in-process (FastAPI's test client, the ``serve``
extra) and exercise 2.2 runs on a temporary MLflow registry in SQLite (the ``registry``
extra).
"""
from __future__ import annotations

from ._ch01_artefacts import check_load_verified, check_save_load_verify
from ._ch02_registry import check_promote, check_rollback_version
from ._ch03_patterns import check_predict_in_batches
from ._ch04_serving import check_make_app, check_make_request_schema
from ._ch05_safe_deployment import check_error_rate_decision, check_shadow_report
from ._ch06_monitoring import check_chi_square_drift, check_detect_drift
from ._ch07_ml_cicd import (
    check_make_feature_schema, check_slice_gate, check_test_candidate, check_validate_model,
    check_wilson_interval,
)
from ._ch08_lifecycle import check_first_alarm
from ._ch09_production import check_join_late_labels, check_margin_statistic
from ._ch10_scale import check_ks_from_partitions, check_score_partition
from ._harness import hint

__all__ = [
    "hint",
    "check_save_load_verify", "check_load_verified", "check_rollback_version", "check_promote",
    "check_predict_in_batches", "check_shadow_report", "check_make_request_schema",
    "check_make_app", "check_error_rate_decision", "check_detect_drift", "check_chi_square_drift",
    "check_validate_model", "check_wilson_interval", "check_test_candidate", "check_slice_gate",
    "check_make_feature_schema", "check_first_alarm", "check_join_late_labels",
    "check_margin_statistic", "check_score_partition", "check_ks_from_partitions",
]
