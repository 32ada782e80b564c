"""Data drift: has the distribution of a model's inputs moved away from the reference?

Covers
    * :func:`detect_drift`: one test per feature, the two-sample Kolmogorov-Smirnov (KS)
      test for continuous features and a chi-square test of the category counts for
      discrete ones, with a Bonferroni or Benjamini-Hochberg (false discovery rate)
      correction for testing many features at once, and the population stability index
      (PSI, :func:`psi`) as an effect size.
    * :class:`DriftReference`: the reference side prepared once (sorted columns, PSI bin
      edges, category counts) and tested against many current windows, which is what a
      monitoring job does all day. A window may be a Dask DataFrame larger than memory:
      it is tested partition by partition, never collected.
    * :func:`drift_over_time`: the same tests over a sequence of windows, as a tidy table.

Which test a feature gets: the caller says (``discrete=[...]``), or the dtype does:
integer, bool and categorical columns are discrete (chi-square), floating-point columns
continuous (KS). The module knows nothing about any particular data set.

The KS statistics and p-values are those of :func:`scipy.stats.ks_2samp` with its default
``method="auto"``: when both samples hold at most 10,000 values scipy's exact computation
is called as is; otherwise the statistic is computed here (bit-identical) and the
p-value is the asymptotic one scipy uses, ``scipy.stats.kstwo.sf(D, round(n1 * n2 /
(n1 + n2)))``, with its slowest branch (the exact one-sided sum) evaluated in numpy.
On a Dask DataFrame the statistic comes from per-partition counts against the sorted
reference, which add up exactly, so the result equals scipy's on the concatenated data
(the chi-square from summed category counts, the PSI from summed bin counts). Dask is an
optional dependency (``pip install "mlops-companion[dask]"``), imported only when a Dask
DataFrame is passed.

Out of scope: multivariate drift, drift of predictions or labels (concept drift needs
labels; see the monitoring chapter) and streaming/online detectors.
"""
from ._detect import (
    DriftReference,
    DriftWarning,
    detect_drift,
    drift_over_time,
)
from ._stats import psi

__all__ = [
    "DriftWarning",
    "DriftReference",
    "detect_drift",
    "drift_over_time",
    "psi",
]
