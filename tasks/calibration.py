"""Calibration: how well did the scores predict won deals, and which weights would do better?

Plain functions on polars frames (scikit-learn on numpy arrays for the model):

1. `training_rows`: each closed opportunity with its account's scores as of the latest
   backtest date strictly before the opportunity was created (nothing from the future).
2. The report on the current config: win rate by score band and by decision, lift of
   `sql_ready` over the rest, AUC of the score, and the signals that went with wins.
3. `fit_signals` + `propose_config`: a logistic regression on the `points_*` signals,
   trained on the earlier opportunities (time-based split), turned into a proposed config
   whose fit, technology and intent points follow the coefficients.
4. `config_diff`: what the proposal changes, key by key.

Current vs proposed are compared on the held-out opportunities by rescoring their snapshot
dates with the proposed config through the pipeline itself (`tasks.backtest`, see the flow),
not by re-weighting the `points_*` columns: a changed `points_each` under a cap that binds
cannot be recomputed from capped points, and decisions (for the lift) come from selection.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from abmq.config import Config
from abmq.tasks.scoring import POINT_COLUMNS
from abmq.vocabulary import FIT_SIGNALS

# (label, lowest score, highest score), inclusive; the last band takes everything above.
SCORE_BANDS = (("0-29", 0, 29), ("30-49", 30, 49), ("50-69", 50, 69), ("70-100", 70, 100))
DECISION_ORDER = ("sql_ready", "nurture", "disqualified", "needs_enrichment", "suppressed")
OUTCOMES = ("won", "lost")
DEFAULT_BACKTEST_MONTHS = 12
TRAIN_SHARE = 0.7
# L2 strengths tried for the logistic regression on standardised signals (sklearn's C:
# smaller is stronger), chosen by time-ordered cross-validation on the training split. With a
# few hundred opportunities and correlated signals (company size and revenue go together),
# shrinkage keeps one lucky signal from taking another's points.
REGULARISATION_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
CV_FOLDS = 3
RANDOM_STATE = 0
DIGITS = 4


class NotEnoughHistoryError(ValueError):
    """Too few closed opportunities to learn from or to test on; the message says what is missing."""


def _round(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), DIGITS)


# --------------------------------------------------------------------------------------
# Backtest dates and training rows
# --------------------------------------------------------------------------------------
def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def backtest_dates(opportunities: pl.DataFrame, as_of: dt.date, months: int = DEFAULT_BACKTEST_MONTHS) -> list[dt.date]:
    """The first day of each month over the opportunities' span, at most `months` of them
    (the latest), none after `as_of`. The first date is strictly before the earliest
    opportunity, so that every opportunity in the span has a snapshot before it."""
    if opportunities.is_empty() or months < 1:
        return []
    first_created, last_created = opportunities.select(pl.col("created_at").min(), pl.col("created_at").max().alias("last")).row(0)
    first = month_start(first_created - dt.timedelta(days=1))
    last = min(month_start(last_created - dt.timedelta(days=1)), month_start(as_of))
    dates = []
    current = first
    while current <= last:
        dates.append(current)
        current = add_months(current, 1)
    return dates[-months:]


def training_rows(opportunities: pl.DataFrame, scores_by_date: pl.DataFrame) -> pl.DataFrame:
    """One row per closed (won or lost) opportunity with the account's scores as of the
    latest backtest date strictly BEFORE the opportunity's `created_at`: what the model said
    before anyone knew the deal existed. Opportunities with no earlier snapshot of their
    account are left out. Adds `snapshot` (the backtest date used) and `won` (1 or 0)."""
    closed = opportunities.filter(pl.col("outcome").is_in(OUTCOMES) & pl.col("created_at").is_not_null())
    keys = [c for c in ("opportunity_id",) if c in closed.columns]
    snapshots = scores_by_date.rename({"as_of": "snapshot"}).sort("snapshot")
    joined = closed.sort("created_at", "domain", *keys).join_asof(
        snapshots,
        left_on="created_at",
        right_on="snapshot",
        by="domain",
        strategy="backward",
        allow_exact_matches=False,  # a snapshot taken on the creation day may already know of it
        check_sortedness=False,
    )
    return (
        joined.filter(pl.col("snapshot").is_not_null())
        .with_columns((pl.col("outcome") == "won").cast(pl.Int8).alias("won"))
        .sort("created_at", "domain", *keys)
    )


# --------------------------------------------------------------------------------------
# The report on a score
# --------------------------------------------------------------------------------------
def score_band(score: str = "score") -> pl.Expr:
    expr = pl.lit(SCORE_BANDS[-1][0])
    for label, _low, high in reversed(SCORE_BANDS[:-1]):
        expr = pl.when(pl.col(score) <= high).then(pl.lit(label)).otherwise(expr)
    return expr


def _conversion(rows: pl.DataFrame, key: pl.Expr, name: str, order: list[str]) -> list[dict[str, Any]]:
    counts = rows.group_by(key.alias(name)).agg(pl.len().alias("opportunities"), pl.col("won").sum().alias("won"))
    found = {r[name]: r for r in counts.to_dicts()}
    result = []
    for label in [*order, *sorted(k for k in found if k not in order)]:
        row = found.get(label, {"opportunities": 0, "won": 0})
        n, won = int(row["opportunities"]), int(row["won"] or 0)
        result.append({name: label, "opportunities": n, "won": won, "lost": n - won, "win_rate": _round(won / n) if n else None})
    return result


def conversion_by_band(rows: pl.DataFrame, score: str = "score") -> list[dict[str, Any]]:
    """Win rate per score band (every band listed, empty ones with no rate)."""
    return _conversion(rows, score_band(score), "band", [b[0] for b in SCORE_BANDS])


def conversion_by_decision(rows: pl.DataFrame, decision: str = "decision") -> list[dict[str, Any]]:
    """Win rate per decision; decisions that never occurred are left out."""
    present = [d for d in DECISION_ORDER if d in set(rows[decision].to_list())]
    return _conversion(rows, pl.col(decision), "decision", present)


def lift(rows: pl.DataFrame, decision: str = "decision", selected: str = "sql_ready") -> dict[str, Any]:
    """Win rate of the `selected` decision, of the rest, and their ratio (None when undefined)."""
    picked = rows[decision] == selected
    n_in, n_out = int(picked.sum()), int((~picked).sum())
    won_in = int(rows.filter(picked)["won"].sum()) if n_in else 0
    won_out = int(rows.filter(~picked)["won"].sum()) if n_out else 0
    rate_in = won_in / n_in if n_in else None
    rate_out = won_out / n_out if n_out else None
    ratio = rate_in / rate_out if rate_in is not None and rate_out else None
    return {
        "selected": selected,
        "opportunities": n_in,
        "win_rate": _round(rate_in),
        "rest_opportunities": n_out,
        "rest_win_rate": _round(rate_out),
        "lift": _round(ratio),
    }


def auc(rows: pl.DataFrame, score: str = "score") -> float | None:
    """Area under the ROC curve of `score` for won vs lost (None with only one outcome)."""
    from sklearn.metrics import roc_auc_score

    if rows.is_empty() or rows["won"].n_unique() < 2:
        return None
    return _round(roc_auc_score(rows["won"].to_numpy(), rows[score].to_numpy()))


def signal_columns(rows: pl.DataFrame) -> list[str]:
    """The per-signal `points_*` columns (the cap adjustments are not signals)."""
    return [c for c in POINT_COLUMNS if c in rows.columns and not c.endswith("_cap")]


def signal_means(rows: pl.DataFrame, signals: list[str]) -> dict[str, dict[str, float | None]]:
    """Mean points of each signal in won and in lost opportunities."""
    means = rows.group_by("won").agg(pl.col(signals).cast(pl.Float64).mean())
    by_outcome = {int(r["won"]): r for r in means.to_dicts()}
    return {
        s: {
            "mean_won": _round(by_outcome.get(1, {}).get(s)),
            "mean_lost": _round(by_outcome.get(0, {}).get(s)),
        }
        for s in signals
    }


def time_split(rows: pl.DataFrame, share: float = TRAIN_SHARE) -> tuple[pl.DataFrame, pl.DataFrame, dt.date | None]:
    """(train, test, cut): opportunities created before the cut date (the `share` quantile of
    `created_at`) train, the ones created on or after it test."""
    if rows.is_empty():
        return rows, rows, None
    days = rows["created_at"].cast(pl.Int32).sort().to_numpy()
    cut = dt.date(1970, 1, 1) + dt.timedelta(days=int(days[min(len(days) - 1, int(math.floor(share * len(days))))]))
    return rows.filter(pl.col("created_at") < cut), rows.filter(pl.col("created_at") >= cut), cut


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
@dataclass
class SignalModel:
    """A logistic regression of won/lost on the points of each signal.

    `coefficients` are per point (log-odds of winning per point of the signal), so they can
    be compared with the points the config gives; `standardised` are per standard deviation
    (which signal moved the odds most across these accounts)."""

    signals: list[str]
    coefficients: dict[str, float]
    standardised: dict[str, float]
    intercept: float
    constant: list[str] = field(default_factory=list)  # no variation: nothing to learn
    c: float | None = None  # the regularisation chosen

    def predict(self, rows: pl.DataFrame) -> np.ndarray:
        x = rows.select(pl.col(self.signals).cast(pl.Float64).fill_null(0.0)).to_numpy()
        beta = np.array([self.coefficients[s] for s in self.signals])
        return self.intercept + x @ beta


def fit_signals(train: pl.DataFrame, signals: list[str], c: float | None = None) -> SignalModel:
    """Logistic regression (L2, lbfgs, fixed random state) on standardised signal points;
    the coefficients are mapped back to per-point values. `c` None: the regularisation is
    chosen from `REGULARISATION_GRID` by time-ordered cross-validation (each fold validates
    on opportunities created after the ones it trained on; log-loss)."""
    from sklearn.linear_model import LogisticRegression

    train = train.sort("created_at", "domain")
    x = train.select(pl.col(signals).cast(pl.Float64).fill_null(0.0)).to_numpy()
    y = train["won"].to_numpy()
    mean, sd = x.mean(axis=0), x.std(axis=0)
    varying = sd > 0
    constant = [s for s, v in zip(signals, varying, strict=True) if not v]
    coefficients = {s: 0.0 for s in signals}
    standardised = {s: 0.0 for s in signals}
    intercept = 0.0
    if len(set(y.tolist())) == 2 and varying.any():
        z = (x[:, varying] - mean[varying]) / sd[varying]
        if c is None:
            c = _choose_c(z, y)
        model = LogisticRegression(C=c, random_state=RANDOM_STATE, max_iter=1000).fit(z, y)
        kept = [s for s, v in zip(signals, varying, strict=True) if v]
        per_point = model.coef_[0] / sd[varying]
        for s, b, bz in zip(kept, per_point, model.coef_[0], strict=True):
            coefficients[s], standardised[s] = float(b), float(bz)
        intercept = float(model.intercept_[0] - (per_point * mean[varying]).sum())
    elif len(y):
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        intercept = math.log(rate / (1 - rate))
    return SignalModel(signals, coefficients, standardised, intercept, constant, c)


def _choose_c(z: np.ndarray, y: np.ndarray) -> float:
    """The grid's C with the best mean validation log-loss over expanding time-ordered folds
    (rows are in creation order); the stronger regularisation wins ties."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import TimeSeriesSplit

    folds = [(a, b) for a, b in TimeSeriesSplit(n_splits=CV_FOLDS).split(z) if len(set(y[a].tolist())) == 2]
    if not folds:
        return REGULARISATION_GRID[len(REGULARISATION_GRID) // 2]
    losses = []
    for c in REGULARISATION_GRID:
        fold_losses = []
        for fit_rows, check_rows in folds:
            model = LogisticRegression(C=c, random_state=RANDOM_STATE, max_iter=1000).fit(z[fit_rows], y[fit_rows])
            fold_losses.append(log_loss(y[check_rows], model.predict_proba(z[check_rows])[:, 1], labels=[0, 1]))
        losses.append(round(float(np.mean(fold_losses)), 9))
    return REGULARISATION_GRID[losses.index(min(losses))]


def model_auc(model: SignalModel, rows: pl.DataFrame) -> float | None:
    """AUC of the model's own log-odds on `rows` (the ceiling of a linear re-weighting)."""
    if rows.is_empty():
        return None
    return auc(rows.with_columns(pl.Series("_model", model.predict(rows))), "_model")


# --------------------------------------------------------------------------------------
# The proposal
# --------------------------------------------------------------------------------------
def _largest_remainder(shares: dict[str, float], total: int) -> dict[str, int]:
    """Non-negative integers in proportion to `shares` that add up to `total` exactly
    (ties go to the earlier key, so the result is deterministic)."""
    weight = sum(shares.values())
    if weight <= 0 or total <= 0:
        return {k: 0 for k in shares}
    exact = {k: total * v / weight for k, v in shares.items()}
    result = {k: int(math.floor(v)) for k, v in exact.items()}
    order = sorted(shares, key=lambda k: (-(exact[k] - result[k]), list(shares).index(k)))
    for k in order[: total - sum(result.values())]:
        result[k] += 1
    return result


def propose_config(config: Config, model: SignalModel) -> tuple[Config, list[str]]:
    """A config whose fit, technology and intent points follow the model's coefficients.

    A signal's value is its log-odds at full strength: the per-point coefficient times the
    points it can give now (a firmographic match gives its weight, technologies up to their
    cap). The fit signals share the fit cap in proportion to their values, which fixes one
    scale, `k` points per unit of log-odds, for every signal changed:
    * the four firmographic weights: k x their value, rounded by largest remainders so that
      they add up to the fit cap less the technologies' share;
    * technologies: `points_each` = k x the log-odds of one technology, within 0..cap;
    * intent: `points_each` = k x the log-odds of one cluster in market, within 0..cap.
    A signal that went with losses gets 0 points (points are non-negative); a signal the
    backtest could not measure (no variation among the training opportunities, e.g. no
    intent data that far back, or 0 points today) keeps its points. Caps, the threshold and
    fit cap + engagement cap = 100 stay as they are; keys missing from the config are
    skipped. Returns the validated proposal and notes on what was and was not changed."""
    raw = config.model_dump()
    notes: list[str] = []
    scoring = raw.get("account_scoring", {})
    fit = scoring.get("fit", {})
    points = fit.get("points", {})
    technologies = fit.get("technologies", {})
    intent = scoring.get("intent", {})
    fit_cap = fit.get("cap")
    beta = model.coefficients

    def measurable(key: str, column: str, current: int) -> bool:
        if column not in beta:
            notes.append(f"{key}: not in the backtest, left at {current}")
            return False
        if column in model.constant or current == 0:
            notes.append(f"{key}: no variation among the training opportunities, cannot be measured; left at {current}")
            return False
        return True

    # log-odds of each measurable fit signal at full strength under the current config
    values: dict[str, float] = {}
    for signal in FIT_SIGNALS:
        if signal in points and measurable(f"fit.points.{signal}", f"points_{signal}", points[signal]):
            values[signal] = beta[f"points_{signal}"] * points[signal]
    tech_keys = {"points_each", "cap"} <= set(technologies)
    if tech_keys and measurable("fit.technologies.points_each", "points_technologies", technologies["points_each"]):
        values["technologies"] = beta["points_technologies"] * technologies["cap"]
    fixed = sum(points[s] for s in FIT_SIGNALS if s in points and s not in values)
    if tech_keys and "technologies" not in values:
        fixed += technologies["cap"] if technologies["points_each"] else 0
    for signal, value in values.items():
        if value <= 0:
            notes.append(f"{signal}: went with losses or with nothing (log-odds {value:+.3f} at full strength): 0 points")
    positive = {k: max(v, 0.0) for k, v in values.items()}
    total = sum(positive.values())
    if fit_cap is None or total <= 0 or fit_cap - fixed <= 0:
        notes.append("no measurable fit signal went with wins: points left as they are")
        return Config.model_validate(raw), notes

    scale = (fit_cap - fixed) / total  # k: points per unit of log-odds
    budget = fit_cap - fixed
    if "technologies" in values:
        per_technology = beta["points_technologies"] * technologies["points_each"]
        technologies["points_each"] = int(min(max(round(scale * per_technology), 0), technologies["cap"]))
        budget -= int(round(min(scale * positive["technologies"], technologies["cap"])))
    firmographic = {s: positive[s] for s in FIT_SIGNALS if s in values}
    if firmographic:
        points.update(_largest_remainder(firmographic, max(budget, 0)))
    if {"points_each", "cap"} <= set(intent):
        if measurable("intent.points_each", "points_intent", intent["points_each"]):
            per_cluster = beta["points_intent"] * intent["points_each"]
            if per_cluster <= 0:
                notes.append(f"intent: went with losses or with nothing (log-odds {per_cluster:+.3f} per cluster in market): 0 points")
            intent["points_each"] = int(min(max(round(scale * per_cluster), 0), intent["cap"]))
    else:
        notes.append("intent.points_each: not in the config, skipped")
    notes.append(f"scale: {scale:.1f} points per unit of log-odds (the measurable fit signals fill the fit cap of {fit_cap})")
    return Config.model_validate(raw), notes


# --------------------------------------------------------------------------------------
# The diff
# --------------------------------------------------------------------------------------
def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key in value:
            flat.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def config_diff(current: Config, proposed: Config) -> list[dict[str, Any]]:
    """Every key whose value differs, as (key path, old, new), in the config's own order."""
    old, new = _flatten(current.model_dump(mode="json")), _flatten(proposed.model_dump(mode="json"))
    return [{"key": k, "old": old.get(k), "new": new.get(k)} for k in [*old, *(k for k in new if k not in old)] if old.get(k) != new.get(k)]


def diff_markdown(diff: list[dict[str, Any]], current_fingerprint: str, proposed_fingerprint: str) -> str:
    lines = [
        f"# Proposed scoring config: {current_fingerprint} -> {proposed_fingerprint}",
        "",
    ]
    if not diff:
        return "\n".join([*lines, "No change proposed.", ""])
    lines += ["| key | current | proposed |", "|---|---:|---:|"]
    lines += [f"| `{d['key']}` | {d['old']} | {d['new']} |" for d in diff]
    return "\n".join([*lines, ""])


# --------------------------------------------------------------------------------------
# Everything together
# --------------------------------------------------------------------------------------
def score_report(rows: pl.DataFrame, score: str = "score", decision: str = "decision") -> dict[str, Any]:
    """Conversion by band and decision, lift and AUC of one score over `rows`."""
    return {
        "opportunities": rows.height,
        "won": int(rows["won"].sum()) if rows.height else 0,
        "by_band": conversion_by_band(rows, score),
        "by_decision": conversion_by_decision(rows, decision),
        "lift": lift(rows, decision),
        "auc": auc(rows, score),
    }


def signal_report(rows: pl.DataFrame, model: SignalModel) -> list[dict[str, Any]]:
    """Per signal: mean points in won and lost opportunities and the model's coefficients,
    strongest (by standardised coefficient) first."""
    means = signal_means(rows, model.signals)
    table = [
        {
            "signal": s,
            **means[s],
            "coefficient_per_point": _round(model.coefficients[s]),
            "coefficient_standardised": _round(model.standardised[s]),
            "constant": s in model.constant,
        }
        for s in model.signals
    ]
    return sorted(table, key=lambda r: (-(r["coefficient_standardised"] or 0.0), r["signal"]))


# --------------------------------------------------------------------------------------
# Fit, evaluate, present
# --------------------------------------------------------------------------------------
@dataclass
class Calibration:
    """Everything `fit_weights` learns from the backtest, before the proposal is rescored."""

    closed: int  # closed opportunities in the input
    rows: pl.DataFrame  # those with a snapshot before they were created
    train: pl.DataFrame
    test: pl.DataFrame
    cut: dt.date | None
    model: SignalModel
    proposed: Config
    notes: list[str]

    @property
    def held_out_dates(self) -> list[dt.date]:
        return sorted(set(self.test["snapshot"].to_list()))


def fit_weights(
    opportunities: pl.DataFrame, scores_by_date: pl.DataFrame, config: Config, share: float = TRAIN_SHARE, c: float | None = None
) -> Calibration:
    """Training rows, the time-based split, the model (trained on the earlier
    opportunities only) and the proposed config."""
    closed = opportunities.filter(pl.col("outcome").is_in(OUTCOMES))
    rows = training_rows(closed, scores_by_date)
    train, test, cut = time_split(rows, share)
    for part, frame in (("training (earlier)", train), ("held-out (later)", test)):
        if frame.is_empty() or frame["won"].n_unique() < 2:
            raise NotEnoughHistoryError(
                f"{rows.height} of {closed.height} closed opportunities have a backtest snapshot before them, and the "
                f"{part} part has {frame.height} with {int(frame['won'].sum()) if frame.height else 0} won: calibration "
                "needs won and lost opportunities in both parts; supply more history or backtest more months"
            )
    model = fit_signals(train, signal_columns(rows), c)
    proposed, notes = propose_config(config, model)
    return Calibration(closed.height, rows, train, test, cut, model, proposed, notes)


def rescored(test: pl.DataFrame, scores_by_date: pl.DataFrame) -> pl.DataFrame:
    """The held-out opportunities with the scores of another backtest on the same snapshot
    dates (matched on domain and snapshot date, so each keeps its snapshot)."""
    keys = [c for c in ("opportunity_id", "domain", "created_at", "closed_at", "outcome", "amount", "snapshot", "won") if c in test.columns]
    return test.select(keys).join(scores_by_date.rename({"as_of": "snapshot"}), on=["domain", "snapshot"], how="inner", validate="m:1")


def figures(calibration: Calibration, proposed_test: pl.DataFrame, config: Config, as_of: dt.date, dates: list[dt.date]) -> dict[str, Any]:
    """Every figure of the report (JSON-ready, deterministic: rounded, no timestamps)."""
    rows, train, test = calibration.rows, calibration.train, calibration.test
    current_held_out = score_report(test)
    proposed_held_out = score_report(proposed_test)
    return {
        "as_of": as_of.isoformat(),
        "backtest_dates": [d.isoformat() for d in dates],
        "opportunities": {
            "closed": calibration.closed,
            "used": rows.height,
            "won": int(rows["won"].sum()) if rows.height else 0,
            "lost": rows.height - (int(rows["won"].sum()) if rows.height else 0),
            "without_snapshot": calibration.closed - rows.height,
        },
        "split": {
            "cut": calibration.cut.isoformat() if calibration.cut else None,
            "train": train.height,
            "train_won": int(train["won"].sum()) if train.height else 0,
            "test": test.height,
            "test_won": int(test["won"].sum()) if test.height else 0,
            "held_out_dates": [d.isoformat() for d in calibration.held_out_dates],
        },
        "current": score_report(rows),
        "signals": signal_report(rows, calibration.model),
        "model": {
            "regularisation_c": calibration.model.c,
            "intercept": _round(calibration.model.intercept),
            "held_out_auc": model_auc(calibration.model, test),
        },
        "held_out": {"current": current_held_out, "proposed": proposed_held_out},
        "headline": {
            "opportunities": rows.height,
            "held_out": test.height,
            "auc_current": current_held_out["auc"],
            "auc_proposed": proposed_held_out["auc"],
            "lift_current": current_held_out["lift"]["lift"],
            "lift_proposed": proposed_held_out["lift"]["lift"],
        },
        "config_fingerprint": config.fingerprint(),
        "proposed_fingerprint": calibration.proposed.fingerprint(),
        "config_diff": config_diff(config, calibration.proposed),
        "notes": calibration.notes,
    }


def proposed_yaml(proposed: Config, figures: dict[str, Any]) -> str:
    import yaml

    head = figures["headline"]
    header = [
        "# Proposed by `abmq calibrate` (calibrate-scoring) as of " + figures["as_of"],
        f"# from {head['opportunities']} closed opportunities; held-out AUC {head['auc_current']} (current) -> {head['auc_proposed']} (proposed).",
        "# Review config_diff.md and calibration.html before using it: abmq run --config proposed_config.yaml",
    ]
    body = yaml.safe_dump(proposed.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body


def _fmt(value: Any, spec: str = "{:.3f}") -> str:
    return "n/a" if value is None else spec.format(value)


def markdown_summary(figures: dict[str, Any]) -> str:
    """The Prefect artifact: the headline figures and the config changes."""
    head, split = figures["headline"], figures["split"]
    lines = [
        f"# Scoring calibration as of {figures['as_of']}",
        "",
        f"Closed opportunities used: **{head['opportunities']}** ({figures['opportunities']['won']} won), "
        f"held out (created on or after {split['cut']}): **{head['held_out']}**.",
        "",
        "| held out | current config | proposed config |",
        "|---|---:|---:|",
        f"| AUC of the score | {_fmt(head['auc_current'])} | {_fmt(head['auc_proposed'])} |",
        f"| lift of sql_ready over the rest | {_fmt(head['lift_current'], '{:.2f}')} | {_fmt(head['lift_proposed'], '{:.2f}')} |",
        "",
        f"Config {figures['config_fingerprint']} -> proposed {figures['proposed_fingerprint']}:",
        "",
        "| key | current | proposed |",
        "|---|---:|---:|",
        *[f"| `{d['key']}` | {d['old']} | {d['new']} |" for d in figures["config_diff"]],
    ]
    if not figures["config_diff"]:
        lines.append("| (no change) | | |")
    return "\n".join(lines) + "\n"


def render_html(figures: dict[str, Any], run: dict[str, Any]) -> str:
    from abmq.tasks.report import environment

    return environment().get_template("calibration.html.j2").render(as_of=figures["as_of"], run=run, f=figures)
