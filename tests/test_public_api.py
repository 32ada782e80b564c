"""The package's public surface, asserted (httpx's test_exported_members, in spirit).

A name added to or removed from a module's ``__all__`` must be a deliberate change to this
file too, because readers of the book import these names.
"""
import importlib
import inspect
import subprocess
import sys

import pytest

import mlops_companion
import mlops_reference

PUBLIC_API = {
    "artefacts": {
        "ArtefactIntegrityError", "ArtefactManifest", "ArtefactUntrustedTypeError",
        "ArtefactVersionError", "LoadedArtefact", "SKOPS_TRUSTED_TYPES", "compare_formats",
        "load_artefact", "manifest_path", "save_artefact",
    },
    "batch": {"BatchScoreResult", "ScoringModel", "score_parquet", "track_peak_memory"},
    "deploy": {
        "Release", "StartupError", "check_environment", "dashboard_queries", "dump_yaml", "main",
        "make_alert_rules", "make_deployment_manifests", "make_grafana_dashboard", "make_rollout_manifests",
        "make_traffic_manifests", "monitor_threshold", "recording_rules", "render_deploy_files",
        "schedule_from_rollout", "serve_from_environment", "write_deploy_files", "make_autoscaler_manifests",
        "BOOK_CAPACITY",
    },
    "predlog": {
        "DriftGauges", "LiveAccuracyResult", "PredictionLog", "check_skew",
        "join_labels", "live_accuracy", "read_prediction_log", "simulate_delayed_labels",
    },
    "checks": {
        "check_error_rate_decision",
        "check_chi_square_drift", "check_detect_drift", "check_first_alarm", "hint",
        "check_load_verified", "check_make_request_schema", "check_predict_in_batches",
        "check_rollback_version", "check_save_load_verify", "check_shadow_report",
        "check_validate_model", "check_wilson_interval", "check_promote", "check_make_app",
        "check_test_candidate", "check_join_late_labels", "check_margin_statistic",
        "check_score_partition", "check_ks_from_partitions", "check_slice_gate",
        "check_make_feature_schema",
    },
    "data": {
        "COEFFICIENTS", "CONTINUOUS_FEATURES", "DISTRIBUTIONS", "DISCRETE_FEATURES", "FEATURES",
        "FEATURE_SPECS", "FeatureSpec", "Scenario", "TARGET", "fit_candidate_without_rate", "fit_pipeline",
        "incident_probability", "make_incidents", "make_pipeline", "make_production_sample",
        "make_scenario",
    },
    "drift": {"DriftReference", "DriftWarning", "detect_drift",
              "drift_over_time", "psi"},
    "lifecycle": {"labels_available", "make_weekly_traffic"},
    "plots": {
        "LINESTYLES", "OKABE_ITO", "plot_accuracy_over_time", "plot_canary_schedule",
        "plot_drift_histograms", "plot_drift_over_time", "plot_lifecycle",
        "plot_rollout_timeline", "use_book_style",
    },
    "registry": {"ARTEFACT_FILE", "ModelVersionInfo", "Registry"},
    "rollout": {
        "AgreementResult", "BlueGreen", "CanaryMonitor", "CanaryRule", "CanarySchedule",
        "CanarySimulationResult", "MonitorDecision", "RolloutResult", "ShadowDeployment", "TrafficSplit",
        "derive_rule", "resample_canary", "simulate_canary", "simulate_rollout", "simulate_windows",
    },
    "serving": {"create_app", "run_server"},
    "validation": {"METRICS", "ValidationResult",
                   "validate_model", "wilson_interval", "PairedComparisonResult",
                   "compare_models_paired"},
    "features": {"CONTINUOUS_FEATURES", "DISCRETE_FEATURES", "FEATURES", "FEATURE_SPECS", "FeatureSpec",
                 "TARGET"},
}
#: The reader's kit; every other module is the production reference's.
KIT = {"checks", "data", "lifecycle", "plots", "predlog"}


def _package(module_name: str) -> str:
    return "mlops_companion" if module_name in KIT else "mlops_reference"


def test_package_lists_every_module():
    assert set(mlops_companion.__all__) == KIT
    assert set(mlops_reference.__all__) == set(PUBLIC_API) - KIT


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_module_exports_exactly_its_public_api(module_name):
    module = importlib.import_module(f"{_package(module_name)}.{module_name}")
    assert set(module.__all__) == PUBLIC_API[module_name]
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_public_functions_have_numpydoc_examples(module_name):
    module = importlib.import_module(f"{_package(module_name)}.{module_name}")
    assert module.__doc__, f"module {module_name} has no docstring"
    missing = [
        name for name in module.__all__
        if inspect.isfunction(getattr(module, name))
        and getattr(module, name).__module__.startswith(module.__name__)  # a package's private modules too
        and "Examples" not in (getattr(module, name).__doc__ or "")
    ]
    assert not missing, f"{module_name}: public functions without an Examples section: {missing}"


def test_import_has_no_side_effects():
    # A fresh interpreter: importing the package and its core modules must not import the
    # optional heavy extras, start anything, or change matplotlib's global style.
    code = (
        "import sys, matplotlib\n"
        "before = dict(matplotlib.rcParams)\n"
        "import mlops_companion\n"
        "from mlops_companion import data, plots, checks\n"
        "from mlops_reference import artefacts, validation, drift, rollout\n"
        "assert 'mlflow' not in sys.modules, 'mlflow imported'\n"
        "assert 'fastapi' not in sys.modules, 'fastapi imported'\n"
        "assert 'uvicorn' not in sys.modules, 'uvicorn imported'\n"
        "changed = [k for k, v in matplotlib.rcParams.items() if before.get(k) != v]\n"
        "assert not changed, f'rcParams changed on import: {changed[:5]}'\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        mlops_companion.nope  # noqa: B018
