"""Group fairness: audit metrics (checked against fairlearn) and bias mitigation.

- Metrics (``metrics.py``): per-group metrics, demographic parity, equalized odds, equal
  opportunity, disparate impact.
- Pre-processing (``preprocessing.py``): Kamiran & Calders reweighing, as sample weights or a
  ``WeightedRandomSampler``.
- In-processing: a differentiable fairness penalty (``penalty.py``) and the exponentiated
  gradient reduction (``reductions.py``, as fairlearn's ``ExponentiatedGradient``).
- Post-processing (``postprocessing.py``): per-group randomised thresholds, as fairlearn's
  ``ThresholdOptimizer``, saved with the model.
- Audit trail (``audit.py``): which mitigation ran, metrics before and after, accuracy cost.
"""

from nncore.fairness import moments
from nncore.fairness.audit import (
    MitigationAudit,
    audit_mitigation,
    fairness_summary,
    predict_labels,
)
from nncore.fairness.metrics import (
    METRICS,
    GroupMetrics,
    demographic_parity_difference,
    demographic_parity_ratio,
    disparate_impact,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    group_metrics,
)
from nncore.fairness.penalty import (
    FairnessPenalty,
    demographic_parity_gap,
    equal_opportunity_gap,
    equalized_odds_gap,
    fairness_gap,
)
from nncore.fairness.postprocessing import ThresholdOptimizer
from nncore.fairness.preprocessing import reweighing, reweighing_sampler
from nncore.fairness.reductions import ExponentiatedGradient, NNClassifier

__all__ = [
    "METRICS", "ExponentiatedGradient", "FairnessPenalty", "GroupMetrics", "MitigationAudit",
    "NNClassifier", "ThresholdOptimizer", "audit_mitigation", "fairness_summary", "moments",
    "predict_labels",
    "demographic_parity_difference", "demographic_parity_gap", "demographic_parity_ratio",
    "disparate_impact", "equal_opportunity_difference", "equal_opportunity_gap",
    "equal_opportunity_ratio", "equalized_odds_difference", "equalized_odds_gap",
    "equalized_odds_ratio", "fairness_gap", "group_metrics", "reweighing",
    "reweighing_sampler",
]
