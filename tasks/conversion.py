"""p_convert in the daily run: the calibrated probability that an account converts (the
calibration's label: an opportunity created or won) within the model's horizon.

The model is `p_convert_model.json`, written by `abmq calibrate` (`calibration_model.fit_p_convert`):
a logistic regression on columns of the account table. It is used only for the config it
was fitted on (same fingerprint): points from another config mean something else. Without
a usable model the column is empty and `why_not` says why, in a sentence the report shows.
It never changes a score, a decision or a tier's membership rule: it orders accounts whose
scores tie, and is shown beside the points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from abmq.config import Config
from abmq.tasks.calibration_table import HORIZON_DAYS as DEFAULT_HORIZON_DAYS  # the calibration's default
from abmq.vocabulary import EVENT_TYPES

# The account-table columns a p_convert model may use: points as they are, counts as log(1 + x).
P_CONVERT_LINEAR = (
    "points_industry",
    "points_employees",
    "points_annual_revenue",
    "points_country",
    "points_technologies",
    "points_competitor_tech",
    "points_intent",
    "points_new_surges",
    "points_roles",
    "decision_makers_engaged",
    "departments_engaged",
)
P_CONVERT_LOG = (
    "people_points_raw",
    "recent_points",  # engagement points of the last trend window (30 days by default): recency
    "previous_points",
    "engaged_stakeholders",
    "contacts",
    "intent_max_score",
    *(f"n_{t}" for t in EVENT_TYPES),
)


def log_features(config: Config) -> tuple[str, ...]:
    """P_CONVERT_LOG with the counts of the config's own event categories (`n_trial_started`):
    a model belongs to one config (its fingerprint), so its columns may too."""
    return (*P_CONVERT_LOG, *(f"n_{t}" for t in config.lead_scoring.engagement.custom_types))


MODEL_KEYS = ("features", "transforms", "mean", "scale", "coefficients", "intercept", "config_fingerprint", "horizon_days", "label")
NO_MODEL = (
    "No calibration model was given: run `abmq calibrate` on your history, then pass its p_convert_model.json "
    "with `abmq run --p-convert-model`."
)


@dataclass(frozen=True)
class ConversionModel:
    """A p_convert model the run may use (`model`), or why there is none (`why_not`)."""

    model: dict[str, Any] | None
    why_not: str | None
    source: str | None = None  # the model file, as given

    @property
    def horizon_days(self) -> int:
        return int(self.model["horizon_days"]) if self.model else DEFAULT_HORIZON_DAYS

    @property
    def label(self) -> str:
        return str(self.model["label"]) if self.model else "created"

    @property
    def title(self) -> str:
        """How people read the column: 'likelihood to convert in 90 days'."""
        return f"likelihood to convert in {self.horizon_days} days"

    def record(self) -> dict[str, Any]:
        """What run.json and the report say about it."""
        return {
            "available": self.model is not None,
            "title": self.title,
            "label": self.label if self.model else None,
            "horizon_days": self.horizon_days,
            "model_file": self.source,
            "fitted_rows": self.model.get("rows") if self.model else None,
            "fitted_positives": self.model.get("positives") if self.model else None,
            "why_not": self.why_not,
        }


NONE = ConversionModel(None, NO_MODEL)


def usable_model(model: dict[str, Any] | None, config: Config, source: str | None = None) -> ConversionModel:
    """`model` (as read from p_convert_model.json) if this run may use it, else why not."""
    if model is None:
        return ConversionModel(None, NO_MODEL, source)
    if not model.get("features"):
        why = model.get("why_not") or "the calibration fitted no model"
        return ConversionModel(None, f"The calibration fitted no p_convert model: {why}", source)
    missing = [k for k in MODEL_KEYS if k not in model]
    lengths = {len(model.get(k) or []) for k in ("features", "transforms", "mean", "scale", "coefficients")}
    unknown = [f for f in model["features"] if f not in (*P_CONVERT_LINEAR, *log_features(config))]
    if missing or len(lengths) != 1 or unknown:
        what = (
            f"missing {', '.join(missing)}"
            if missing
            else f"unknown features {', '.join(unknown)}"
            if unknown
            else "lists of unequal length"
        )
        return ConversionModel(
            None, f"The p_convert model in {source or 'the model file'} is not one `abmq calibrate` writes ({what}).", source
        )
    if model["config_fingerprint"] != config.fingerprint():
        return ConversionModel(
            None,
            f"The p_convert model was fitted for config {model['config_fingerprint']}; this run uses config {config.fingerprint()}. "
            "Run `abmq calibrate` again with this config.",
            source,
        )
    return ConversionModel(model, None, source)


def p_convert_frame(accounts: pl.DataFrame, model: dict[str, Any]) -> np.ndarray:
    """The model's inputs, one row per account (absent columns count as 0)."""
    exprs = []
    for name, transform in zip(model["features"], model["transforms"], strict=True):
        value = pl.col(name).cast(pl.Float64).fill_null(0.0) if name in accounts.columns else pl.lit(0.0)
        exprs.append((value.clip(lower_bound=0.0).log1p() if transform == "log1p" else value).alias(name))
    return accounts.select(exprs).to_numpy()


def p_convert(accounts: pl.DataFrame, model: dict[str, Any] | None) -> pl.Series:
    """The calibrated probability of the model's label within its horizon, one per row of
    `accounts` (an account table); all null without a model."""
    if not model or not model.get("features") or accounts.height == 0:
        return pl.Series("p_convert", [None] * accounts.height, dtype=pl.Float64)
    x = p_convert_frame(accounts, model)
    z = (x - np.array(model["mean"])) / np.array(model["scale"])
    eta = model["intercept"] + z @ np.array(model["coefficients"])
    return pl.Series("p_convert", np.round(1.0 / (1.0 + np.exp(-eta)), 6), dtype=pl.Float64)


def with_p_convert(accounts: pl.DataFrame, conversion: ConversionModel | None) -> pl.DataFrame:
    """`accounts` with a `p_convert` column (null when there is no usable model)."""
    return accounts.with_columns(p_convert(accounts, conversion.model if conversion else None))
