"""Self-checks of chapter 06, monitoring a deployed model (exercise set ``06-monitoring``)."""
from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from ._harness import CheckResult, Case, call, call_recording, exercise, expect, run


STEM = "06-monitoring"

_HINT_DETECT_DRIFT = (
    'For each column, scipy.stats.ks_2samp(reference[col], current[col]) gives '
    '(statistic, pvalue). Build one row per column, set drifted = pvalue < alpha / '
    'len(columns) (each test gets its share of alpha), and '
    'call warnings.warn(...) once, naming every drifted column, only if there is one.'
)
_HINT_CHI_SQUARE_DRIFT = (
    'Count every category of the UNION of both samples in each sample (np.unique on the '
    'concatenation gives the categories), stack the two rows of counts into a 2 x k '
    'table, and pass it to scipy.stats.chi2_contingency; it scales for the sample sizes.'
)

# --------------------------------------------------------------------------- detect_drift
@functools.lru_cache(maxsize=1)
def _drift_samples() -> dict[str, pd.DataFrame]:
    from mlops_companion import data

    return {
        "reference": data.make_production_sample(1000, rng=101),
        "drifted": data.make_production_sample(600, drift={"error_pct": 2.0}, rng=103),
        "calm": data.make_production_sample(600, rng=104),
        "mild": data.make_production_sample(600, drift={"request_rate": 25.0}, rng=115),
        "two": data.make_production_sample(600, drift={"error_pct": 2.0, "p99_latency_ms": 1.0},
                                           rng=105),
        # error_pct's p-value is about 0.0045: below alpha=0.01, above alpha / 5
        "borderline": data.make_production_sample(600, drift={"error_pct": 0.22}, rng=120),
    }


def _report_of(func, current_name, alpha, given):
    """The student's report, indexed by feature, its flagged features and its UserWarnings."""
    from mlops_companion import data

    samples = _drift_samples()
    kwargs = {} if alpha is None else {"alpha": alpha}
    report, caught = call_recording(func, samples["reference"], samples[current_name], **kwargs)
    expect(isinstance(report, pd.DataFrame), given, "a pandas DataFrame",
           type(report).__name__)
    missing = [c for c in ("feature", "statistic", "pvalue", "drifted") if c not in report.columns]
    expect(not missing, given, "columns feature, statistic, pvalue, drifted",
           f"columns {list(report.columns)}")
    expect(sorted(report["feature"]) == sorted(data.FEATURES), given,
           f"one row per feature {list(data.FEATURES)}", list(report["feature"]))
    flagged = sorted(report.loc[report["drifted"].astype(bool), "feature"])
    user_warnings = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    return report.set_index("feature"), flagged, user_warnings


def _drift_cases() -> list[Case]:
    from scipy.stats import ks_2samp

    from mlops_companion import data

    def one_drifted(func):
        given = "1000 reference rows; 600 current rows with error_pct shifted up by 2.0"
        report, flagged, user_warnings = _report_of(func, "drifted", None, given)
        expect(flagged == ["error_pct"], given, "drifted only for ['error_pct']", str(flagged))
        expect(any("error_pct" in m for m in user_warnings), given,
               "a UserWarning whose message names 'error_pct'",
               f"warnings {user_warnings}" if user_warnings else "no UserWarning")
        others = [f for f in data.FEATURES if f != "error_pct"]
        named = [f for f in others if any(f in m for m in user_warnings)]
        expect(not named, given, "the warning names only drifted features",
               f"it also names {named}")

    def two_drifted(func):
        given = ("1000 reference rows; 600 current rows with error_pct and p99_latency_ms "
                 "both shifted")
        _, flagged, user_warnings = _report_of(func, "two", None, given)
        expect(flagged == ["error_pct", "p99_latency_ms"], given,
               "drifted only for ['error_pct', 'p99_latency_ms']", str(flagged))
        expect(len(user_warnings) == 1, given,
               "exactly one UserWarning for the whole report (not one per drifted feature)",
               f"{len(user_warnings)} warnings {user_warnings}")
        missing = [f for f in ("error_pct", "p99_latency_ms") if f not in user_warnings[0]]
        expect(not missing, given, "the warning to name every drifted feature",
               f"it does not name {missing}: {user_warnings[0]!r}")

    def ks_for_continuous(func):
        given = "the same data; the statistic of each continuous feature"
        report, _, _ = _report_of(func, "drifted", None, given)
        samples = _drift_samples()
        for feature in data.CONTINUOUS_FEATURES:
            expected = ks_2samp(samples["reference"][feature], samples["drifted"][feature]).statistic
            got = float(report.loc[feature, "statistic"])
            expect(abs(got - expected) < 1e-9, given,
                   f"statistic for {feature!r} = {expected:.4f} (two-sample KS)", f"{got:.4f}")

    def calm(func):
        given = "1000 reference rows; 600 current rows from the same distribution"
        _, flagged, user_warnings = _report_of(func, "calm", None, given)
        expect(flagged == [], given, "no feature drifted", str(flagged))
        expect(user_warnings == [], given, "no UserWarning", f"warnings {user_warnings}")

    def alpha_used(func):
        given = "request_rate's scale raised from 100 to 125; alpha=1e-6, then alpha=0.01"
        _, strict, _ = _report_of(func, "mild", 1e-6, given)
        _, loose, _ = _report_of(func, "mild", 0.01, given)
        expect("request_rate" not in strict and "request_rate" in loose, given,
               "request_rate not drifted at alpha=1e-6 (p is about 1e-4) but drifted at 0.01",
               f"drifted at 1e-6: {strict}; at 0.01: {loose}")

    def corrected(func):
        given = ("600 current rows with error_pct shifted by 0.22: its p-value is about 0.0045, "
                 "the other features' above 0.5; alpha=0.01 over five features")
        report, flagged, user_warnings = _report_of(func, "borderline", 0.01, given)
        expect(flagged == [], given,
               "no feature drifted: error_pct's p-value is above alpha / 5 = 0.002 "
               "(Bonferroni), though below alpha", str(flagged))
        expect(user_warnings == [], given, "no UserWarning", f"warnings {user_warnings}")

    return [
        Case("one drifted feature is flagged and named in a warning", one_drifted),
        Case("two drifted features, one warning naming both", two_drifted),
        Case("continuous features use the two-sample KS test", ks_for_continuous),
        Case("no drift, no flags, no warning", calm),
        Case("alpha is the significance level", alpha_used),
        Case("alpha is shared by the features tested (Bonferroni)", corrected),
    ]


@exercise("detect_drift", STEM, _HINT_DETECT_DRIFT)
def check_detect_drift(func: Callable[..., pd.DataFrame], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``detect_drift(reference, current, *, alpha=0.01)``.

    Given two DataFrames with the scenario's features, it must return a DataFrame with one
    row per feature and at least the columns ``feature, statistic, pvalue, drifted``, use the
    two-sample KS test on continuous features (discrete ones may use KS or chi-square),
    flag a feature when ``pvalue < alpha / n_features`` (Bonferroni: ``alpha`` is the chance
    of *any* false flag among the features tested, not of each), and emit one
    ``UserWarning`` naming the drifted features (none when nothing drifted).

    Examples
    --------
    A detector that never flags anything:

    >>> import pandas as pd
    >>> def silent(reference, current, *, alpha=0.01):
    ...     return pd.DataFrame({"feature": list(reference.columns), "statistic": 0.0,
    ...                          "pvalue": 1.0, "drifted": False})
    >>> result = check_detect_drift(silent)
    detect_drift: FAILED on case 1 of ..., "one drifted feature is flagged and named in a warning".
    ...
      expected: drifted only for ['error_pct']
      got:      []
    ...
    """
    return run("detect_drift", func, _drift_cases(), verbose=verbose)


def _chi_square_cases() -> list[Case]:
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(61)
    hours = rng.integers(0, 24, 1500)
    hours_later = rng.integers(0, 24, 700)
    office_hours = rng.integers(9, 18, 400)
    plans = np.array(["free"] * 500 + ["team"] * 300 + ["enterprise"] * 200)
    plans_new = np.array(["free"] * 100 + ["team"] * 90 + ["enterprise"] * 60 + ["trial"] * 50)
    weekend = rng.binomial(1, 2 / 7, 1000)
    weekend_later = rng.binomial(1, 0.45, 500)

    def expected_of(reference, current):
        categories = np.unique(np.concatenate([reference, current]))
        table = np.array([[np.sum(sample == c) for c in categories] for sample in (reference, current)])
        return [(r.statistic, r.pvalue) for r in
                (chi2_contingency(table), chi2_contingency(table, correction=False))]

    def case(reference, current, description):
        def run(func):
            given = description
            got = call(func, reference.copy(), current.copy())
            if hasattr(got, "statistic") and hasattr(got, "pvalue"):
                got = (got.statistic, got.pvalue)
            expect(isinstance(got, (tuple, list)) and len(got) == 2, given,
                   "(statistic, pvalue)", got)
            statistic, pvalue = float(got[0]), float(got[1])
            options = expected_of(reference, current)
            ok = any(math.isclose(statistic, s, rel_tol=1e-6, abs_tol=1e-9)
                     and math.isclose(pvalue, p, rel_tol=1e-6, abs_tol=1e-300) for s, p in options)
            s0, p0 = options[0]
            expect(ok, given, f"statistic {s0:.4f}, pvalue {p0:.4g} (chi-square test of the "
                   "2 x k table of counts)", f"statistic {statistic:.4f}, pvalue {pvalue:.4g}")
        return run

    return [
        Case("the same distribution of hours", case(
            hours, hours_later, "deploy hours 0-23 (1500 rows) vs deploy hours 0-23 (700 rows)")),
        Case("deploys moved to office hours", case(
            hours, office_hours, "deploy hours 0-23 (1500 rows) vs hours 9-17 only (400 rows)")),
        Case("a category that only the current data has", case(
            plans, plans_new, "plans free/team/enterprise (1000 rows) vs the same plus 'trial' (300 rows)")),
        Case("a binary feature", case(
            weekend, weekend_later, "is_weekend at 2/7 (1000 rows) vs at 0.45 (500 rows)")),
    ]


@exercise("chi_square_drift", STEM, _HINT_CHI_SQUARE_DRIFT)
def check_chi_square_drift(func: Callable[..., tuple[float, float]], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``chi_square_drift(reference, current)`` for one discrete feature.

    Given two 1-D arrays of category values (of any size), it must return
    ``(statistic, pvalue)`` (or an object with those attributes) of the chi-square test of
    homogeneity on the 2 x k table of counts over *every* category seen in either sample,
    as :func:`scipy.stats.chi2_contingency` computes it (with or without its continuity
    correction for a 2 x 2 table).

    Examples
    --------
    Using only the categories of the reference misses what is new:

    >>> import numpy as np
    >>> from scipy.stats import chi2_contingency
    >>> def reference_only(reference, current):
    ...     categories = np.unique(reference)
    ...     table = [[np.sum(s == c) for c in categories] for s in (reference, current)]
    ...     result = chi2_contingency(table)
    ...     return result.statistic, result.pvalue
    >>> result = check_chi_square_drift(reference_only)
    chi_square_drift: FAILED on case 3 of ..., "a category that only the current data has".
    ...
    """
    return run("chi_square_drift", func, _chi_square_cases(), verbose=verbose)


