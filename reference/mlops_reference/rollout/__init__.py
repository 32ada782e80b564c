"""Safe deployment: shadow, canary and blue/green rollouts, and simulators for them.

Covers
    * :mod:`.shadow`: :class:`ShadowDeployment` scores every request with both models and
      answers with the current one only; :class:`AgreementResult` summarises the log.
    * :mod:`.canary`: :class:`CanarySchedule` (how much traffic the candidate gets, when),
      :class:`TrafficSplit` (which request goes where), :class:`CanaryRule` (the rollback
      rule, the book's one home for it: a group-sequential test against a margin whose
      false-rollback rate over the whole schedule is fixed by design), :func:`derive_rule`
      (the rule from three stated numbers: the error accepted at the margin, the fault to
      catch and the power against it) and :class:`CanaryMonitor` (the rule applied to
      windows as they arrive, each verdict a :class:`MonitorDecision`).
    * :mod:`.bluegreen`: :class:`BlueGreen`, two environments, one switch, an instant flip back.
    * :mod:`.simulate`: :func:`simulate_rollout` (one rollout on a stream of requests, as a
      :class:`RolloutResult`), :func:`simulate_windows`, :func:`simulate_canary` and
      :func:`resample_canary` (thousands of rollouts of a rule, vectorised, through the
      function the monitor uses, as a :class:`CanarySimulationResult`).

Out of scope: HTTP and clusters (:mod:`mlops_reference.deploy` turns a ``CanaryRule`` into
an Argo Rollouts analysis and Prometheus rules), load balancers, and A/B tests on business
metrics (the safe-deployment chapter shows those on the page).
"""
from .bluegreen import BlueGreen
from .canary import CanaryMonitor, CanaryRule, CanarySchedule, MonitorDecision, TrafficSplit, derive_rule
from .shadow import AgreementResult, ShadowDeployment
from .simulate import (CanarySimulationResult, RolloutResult, resample_canary, simulate_canary,
                       simulate_rollout, simulate_windows)

__all__ = [
    "AgreementResult",
    "ShadowDeployment",
    "CanarySchedule",
    "TrafficSplit",
    "MonitorDecision",
    "CanaryRule",
    "derive_rule",
    "CanaryMonitor",
    "BlueGreen",
    "RolloutResult",
    "simulate_rollout",
    "simulate_windows",
    "CanarySimulationResult",
    "simulate_canary",
    "resample_canary",
]
