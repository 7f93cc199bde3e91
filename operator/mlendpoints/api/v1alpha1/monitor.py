"""ModelMonitor: a scheduled data-drift check of one online deployment (Azure ML's monitor schedule).

Azure ML models monitoring as its own resource (a schedule with ``trigger`` and ``create_monitor``
whose ``monitoring_target`` names the deployment and whose ``monitoring_signals`` hold
``data_drift`` signals with ``reference_data``, ``features`` and ``metric_thresholds``), not as a
deployment field. We follow it: a monitor has its own schedule, lifecycle and status, can be added
or removed without rolling the deployment's pods, and a deployment can have several. See
``docs/monitoring.md``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from mlendpoints.api.v1alpha1.base import (
    AGE_COLUMN,
    NAME_DNS1035_RULE,
    NAME_RULE,
    READY_COLUMN,
    ApiModel,
    CrdInfo,
    Name,
    PrinterColumn,
)
from mlendpoints.api.v1alpha1.common import SecretRef, StatusBase
from mlendpoints.api.v1alpha1.meta import Resource


class NumericMetric(StrEnum):
    normalized_wasserstein = "normalized_wasserstein"
    kolmogorov_smirnov = "kolmogorov_smirnov"
    population_stability_index = "population_stability_index"
    jensen_shannon = "jensen_shannon"


class CategoricalMetric(StrEnum):
    jensen_shannon = "jensen_shannon"
    chi_squared = "chi_squared"
    population_stability_index = "population_stability_index"


class NumericThreshold(ApiModel):
    """Metric and threshold for numeric features."""

    metric: NumericMetric = NumericMetric.normalized_wasserstein
    """Statistic; p-value metrics (kolmogorov_smirnov) drift below the threshold, distances above."""
    threshold: Annotated[float, Field(ge=0)] | None = None
    """Unset: the metric's default (docs/monitoring.md)."""


class CategoricalThreshold(ApiModel):
    """Metric and threshold for categorical features."""

    metric: CategoricalMetric = CategoricalMetric.jensen_shannon
    """Statistic; p-value metrics (chi_squared) drift below the threshold, distances above."""
    threshold: Annotated[float, Field(ge=0)] | None = None
    """Unset: the metric's default (docs/monitoring.md)."""


class MetricThresholds(ApiModel):
    """Azure ML's ``metric_thresholds``: one metric per feature type."""

    numerical: NumericThreshold = Field(default_factory=NumericThreshold)
    """Numeric features."""
    categorical: CategoricalThreshold = Field(default_factory=CategoricalThreshold)
    """Categorical (string, boolean) features."""


class Baseline(ApiModel):
    """Reference data: a table (training data) or a folder of collected payloads."""

    path: Annotated[
        str, Field(min_length=1, max_length=2048, pattern=r"^(az|abfss|wasbs|s3|gs|https?|file)://")
    ]
    """URI of a .csv/.parquet/.jsonl table, or of a collection folder (<destination>/<endpoint>/<deployment>/model_inputs)."""
    window_start: str | None = None
    """For a collection folder: first record time (RFC 3339)."""
    window_end: str | None = None
    """For a collection folder: end of the window (RFC 3339, exclusive)."""


class DataDrift(ApiModel):
    """Azure ML's ``data_drift`` signal."""

    baseline: Baseline
    """Reference data."""
    lookback_window_hours: Annotated[int, Field(ge=1, le=8760)] = 24
    """Production data: the deployment's collected inputs of the last N hours."""
    features: Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]], Field(max_length=256)] = (
        Field(default_factory=list)
    )
    """Features to compare; empty = every baseline column."""
    target_columns: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=256)]], Field(max_length=256)
    ] = Field(default_factory=list)
    """Names of the collected columns in order, when requests send rows without names (columns 0, 1, ...)."""
    metric_thresholds: MetricThresholds = Field(default_factory=MetricThresholds)
    """Metric and threshold per feature type."""


class ModelMonitorSpec(ApiModel):
    """Desired state of a ModelMonitor."""

    endpoint_name: Name
    """OnlineEndpoint of the monitored deployment."""
    deployment_name: Name
    """OnlineDeployment whose collected inputs (dataCollector) are the production data."""
    schedule: Annotated[str, Field(min_length=9, max_length=128)] = "0 * * * *"
    """Cron schedule (a CronJob's spec.schedule)."""
    time_zone: Annotated[str, Field(max_length=64)] | None = None
    """IANA time zone of the schedule (default: the controller manager's, usually UTC)."""
    suspend: bool = False
    """Stop scheduling runs."""
    data_drift: DataDrift
    """The data drift signal."""
    credentials_secret_ref: SecretRef | None = None
    """Secret whose keys become the job's environment (AZURE_STORAGE_*, AWS_*...) to read the data."""


class FeatureDrift(ApiModel):
    """One feature's score in the latest run."""

    name: str
    """Feature."""
    metric: str = ""
    """Statistic."""
    score: float | None = None
    """Value (None when the feature was missing or empty)."""
    threshold: float | None = None
    """Threshold used."""
    drifted: bool = False
    """Beyond the threshold."""


class DriftRun(ApiModel):
    """Result of the latest finished run."""

    time: str | None = None
    """When the run finished (RFC 3339)."""
    job_name: str | None = None
    """Job that ran it."""
    result: str = ""
    """ok, no_target_data, no_baseline_data, no_common_features or failed."""
    message: str = ""
    """Why, when result is not ok."""
    window_start: str | None = None
    """Production data window start."""
    window_end: str | None = None
    """Production data window end."""
    drifted_features: list[str] = Field(default_factory=list)
    """Features beyond their threshold."""
    features: list[FeatureDrift] = Field(default_factory=list)
    """Every feature's score."""


class ModelMonitorStatus(StatusBase):
    """Observed state of a ModelMonitor."""

    cron_job_name: str | None = None
    """The CronJob running the checks."""
    drifted: int | None = None
    """Number of drifted features in the latest run (printer column)."""
    last_run: DriftRun | None = None
    """The latest finished run."""


class ModelMonitor(Resource):
    """A scheduled data-drift check of an online deployment's collected inputs against a baseline."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="ModelMonitor",
        plural="modelmonitors",
        short_names=("mmon",),
        columns=(
            PrinterColumn("Deployment", ".spec.deploymentName"),
            PrinterColumn("Schedule", ".spec.schedule"),
            PrinterColumn("Drifted", ".status.drifted", type="integer"),
            PrinterColumn("Last-Run", ".status.lastRun.time", priority=1),
            READY_COLUMN,
            AGE_COLUMN,
        ),
        name_rules=(NAME_RULE, NAME_DNS1035_RULE),
    )

    kind: Literal["ModelMonitor"] = "ModelMonitor"
    spec: ModelMonitorSpec
    """Desired state."""
    status: ModelMonitorStatus | None = None
    """Observed state."""
