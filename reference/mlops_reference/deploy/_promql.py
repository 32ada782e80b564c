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


def version_divergence_query(*, window: float, min_samples: int, margin: float = 0.0) -> str:
    """Per model version: the monitor's statistic of that version against all the others.

    Reads the per-version moments of :func:`recording_rules`. One series per
    ``model_version`` holding at least ``min_samples`` predictions in the window while the
    others together also hold that many; none when a single version serves. During a
    canary, two versions serve, and this is the canary-against-stable statistic of
    :class:`~mlops_reference.rollout.CanaryMonitor`.

    Examples
    --------
    >>> q = version_divergence_query(window=300, min_samples=50)
    >>> "scalar(sum(model_version:predicted_probability_count:increase5m))" in q
    True
    """
    min_samples = _utils.check_positive_int(min_samples, "min_samples")
    v = recorded_names(window)
    rest = tuple(f"(scalar(sum({x})) - {x})" for x in v)
    return f"({_z(v, rest, margin)}) and {v[0]} >= {min_samples} and {rest[0]} >= {min_samples}"


def recording_rules(window: float, *, min_samples: int, margin: float = 0.0) -> list[dict[str, str]]:
    """Recording rules: per-version n, sum(p), sum(p^2) over ``window``, then the statistic.

    Examples
    --------
    >>> rules = recording_rules(600, min_samples=100)
    >>> rules[2]["expr"]
    'sum by (model_version) (increase(predicted_probability_squares_total[10m]))'
    >>> rules[3]["record"]
    'model_version:canary_statistic:10m'
    """
    w = format_duration(window)
    sources = (f"{PROBABILITY}_count", f"{PROBABILITY}_sum", SQUARES)
    rules = [{"record": name, "expr": f"sum by (model_version) (increase({src}[{w}]))"}
             for name, src in zip(recorded_names(window), sources)]
    rules.append({"record": statistic_name(window),
                  "expr": version_divergence_query(window=window, min_samples=min_samples, margin=margin)})
    return rules


def _streak(window: float, consecutive: int, selector: str = "") -> tuple[str, str]:
    """(smallest statistic, number of windows) over the last ``consecutive`` aligned windows."""
    consecutive = _utils.check_positive_int(consecutive, "consecutive")
    series = f"{statistic_name(window)}{selector}"
    span = f"[{format_duration(consecutive * window)}:{format_duration(window)}]"
    return f"min_over_time({series}{span})", f"count_over_time({series}{span})"


def canary_analysis_query(*, canary: str, lookback: str, min_samples: int, margin: float = 0.0) -> str:
    r"""The canary's margin statistic against the other versions, pooled over ``lookback``, else 0.

    From cumulative sums over ``lookback`` (in an Argo step analysis, the time since the
    first judged window opened): per side, the count, sum and sum of squares of the predicted
    probability, hence both means and ``ddof=1`` variances, and
    :math:`Z = (|\bar c - \bar b| - \delta) / \sqrt{s_c^2/n_c + s_b^2/n_b}` (floored at 0).
    It is 0 while either side holds fewer than ``min_samples`` predictions ("insufficient").
    ``canary`` and ``lookback`` may be Argo placeholders such as ``{{args.lookback}}``.

    Examples
    --------
    >>> q = canary_analysis_query(canary="v2", lookback="3h", min_samples=50, margin=0.02)
    >>> print(q[:97])
    (clamp_min(abs(sum(increase(predicted_probability_sum{model_version="v2"}[3h])) / sum(increase(pr
    >>> q.endswith(">= 50) or vector(0)")
    True
    """
    min_samples = _utils.check_positive_int(min_samples, "min_samples")
    margin = _utils.check_number(margin, "margin", low=0.0)
    sources = (f"{PROBABILITY}_count", f"{PROBABILITY}_sum", SQUARES)

    def side(op: str) -> tuple[str, ...]:
        return tuple(f'sum(increase({src}{{model_version{op}"{canary}"}}[{lookback}]))' for src in sources)

    c, b = side("="), side("!=")
    return f"({_z(c, b, margin)} and {c[0]} >= {min_samples} and {b[0]} >= {min_samples}) or vector(0)"


def dashboard_queries(*, window: float = 300.0, canary_window: float = 600.0, min_samples: int = 100,
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


def monitor_threshold(monitor: Any) -> float:
    """The critical value a single PromQL or Argo condition can hold for ``monitor``.

    A fixed ``k`` when the monitor has one. A group-sequential monitor (``k=None``) has one
    boundary per planned look, and an alert or an Argo analysis holds one number: the
    largest boundary (the strictest look), so that no window is judged more leniently
    than the monitor would judge it.

    Examples
    --------
    >>> from mlops_reference import rollout
    >>> monitor_threshold(rollout.CanaryMonitor(k=3.0))
    3.0
    >>> class Sequential:
    ...     k, boundaries = None, [3.01, 2.8, 2.2, float("inf")]
    >>> monitor_threshold(Sequential())
    3.01
    """
    k = getattr(monitor, "k", None)
    if k is not None:
        return float(k)
    finite = [float(b) for b in getattr(monitor, "boundaries", ()) if math.isfinite(float(b))]
    if not finite:
        raise TypeError("`monitor` must have a fixed `k` or finite `boundaries`; "
                        f"got {type(monitor).__name__} with neither.")
    return max(finite)


def _monitor_params(monitor: Any) -> tuple[float, int, int, float]:
    try:
        min_samples, consecutive = monitor.min_samples, monitor.consecutive
    except AttributeError:
        raise TypeError(f"`monitor` must be a rollout.CanaryMonitor; got {type(monitor).__name__}.") from None
    return (monitor_threshold(monitor), int(min_samples), int(consecutive),
            float(getattr(monitor, "margin", 0.0) or 0.0))


def _windows(consecutive: int, window: float) -> str:
    w = format_duration(window)
    return f"a window of {w}" if consecutive == 1 else f"{consecutive} windows of {w} in a row"


def make_alert_rules(monitor: Any, *, latency_slo: float = 0.1, latency_quantile: float = 0.99,
                     max_error_rate: float = 0.01, window: float = 300.0, hold: float = 300.0,
                     canary_window: float = 600.0, drift_interval: float = 3600.0) -> dict[str, Any]:
    """Prometheus alerting rules for the model server, its canary and its drift job.

    Parameters
    ----------
    monitor : rollout.CanaryMonitor
        ``k``, ``min_samples``, ``consecutive`` (and ``margin`` when it has one) of the
        canary divergence alert.
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
    >>> rules = make_alert_rules(rollout.CanaryMonitor(k=3.0, min_samples=100, consecutive=2))
    >>> [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    ['PredictLatencySLO', 'PredictErrorRate', 'ModelPredictionErrors', 'CanaryDivergence', 'InputDrift', 'DriftJobStale']
    >>> rules["groups"][1]["rules"][-1]["expr"].endswith("[20m:10m]) >= 2")
    True
    """
    k, min_samples, consecutive, margin = _monitor_params(monitor)
    slo = _utils.check_positive_number(latency_slo, "latency_slo")
    max_error_rate = _utils.check_level(max_error_rate, "max_error_rate")
    for value, name in ((window, "window"), (hold, "hold"), (canary_window, "canary_window"),
                        (drift_interval, "drift_interval")):
        _utils.check_positive_number(value, name)
    w, hold_text = format_duration(window), format_duration(hold)
    q = dashboard_queries(window=window, canary_window=canary_window, min_samples=min_samples,
                          latency_quantile=latency_quantile)
    smallest, count = _streak(canary_window, consecutive)
    server = [
        {"alert": "PredictLatencySLO",
         "expr": f"{q['Latency quantile of /predict (s)']} > {slo:g}",
         "for": hold_text,
         "labels": {"severity": "page"},
         "annotations": {"summary": f"p{latency_quantile * 100:g} latency of /predict above {slo:g} s",
                         "description": "p%g latency of /predict: {{ $value | humanizeDuration }}."
                                        % (latency_quantile * 100)}},
        {"alert": "PredictErrorRate",
         "expr": f"{_error_ratio(w)} > {max_error_rate:g}",
         "for": hold_text,
         "labels": {"severity": "page"},
         "annotations": {"summary": f"more than {max_error_rate:.0%} of /predict requests fail with 5xx",
                         "description": "{{ $value | humanizePercentage }} of /predict requests failed."}},
        {"alert": "ModelPredictionErrors",
         "expr": (f"sum by (model_version) (rate(prediction_errors_total[{w}])) / "
                  f"(sum by (model_version) (rate(prediction_errors_total[{w}])) + "
                  f"sum by (model_version) (rate({PROBABILITY}_count[{w}]))) > {max_error_rate:g}"),
         "for": hold_text,
         "labels": {"severity": "page"},
         "annotations": {"summary": "a model version raises on too many predictions",
                         "description": "Version {{ $labels.model_version }} fails "
                                        "{{ $value | humanizePercentage }} of its predictions."}},
    ]
    canary = [
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
    drift = [
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
    return {"groups": [
        {"name": "model-server", "rules": server},
        {"name": "model-canary",
         "rules": recording_rules(canary_window, min_samples=min_samples, margin=margin) + canary},
        {"name": "model-drift", "rules": drift},
    ]}
