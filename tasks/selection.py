"""Decisions and tiers: every account ends in exactly one decision, with the rule that made it.

Precedence: suppressed (customer, open opportunity, competitor) > needs_enrichment
(missing firmographics) > sql_ready (score >= threshold) > nurture (fit >= nurture_min_fit)
> disqualified.
"""

from __future__ import annotations

import polars as pl

from abmq.config import Config
from abmq.tasks.normalise import FIRMOGRAPHICS
from abmq.tasks.sources import in_key_order

SUPPRESSION_REASONS = {
    "customers": "existing customer",
    "open_opportunities": "open opportunity",
    "competitors": "competitor",
}
# Equal scores are ordered by p_convert (the calibrated likelihood to convert, when a model
# is given; empty ones last), then by trend (rising first), then by the breadth and
# freshness of the buying group, then by domain so the ranking never depends on input row order.
RANK_BY = [
    "score",
    "p_convert",
    "_trend_priority",
    "fit_points",
    "engaged_stakeholders",
    "decision_makers_engaged",
    "recent_points",
    "domain",
]
RANK_DESCENDING = [True, True, False, True, True, True, True, False]
RANK_NULLS_LAST = [False, True, False, False, False, False, False, False]
TREND_PRIORITY = {"rising": 0, "steady": 1, "none": 2, "cooling": 3}


def decide(scored: pl.DataFrame, suppression: dict[str, pl.Series], config: Config) -> pl.DataFrame:
    threshold = config.account_scoring.threshold
    min_fit = config.selection.nurture_min_fit
    fast = config.account_scoring.fast_path
    fast_path = (
        pl.lit(fast.enabled)
        & pl.col("decision_maker_demo_request")
        & (pl.col("fit_points") >= fast.min_fit)
        & (pl.col("score") < threshold)
    )
    enabled = config.selection.suppress.model_dump()

    suppressed_because = pl.lit(None, pl.String)
    for key in reversed(list(SUPPRESSION_REASONS)):
        if enabled[key] and key in suppression:
            suppressed_because = (
                pl.when(pl.col("domain").is_in(suppression[key].implode()))
                .then(pl.lit(SUPPRESSION_REASONS[key]))
                .otherwise(suppressed_because)
            )
    missing = pl.concat_str([pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in FIRMOGRAPHICS], separator=", ", ignore_nulls=True)
    score_text = pl.col("score").cast(pl.String)
    fit_text = pl.col("fit_points").cast(pl.String)
    return (
        scored.with_columns(suppressed_because.alias("suppression"), missing.alias("_missing"))
        .with_columns(
            pl.when(pl.col("suppression").is_not_null())
            .then(pl.lit("suppressed"))
            .when(pl.col("_missing") != "")
            .then(pl.lit("needs_enrichment"))
            .when((pl.col("score") >= threshold) | fast_path)
            .then(pl.lit("sql_ready"))
            .when(pl.col("fit_points") >= min_fit)
            .then(pl.lit("nurture"))
            .otherwise(pl.lit("disqualified"))
            .alias("decision")
        )
        .with_columns(
            pl.when(pl.col("decision") == "suppressed")
            .then(pl.lit("suppressed: ") + pl.col("suppression"))
            .when(pl.col("decision") == "needs_enrichment")
            .then(pl.lit("missing firmographics: ") + pl.col("_missing"))
            .when((pl.col("decision") == "sql_ready") & fast_path)
            .then(
                pl.format(
                    "fast path: demo request from a decision-maker, fit {} >= {} (score {})", fit_text, pl.lit(fast.min_fit), score_text
                )
            )
            .when(pl.col("decision") == "sql_ready")
            .then(pl.format("score {} >= {} (SQL-ready threshold)", score_text, pl.lit(threshold)))
            .when(pl.col("decision") == "nurture")
            .then(pl.format("fit {} >= {} but score {} < {}", fit_text, pl.lit(min_fit), score_text, pl.lit(threshold)))
            .otherwise(pl.format("fit {} < {} (minimum fit to nurture)", fit_text, pl.lit(min_fit)))
            .alias("decision_reason")
        )
        .drop("_missing")
    )


def assign_tiers(decided: pl.DataFrame, config: Config, previous_tiers: pl.DataFrame | None = None) -> pl.DataFrame:
    """Rank target accounts and fill tiers in rank order, each up to its capacity; an account
    below a tier's min_score falls to the next tier, unless it held that tier last run and is
    within the hysteresis margin; what no tier can hold is untiered."""
    eligible = pl.col("decision").is_in(list(config.selection.target_decisions))
    margin = config.selection.tier_hysteresis
    if previous_tiers is None:
        previous_tiers = pl.DataFrame(schema={"domain": pl.String, "previous_tier": pl.String})
    if "p_convert" not in decided.columns:
        decided = decided.with_columns(pl.lit(None, pl.Float64).alias("p_convert"))
    decided = in_key_order(decided, "domain")
    # Tiers are filled on the ranking's own columns; sorting every column of 1M accounts (the
    # people's lists among them) into rank order and back took 6 s at XL.
    ranked = (
        decided.select(*(c for c in RANK_BY if c != "_trend_priority"), "trend", "decision")
        .with_row_index("_position")
        .join(previous_tiers, on="domain", how="left")
        .with_columns(pl.col("trend").replace_strict(TREND_PRIORITY, default=2, return_dtype=pl.Int8).alias("_trend_priority"))
        .sort(RANK_BY, descending=RANK_DESCENDING, nulls_last=RANK_NULLS_LAST)
    )
    tier = pl.lit(None, pl.String)
    tier_label = pl.lit(None, pl.String)
    taken = pl.lit(False)
    for spec in config.selection.tiers:
        holds = (pl.col("previous_tier") == spec.name).fill_null(False) & (pl.col("score") >= spec.min_score - margin)
        candidate = eligible & ~taken & ((pl.col("score") >= spec.min_score) | holds)
        # Position among this tier's candidates, in rank order.
        slot = pl.when(candidate).then(candidate.cast(pl.Int64).cum_sum())
        chosen = candidate & (slot <= spec.capacity)
        ranked = ranked.with_columns(chosen.alias(f"_in_{spec.name}"))
        tier = pl.when(pl.col(f"_in_{spec.name}")).then(pl.lit(spec.name)).otherwise(tier)
        tier_label = pl.when(pl.col(f"_in_{spec.name}")).then(pl.lit(spec.label)).otherwise(tier_label)
        taken = taken | pl.col(f"_in_{spec.name}")
    tiered = ranked.with_columns(tier.alias("tier"), tier_label.alias("tier_label"))
    tiered = tiered.with_columns(
        pl.when(pl.col("tier").is_not_null()).then(pl.col("tier").is_not_null().cum_sum()).cast(pl.Int64).alias("target_rank"),
        pl.when(pl.col("tier").is_not_null())
        .then(pl.lit("target"))
        .when(eligible)
        .then(pl.lit("eligible, beyond tier capacity"))
        .otherwise(pl.lit("not a target: ") + pl.col("decision"))
        .alias("target_status"),
    )
    tiers = tiered.sort("_position").select("tier", "tier_label", "target_rank", "target_status")
    return decided.hstack(tiers)


ROLE_NAMES = {
    "decision_maker": "a decision-maker",
    "finance": "finance",
    "technical_evaluator": "a technical evaluator",
    "champion": "a champion",
    "user": "users",
}


def next_step() -> pl.Expr:
    """A short, rule-based suggestion for the account owner: the first buying-group role
    still missing says whom to engage next."""
    missing = pl.col("roles_missing").list.first()
    engage = pl.format("engage {}: no {} engaged yet", missing.replace(ROLE_NAMES), missing.str.replace_all("_", " "))
    return (
        pl.when(pl.col("decision") == "suppressed")
        .then(pl.lit("none: suppressed"))
        .when(pl.col("decision") == "needs_enrichment")
        .then(pl.lit("enrich firmographics, then rescore"))
        .when(pl.col("decision") == "disqualified")
        .then(pl.lit("none: outside the ICP"))
        .when((pl.col("decision") == "sql_ready") & missing.is_null())
        .then(pl.lit("hand off to sales: book a discovery call"))
        .when(pl.col("decision") == "sql_ready")
        .then(pl.lit("hand off to sales; ") + engage)
        .when(pl.col("engaged_stakeholders") == 0)
        .then(pl.lit("nurture: no one engaged yet, start with ads and outreach"))
        .when(missing.is_not_null())
        .then(pl.lit("nurture: ") + engage)
        .otherwise(pl.lit("nurture: keep engaging until SQL-ready"))
    )
