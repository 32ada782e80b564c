"""PromQL for the book's rules: the canary statistic, alert rules and the dashboard's queries.

The metric names are the model server's (:mod:`mlops_reference.serving`):
``http_requests_total{path,status}``, ``http_request_duration_seconds{path}`` (histogram),
``predicted_probability{model_version}`` (histogram), ``predicted_probability_squares_total
{model_version}`` (sum of squared probabilities, so that PromQL can form a variance) and
``prediction_errors_total{model_version}``; and the drift job's gauges
``model_input_drift_pvalue{feature}``, ``model_input_drift_threshold{feature}`` and
``drift_job_last_success_timestamp_seconds``.
"""
from __future__ import annotations

import math
from typing import Any

from .. import _utils
from ..rollout import CanaryRule

PROBABILITY = "predicted_probability"
SQUARES = "predicted_probability_squares_total"


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus/Go duration: ``600`` -> ``"10m"``, ``5400`` -> ``"1h30m"``.

    Examples
    --------
    >>> format_duration(600), format_duration(5400), format_duration(0.5)
    ('10m', '1h30m', '500ms')
    """
    seconds = _utils.check_positive_number(seconds, "seconds")
    ms = round(seconds * 1000)
    if ms < 1000 or ms % 1000:
        if ms % 1000 and ms > 1000:
            raise ValueError(f"`seconds` must be whole seconds above 1 s; got {seconds!r}.")
        return f"{ms}ms"
    out, rest = "", ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def recorded_names(window: float) -> tuple[str, str, str]:
    """Names of the recording rules holding, per model version, n, sum(p) and sum(p^2) over ``window``.

    Examples
    --------
    >>> recorded_names(600)[0]
    'model_version:predicted_probability_count:increase10m'
    """
    w = format_duration(window)
    return (f"model_version:{PROBABILITY}_count:increase{w}",
            f"model_version:{PROBABILITY}_sum:increase{w}",
            f"model_version:{PROBABILITY}_squares:increase{w}")


def statistic_name(window: float) -> str:
    """Name of the recording rule holding each version's canary statistic over ``window``.

    Examples
    --------
    >>> statistic_name(600)
    'model_version:canary_statistic:10m'
    """
    return f"model_version:canary_statistic:{format_duration(window)}"


def _z(a: tuple[str, ...], b: tuple[str, ...], margin: float) -> str:
    r"""The monitor's statistic from two groups' (n, sum, sum of squares).

    :math:`z = (|\bar a - \bar b| - m) / \sqrt{s_a^2/n_a + s_b^2/n_b}` with
    :math:`s^2 = (\sum p^2 - (\sum p)^2 / n) / (n - 1)`, the ``ddof=1`` variance.
    """
    def var_over_n(g):
        n, s, q = g
        return f"({q} - {s} ^ 2 / {n}) / ({n} - 1) / {n}"

    diff = f"abs({a[1]} / {a[0]} - {b[1]} / {b[0]})"
    if margin:
        diff = f"clamp_min({diff} - {margin:g}, 0)"
    return f"{diff} / sqrt({var_over_n(a)} + {var_over_n(b)})"


def version_divergence_query(rule: CanaryRule, *, window: float) -> str:
    """Per model version: ``rule``'s margin statistic of that version against all the others.

    Reads the per-version moments of :func:`recording_rules`. One series per
    ``model_version`` holding at least ``rule.min_samples`` predictions in the window while
    the others together also hold that many; none when a single version serves. During a
    canary, two versions serve, and this is the canary-against-stable statistic.

    Examples
    --------
    >>> from mlops_reference import rollout
    >>> q = version_divergence_query(rollout.CanaryRule(min_samples=50), window=300)
    >>> "scalar(sum(model_version:predicted_probability_count:increase5m))" in q
    True
    """
    rule = check_rule(rule)
    v = recorded_names(window)
    rest = tuple(f"(scalar(sum({x})) - {x})" for x in v)
    m = rule.min_samples
    return f"({_z(v, rest, rule.margin)}) and {v[0]} >= {m} and {rest[0]} >= {m}"


def recording_rules(rule: CanaryRule, window: float) -> list[dict[str, str]]:
    """Recording rules: per-version n, sum(p), sum(p^2) over ``window``, then ``rule``'s statistic.

    Examples
    --------
    >>> from mlops_reference import rollout
    >>> rules = recording_rules(rollout.CanaryRule(), 600)
    >>> rules[2]["expr"]
    'sum by (model_version) (increase(predicted_probability_squares_total[10m]))'
    >>> rules[3]["record"]
    'model_version:canary_statistic:10m'
    """
    w = format_duration(window)
    sources = (f"{PROBABILITY}_count", f"{PROBABILITY}_sum", SQUARES)
    rules = [{"record": name, "expr": f"sum by (model_version) (increase({src}[{w}]))"}
             for name, src in zip(recorded_names(window), sources)]
    rules.append({"record": statistic_name(window), "expr": version_divergence_query(rule, window=window)})
    return rules


def _streak(window: float, consecutive: int, selector: str = "") -> tuple[str, str]:
    """(smallest statistic, number of windows) over the last ``consecutive`` aligned windows."""
    consecutive = _utils.check_positive_int(consecutive, "consecutive")
    series = f"{statistic_name(window)}{selector}"
    span = f"[{format_duration(consecutive * window)}:{format_duration(window)}]"
    return f"min_over_time({series}{span})", f"count_over_time({series}{span})"


def canary_analysis_query(rule: CanaryRule, *, canary: str, lookback: str) -> str:
    r"""``rule``'s margin statistic of the canary against the other versions, pooled over ``lookback``, else 0.

    From cumulative sums over ``lookback`` (in an Argo step analysis, the time since the
    first judged window opened): per side, the count, sum and sum of squares of the predicted
    probability, hence both means and ``ddof=1`` variances, and
    :math:`Z = (|\bar c - \bar b| - \delta) / \sqrt{s_c^2/n_c + s_b^2/n_b}` (floored at 0).
    It is 0 while either side holds fewer than ``rule.min_samples`` predictions
    ("insufficient"). ``canary`` and ``lookback`` may be Argo placeholders such as
    ``{{args.lookback}}``.

    Examples
    --------
    >>> from mlops_reference import rollout
    >>> q = canary_analysis_query(rollout.CanaryRule(min_samples=50), canary="v2", lookback="3h")
    >>> print(q[:97])
    (clamp_min(abs(sum(increase(predicted_probability_sum{model_version="v2"}[3h])) / sum(increase(pr
    >>> q.endswith(">= 50) or vector(0)")
    True
    """
    rule = check_rule(rule)
    sources = (f"{PROBABILITY}_count", f"{PROBABILITY}_sum", SQUARES)

    def side(op: str) -> tuple[str, ...]:
        return tuple(f'sum(increase({src}{{model_version{op}"{canary}"}}[{lookback}]))' for src in sources)

    c, b, m = side("="), side("!="), rule.min_samples
    return f"({_z(c, b, rule.margin)} and {c[0]} >= {m} and {b[0]} >= {m}) or vector(0)"


def dashboard_queries(*, window: float = 300.0, canary_window: float = 600.0,
                      latency_quantile: float = 0.99) -> dict[str, str]:
    """The PromQL behind each dashboard panel (and the chapter's figure), by panel title.

    Examples
    --------
    >>> list(dashboard_queries())[:2]
    ['Requests per second by status', 'Latency quantile of /predict (s)']
    """
    w = format_duration(window)
    q = _utils.check_level(latency_quantile, "latency_quantile")
    return {
        "Requests per second by status":
            f'sum by (status) (rate(http_requests_total{{path="/predict"}}[{w}]))',
        "Latency quantile of /predict (s)":
            f"histogram_quantile({q:g}, sum by (le) "
            f'(rate(http_request_duration_seconds_bucket{{path="/predict"}}[{w}])))',
        "Share of /predict answered with 5xx": _error_ratio(w),
        "Mean predicted probability by version":
            f"sum by (model_version) (rate({PROBABILITY}_sum[{w}])) / "
            f"sum by (model_version) (rate({PROBABILITY}_count[{w}]))",
        "Canary statistic (version against the rest)":
            statistic_name(canary_window),
        "Input drift p-value by feature": "min by (feature) (model_input_drift_pvalue)",
    }


def _error_ratio(w: str) -> str:
    # `or vector(0)`: before the first 5xx there is no such series, and the share is 0, not absent.
    return (f'(sum(rate(http_requests_total{{path="/predict",status=~"5.."}}[{w}])) or vector(0)) / '
            f'sum(rate(http_requests_total{{path="/predict"}}[{w}]))')


def monitor_threshold(rule: CanaryRule) -> float:
    """The critical value a single PromQL alert can hold for ``rule``.

    A fixed ``k`` when the rule has one. A group-sequential rule has one boundary per
    planned look, and an alert holds one number: the largest finite boundary (the
    strictest look), so that no window is judged more leniently than the rule would judge it.

    Examples
    --------
    >>> from mlops_reference import rollout
    >>> monitor_threshold(rollout.CanaryRule(k=3.0))
    3.0
    >>> round(monitor_threshold(rollout.CanaryRule(window_size=2000, min_samples=50)), 2)
    3.01
    """
    rule = check_rule(rule)
    if rule.k is not None:
        return float(rule.k)
    return max(c for c in rule.boundaries if math.isfinite(c))


def check_rule(rule: Any) -> CanaryRule:
    """``rule`` itself, once it is a :class:`~mlops_reference.rollout.CanaryRule`."""
    if not isinstance(rule, CanaryRule):
        raise TypeError(f"`rule` must be a rollout.CanaryRule; got {type(rule).__name__}.")
    return rule


def _windows(consecutive: int, window: float) -> str:
    w = format_duration(window)
    return f"a window of {w}" if consecutive == 1 else f"{consecutive} windows of {w} in a row"


def make_alert_rules(rule: CanaryRule, *, latency_slo: float = 0.1, latency_quantile: float = 0.99,
                     max_error_rate: float = 0.01, window: float = 300.0, hold: float = 300.0,
                     canary_window: float = 600.0, drift_interval: float = 3600.0) -> dict[str, Any]:
    """Prometheus alerting rules for the model server, its canary and its drift job.

    Parameters
    ----------
    rule : rollout.CanaryRule
        ``margin``, ``min_samples``, ``consecutive`` and the threshold
        (:func:`monitor_threshold`) of the canary divergence alert.
    latency_slo : float, default=0.1
        Seconds the ``latency_quantile`` of ``/predict`` must stay under.
    latency_quantile : float, default=0.99
    max_error_rate : float, default=0.01
        Largest tolerated share of ``/predict`` requests answered with a 5xx status.
    window : float, default=300
        Seconds of each ``rate()``.
    hold : float, default=300
        Seconds a condition must hold before its alert fires (the rule's ``for``).
    canary_window : float, default=600
        Seconds per canary window.
    drift_interval : float, default=3600
        How often the drift job runs; it is stale after twice that.

    Returns
    -------
    dict
        A rule file (``{"groups": [...]}``), ready for ``yaml.safe_dump``.

    Examples
    --------
    Which alerts are there, and when does the canary one fire?

    >>> from mlops_reference import rollout
    >>> rules = make_alert_rules(rollout.CanaryRule(k=3.0, min_samples=100, consecutive=2))
    >>> [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    ['PredictLatencySLO', 'PredictErrorRate', 'ModelPredictionErrors', 'CanaryDivergence', 'InputDrift', 'DriftJobStale']
    >>> rules["groups"][1]["rules"][-1]["expr"].endswith("[20m:10m]) >= 2")
    True
    """
    rule = check_rule(rule)
    slo = _utils.check_positive_number(latency_slo, "latency_slo")
    max_error_rate = _utils.check_level(max_error_rate, "max_error_rate")
    for value, name in ((window, "window"), (hold, "hold"), (canary_window, "canary_window"),
                        (drift_interval, "drift_interval")):
        _utils.check_positive_number(value, name)
    latency = dashboard_queries(window=window, latency_quantile=latency_quantile)["Latency quantile of /predict (s)"]
    return {"groups": [
        {"name": "model-server", "rules": _server_alerts(latency, latency_quantile, slo, max_error_rate,
                                                         format_duration(window), format_duration(hold))},
        {"name": "model-canary", "rules": recording_rules(rule, canary_window) + _canary_alert(rule, canary_window)},
        {"name": "model-drift", "rules": _drift_alerts(drift_interval)},
    ]}


def _server_alerts(latency: str, quantile: float, slo: float, max_error_rate: float, w: str,
                   hold: str) -> list[dict[str, Any]]:
    return [
        {"alert": "PredictLatencySLO",
         "expr": f"{latency} > {slo:g}",
         "for": hold,
         "labels": {"severity": "page"},
         "annotations": {"summary": f"p{quantile * 100:g} latency of /predict above {slo:g} s",
                         "description": "p%g latency of /predict: {{ $value | humanizeDuration }}."
                                        % (quantile * 100)}},
        {"alert": "PredictErrorRate",
         "expr": f"{_error_ratio(w)} > {max_error_rate:g}",
         "for": hold,
         "labels": {"severity": "page"},
         "annotations": {"summary": f"more than {max_error_rate:.0%} of /predict requests fail with 5xx",
                         "description": "{{ $value | humanizePercentage }} of /predict requests failed."}},
        {"alert": "ModelPredictionErrors",
         "expr": (f"sum by (model_version) (rate(prediction_errors_total[{w}])) / "
                  f"(sum by (model_version) (rate(prediction_errors_total[{w}])) + "
                  f"sum by (model_version) (rate({PROBABILITY}_count[{w}]))) > {max_error_rate:g}"),
         "for": hold,
         "labels": {"severity": "page"},
         "annotations": {"summary": "a model version raises on too many predictions",
                         "description": "Version {{ $labels.model_version }} fails "
                                        "{{ $value | humanizePercentage }} of its predictions."}},
    ]


def _canary_alert(rule: CanaryRule, canary_window: float) -> list[dict[str, Any]]:
    k, consecutive = monitor_threshold(rule), rule.consecutive
    smallest, count = _streak(canary_window, consecutive)
    return [
        {"alert": "CanaryDivergence",
         # The smallest statistic of the last `consecutive` windows above k: every one breached.
         "expr": f"{smallest} > {k:g} and {count} >= {consecutive}",
         "labels": {"severity": "page"},
         "annotations": {"summary": "model versions disagree: roll the canary back",
                         "description": f"Version {{{{ $labels.model_version }}}}'s mean predicted probability "
                                        f"is more than {k:.2f} standard errors beyond the margin from the "
                                        f"other versions' in {_windows(consecutive, canary_window)} "
                                        "(smallest statistic {{ $value | printf \"%.1f\" }})."}},
    ]


def _drift_alerts(drift_interval: float) -> list[dict[str, Any]]:
    return [
        {"alert": "InputDrift",
         "expr": "model_input_drift_pvalue < model_input_drift_threshold",
         "labels": {"severity": "ticket"},
         "annotations": {"summary": "a feature's production distribution moved away from training",
                         "description": "Feature {{ $labels.feature }}: p-value {{ $value }} under the "
                                        "drift job's corrected threshold."}},
        {"alert": "DriftJobStale",
         "expr": f"time() - drift_job_last_success_timestamp_seconds > {2 * drift_interval:g}",
         "labels": {"severity": "ticket"},
         "annotations": {"summary": "the drift job has not succeeded for two of its intervals",
                         "description": "Last success {{ $value | humanizeDuration }} ago."}},
    ]
