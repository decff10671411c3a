"""What changed since the last run: newly SQL-ready, dropped targets, tier moves, risers.

Compared with the snapshot of the latest earlier as-of date, so a rerun of the same date
reports the same changes.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from abmq.tasks.exports import POINT_LABELS
from abmq.tasks.scoring import POINT_COLUMNS
from abmq.tasks.sources import ID_KEY_PREFIX, is_id_key, key_from_published, published_domain

SNAPSHOT_COLUMNS = ["domain", "name", "decision", "score", "fit_points", "engagement_points", "tier", "target_rank", *POINT_COLUMNS]
RISERS = 10


def snapshot(accounts: pl.DataFrame) -> pl.DataFrame:
    return accounts.select(SNAPSHOT_COLUMNS).sort("domain")


def published_snapshot(accounts: pl.DataFrame) -> pl.DataFrame:
    """The snapshot as published: the domain blank for an account keyed by its account_id,
    whose `account_id` is then a column too (only then: snapshots of domain-keyed accounts
    keep their columns); `rekeyed` reads the key back."""
    frame = snapshot(accounts)
    if not frame.select(is_id_key(pl.col("domain")).any()).item():
        return frame
    return frame.with_columns(
        published_domain(pl.col("domain")).alias("domain"),
        pl.when(is_id_key(pl.col("domain"))).then(pl.col("domain").str.strip_prefix(ID_KEY_PREFIX)).alias("account_id"),
    )


def rekeyed(previous: pl.DataFrame | None) -> pl.DataFrame | None:
    """A published snapshot keyed again as the pipeline keys accounts (`domain` = the key)."""
    if previous is None or "account_id" not in previous.columns:
        return previous
    return previous.with_columns(key_from_published(pl.col("domain"), pl.col("account_id")).alias("domain")).drop("account_id")


def compare(current: pl.DataFrame, previous: pl.DataFrame | None, previous_as_of: str | None) -> dict[str, Any]:
    if previous is None:
        return {"previous_as_of": None}
    # Older snapshots may lack signals added since; they count as 0 points then.
    previous = previous.with_columns(pl.lit(0, pl.Int64).alias(c) for c in POINT_COLUMNS if c not in previous.columns)
    joined = snapshot(current).join(previous.select(SNAPSHOT_COLUMNS), on="domain", how="left", suffix="_before")
    was_target = pl.col("tier_before").is_not_null()
    is_target = pl.col("tier").is_not_null()
    # The signal whose points moved most explains a riser.
    deltas = pl.concat_list([(pl.col(c) - pl.col(f"{c}_before")) for c in POINT_COLUMNS])
    labels = pl.concat_list([pl.lit(POINT_LABELS[c]) for c in POINT_COLUMNS])
    with_delta = joined.with_columns((pl.col("score") - pl.col("score_before")).alias("score_change"))
    top_signal = (
        pl.when(deltas.list.max() > 0)
        .then(pl.format("{} +{}", labels.list.get(deltas.list.arg_max()), deltas.list.max()))
        .alias("top_signal")
    )

    def rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
        # the signal is worked out for the rows listed only (list work over 1M accounts is slow)
        return (
            frame.with_columns(top_signal, pl.col("domain").alias("account_key"), published_domain(pl.col("domain")).alias("domain"))
            .select(
                "domain",
                "account_key",
                "name",
                "score",
                "score_before",
                "tier",
                "tier_before",
                "decision",
                "decision_before",
                "score_change",
                "top_signal",
            )
            .to_dicts()
        )

    dropped_domains = set(previous.filter(pl.col("tier").is_not_null())["domain"]) - set(
        current.filter(pl.col("tier").is_not_null())["domain"]
    )
    dropped = (
        previous.filter(pl.col("domain").is_in(sorted(dropped_domains)))
        .join(
            current.select("domain", pl.col("decision").alias("decision_now"), pl.col("score").alias("score_now")), on="domain", how="left"
        )
        .sort("target_rank")
    )
    return {
        "previous_as_of": previous_as_of,
        "new_sql_ready": rows(
            with_delta.filter((pl.col("decision") == "sql_ready") & (pl.col("decision_before") != "sql_ready").fill_null(True)).sort(
                "target_rank", nulls_last=True
            )
        ),
        "dropped": dropped.select(
            published_domain(pl.col("domain")).alias("domain"),
            pl.col("domain").alias("account_key"),
            "name",
            "score",
            "tier",
            "decision_now",
            "score_now",
        ).to_dicts(),
        "tier_moves": rows(with_delta.filter(was_target & is_target & (pl.col("tier") != pl.col("tier_before"))).sort("target_rank")),
        "risers": rows(
            with_delta.filter(pl.col("score_change") > 0).sort(["score_change", "domain"], descending=[True, False]).head(RISERS)
        ),
    }
