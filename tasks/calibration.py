"""Calibration: which accounts went on to open (or win) pipeline, what predicted it, and a
points config and a probability that follow the evidence.

The question is the one ABM targeting asks: of all the accounts we could have worked on a
date, which opened an opportunity (or won one) in the `horizon_days` after it? Every
scoreable, unsuppressed account on every backtest date is a row (`calibration_table`), the
models are fitted on the earlier dates (`calibration_model`), mapped back to the points
config (`calibration_proposal`) and compared with the current config on the later, purged
held-out dates (`calibration_report`). This module puts the steps together and renders.

Nothing is applied automatically: the proposal is a file to review.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from abmq.config import Config
from abmq.tasks import calibration_model as cm
from abmq.tasks import calibration_proposal as cp
from abmq.tasks import calibration_report as cr
from abmq.tasks import calibration_table as ct
from abmq.tasks.conversion import p_convert

DEFAULT_BACKTEST_MONTHS = ct.DEFAULT_BACKTEST_MONTHS
HORIZON_DAYS = ct.HORIZON_DAYS


class NotEnoughHistoryError(ValueError):
    """No backtest date at all can be labelled; the message says what is missing."""


@dataclass
class Calibration:
    label: str
    horizon_days: int
    split: dict[str, list[dt.date]]
    rows: pl.DataFrame  # the labelled backtest table, every date
    train: pl.DataFrame
    test: pl.DataFrame
    mode: str  # none / reduced / full
    models: cm.Models | None
    proposed: Config
    reasons: dict[str, str]
    inexpressible: list[str]
    p_model_train: dict[str, Any] | None  # fitted on the training dates: the held-out reliability
    p_model: dict[str, Any] | None  # fitted on every date: what the daily run should use
    why_not: list[str] = field(default_factory=list)  # why something was not fitted, in sentences

    @property
    def positives_train(self) -> int:
        return int(self.train["label"].sum()) if self.train.height else 0


def fit(
    rows: pl.DataFrame, config: Config, horizon_days: int = HORIZON_DAYS, label: str = "created", test_share: float = ct.TEST_SHARE
) -> Calibration:
    """Split the labelled backtest table by date (horizon purged), fit what the training
    rows support and propose a config. Too little history gives a smaller fit or none,
    never an exception, once there is at least one labelled date."""
    dates = sorted(set(rows["as_of"].to_list())) if rows.height else []
    if not dates:
        raise NotEnoughHistoryError(
            f"no backtest date has a whole {horizon_days}-day label window and a full engagement lookback inside the history: "
            "supply a longer history (events and opportunities), a shorter --horizon-days, or more --months"
        )
    split = ct.split_dates(dates, horizon_days, test_share)
    train = rows.filter(pl.col("as_of").is_in(split["train"]))
    test = rows.filter(pl.col("as_of").is_in(split["test"]))
    positives = int(train["label"].sum()) if train.height else 0
    mode = cm.fit_mode(positives) if train.height and train["label"].n_unique() == 2 else "none"
    why_not: list[str] = []
    if not split["train"]:
        why_not.append(
            f"Every date before the held-out ones is within {horizon_days} days of them, so none can train without its label "
            f"overlapping the test period: {len(dates)} backtest dates are too few (use weekly dates or more months)."
        )
    elif mode == "none":
        why_not.append(
            f"The training dates have {positives} positive labels; a proposal needs at least {cm.MIN_POSITIVES} "
            f"(a full one {cm.FULL_POSITIVES}), so the current config is reported as it is and p_convert is left empty."
        )
    elif mode == "reduced":
        why_not.append(
            f"The training dates have {positives} positive labels (fewer than {cm.FULL_POSITIVES}): only fit, technology, intent, "
            "the people scale, half-life and caps are fitted; role points, engagement categories and the persona shape are kept."
        )
    models = cm.fit_models(train, config, horizon_days, mode) if mode != "none" else None
    proposed, reasons, inexpressible = cp.propose(config, models, train) if models else (config, {}, [])
    p_train = p_all = None
    if mode != "none":
        p_train = cm.fit_p_convert(train, config, label, horizon_days)
        p_all = cm.fit_p_convert(rows, config, label, horizon_days)  # every date: the latest base rate counts too
    return Calibration(
        label, horizon_days, split, rows, train, test, mode, models, proposed, reasons, inexpressible, p_train, p_all, why_not
    )


def held_out_with(test: pl.DataFrame, rescored: pl.DataFrame) -> pl.DataFrame:
    """The held-out rows (labels) with another config's scores on the same dates; accounts
    the other config suppressed or dropped are left out of both comparisons' rows."""
    keep = ["as_of", "domain", "label", "weight"]
    return test.select(keep).join(
        rescored.select("as_of", "domain", "score", "fit_points", "decision", "tier"), on=["as_of", "domain"], how="inner"
    )


def figures(
    cal: Calibration, proposed_test: pl.DataFrame | None, config: Config, as_of: dt.date, settings: dict[str, Any]
) -> dict[str, Any]:
    """Every figure of the report (JSON-ready, deterministic)."""
    rows, train, test = cal.rows, cal.train, cal.test
    weighted = cal.label == "won_amount"
    held = {"current": test}
    if proposed_test is not None and cal.mode != "none":
        held["proposed"] = held_out_with(test, proposed_test)
    common = (
        test.join(held["proposed"].select("as_of", "domain", pl.col("score").alias("_proposed")), on=["as_of", "domain"], how="inner")
        if "proposed" in held
        else test
    )
    y = common["label"].to_numpy()
    w = common["weight"].to_numpy() if weighted else None
    scores = {"current": common["score"].to_numpy().astype(float)}
    if "proposed" in held:
        scores["proposed"] = common["_proposed"].to_numpy().astype(float)
    p_held = None
    if cal.p_model_train:
        p_held = p_convert(common, cal.p_model_train).to_numpy()
        scores["p_convert"] = p_held
        # ties of the current score broken by p_convert: the ordering the daily run would show
        scores["current_then_p_convert"] = scores["current"] + p_held / 2.0
    ranked = cr.ranking(y, scores, w, groups=common["domain"].to_numpy()) if len(y) else {}
    by_config = {name: cr.score_figures(frame, config if name == "current" else cal.proposed) for name, frame in held.items()}
    positives = int(rows["label"].sum())
    headline = {
        "opportunities": positives,
        "held_out": common.height,
        "auc_current": ranked.get("current", {}).get("auc"),
        "auc_proposed": ranked.get("proposed", {}).get("auc"),
        "auc_p_convert": ranked.get("p_convert", {}).get("auc"),
        "label": cal.label,
        "horizon_days": cal.horizon_days,
    }
    m = cal.models
    diff = cp.config_diff(config, cal.proposed)
    preface = [*cal.why_not]
    if m is not None:
        preface.append(
            f"Method: L2 logistic regression on standardised signals (C = {m.settings.c}); half-life and per-contact cap chosen "
            f"from a grid by cross-validated AUC ({m.settings.cv}): half-life {m.settings.half_life:g} days, per-contact cap "
            f"{m.settings.contact_cap:g} (0 = none)."
        )
    return {
        "as_of": as_of.isoformat(),
        "settings": settings,
        "label": {"name": cal.label, "horizon_days": cal.horizon_days},
        "thresholds": {"min_positives": cm.MIN_POSITIVES, "full_positives": cm.FULL_POSITIVES},
        "mode": cal.mode,
        "backtest_dates": [d.isoformat() for d in sorted(set(rows["as_of"].to_list()))],
        "split": {k: [d.isoformat() for d in v] for k, v in cal.split.items()},
        "rows": {
            "all": rows.height,
            "positives": positives,
            "train": train.height,
            "train_positives": cal.positives_train,
            "test": test.height,
            "test_positives": int(test["label"].sum()) if test.height else 0,
            "base_rate": cr.rnd(float(rows["label"].mean())) if rows.height else None,
        },
        "ranking": ranked,
        "held_out": by_config,
        "reliability": cr.reliability(y, p_held) if p_held is not None else [],
        "signals": [
            *cr.signal_table(m.main if m else None, "signals"),
            *cr.signal_table(m.categories if m else None, "engagement categories"),
            *cr.signal_table(m.personas if m else None, "personas"),
        ],
        "grid": m.settings.grid if m else [],
        "headline": headline,
        "config_fingerprint": config.fingerprint(),
        "proposed_fingerprint": cal.proposed.fingerprint(),
        "config_diff": diff,
        "notes": cp.notes_from_diff(diff, cal.reasons, cal.inexpressible, preface),
        "p_convert": {
            "available": cal.p_model is not None,
            "why_not": None if cal.p_model else (cal.why_not[0] if cal.why_not else "no model was fitted"),
        },
    }


# --------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------
def diff_markdown(diff: list[dict[str, Any]], current_fingerprint: str, proposed_fingerprint: str, notes: list[str] | None = None) -> str:
    lines = [f"# Proposed scoring config: {current_fingerprint} -> {proposed_fingerprint}", ""]
    if not diff:
        lines.append("No change proposed.")
    else:
        lines += ["| key | current | proposed |", "|---|---:|---:|", *[f"| `{d['key']}` | {d['old']} | {d['new']} |" for d in diff]]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join([*lines, ""])


def proposed_yaml(proposed: Config, figures: dict[str, Any]) -> str:
    import yaml

    head = figures["headline"]
    header = [
        "# Proposed by `abmq calibrate` (calibrate-scoring) as of " + figures["as_of"],
        f"# label: {head['label']} within {head['horizon_days']} days; held-out AUC {head['auc_current']} (current) -> {head['auc_proposed']} (proposed).",
        "# Not applied. Review config_diff.md and calibration.html first: abmq run --config proposed_config.yaml",
    ]
    body = yaml.safe_dump(proposed.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body


def _fmt(value: Any, spec: str = "{:.3f}") -> str:
    return "n/a" if value is None else spec.format(value)


def _with_interval(block: dict[str, Any] | None, key: str = "auc") -> str:
    if not block:
        return "n/a"
    low, high = block.get(f"{key}_interval", [None, None])
    return f"{_fmt(block.get(key))} [{_fmt(low)}, {_fmt(high)}]" if low is not None else _fmt(block.get(key))


def markdown_summary(figures: dict[str, Any]) -> str:
    """The Prefect artifact: the headline figures and the config changes."""
    r, rows = figures["ranking"], figures["rows"]
    lines = [
        f"# Scoring calibration as of {figures['as_of']}",
        "",
        f"Label: opportunity **{figures['label']['name']}** within {figures['label']['horizon_days']} days. "
        f"{rows['all']:,} account-date rows ({rows['positives']:,} positive); held out: {rows['test']:,} rows on "
        f"{', '.join(figures['split']['test'])}. Fit: **{figures['mode']}** ({rows['train_positives']} positive training labels; "
        f"a proposal needs {figures['thresholds']['min_positives']}, a full one {figures['thresholds']['full_positives']}).",
        "",
        "| held out | AUC [95% CI] | PR-AUC [95% CI] |",
        "|---|---:|---:|",
        *[f"| {name} | {_with_interval(r.get(name))} | {_with_interval(r.get(name), 'pr_auc')} |" for name in r],
        "",
        f"Config {figures['config_fingerprint']} -> proposed {figures['proposed_fingerprint']} ({len(figures['config_diff'])} keys changed, see config_diff.md).",
    ]
    return "\n".join(lines) + "\n"


def render_html(figures: dict[str, Any], run: dict[str, Any]) -> str:
    from abmq.tasks.report import environment

    return environment().get_template("calibration.html.j2").render(as_of=figures["as_of"], run=run, f=figures)


def calibration_files(
    fitted: Calibration,
    proposed_rows: pl.DataFrame | None,
    config: Config,
    as_of: dt.date,
    settings: dict[str, Any],
    inputs_fingerprint: str,
) -> tuple[dict[str, str | dict[str, Any]], dict[str, Any]]:
    """What a calibration publishes, as values ({file name: text, or a JSON-ready dict}:
    calibration.html, calibration.json, proposed_config.yaml, config_diff.md,
    p_convert_model.json), and its figures."""
    shown = {**figures(fitted, proposed_rows, config, as_of, settings), "inputs_fingerprint": inputs_fingerprint}
    run = {"as_of": as_of.isoformat(), "config_fingerprint": config.fingerprint(), "inputs_fingerprint": inputs_fingerprint}
    files: dict[str, str | dict[str, Any]] = {
        "calibration.html": render_html(shown, run),
        "proposed_config.yaml": proposed_yaml(fitted.proposed, shown),
        "config_diff.md": diff_markdown(shown["config_diff"], shown["config_fingerprint"], shown["proposed_fingerprint"], shown["notes"]),
        "calibration.json": shown,
        "p_convert_model.json": fitted.p_model or {"features": [], "why_not": shown["p_convert"]["why_not"]},
    }
    return files, shown
