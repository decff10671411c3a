"""The output contract: the account table is checked before anything is published
(`expectations/account_scores.json`, a GX suite like the input ones). A failure stops the
run like a blocking input check: the last good outputs stay where they are."""

from __future__ import annotations

import polars as pl

from abmq.config import Config
from abmq.tasks import validate
from abmq.tasks.scoring import POINT_COLUMNS
from abmq.vocabulary import DECISIONS

SUITE = "account_scores"


def contract_frame(accounts: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The columns the suite checks, derived from the account table: how far the points
    are from the score, how many accounts a tier holds beyond its capacity, how far each
    target's rank is from its position in rank order, whether p_convert is outside [0, 1]
    (all 0 when the table is right)."""
    capacity = pl.DataFrame(
        {"tier": [t.name for t in config.selection.tiers], "_capacity": [t.capacity for t in config.selection.tiers]},
        schema={"tier": pl.String, "_capacity": pl.Int64},
    )
    ranked = accounts.select("domain", "target_rank").filter(pl.col("target_rank").is_not_null()).sort("target_rank", "domain")
    positions = ranked.with_columns((pl.col("target_rank") - pl.int_range(1, pl.len() + 1, dtype=pl.Int64)).alias("rank_gap")).select(
        "domain", "rank_gap"
    )
    return (
        accounts.select(
            "domain",
            "decision",
            "tier",
            (pl.col("score") - pl.sum_horizontal(POINT_COLUMNS)).alias("points_gap"),
            # 1 where p_convert is outside [0, 1]; empty (no model) is fine. GX's range check
            # fails an all-null column, so the check reads this flag instead.
            (~(pl.col("p_convert").is_between(0, 1) | pl.col("p_convert").is_null()) if "p_convert" in accounts.columns else pl.lit(False))
            .cast(pl.Int8)
            .alias("p_convert_outside_0_1"),
        )
        .with_row_index("_order")
        .join(capacity, on="tier", how="left")
        .with_columns((pl.len().over("tier") - pl.col("_capacity")).alias("tier_overflow"))
        .join(positions, on="domain", how="left")
        # a domain listed twice joins twice: keep one check row per account row
        .unique("_order", keep="first", maintain_order=True)
        .sort("_order")
        .drop("_order", "_capacity")
    )


def check_account_table(accounts: pl.DataFrame, config: Config) -> validate.SourceValidation:
    """Run the output contract; raise `DataQualityError` naming each broken rule."""
    suite = validate.load_suite(SUITE)
    parameters = {"decisions": list(DECISIONS), "tiers": [t.name for t in config.selection.tiers]}
    validation = validate.run_suite(SUITE, contract_frame(accounts, config), suite, parameters, ["account_scores.parquet"])
    if validation.blocking_failures:
        raise validate.DataQualityError("output contract failed, nothing published: " + validation.error_message())
    return validation
