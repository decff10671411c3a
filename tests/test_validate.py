"""The GX gate: blocking failures name source, expectation and bad rows; warnings quarantine
exactly the rows GX counted."""

import json
import shutil

import polars as pl
import pytest

from abmq.resources import EXPECTATIONS, suite_names
from steps import stage_and_validate
from abmq.tasks.sources import SOURCES
from abmq.tasks.validate import ROW_LEVEL, load_suite


def test_every_source_has_a_suite_with_severities():
    for source in SOURCES:
        suite = load_suite(source)
        assert suite["name"] == source
        for expectation in suite["expectations"]:
            assert expectation["meta"]["severity"] in ("blocking", "warning"), expectation
            if expectation["meta"]["severity"] == "warning":
                assert expectation["type"] in ROW_LEVEL, f"{source}: warnings must be row-level to quarantine"


def test_suites_are_valid_json_files():
    # one suite per source, plus the contract of one daily events file
    assert suite_names() == sorted([*SOURCES, "events_partition"])
    for path in (p for p in EXPECTATIONS.iterdir() if p.name.endswith(".json")):
        json.loads(path.read_text())


def test_clean_handbuilt_sources_have_no_blocking_failures(handbuilt_dir, as_of):
    sources = stage_and_validate(handbuilt_dir, as_of)
    assert all(not d.validation.blocking_failures for d in sources.values() if d.validation)
    events = sources["events"]
    assert [o.label for o in events.validation.warnings] == ["expect_column_values_to_be_between(occurred_at)"]
    assert events.quarantined["event_id"].to_list() == ["e95"]
    assert "event dated after the as-of date" in events.quarantined["quarantine_reasons"][0]


def break_and_validate(handbuilt_dir, tmp_path, as_of, source, change):
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    frame = pl.read_csv(data / f"{source}.csv", infer_schema=False)
    change(frame).write_csv(data / f"{source}.csv")
    return stage_and_validate(data, as_of)[source]


def test_missing_required_column_is_blocking(handbuilt_dir, tmp_path, as_of):
    result = break_and_validate(handbuilt_dir, tmp_path, as_of, "events", lambda f: f.drop("event_type"))
    assert result.validation.error_message() == "events (events.csv): required column 'event_type' is missing (add it to the export)"


def test_null_keys_are_blocking_with_a_count(handbuilt_dir, tmp_path, as_of):
    result = break_and_validate(
        handbuilt_dir, tmp_path, as_of, "contacts",
        lambda f: f.with_columns(pl.when(pl.col("contact_id").is_in(["h1", "h2"])).then(None).otherwise(pl.col("contact_id")).alias("contact_id")),
    )
    assert "contacts (contacts.csv): expect_column_values_to_not_be_null(contact_id) failed on 2 of 16 rows" in result.validation.error_message()


def test_header_only_file_is_blocking(handbuilt_dir, tmp_path, as_of):
    result = break_and_validate(handbuilt_dir, tmp_path, as_of, "accounts", lambda f: f.clear())
    assert "accounts (accounts.csv): expect_table_row_count_to_be_between(min_value=1) failed: the source has no data rows" in result.validation.error_message()


@pytest.mark.parametrize(
    "source, change, rule, count",
    [
        ("intent", lambda f: f.with_columns(pl.when(pl.col("topic") == "Lead Scoring").then(pl.lit("140")).otherwise(pl.col("score")).alias("score")), "expect_column_values_to_be_between(score)", 1),
        ("intent", lambda f: f.with_columns(pl.when(pl.col("topic") == "Lead Scoring").then(pl.lit("2026-11-30")).otherwise(pl.col("week")).alias("week")), "expect_column_values_to_be_between(week)", 1),
        ("accounts", lambda f: f.with_columns(pl.when(pl.col("domain") == "globex.com").then(pl.lit("-5")).otherwise(pl.col("annual_revenue")).alias("annual_revenue")), "expect_column_values_to_be_between(annual_revenue)", 1),
        ("events", lambda f: f.with_columns(pl.when(pl.col("event_id").is_in(["e70", "e71"])).then(pl.lit("phone_call")).otherwise(pl.col("event_type")).alias("event_type")), "expect_column_values_to_be_in_set(event_type)", 2),
        ("accounts", lambda f: f.with_columns(pl.when(pl.col("domain") == "quiet.com").then(pl.lit("twelve")).otherwise(pl.col("employees")).alias("employees")), "expect_column_values_to_be_null(_cast_error)", 1),
        ("accounts", lambda f: f.with_columns(pl.when(pl.col("domain") == "quiet.com").then(pl.lit("Netherlands")).otherwise(pl.col("country")).alias("country")), "expect_column_values_to_be_in_set(country)", 1),
    ],
    ids=["intent-score-140", "intent-week-after-as-of", "negative-revenue", "unknown-event-type", "mixed-types", "bad-country"],
)
def test_row_level_failures_are_quarantined_with_reasons(handbuilt_dir, tmp_path, as_of, source, change, rule, count):
    result = break_and_validate(handbuilt_dir, tmp_path, as_of, source, change)
    assert not result.validation.blocking_failures
    failed = {o.label: o.unexpected_count for o in result.validation.warnings}
    assert failed[rule] == count
    flagged = result.quarantined.filter(pl.col("quarantine_reasons").str.contains(rule, literal=True))
    assert flagged.height == count
    assert result.kept.height + result.quarantined.height == result.rows_in


def test_two_exports_of_one_source_are_refused(handbuilt_dir, tmp_path, as_of):
    from abmq.tasks.catalog import SourceError

    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    pl.read_csv(data / "intent.csv").write_parquet(data / "intent.parquet")
    with pytest.raises(SourceError, match="intent: found several exports"):
        stage_and_validate(data, as_of)


def test_events_may_be_a_folder_of_daily_files(handbuilt_dir, tmp_path, as_of):
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    events = pl.read_csv(data / "events.csv", infer_schema=False)
    (data / "events.csv").unlink()
    (data / "events").mkdir()
    for day, part in events.group_by(pl.col("occurred_at").str.slice(0, 10), maintain_order=True):
        part.write_csv(data / "events" / f"{day[0]}.csv")
    sources = stage_and_validate(data, as_of)
    assert sources["events"].rows_in == events.height
    assert len(sources["events"].files) > 10 and sources["events"].files[0].startswith("events/")
