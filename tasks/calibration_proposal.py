"""The proposal: the fitted models mapped back to the points config, and what could not be.

One scale, k points per unit of log-odds, for every signal: k is chosen so that the largest
fit part plus the 99th percentile of the engagement part of the training rows fill the
0-100 scale (fit cap + engagement cap = 100 stays true). Then:

* fit points, technology points, competitor points, intent points, new-surge points and
  role points are k x their coefficients, rounded to integers (negative ones become 0: the
  config allows no negative points except for competitors' tools);
* fit.cap = k x the largest possible fit part; engagement_cap = 100 - fit.cap; each count
  cap (technologies, intent clusters) keeps its count; the role and people caps are set so
  they do not bind before the engagement cap;
* the decay half-life and the per-contact cap are the grid's choice;
* engagement category points follow the category model (their total kept), persona weights
  the persona model times the people scale (full mode only; reduced mode scales the current
  persona weights);
* the SQL threshold, tier minimums, nurture and fast-path minimum fit are moved to the
  quantiles that keep today's shares of rows above them on the training rows.

Notes are written from the diff, one per changed key and one per key deliberately kept, so
a note never says a key changed when the diff says it did not (or the other way round).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from abmq.config import Config
from abmq.tasks import calibration_table as ct
from abmq.tasks.calibration_model import Models
from abmq.vocabulary import FIT_SIGNALS

ENGAGEMENT_QUANTILE = 0.99


def _pos(value: float) -> float:
    return max(float(value), 0.0)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key in value:
            flat.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        flat = {}
        for i, item in enumerate(value):
            flat.update(_flatten(item, f"{prefix}.{i}"))
        return flat
    return {prefix: value}


def config_diff(current: Config, proposed: Config) -> list[dict[str, Any]]:
    """Every key whose value differs, as (key path, old, new), in the config's own order."""
    old, new = _flatten(current.model_dump(mode="json")), _flatten(proposed.model_dump(mode="json"))
    return [{"key": k, "old": old.get(k), "new": new.get(k)} for k in [*old, *(k for k in new if k not in old)] if old.get(k) != new.get(k)]


def _quantile_match(current: np.ndarray, new: np.ndarray, threshold: float) -> int:
    """The integer threshold on `new` that keeps the share of rows at or above it that
    `threshold` has on `current`."""
    share = float((current >= threshold).mean()) if len(current) else 0.0
    if share <= 0:
        return int(min(100, math.ceil(new.max() + 1))) if len(new) else int(threshold)
    return int(np.clip(round(float(np.quantile(new, 1 - share))), 0, 100))


def propose(config: Config, models: Models, train: pl.DataFrame) -> tuple[Config, dict[str, str], list[str]]:
    """(proposed config, reason per config key, what could not be expressed)."""
    raw = config.model_dump()
    acc = raw["account_scoring"]
    fit, tech, intent, people, group = acc["fit"], acc["fit"]["technologies"], acc["intent"], acc["people"], acc["buying_group"]
    reasons: dict[str, str] = {}
    inexpressible: list[str] = []
    if models.mode == "none":
        return config, reasons, inexpressible
    s = models.settings
    beta = models.main.coefficients
    people_col = ct.people_column(s.half_life, s.contact_cap)
    tech_count = tech["cap"] // tech["points_each"] if tech["points_each"] else 2
    intent_count = intent["cap"] // intent["points_each"] if intent["points_each"] else len(intent["clusters"])
    comps = {n: ct.competitor_column(n) for n in tech["competitors"]}
    roles = {n: ct.role_column(n) for n in group["roles"]}
    full = models.mode == "full"

    max_fit = (
        sum(_pos(beta[f"match_{f}"]) for f in FIT_SIGNALS)
        + _pos(beta["n_technologies"]) * tech_count
        + sum(_pos(beta[c]) for c in comps.values())
    )
    eng = (
        _pos(beta[people_col]) * train[people_col].to_numpy()
        + _pos(beta["n_clusters"]) * np.minimum(train["n_clusters"].to_numpy(), intent_count)
        + _pos(beta["new_surge"]) * train["new_surge"].to_numpy()
    )
    if full:
        eng = eng + sum(_pos(beta[c]) * train[c].to_numpy() for c in roles.values())
    eng_top = float(np.quantile(eng, ENGAGEMENT_QUANTILE)) if len(eng) else 0.0
    if max_fit + eng_top <= 0:
        inexpressible.append("no signal went with the label: nothing to map, the config is left as it is")
        return config, reasons, inexpressible
    k = 100.0 / (max_fit + eng_top)
    why_k = f"k = {k:.1f} points per unit of log-odds (largest fit part + 99th percentile of the engagement part = 100)"

    def points(key: str, coefficient: float, label: str) -> int:
        value = int(round(k * _pos(coefficient)))
        reasons[key] = (
            f"{label}: log-odds {coefficient:+.3f} x k"
            if coefficient > 0
            else f"{label}: did not go with conversion (log-odds {coefficient:+.4f}), 0 points"
        )
        return value

    for f in FIT_SIGNALS:
        fit["points"][f] = points(f"account_scoring.fit.points.{f}", beta[f"match_{f}"], f"{f} match")
    tech["points_each"] = points("account_scoring.fit.technologies.points_each", beta["n_technologies"], "each technology matched")
    tech["cap"] = tech["points_each"] * tech_count
    reasons["account_scoring.fit.technologies.cap"] = f"keeps its count of {tech_count} technologies"
    for name, column in comps.items():
        tech["competitors"][name] = int(round(k * beta[column]))
        reasons[f"account_scoring.fit.technologies.competitors.{name}"] = f"runs {name}: log-odds {beta[column]:+.3f} x k (signed)"
    fit_cap = int(np.clip(round(k * max_fit), 0, 100))
    fit["cap"], acc["engagement_cap"] = fit_cap, 100 - fit_cap
    reasons["account_scoring.fit.cap"] = f"the largest fit part at {why_k}"
    reasons["account_scoring.engagement_cap"] = "100 - fit cap"
    intent["points_each"] = points("account_scoring.intent.points_each", beta["n_clusters"], "each intent cluster in market")
    intent["cap"] = intent["points_each"] * intent_count
    reasons["account_scoring.intent.cap"] = f"keeps its count of {intent_count} clusters"
    intent["new_surge_points"] = points("account_scoring.intent.new_surge_points", beta["new_surge"], "a new surge")
    if full:
        for name, column in roles.items():
            group["roles"][name]["points"] = points(
                f"account_scoring.buying_group.roles.{name}.points", beta[column], f"role {name} covered"
            )
        group["cap"] = sum(r["points"] for r in group["roles"].values())
        reasons["account_scoring.buying_group.cap"] = "the sum of the role points (the engagement cap binds instead)"
    else:
        inexpressible.append(
            "role points, engagement category points and the persona shape were not fitted: too few positive labels (see the threshold)"
        )

    # people: k x the coefficient per point of the chosen people feature (current points, current persona)
    scale = k * _pos(beta[people_col])
    people["decay_half_life_days"] = float(s.half_life)
    reasons["account_scoring.people.decay_half_life_days"] = "the grid's choice (cross-validated AUC)" + (
        "; 0 means no decay" if s.half_life == 0 else ""
    )
    own_decay = [t for t, rule in config.lead_scoring.engagement.events.items() if rule.half_life_days is not None]
    if own_decay:
        inexpressible.append(f"categories with their own half-life ({', '.join(own_decay)}) keep it: the grid tries only the shared one")
    rules = raw["lead_scoring"]["engagement"]["events"]
    ratio = 1.0
    shape = dict(people["persona_weights"])
    if full and models.categories is not None and models.personas is not None:
        event_types = config.lead_scoring.engagement.event_types  # the team's own categories too
        gamma = {t: _pos(models.categories.coefficients[ct.event_column(t, s.half_life)]) for t in event_types}
        total_now = sum(rules[t]["points"] for t in event_types)
        if sum(gamma.values()) > 0:
            old = {t: rules[t]["points"] for t in event_types}
            new = {t: int(round(gamma[t] * total_now / sum(gamma.values()))) for t in event_types}
            for t in event_types:
                rules[t]["points"] = new[t]
                reasons[f"lead_scoring.engagement.events.{t}.points"] = (
                    f"category model log-odds {models.categories.coefficients[ct.event_column(t, s.half_life)]:+.4f} per weighted event; "
                    f"the total of {total_now} points is kept. Shared with the lead score: lead scores change too"
                )
            feats = {t: train[ct.event_column(t, s.half_life)].to_numpy() for t in event_types}
            before = float(sum(old[t] * feats[t] for t in event_types).mean())
            after = float(sum(new[t] * feats[t] for t in event_types).mean())
            ratio = after / before if before > 0 and after > 0 else 1.0
        delta = {p: _pos(models.personas.coefficients[ct.seniority_column(p, s.half_life)]) for p in shape}
        means = {p: float(train[ct.seniority_column(p, s.half_life)].mean()) for p in shape}
        weighted = sum(delta[p] * means[p] for p in shape)
        if weighted > 0:
            norm = sum(shape[p] * means[p] for p in shape) / weighted
            shape = {p: delta[p] * norm for p in shape}
        inexpressible.append(
            "contacts without a seniority keep the pipeline's fixed persona weight 1.0 (not in the config); their people points are not rescaled"
        )
        inexpressible.append(
            "category x persona is fitted as one alternating step (categories at today's persona weights, personas at today's category points)"
        )
    multiplier = scale / ratio
    for p in people["persona_weights"]:
        people["persona_weights"][p] = round(shape[p] * multiplier, 3)
        reasons[f"account_scoring.people.persona_weights.{p}"] = f"people scale {scale:.3f} points per current people point" + (
            " x the persona model's shape" if full else " (shape kept)"
        )
    per_contact = s.contact_cap * multiplier if s.contact_cap > 0 else acc["engagement_cap"]
    people["per_contact_cap"] = int(max(1, round(per_contact)))
    reasons["account_scoring.people.per_contact_cap"] = (
        f"the grid's per-contact cap {s.contact_cap:g} (current points) in the new scale"
        if s.contact_cap > 0
        else "the grid found no per-contact cap better: set to the engagement cap"
    )
    people["cap"] = acc["engagement_cap"]
    reasons["account_scoring.people.cap"] = "the engagement cap binds instead"

    # thresholds keep today's shares of rows above them (approximate new scores)
    fit_part = (
        sum(k * _pos(beta[f"match_{f}"]) * train[f"match_{f}"].to_numpy() for f in FIT_SIGNALS)
        + k * _pos(beta["n_technologies"]) * np.minimum(train["n_technologies"].to_numpy(), tech_count)
        + sum(k * beta[c] * train[c].to_numpy() for c in comps.values())
    )
    new_fit = np.clip(fit_part, 0, fit_cap)
    new_score = new_fit + np.clip(k * eng, 0, 100 - fit_cap)
    now_score, now_fit = train["score"].to_numpy(), train["fit_points"].to_numpy()
    acc["threshold"] = _quantile_match(now_score, new_score, config.account_scoring.threshold)
    reasons["account_scoring.threshold"] = "keeps the share of rows at or above it (approximate new scores on the training rows)"
    acc["fast_path"]["min_fit"] = _quantile_match(now_fit, new_fit, config.account_scoring.fast_path.min_fit)
    reasons["account_scoring.fast_path.min_fit"] = "keeps the share of rows with at least this fit"
    raw["selection"]["nurture_min_fit"] = _quantile_match(now_fit, new_fit, config.selection.nurture_min_fit)
    reasons["selection.nurture_min_fit"] = "keeps the share of rows with at least this fit"
    for i, tier in enumerate(config.selection.tiers):
        raw["selection"]["tiers"][i]["min_score"] = _quantile_match(now_score, new_score, tier.min_score)
        reasons[f"selection.tiers.{i}.min_score"] = "keeps the share of rows at or above it"
    inexpressible.append(
        "scores are integers 0-100 with caps: accounts the model tells apart can still tie; p_convert orders them (see p_convert_model.json)"
    )
    return Config.model_validate(raw), reasons, inexpressible


def notes_from_diff(diff: list[dict[str, Any]], reasons: dict[str, str], inexpressible: list[str], preface: list[str]) -> list[str]:
    """Notes that agree with the diff by construction: a changed key says old -> new and why;
    a key with a reason that did not change says it was kept (rounding, or the fit agreed)."""
    changed = {d["key"]: d for d in diff}
    notes = list(preface)
    for d in diff:
        notes.append(f"{d['key']}: {d['old']} -> {d['new']}" + (f" ({reasons[d['key']]})" if d["key"] in reasons else ""))
    kept = [k for k in reasons if k not in changed]
    if kept:
        notes.append("kept as they are (the fit agreed after rounding): " + ", ".join(kept))
    notes += [f"not expressed: {text}" for text in inexpressible]
    return notes
