"""The models of a calibration, fitted on the training dates of the backtest table.

Method (standard, documented; every fit is deterministic):

1. An L2-regularised logistic regression of the label on standardised, config-expressible
   signals: the firmographic matches, technologies matched, competitor tools, intent clusters
   in market, a new surge, each buying-group role, and the people points *before any
   account cap* (`people_h<h>_c<cap>`). The regularisation C and the non-linear settings
   (decay half-life h, per-contact cap) are chosen on a small grid by cross-validated AUC
   over time-ordered folds (each fold validates on one backtest date and trains on the
   dates whose label windows end on or before it); when the training dates are too few for
   two such folds, folds group rows by account instead, and the notes say so.
2. The relative points of each engagement category: the same regression with the people
   points replaced by persona-weighted decayed counts per event type (`evt_*`).
3. The relative persona weights: the same with decayed points per seniority (`sen_*`).
   Steps 2 and 3 are one alternating step of a bilinear model (category x persona).
4. `p_convert`: a logistic regression on columns of the final account table (points,
   counts of people and events), the probability of the label within the horizon.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from abmq.config import Config
from abmq.tasks import calibration_table as ct
from abmq.tasks.conversion import P_CONVERT_LINEAR, log_features, p_convert_frame
from abmq.vocabulary import FIT_SIGNALS

REGULARISATION_GRID = (0.01, 0.1, 1.0)
CV_FOLDS = 3
RANDOM_STATE = 0
# Below these counts of positive labels among the training rows the data support only a
# few settings (see `fit_mode`).
MIN_POSITIVES = 20  # below: no proposal, the current config is reported as it is
FULL_POSITIVES = 100  # below: fit, technology, intent, scale, half-life and cap only


def fit_mode(positives: int) -> str:
    """'none', 'reduced' or 'full': what `positives` training labels support."""
    if positives < MIN_POSITIVES:
        return "none"
    return "reduced" if positives < FULL_POSITIVES else "full"


def base_features(config: Config, half_life: float, cap: float, roles: bool = True) -> list[str]:
    """The config-expressible signals of the main regression."""
    tech = config.account_scoring.fit.technologies
    return [
        *(f"match_{s}" for s in FIT_SIGNALS),
        "n_technologies",
        *(ct.competitor_column(n) for n in tech.competitors),
        "n_clusters",
        "new_surge",
        *((ct.role_column(n) for n in config.account_scoring.buying_group.roles) if roles else ()),
        ct.people_column(half_life, cap),
    ]


@dataclass
class Fitted:
    """A logistic regression: per-unit coefficients of `features` (and per standard deviation)."""

    features: list[str]
    coefficients: dict[str, float]
    standardised: dict[str, float]
    intercept: float
    c: float
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)

    def linear(self, rows: pl.DataFrame) -> np.ndarray:
        x = matrix(rows, self.features)
        return self.intercept + x @ np.array([self.coefficients[f] for f in self.features])

    def probability(self, rows: pl.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.linear(rows)))


def matrix(rows: pl.DataFrame, features: list[str]) -> np.ndarray:
    return rows.select(pl.col(features).cast(pl.Float64).fill_null(0.0)).to_numpy()


def _weights(rows: pl.DataFrame) -> np.ndarray:
    return rows["weight"].to_numpy() if "weight" in rows.columns else np.ones(rows.height)


def fit_logistic(rows: pl.DataFrame, features: list[str], c: float) -> Fitted:
    """L2 logistic regression (lbfgs) on standardised features, mapped back per unit."""
    from sklearn.linear_model import LogisticRegression

    x, y = matrix(rows, features), rows["label"].to_numpy()
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    if len(set(y.tolist())) < 2:
        rate = float(np.clip(y.mean() if len(y) else 0.5, 1e-6, 1 - 1e-6))
        zero = {f: 0.0 for f in features}
        return Fitted(features, zero, dict(zero), math.log(rate / (1 - rate)), c, mean.tolist(), sd.tolist())
    model = LogisticRegression(C=c, max_iter=2000, random_state=RANDOM_STATE).fit((x - mean) / sd, y, sample_weight=_weights(rows))
    per_unit = model.coef_[0] / sd
    return Fitted(
        features,
        {f: float(b) for f, b in zip(features, per_unit, strict=True)},
        {f: float(b) for f, b in zip(features, model.coef_[0], strict=True)},
        float(model.intercept_[0] - (per_unit * mean).sum()),
        c,
        mean.tolist(),
        sd.tolist(),
    )


# --------------------------------------------------------------------------------------
# Folds and the grid
# --------------------------------------------------------------------------------------
def folds(rows: pl.DataFrame, horizon_days: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(fit rows, check rows) index pairs and how they were made: time-ordered (validate on
    one of the latest dates, fit on dates whose label window ends on or before it) when at
    least two such folds exist, else grouped by account (an account's rows in one fold)."""
    dates = sorted(set(rows["as_of"].to_list()))
    as_of = rows["as_of"].to_numpy()
    timed = []
    for check in dates[::-1]:
        fit_dates = [d for d in dates if d + dt.timedelta(days=horizon_days) <= check]
        if fit_dates:
            fit_idx = np.flatnonzero(np.isin(as_of, np.array(fit_dates, dtype="datetime64[D]")))
            check_idx = np.flatnonzero(as_of == np.datetime64(check, "D"))
            timed.append((fit_idx, check_idx))
        if len(timed) == CV_FOLDS:
            break
    if len(timed) >= 2:
        return timed, f"time-ordered, {len(timed)} folds (each validates on one date, fits on dates {horizon_days} days or more before it)"
    domains = rows["domain"].to_numpy()
    unique = np.unique(domains)
    rng = np.random.default_rng(RANDOM_STATE)
    group = dict(zip(unique.tolist(), rng.integers(0, CV_FOLDS, len(unique)).tolist(), strict=True))
    fold_of = np.array([group[d] for d in domains.tolist()])
    grouped = [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(CV_FOLDS)]
    return grouped, (
        f"grouped by account, {CV_FOLDS} folds: the training dates are too close together for two time-ordered folds "
        f"{horizon_days} days apart"
    )


def cv_auc(rows: pl.DataFrame, features: list[str], c: float, fold_pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    from sklearn.metrics import roc_auc_score

    scores = []
    y = rows["label"].to_numpy()
    for fit_idx, check_idx in fold_pairs:
        if len(set(y[fit_idx].tolist())) < 2 or len(set(y[check_idx].tolist())) < 2:
            continue
        model = fit_logistic(rows[fit_idx], features, c)
        scores.append(roc_auc_score(y[check_idx], model.linear(rows[check_idx])))
    return round(float(np.mean(scores)), 6) if scores else float("nan")


@dataclass
class Settings:
    half_life: float
    contact_cap: float
    c: float
    cv: str
    grid: list[dict[str, Any]]


def choose_settings(rows: pl.DataFrame, config: Config, horizon_days: int, mode: str) -> Settings:
    """C (at the current half-life and per-contact cap), then half-life x per-contact cap,
    by cross-validated AUC; ties go to the current setting, then to the earlier grid entry."""
    people = config.account_scoring.people
    current = (float(people.decay_half_life_days), float(people.per_contact_cap))
    half_lives = sorted(set(ct.HALF_LIVES) | {current[0]}, key=lambda h: (h == 0, h))
    caps = sorted(set(ct.CONTACT_CAPS) | {current[1]}, key=lambda c: (c == 0, c))
    fold_pairs, how = folds(rows, horizon_days)
    roles = mode == "full"
    available = set(rows.columns)

    def features(h: float, cap: float) -> list[str]:
        return base_features(config, h, cap, roles)

    start = features(*current) if set(features(*current)) <= available else features(30, 15)
    by_c = [(cv_auc(rows, start, c, fold_pairs), c) for c in REGULARISATION_GRID]
    best_c = max(by_c, key=lambda t: (-1 if math.isnan(t[0]) else t[0], -REGULARISATION_GRID.index(t[1])))[1]
    grid = []
    for h in half_lives:
        for cap in caps:
            cols = features(h, cap)
            if not set(cols) <= available:
                continue
            grid.append({"half_life_days": h, "per_contact_cap": cap, "cv_auc": cv_auc(rows, cols, best_c, fold_pairs)})
    scored = [g for g in grid if not math.isnan(g["cv_auc"])]
    if not scored:
        return Settings(current[0], current[1], best_c, how, grid)
    top = max(g["cv_auc"] for g in scored)
    # within 0.001 of the best counts as a tie: keep the current setting when it is that good
    near = [g for g in scored if g["cv_auc"] >= top - 0.001]
    kept = [g for g in near if (g["half_life_days"], g["per_contact_cap"]) == current]
    chosen = kept[0] if kept else max(scored, key=lambda g: g["cv_auc"])
    return Settings(chosen["half_life_days"], chosen["per_contact_cap"], best_c, how, grid)


@dataclass
class Models:
    settings: Settings
    main: Fitted
    categories: Fitted | None  # engagement categories (full mode)
    personas: Fitted | None  # persona weights (full mode)
    mode: str


def fit_models(train: pl.DataFrame, config: Config, horizon_days: int, mode: str) -> Models:
    settings = choose_settings(train, config, horizon_days, mode)
    h, cap, c = settings.half_life, settings.contact_cap, settings.c
    main = fit_logistic(train, base_features(config, h, cap, mode == "full"), c)
    categories = personas = None
    if mode == "full":
        others = base_features(config, h, cap)[:-1]
        event_types = config.lead_scoring.engagement.event_types
        categories = fit_logistic(train, [*others, *(ct.event_column(t, h) for t in event_types)], c)
        personas = fit_logistic(train, [*others, *(ct.seniority_column(s, h) for s in ct.SENIORITY_GROUPS)], c)
    return Models(settings, main, categories, personas, mode)


# --------------------------------------------------------------------------------------
# p_convert: a probability from the columns of the final account table
# --------------------------------------------------------------------------------------
def fit_p_convert(rows: pl.DataFrame, config: Config, label: str, horizon_days: int, c: float = 0.1) -> dict[str, Any] | None:
    """The p_convert model as JSON-ready values: a logistic regression (log-loss, L2) on the
    account table's points and log(1 + count) columns, fitted on `rows`."""
    from sklearn.linear_model import LogisticRegression

    logged = log_features(config)
    features = [f for f in (*P_CONVERT_LINEAR, *logged) if f in rows.columns]
    if not features or rows["label"].n_unique() < 2:
        return None
    transforms = ["log1p" if f in logged else "identity" for f in features]
    spec = {"features": features, "transforms": transforms}
    x = p_convert_frame(rows, spec)
    y = rows["label"].to_numpy()
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    model = LogisticRegression(C=c, max_iter=2000, random_state=RANDOM_STATE).fit((x - mean) / sd, y, sample_weight=_weights(rows))
    return {
        "kind": "logistic regression on standardised account-table columns (applied by abmq.tasks.conversion.p_convert)",
        "label": label,
        "horizon_days": horizon_days,
        "config_fingerprint": config.fingerprint(),
        "features": features,
        "transforms": transforms,
        "mean": [round(float(v), 8) for v in mean],
        "scale": [round(float(v), 8) for v in sd],
        "coefficients": [round(float(v), 8) for v in model.coef_[0]],
        "intercept": round(float(model.intercept_[0]), 8),
        "rows": rows.height,
        "positives": int(y.sum()),
    }
