"""The figures of a calibration report, on the held-out backtest dates.

Ranking: AUC and PR-AUC (average precision) with bootstrap 95% intervals (rows resampled,
fixed seed) and a paired interval for proposed - current. Capacity: of the accounts each
tier held on each date, how many converted, and the lift over the base rate. Reliability:
p_convert against the observed rate by decile. Conversion by decision and by score band.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from abmq.config import Config

BOOTSTRAP = 200
SEED = 0
DIGITS = 4
# (label, lowest score, highest score), inclusive.
SCORE_BANDS = (("0-29", 0, 29), ("30-49", 30, 49), ("50-69", 50, 69), ("70-100", 70, 100))
DECISION_ORDER = ("sql_ready", "nurture", "disqualified", "needs_enrichment")


def rnd(value: float | None, digits: int = DIGITS) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), digits)


def _average_ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their average rank."""
    order = np.argsort(s, kind="mergesort")
    ordered = s[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(s))
    ranks[order] = ((starts + 1 + ends) / 2.0)[np.cumsum(first) - 1]
    return ranks


def _auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    """ROC AUC, ties counted half (the Mann-Whitney statistic on average ranks); weighted
    through scikit-learn."""
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return float("nan")
    if w is not None:
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(y, s, sample_weight=w))
    ranks = _average_ranks(s)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(y) - positives)))


def _ap(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    """Average precision (PR-AUC) as scikit-learn defines it: precision at each distinct
    score, weighted by the recall it adds."""
    if y.sum() <= 0:
        return float("nan")
    w = np.ones(len(y)) if w is None else w
    order = np.argsort(-s, kind="stable")
    ys, ss, ws = y[order], s[order], w[order]
    tp, fp = np.cumsum(ys * ws), np.cumsum((1 - ys) * ws)
    last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]  # the last row of each distinct score
    tp, fp = tp[last], fp[last]
    recall = tp / tp[-1]
    precision = tp / (tp + fp)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _interval(values: list[float]) -> list[float | None]:
    clean = [v for v in values if not math.isnan(v)]
    if len(clean) < 10:
        return [None, None]
    return [rnd(float(np.quantile(clean, 0.025))), rnd(float(np.quantile(clean, 0.975)))]


def _grouping(groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(row order by group, first position and length of each group), computed once."""
    if groups is None:
        return None
    order = np.argsort(groups, kind="stable")
    _, starts, lengths = np.unique(groups[order], return_index=True, return_counts=True)
    return order, starts, lengths


def _resample(rng: np.random.Generator, n: int, grouping: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Row indices of one bootstrap sample: rows drawn with replacement, or whole groups
    (accounts: the same account on several dates is not independent evidence)."""
    if grouping is None:
        return rng.integers(0, n, n)
    order, starts, lengths = grouping
    picked = rng.integers(0, len(starts), len(starts))
    offsets = np.repeat(starts[picked], lengths[picked])
    within = np.arange(offsets.size) - np.repeat(np.cumsum(lengths[picked]) - lengths[picked], lengths[picked])
    return order[offsets + within]


def ranking(
    y: np.ndarray, scores: dict[str, np.ndarray], w: np.ndarray | None = None, n: int = BOOTSTRAP, groups: np.ndarray | None = None
) -> dict[str, Any]:
    """AUC and PR-AUC of each score with bootstrap 95% intervals (accounts resampled when
    `groups` holds each row's account); for every score after the first, the paired
    interval of its AUC minus the first's."""
    rng = np.random.default_rng(SEED)
    grouping = _grouping(groups)
    names = list(scores)
    boot: dict[str, dict[str, list[float]]] = {k: {"auc": [], "pr_auc": [], "diff": []} for k in names}
    for _ in range(n if len(y) else 0):
        idx = _resample(rng, len(y), grouping)
        wi = w[idx] if w is not None else None
        first = _auc(y[idx], scores[names[0]][idx], wi)
        for k in names:
            a = _auc(y[idx], scores[k][idx], wi)
            boot[k]["auc"].append(a)
            boot[k]["pr_auc"].append(_ap(y[idx], scores[k][idx], wi))
            boot[k]["diff"].append(a - first)
    result = {}
    for k in names:
        auc, ap = (_auc(y, scores[k], w), _ap(y, scores[k], w)) if len(y) else (float("nan"), float("nan"))
        result[k] = {
            "auc": rnd(auc),
            "auc_interval": _interval(boot[k]["auc"]),
            "pr_auc": rnd(ap),
            "pr_auc_interval": _interval(boot[k]["pr_auc"]),
        }
        if k != names[0]:
            result[k]["auc_minus_" + names[0]] = rnd(auc - _auc(y, scores[names[0]], w)) if len(y) else None
            result[k]["difference_interval"] = _interval(boot[k]["diff"])
    return result


def at_capacity(rows: pl.DataFrame, config: Config) -> list[dict[str, Any]]:
    """Per tier: accounts it held over the dates, how many converted, precision and lift
    over the base rate of all rows (the tier column as the pipeline assigned it)."""
    base = float(rows["label"].mean()) if rows.height else 0.0
    dates = rows["as_of"].n_unique() if rows.height else 0
    result = []
    for tier in config.selection.tiers:
        held = rows.filter(pl.col("tier") == tier.name)
        converted = int(held["label"].sum()) if held.height else 0
        precision = converted / held.height if held.height else None
        result.append(
            {
                "tier": tier.name,
                "capacity": tier.capacity,
                "dates": dates,
                "held": held.height,
                "converted": converted,
                "precision": rnd(precision),
                "lift": rnd(precision / base) if precision is not None and base else None,
            }
        )
    return result


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Predicted vs observed by decile of the prediction."""
    if not len(y):
        return []
    order = np.argsort(p, kind="stable")
    result = []
    for i, part in enumerate(np.array_split(order, bins)):
        if len(part):
            result.append(
                {"decile": i + 1, "rows": int(len(part)), "predicted": rnd(float(p[part].mean())), "observed": rnd(float(y[part].mean()))}
            )
    return result


def _band(score: str) -> pl.Expr:
    expr = pl.lit(SCORE_BANDS[-1][0])
    for label, _low, high in reversed(SCORE_BANDS[:-1]):
        expr = pl.when(pl.col(score) <= high).then(pl.lit(label)).otherwise(expr)
    return expr


def conversion(rows: pl.DataFrame, key: pl.Expr, name: str, order: list[str]) -> list[dict[str, Any]]:
    counts = rows.group_by(key.alias(name)).agg(pl.len().alias("rows"), pl.col("label").sum().alias("converted"))
    found = {r[name]: r for r in counts.to_dicts()}
    result = []
    for label in [*order, *sorted(k for k in found if k not in order)]:
        row = found.get(label, {"rows": 0, "converted": 0})
        n, won = int(row["rows"]), int(row["converted"] or 0)
        result.append({name: label, "rows": n, "converted": won, "rate": rnd(won / n) if n else None})
    return result


def score_figures(rows: pl.DataFrame, config: Config) -> dict[str, Any]:
    """Conversion by band and by decision, and the tiers at capacity, of one config's rows."""
    present = [d for d in DECISION_ORDER if rows.height and d in set(rows["decision"].to_list())]
    return {
        "rows": rows.height,
        "converted": int(rows["label"].sum()) if rows.height else 0,
        "by_band": conversion(rows, _band("score"), "band", [b[0] for b in SCORE_BANDS]),
        "by_decision": conversion(rows, pl.col("decision"), "decision", present),
        "tiers": at_capacity(rows, config),
    }


def signal_table(fitted: Any, title: str) -> list[dict[str, Any]]:
    """The features of a fitted model, strongest (standardised coefficient) first."""
    if fitted is None:
        return []
    table = [
        {"model": title, "signal": f, "per_unit": rnd(fitted.coefficients[f], 5), "per_sd": rnd(fitted.standardised[f])}
        for f in fitted.features
    ]
    return sorted(table, key=lambda r: (-(r["per_sd"] or 0.0), r["signal"]))
