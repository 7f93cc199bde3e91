"""Per-feature data drift between a baseline table and a target table, with scipy's statistics.

Metrics (names as in Azure ML's model monitoring, ``metric_thresholds``):

============================== =========== =================================================== =========
metric                         types       score (scipy/numpy)                                 drift if
============================== =========== =================================================== =========
``normalized_wasserstein``     numeric     ``stats.wasserstein_distance`` / baseline std       > thr
``kolmogorov_smirnov``         numeric     p-value of ``stats.ks_2samp``                       < thr
``population_stability_index`` both        ``stats.entropy(p, q) + stats.entropy(q, p)``        > thr
``jensen_shannon``             both        ``spatial.distance.jensenshannon(p, q, base=2)``    > thr
``chi_squared``                categorical p-value of ``stats.chi2_contingency``               < thr
============================== =========== =================================================== =========

``p``/``q`` are frequencies over the same bins: for numeric features :data:`BINS` bins from
``numpy.histogram_bin_edges`` of both samples together; for categorical features the union of
categories. Empty bins get :data:`EPSILON` so PSI stays finite. A feature is numeric when pandas
says so (booleans are categorical).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

BINS = 20
EPSILON = 1e-4
#: metric -> (kind "distance" (drift if score > threshold) or "p_value" (drift if score < threshold), default threshold)
METRICS: dict[str, tuple[str, float]] = {
    "normalized_wasserstein": ("distance", 0.1),
    "kolmogorov_smirnov": ("p_value", 0.01),
    "population_stability_index": ("distance", 0.2),
    "jensen_shannon": ("distance", 0.1),
    "chi_squared": ("p_value", 0.01),
}
NUMERIC_METRICS = (
    "normalized_wasserstein",
    "kolmogorov_smirnov",
    "population_stability_index",
    "jensen_shannon",
)
CATEGORICAL_METRICS = ("jensen_shannon", "chi_squared", "population_stability_index")
DEFAULT_NUMERIC = "normalized_wasserstein"
DEFAULT_CATEGORICAL = "jensen_shannon"


@dataclass(frozen=True)
class Config:
    """What to compare and how; thresholds default to :data:`METRICS`."""

    features: tuple[str, ...] = ()
    numeric_metric: str = DEFAULT_NUMERIC
    categorical_metric: str = DEFAULT_CATEGORICAL
    thresholds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.numeric_metric not in NUMERIC_METRICS:
            raise ValueError(f"numeric metric must be one of {', '.join(NUMERIC_METRICS)}")
        if self.categorical_metric not in CATEGORICAL_METRICS:
            raise ValueError(f"categorical metric must be one of {', '.join(CATEGORICAL_METRICS)}")
        unknown = set(self.thresholds) - set(METRICS)
        if unknown:
            raise ValueError(f"thresholds for unknown metrics {sorted(unknown)}; known: {', '.join(METRICS)}")

    def threshold(self, metric: str) -> float:
        return self.thresholds.get(metric, METRICS[metric][1])


@dataclass
class FeatureResult:
    name: str
    type: str  # numeric | categorical
    metric: str
    status: str  # ok | missing | no_data
    score: float | None = None
    threshold: float | None = None
    drifted: bool = False
    baseline_rows: int = 0
    target_rows: int = 0
    message: str = ""


@dataclass
class Result:
    """The whole comparison; ``status`` is ``ok``, ``no_baseline_data``, ``no_target_data`` or ``no_common_features``."""

    status: str
    features: list[FeatureResult]
    baseline_rows: int
    target_rows: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["drifted"] = self.drifted
        return out


def is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def compare(baseline: pd.DataFrame, target: pd.DataFrame, config: Config) -> Result:
    """Drift of every feature (``config.features`` or the baseline's columns) from baseline to target."""
    features = list(config.features) or [str(c) for c in baseline.columns]
    missing = [f for f in features if f not in baseline.columns or f not in target.columns]
    extra = sorted(str(c) for c in target.columns if c not in baseline.columns)
    common = [f for f in features if f not in missing]
    result = Result("ok", [], len(baseline), len(target), missing, extra)
    if baseline.empty:
        result.status, result.message = "no_baseline_data", "the baseline has no rows"
    elif target.empty:
        result.status, result.message = "no_target_data", "no target rows in the window"
    elif not common:
        result.status = "no_common_features"
        result.message = "none of the features is in both tables (see missing)"
    for name in features:
        if name in missing:
            where = "baseline" if name not in baseline.columns else "target"
            result.features.append(
                FeatureResult(name, "unknown", "", "missing", message=f"not in the {where}")
            )
        elif result.status == "ok":
            result.features.append(feature_drift(name, baseline[name], target[name], config))
    return result


def feature_drift(name: str, base: pd.Series, target: pd.Series, config: Config) -> FeatureResult:
    numeric = is_numeric(base) and is_numeric(target)
    metric = config.numeric_metric if numeric else config.categorical_metric
    b, t = base.dropna(), target.dropna()
    out = FeatureResult(name, "numeric" if numeric else "categorical", metric, "ok")
    out.baseline_rows, out.target_rows = len(b), len(t)
    if b.empty or t.empty:
        out.status, out.message = (
            "no_data",
            "no non-null values in the " + ("baseline" if b.empty else "target"),
        )
        return out
    if numeric:
        score = numeric_score(metric, b.to_numpy(float), t.to_numpy(float))
    else:
        score = categorical_score(metric, b.astype(str), t.astype(str))
    out.score, out.threshold = score, config.threshold(metric)
    kind = METRICS[metric][0]
    out.drifted = score > out.threshold if kind == "distance" else score < out.threshold
    return out


def numeric_frequencies(b: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(edges, p, q)``: shared histogram bins and the two samples' frequencies (EPSILON floor)."""
    edges = np.histogram_bin_edges(np.concatenate([b, t]), bins=BINS)
    p = np.histogram(b, bins=edges)[0] / len(b)
    q = np.histogram(t, bins=edges)[0] / len(t)
    return edges, np.maximum(p, EPSILON), np.maximum(q, EPSILON)


def numeric_score(metric: str, b: np.ndarray, t: np.ndarray) -> float:
    from scipy import stats
    from scipy.spatial import distance

    if metric == "normalized_wasserstein":
        scale = float(np.std(b)) or 1.0
        return float(stats.wasserstein_distance(b, t)) / scale
    if metric == "kolmogorov_smirnov":
        return float(stats.ks_2samp(b, t).pvalue)
    _, p, q = numeric_frequencies(b, t)
    if metric == "jensen_shannon":
        return float(distance.jensenshannon(p, q, base=2))
    return float(stats.entropy(p, q) + stats.entropy(q, p))  # population_stability_index


def category_counts(b: pd.Series, t: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(categories, baseline counts, target counts)`` over the union of categories."""
    cb, ct = b.value_counts(), t.value_counts()
    cats = sorted(set(cb.index) | set(ct.index))
    return cats, cb.reindex(cats, fill_value=0).to_numpy(), ct.reindex(cats, fill_value=0).to_numpy()


def categorical_score(metric: str, b: pd.Series, t: pd.Series) -> float:
    from scipy import stats
    from scipy.spatial import distance

    _, nb, nt = category_counts(b, t)
    if metric == "chi_squared":
        if len(nb) < 2:
            return 1.0  # one category on both sides: identical distributions
        return float(stats.chi2_contingency(np.vstack([nb, nt])).pvalue)
    p = np.maximum(nb / nb.sum(), EPSILON)
    q = np.maximum(nt / nt.sum(), EPSILON)
    if metric == "jensen_shannon":
        return float(distance.jensenshannon(p, q, base=2))
    return float(stats.entropy(p, q) + stats.entropy(q, p))
