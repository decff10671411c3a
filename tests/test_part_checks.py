"""An export kept in parts validated a part at a time (tasks/part_checks.py): the verdict made of
the parts' GX results is GX's over the whole export, field for field, and a later run keeps a
part's verdict only while it still holds."""

import copy
import datetime as dt

import polars as pl
import pytest

from abmq.config import load_config
from abmq.tasks import gate, part_checks, remembered, validate

AS_OF = dt.date(2026, 11, 25)
CONFIG = load_config()


def parameters(source: str, as_of: dt.date = AS_OF) -> dict:
    return gate.source_parameters(gate.gate_parameters(as_of, CONFIG, history=[]), source)


def suite(source: str) -> dict:
    return validate.load_suite(source, CONFIG.data_quality, value_sets=validate.config_value_sets(CONFIG))


def parts_at(bounds: list[int]) -> list[dict]:
    return [{"file": f"part-{n}", "start": a, "rows": b - a} for n, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def contacts(n: int = 60) -> pl.DataFrame:
    """Staged contacts with failing rows spread over the parts: 30 personal e-mails (more than
    GX's 20 shown, across three parts), two without a domain, two orphans, a seniority outside
    the vocabulary, a blank department (missing, not unexpected) and a value that did not fit."""
    row = pl.int_range(pl.len())
    personal = pl.when(row.is_between(5, 34)).then(pl.when(row % 3 == 0).then(pl.lit("gmail.com")).otherwise(pl.lit("yahoo.com")))
    return pl.DataFrame({"_row": range(n)}).with_columns(
        ("c" + row.cast(pl.String)).alias("contact_id"),
        pl.lit("someone@example.com").alias("email"),
        pl.lit("Ada").alias("first_name"),
        pl.lit("Lovelace").alias("last_name"),
        pl.lit("CTO").alias("title"),
        pl.when(row.is_in([3, 41])).then(None).otherwise(pl.lit("example.com")).alias("domain"),
        personal.alias("unlinked_personal_domain"),
        ~row.is_in([7, 50]).alias("account_found"),
        pl.when(row == 12).then(pl.lit("intern")).otherwise(pl.lit("c_level")).alias("seniority"),
        pl.when(row == 13).then(None).otherwise(pl.lit("it")).alias("department"),
        pl.when(row == 55).then(pl.lit("employees=many")).alias("_cast_error"),
    )


def technographics(n: int = 40) -> pl.DataFrame:
    row = pl.int_range(pl.len())
    day = pl.lit(dt.date(2026, 6, 1))
    return pl.DataFrame({"_row": range(n)}).with_columns(
        pl.lit("example.com").alias("domain"),
        pl.when(row == 30).then(None).otherwise(pl.lit("Snowflake")).alias("technology"),
        pl.lit("warehouse").alias("category"),
        # seen after the as-of date (rows 4, 22), last seen before first seen (rows 9, 10, 33)
        pl.when(row.is_in([4, 22])).then(pl.lit(dt.date(2026, 12, 24))).otherwise(day).alias("first_seen"),
        pl.when(row.is_in([9, 10, 33])).then(pl.lit(dt.date(2026, 1, 1))).when(row == 17).then(None).otherwise(day).alias("last_seen"),
        (row != 25).alias("account_found"),
        pl.lit(None, pl.String).alias("_cast_error"),
    )


def intent(n: int = 40, future_row: int | None = 27) -> pl.DataFrame:
    row = pl.int_range(pl.len())
    week = pl.lit(dt.date(2026, 11, 2)) + pl.duration(weeks=row % 3)  # the newest week in rows 2, 5, 8, …
    if future_row is not None:
        week = pl.when(row == future_row).then(pl.lit(dt.date(2026, 12, 7))).otherwise(week)
    return pl.DataFrame({"_row": range(n)}).with_columns(
        pl.lit("example.com").alias("domain"),
        pl.when(row == 6).then(None).otherwise(pl.lit("data warehouse")).alias("topic"),
        week.alias("week"),
        pl.when(row.is_in([1, 38])).then(pl.lit(140.0)).otherwise(pl.lit(55.0)).alias("score"),
        pl.lit(True).alias("account_found"),
        pl.lit(None, pl.String).alias("_cast_error"),
    )


def whole_and_merged(source, staged, parts, known=None, as_of=AS_OF):
    checks, validated = part_checks.validated_parts(source, staged, suite(source), parameters(source, as_of), ["x"], [], parts, known or {})
    merged = part_checks.merged(source, suite(source), parameters(source, as_of), ["x"], staged.height, [], parts, checks)
    whole = validate.run_suite(source, staged, suite(source), parameters(source, as_of), ["x"], [])
    return whole, merged, checks, validated


def assert_same_verdict(whole: validate.SourceValidation, merged: validate.SourceValidation) -> None:
    assert merged is not None
    assert merged.outcomes == whole.outcomes
    assert merged.gx_positions == whole.gx_positions
    assert remembered.stable_gx_result(copy.deepcopy(merged.gx_result)) == remembered.stable_gx_result(whole.gx_result.to_json_dict())


@pytest.mark.parametrize(
    ("source", "frame", "bounds"),
    [
        ("contacts", contacts(), [0, 10, 25, 40, 60]),
        ("contacts", contacts(), [0, 1, 2, 59, 60]),
        ("technographics", technographics(), [0, 5, 23, 40]),
        ("intent", intent(), [0, 3, 28, 40]),
    ],
    ids=["contacts", "contacts-odd-bounds", "technographics", "intent"],
)
def test_a_verdict_made_of_the_parts_is_gxs_over_the_whole_export(source, frame, bounds):
    whole, merged, _, validated = whole_and_merged(source, frame, parts_at(bounds))
    assert validated == len(bounds) - 1
    assert_same_verdict(whole, merged)
    failed = {o.label: o.unexpected_count for o in merged.outcomes if not o.success}
    expected = {
        "contacts": {
            "expect_column_values_to_not_be_null(domain)": 2,
            "expect_column_values_to_be_null(unlinked_personal_domain)": 30,
            "expect_column_values_to_be_in_set(account_found)": 2,
            "expect_column_values_to_be_in_set(seniority)": 1,
            "expect_column_values_to_be_null(_cast_error)": 1,
        },
        "technographics": {
            "expect_column_values_to_not_be_null(technology)": 1,
            "expect_column_values_to_be_in_set(account_found)": 1,
            # rows 9, 10, 33 last seen before first seen, 4 and 22 first seen later than last, and
            # row 17 without a last seen (GX skips a row only when both are missing)
            "expect_column_pair_values_a_to_be_greater_than_b(last_seen/first_seen)": 6,
            "expect_column_values_to_be_between(first_seen)": 2,
        },
        "intent": {
            "expect_column_values_to_not_be_null(topic)": 1,
            "expect_column_values_to_be_between(score)": 2,
            "expect_column_values_to_be_between(week)": 1,
        },
    }[source]
    assert failed == expected
    if source == "contacts":  # 20 of the 30 personal e-mails shown, with their row numbers in the export
        item = next(i for i in merged.gx_result["results"] if i["expectation_config"]["kwargs"].get("column") == "unlinked_personal_domain")
        assert item["result"]["partial_unexpected_index_list"] == list(range(5, 25))
        assert item["result"]["partial_unexpected_counts"] == [{"value": "yahoo.com", "count": 13}, {"value": "gmail.com", "count": 7}]
    if source == "intent":  # the newest week of the parts, the future one
        newest = next(o for o in merged.outcomes if o.expectation == "expect_column_max_to_be_between")
        assert str(newest.observed_value)[:10] == "2026-12-07"


def test_the_match_floor_judged_on_the_sums_blocks_as_on_the_whole_export():
    """90% of the contacts must match an account: 8 of 60 orphans (86.7%) fail it though no part
    alone has more than 10% of its rows orphaned but the last."""
    frame = contacts().with_columns((~pl.int_range(pl.len()).is_in([7, 50, 52, 53, 54, 56, 57, 58])).alias("account_found"))
    whole, merged, _, _ = whole_and_merged("contacts", frame, parts_at([0, 30, 50, 60]))
    assert_same_verdict(whole, merged)
    floor = next(o for o in merged.outcomes if "mostly" in o.kwargs)
    assert not floor.success and floor.severity == "blocking" and floor.unexpected_count == 8


def test_a_kept_verdict_is_taken_while_it_holds_and_a_part_changed_is_validated_again():
    frame = intent()
    parts = parts_at([0, 3, 28, 40])
    _, _, day_one, _ = whole_and_merged("intent", frame, parts)

    # the next day, the same parts: no GX run; the row count and newest week judged again
    whole, merged, _, validated = whole_and_merged("intent", frame, parts, known=day_one, as_of=AS_OF + dt.timedelta(days=1))
    assert validated == 1  # the part with the week after the as-of date: its row check may judge it otherwise now
    assert_same_verdict(whole, merged)

    # the as-of date moved back: a bound tightened, every part is validated again
    _, merged, _, validated = whole_and_merged("intent", frame, parts, known=day_one, as_of=AS_OF - dt.timedelta(days=1))
    assert validated == 3

    # a changed part is another file: validated, the others kept
    changed = frame.with_columns(pl.when(pl.int_range(pl.len()) == 30).then(pl.lit(-5.0)).otherwise("score").alias("score"))
    renamed = [*parts[:2], {**parts[2], "file": "part-2-changed"}]
    whole, merged, checks, validated = whole_and_merged("intent", changed, renamed, known=day_one)
    assert validated == 2  # the changed part, and the one with a future week
    assert_same_verdict(whole, merged)
    assert next(o for o in merged.outcomes if o.label == "expect_column_values_to_be_between(score)").unexpected_count == 3
    assert set(checks) == {"part-0", "part-1", "part-2-changed"}

    # a verdict under another suite is not taken
    other = {name: {**check, "suite": "another"} for name, check in day_one.items()}
    assert whole_and_merged("intent", frame, parts, known=other)[3] == 3


def test_what_cannot_be_made_of_parts_is_validated_whole():
    frame = contacts()
    assert whole_and_merged("contacts", frame, parts_at([0, 30, 30, 60]))[1] is None  # a part without rows
    assert part_checks.merged("contacts", suite("contacts"), parameters("contacts"), ["x"], 60, [], [], {}) is None
    unlisted = suite("contacts")
    unlisted["expectations"].append({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "contact_id"}, "meta": {}})
    assert not part_checks.mergeable(unlisted)
