"""The GX gate: blocking failures name source, expectation and bad rows; warnings quarantine
exactly the rows GX counted."""

import datetime as dt
import json
import shutil

import polars as pl
import pytest
from steps import stage_and_validate

from abmq.config import load_config
from abmq.resources import EXPECTATIONS, suite_names
from abmq.tasks import rollup
from abmq.tasks.quarantine import ROW_LEVEL
from abmq.tasks.sources import SOURCES
from abmq.tasks.validate import load_suite


def test_every_source_has_a_suite_with_severities():
    for source in SOURCES:
        suite = load_suite(source)
        assert suite["name"] == source
        for expectation in suite["expectations"]:
            assert expectation["meta"]["severity"] in ("blocking", "warning"), expectation
            if expectation["meta"]["severity"] == "warning":
                assert expectation["type"] in ROW_LEVEL, f"{source}: warnings must be row-level to quarantine"


def test_suites_are_valid_json_files():
    # one suite per source, the contract of one daily events file, and the output contract
    assert suite_names() == sorted([*SOURCES, "events_partition", "account_scores"])
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
        handbuilt_dir,
        tmp_path,
        as_of,
        "contacts",
        lambda f: f.with_columns(
            pl.when(pl.col("contact_id").is_in(["h1", "h2"])).then(None).otherwise(pl.col("contact_id")).alias("contact_id")
        ),
    )
    assert (
        "contacts (contacts.csv): expect_column_values_to_not_be_null(contact_id) failed on 2 of 16 rows"
        in result.validation.error_message()
    )


def test_header_only_file_is_blocking(handbuilt_dir, tmp_path, as_of):
    result = break_and_validate(handbuilt_dir, tmp_path, as_of, "accounts", lambda f: f.clear())
    assert (
        "accounts (accounts.csv): expect_table_row_count_to_be_between(min_value=1) failed: the source has no data rows"
        in result.validation.error_message()
    )


@pytest.mark.parametrize(
    "source, change, rule, count",
    [
        (
            "intent",
            lambda f: f.with_columns(
                pl.when(pl.col("topic") == "Lead Scoring").then(pl.lit("140")).otherwise(pl.col("score")).alias("score")
            ),
            "expect_column_values_to_be_between(score)",
            1,
        ),
        (
            "intent",
            lambda f: f.with_columns(
                pl.when(pl.col("topic") == "Lead Scoring").then(pl.lit("2026-11-30")).otherwise(pl.col("week")).alias("week")
            ),
            "expect_column_values_to_be_between(week)",
            1,
        ),
        (
            "accounts",
            lambda f: f.with_columns(
                pl.when(pl.col("domain") == "globex.com").then(pl.lit("-5")).otherwise(pl.col("annual_revenue")).alias("annual_revenue")
            ),
            "expect_column_values_to_be_between(annual_revenue)",
            1,
        ),
        (
            "events",
            lambda f: f.with_columns(
                pl.when(pl.col("event_id").is_in(["e70", "e71"]))
                .then(pl.lit("phone_call"))
                .otherwise(pl.col("event_type"))
                .alias("event_type")
            ),
            "expect_column_values_to_be_in_set(event_type)",
            2,
        ),
        (
            "accounts",
            lambda f: f.with_columns(
                pl.when(pl.col("domain") == "quiet.com").then(pl.lit("twelve")).otherwise(pl.col("employees")).alias("employees")
            ),
            "expect_column_values_to_be_null(_cast_error)",
            1,
        ),
        (
            "accounts",
            lambda f: f.with_columns(
                pl.when(pl.col("domain") == "quiet.com").then(pl.lit("Netherlands")).otherwise(pl.col("country")).alias("country")
            ),
            "expect_column_values_to_be_in_set(country)",
            1,
        ),
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
    # a run reads the daily files of its scoring window; later days are left for later runs
    first_day = rollup.first_day_read(load_config(), as_of).isoformat()
    in_window = events.filter(pl.col("occurred_at").str.slice(0, 10).is_between(pl.lit(first_day), pl.lit(as_of.isoformat())))
    assert 0 < in_window.height < events.height
    assert sources["events"].rows_in == in_window.height
    assert len(sources["events"].files) > 10 and sources["events"].files[0].startswith("events/")


def test_severity_overrides_follow_one_rule_for_every_suite():
    from abmq.config import ConfigError
    from abmq.tasks.event_partitions import partition_suite, window_checks
    from abmq.tasks.validate import check_severity_overrides, suite_label

    config = load_config()

    def quality(overrides):
        return config.data_quality.model_copy(update={"severity_overrides": overrides})

    # a check of events.json, and one only the daily-file suite has: both are `events` checks
    check_severity_overrides(quality({"events": {"expect_column_values_to_be_in_set(event_type)": "blocking"}}))
    labels = {name: {suite_label("events", e) for e in load_suite(name)["expectations"]} for name in ("events", "events_partition")}
    (day_check,) = labels["events_partition"] - labels["events"]
    check_severity_overrides(quality({"events": {day_check: "warning"}}))
    overridden = partition_suite(config.model_copy(update={"data_quality": quality({"events": {day_check: "warning"}})}))["expectations"]
    assert [e["meta"]["severity"] for e in overridden if suite_label("events", e) == day_check] == ["warning"]
    # a typo is a config error, for daily files as for one export
    with pytest.raises(ConfigError, match="no check labelled"):
        check_severity_overrides(quality({"events": {"expect_column_values_to_be_in_set(event_typo)": "blocking"}}))
    with pytest.raises(ConfigError, match="no source called"):
        check_severity_overrides(quality({"event": {}}))
    # the window checks take their overrides too
    import datetime as dt

    import polars as pl

    kept = pl.DataFrame({"contact_id": ["c1", "c9"], "occurred_at": [dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)] * 2})
    parameters = {"events_fresh_from": dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc), "volume_floors": {}}
    checks, orphans = window_checks(kept, pl.Series(["c1"]), 2, parameters)
    assert [c.severity for c in checks] == ["warning", "blocking", "blocking"] and orphans.height == 1
    stale = "expect_column_max_to_be_between(occurred_at)"
    checks, _ = window_checks(kept, pl.Series(["c1"]), 2, parameters, {stale: "warning"})
    assert [c.label for c in checks][1] == stale and checks[1].severity == "warning" and not checks[1].success


def test_a_table_check_downgraded_to_a_warning_is_reported_not_crashed(handbuilt_dir, as_of):
    """Stale events and intent, with the freshness checks overridden to warnings: the run goes
    on, and the logs, the quality summary and the report say what failed."""
    import datetime as dt
    import logging

    from abmq.tasks import flow_tasks, gate, pipeline

    later = as_of + dt.timedelta(days=60)
    stale = {
        "events": {"expect_column_max_to_be_between(occurred_at)": "warning"},
        "intent": {"expect_column_max_to_be_between(week)": "warning"},
    }
    config = load_config()
    config = config.model_copy(update={"data_quality": config.data_quality.model_copy(update={"severity_overrides": stale})})
    checked = pipeline.check_inputs(str(handbuilt_dir), None, config, later)
    warned = [o for o in checked.sources["events"].validation.warnings if o.label in stale["events"]]
    assert len(warned) == 1 and warned[0].unexpected_count is None
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("abmq-test")
    logger.addHandler(handler)
    flow_tasks.log_validated(logger, checked.sources["events"], {})
    assert any("expect_column_max_to_be_between(occurred_at) failed" in r.getMessage() for r in records)
    assessment = pipeline.assess(checked.sources, config, later)
    rendered = pipeline.render_run(assessment, [], config, later)
    summary = gate.quality_summary(assessment.cleaned.sources, assessment.cleaned.accounting)
    events = next(s for s in summary["sources"] if s["source"] == "events")
    assert "expect_column_max_to_be_between(occurred_at)" in {f["label"] for f in events["failed"]}
    assert "expect_column_max_to_be_between(occurred_at)" in rendered.bundle.files["quality.html"]


def test_gx_judges_lean_stand_ins_with_the_same_outcomes():
    """Columns whose text GX never reads reach it as stand-ins: `false` for a column only
    checked for being there, empty text with the same nulls for one checked for nulls, and
    categories for text compared with a set; every outcome, count and unexpected value is as
    it was with the text itself."""
    from abmq.tasks import validate

    contacts = pl.DataFrame(
        {
            "_row": [0, 1, 2, 3],
            "contact_id": ["c1", None, "c3", None],
            "email": ["a@x.com", None, "b@y.com", "c@z.com"],
            "first_name": ["Ann", "Bo", None, "Di"],
            "last_name": ["A", "B", "C", "D"],
            "title": [None, None, None, None],
            "domain": ["x.com", None, "y.com", "z.com"],
            "unlinked_personal_domain": [None, "gmail.com", None, None],
            "account_found": [True, False, True, True],
            "seniority": ["vp", "cxo", "wizard", None],
            "department": ["it", None, "it", "alchemy"],
            "_cast_error": [None, None, None, None],
        },
        schema_overrides={"title": pl.String, "_cast_error": pl.String},
    )
    suite = load_suite("contacts")
    given = validate.gx_columns(contacts, suite)
    assert given["email"].to_list() == [False] * 4  # only its name is read
    assert given["contact_id"].to_list() == ["", None, "", None]  # only its nulls are read
    # compared with a set, or checked to be null: the values, as categories
    assert given["seniority"].dtype == pl.Categorical and given["seniority"].cast(pl.String).equals(contacts["seniority"])
    assert given["unlinked_personal_domain"].dtype == pl.Categorical and given["_cast_error"].null_count() == 4
    assert "_row" not in given.columns

    def judged(frame_for_gx):
        original = validate.gx_columns
        validate.gx_columns = lambda frame, suite: frame_for_gx
        try:
            result = validate.run_suite("contacts", contacts, suite, {"volume_floor": 0}, ["contacts.csv"])
        finally:
            validate.gx_columns = original
        outcomes = [(o.label, o.success, o.unexpected_count, o.element_count) for o in result.outcomes]
        # repr: pandas may give a null as NaN, which is never equal to itself
        unexpected = [repr((r.expectation_config.type, r.result)) for r in result.gx_result.results]
        return outcomes, sorted(unexpected)

    full_text = contacts.select(c for c in contacts.columns if c in given.columns)
    assert judged(given) == judged(full_text)
    outcomes = {label: count for label, _, count, _ in judged(given)[0]}
    assert outcomes["expect_column_values_to_not_be_null(contact_id)"] == 2
    assert outcomes["expect_column_values_to_not_be_null(domain)"] == 1
    assert outcomes["expect_column_values_to_be_in_set(seniority)"] == 2  # cxo, wizard: in-set checks skip nulls


def _text_bytes(frame: pl.DataFrame) -> int:
    """Bytes of the Arrow buffers behind `frame`'s text columns (views share the buffers of
    the frame they were filtered from)."""
    return sum(
        buffer.size
        for column in frame.select(pl.col(pl.String)).get_columns()
        for buffer in column.to_arrow(compat_level=pl.CompatLevel.newest()).buffers()
        if buffer is not None
    )


def test_quarantined_rows_do_not_keep_the_staged_frame_alive():
    # 200k events with long text, 3 of them in the future: the 3 rows kept aside must hold
    # their own bytes, not the 200k rows' (at XL 98k contacts held 2 GiB to the end of a run)
    from abmq.tasks.quarantine import split_quarantine
    from abmq.tasks.validate import ExpectationOutcome, SourceValidation

    rows = 200_000
    staged = pl.DataFrame({"n": pl.int_range(rows, eager=True)}).select(
        pl.format("event-{}-from-a-long-export-name", "n").alias("event_id"),
        pl.format("contact-{}@example-company.com", pl.col("n") % 997).alias("contact_id"),
        pl.when(pl.col("n").is_in([5, 77_777, 199_999]))
        .then(pl.lit(dt.datetime(2027, 1, 1)))
        .otherwise(pl.lit(dt.datetime(2026, 11, 1)))
        .dt.replace_time_zone("UTC")
        .alias("occurred_at"),
        pl.col("n").cast(pl.Int32).alias("points"),
    )
    future = ExpectationOutcome(
        "events",
        "expect_column_values_to_be_between",
        {"column": "occurred_at", "max_value": dt.datetime(2026, 11, 25, 23, 59, 59, tzinfo=dt.timezone.utc)},
        "warning",
        "event dated after the as-of date",
        False,
        3,
        rows,
    )
    kept, quarantined = split_quarantine(staged, SourceValidation("events", ["events.csv"], rows, outcomes=[future]), {})
    assert kept.height == rows - 3
    assert quarantined["event_id"].to_list() == [f"event-{n}-from-a-long-export-name" for n in (5, 77_777, 199_999)]
    assert quarantined.schema == {**staged.schema, "quarantine_reasons": pl.String}
    assert quarantined.drop("quarantine_reasons").equals(staged.filter(pl.col("occurred_at").dt.year() == 2027))
    assert _text_bytes(staged) > 8_000_000
    assert _text_bytes(quarantined) < 10_000  # without `compacted`: 13 MB
    # taken over (a run validates its staged rows once): the same rows, and the staged frame
    # gives up its columns as they are filtered
    validation = SourceValidation("events", ["events.csv"], rows, outcomes=[future])
    taken = staged.clone()
    kept_taken, quarantined_taken = split_quarantine(taken, validation, {}, take_over=True)
    assert kept_taken.equals(kept) and quarantined_taken.equals(quarantined)
    assert taken.width == 0 and staged.width == 4


def test_compacted_rows_keep_their_types_and_values():
    from abmq.tasks.sources import compacted

    frame = pl.DataFrame(
        {
            "text": ["a-value-longer-than-twelve-bytes", None, "short"],
            "day": [dt.date(2026, 11, 1), None, dt.date(2026, 11, 3)],
            "at": [dt.datetime(2026, 11, 1, 8, 30), None, dt.datetime(2026, 11, 3)],
            "kind": ["b", "a", None],
            "names": [["x-long-enough-to-be-out-of-line"], [], None],
            "person": [{"name": "Mei Shah-Longer-Name", "points": 12}, None, {"name": None, "points": 0}],
        }
    ).with_columns(pl.col("at").dt.replace_time_zone("UTC"), pl.col("kind").cast(pl.Enum(["a", "b"])))
    rows = frame.filter(pl.col("kind").is_not_null() | pl.col("text").is_not_null())
    assert compacted(rows).schema == frame.schema
    assert compacted(rows).to_dicts() == rows.to_dicts()
    assert compacted(frame.clear()).schema == frame.schema


def test_a_country_name_is_kept_aside_with_the_way_to_read_names(handbuilt_dir, tmp_path, as_of):
    def named(frame):
        return frame.with_columns(
            pl.when(pl.col("domain") == "quiet.com").then(pl.lit("Netherlands")).otherwise(pl.col("country")).alias("country")
        )

    result = break_and_validate(handbuilt_dir, tmp_path, as_of, "accounts", named)
    (reason,) = result.quarantined["quarantine_reasons"].to_list()  # the value as staged (upper case)
    assert reason == (
        "expect_column_values_to_be_in_set(country): country must be an ISO 3166 alpha-2 code 'NETHERLANDS'; "
        "write ISO 3166 alpha-2 codes, or read names and alpha-3 codes with sources.accounts.formats.country: iso_country"
    )


def test_small_integers_and_floats_are_checked_as_gx_checks_int64_and_float64():
    """GX checks a range in one step only on int64 / float64 columns (else a Python call per
    value): narrower ones are widened first, with the same outcomes."""
    from abmq.tasks import validate

    frame = pl.DataFrame(
        {
            "flag": pl.Series([0, 1, 0, None, 0], dtype=pl.Int8),
            "share": pl.Series([0.5, 2.0, 0.1, 0.2, 1.5], dtype=pl.Float32),
            "count": pl.Series([1, 2, 3, 4, 70_000], dtype=pl.UInt32),
        }
    )
    assert validate.as_validated(frame).schema == pl.Schema({"flag": pl.Int64, "share": pl.Float64, "count": pl.Int64})

    def between(column, low, high):
        return {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": column, "min_value": low, "max_value": high},
            "meta": {"severity": "blocking", "why": f"{column} out of range"},
        }

    suite = {"name": "widened", "expectations": [between("flag", 0, 0), between("share", 0, 1), between("count", 0, 65_535)]}
    validation = validate.run_suite("widened", frame, suite, {}, ["widened.parquet"])
    assert [(o.kwargs["column"], o.unexpected_count) for o in validation.outcomes] == [("flag", 1), ("share", 2), ("count", 1)]
