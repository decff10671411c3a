"""The output contract: the account table is checked before publishing; each broken rule
blocks with its own message."""

from __future__ import annotations

import polars as pl
import pytest

from abmq.tasks.output_contract import check_account_table, contract_frame
from abmq.tasks.validate import DataQualityError


@pytest.fixture(scope="module")
def accounts(handbuilt_result) -> pl.DataFrame:
    return handbuilt_result["accounts"]


def test_a_real_account_table_passes(accounts, handbuilt_result):
    validation = check_account_table(accounts, handbuilt_result["config"])
    assert not validation.blocking_failures
    assert len(validation.outcomes) == 9
    frame = contract_frame(accounts, handbuilt_result["config"])
    assert frame.height == accounts.height
    assert frame["points_gap"].to_list() == [0] * accounts.height


def _broken(accounts: pl.DataFrame, how: str) -> pl.DataFrame:
    first_target = accounts.filter(pl.col("target_rank") == 1)["domain"][0]
    if how == "duplicate":
        return pl.concat([accounts, accounts.head(1)])
    if how == "decision":
        return accounts.with_columns(
            pl.when(pl.col("domain") == first_target).then(pl.lit("maybe")).otherwise("decision").alias("decision")
        )
    if how == "points":
        return accounts.with_columns(pl.when(pl.col("domain") == first_target).then(pl.col("score") + 1).otherwise("score").alias("score"))
    if how == "rank":
        return accounts.with_columns(pl.when(pl.col("target_rank") == 1).then(0).otherwise("target_rank").alias("target_rank"))
    if how == "tier":
        return accounts.with_columns(pl.when(pl.col("domain") == first_target).then(pl.lit("Tier 9")).otherwise("tier").alias("tier"))
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how, rule",
    [
        ("duplicate", "expect_column_values_to_be_unique(domain)"),
        ("decision", "expect_column_values_to_be_in_set(decision)"),
        ("points", "expect_column_values_to_be_between(points_gap)"),
        ("rank", "expect_column_values_to_be_between(rank_gap)"),
        ("tier", "expect_column_values_to_be_in_set(tier)"),
    ],
)
def test_each_broken_rule_blocks_publishing(accounts, handbuilt_result, how, rule):
    with pytest.raises(DataQualityError) as error:
        check_account_table(_broken(accounts, how), handbuilt_result["config"])
    assert str(error.value).startswith("output contract failed, nothing published")
    assert rule in str(error.value)


def test_a_tier_over_capacity_blocks(accounts, handbuilt_result):
    config = handbuilt_result["config"]
    targets = accounts.filter(pl.col("tier").is_not_null())
    tier = targets["tier"][0]
    held = targets.filter(pl.col("tier") == tier).height
    squeezed = config.model_validate(
        {
            **config.model_dump(),
            "selection": {
                **config.selection.model_dump(),
                "tiers": [{**t.model_dump(), "capacity": held - 1 if t.name == tier else t.capacity} for t in config.selection.tiers],
            },
        }
    )
    with pytest.raises(DataQualityError) as error:
        check_account_table(accounts, squeezed)
    assert "expect_column_values_to_be_between(tier_overflow)" in str(error.value)
