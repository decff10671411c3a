"""The flow lets the sources' rows go as soon as nothing reads them (the validated ones once
normalised, the normalised ones before rendering): the same scores and outputs as with them.
A Parquet output's bytes do not depend on how its frame is chunked."""

from __future__ import annotations

import polars as pl
import pytest

from abmq.config import load_config
from abmq.tasks import catalog, pipeline, render, rollup


def _assessed(handbuilt_dir, as_of):
    config = load_config()
    checked = pipeline.check_inputs(str(handbuilt_dir), None, config, as_of)
    return pipeline.assess(checked.sources, config, as_of), config


def test_outputs_rendered_after_the_rows_are_let_go_equal_those_rendered_with_them(handbuilt_dir, as_of):
    assessment, config = _assessed(handbuilt_dir, as_of)
    whole = pipeline.render_run(assessment, [], config, as_of)
    details = pipeline.report_details(assessment, config, as_of)
    released = assessment.without_rows()
    assert released.cleaned.clean is None
    assert all(data.kept is None for data in released.cleaned.sources.values())
    assert assessment.cleaned.sources["technographics"].kept is not None  # the original is left as it was
    lean = pipeline.render_run(released, [], config, as_of, details=details)
    _assert_same_bundle(lean, whole)


def test_rows_let_go_once_normalised_give_the_same_scores_and_outputs(handbuilt_dir, as_of):
    assessment, config = _assessed(handbuilt_dir, as_of)
    sources = pipeline.check_inputs(str(handbuilt_dir), None, config, as_of).sources
    lean = pipeline.assess(sources, config, as_of, release_rows=True)
    assert all(data.kept is None for data in sources.values())  # the caller's entries, too
    assert sources["contacts"].validation is not None and sources["contacts"].quarantined is not None
    assert all(data.kept is None for data in lean.cleaned.sources.values())
    # the contacts' rows are let go once split into shards: the trend chart finds the top
    # accounts' contacts in the lead scores
    assert tuple(lean.cleaned.clean.contacts.columns) == rollup.PERSON_COLUMNS and lean.cleaned.clean.contacts.is_empty()
    assert lean.accounts.equals(assessment.accounts) and lean.contacts.equals(assessment.contacts)
    weekly = pipeline.report_details(lean, config, as_of)["weekly"]
    assert weekly.height > 0 and weekly.equals(pipeline.report_details(assessment, config, as_of)["weekly"])
    from_contacts = rollup.weekly_account_points(
        assessment.cleaned.clean.events, assessment.cleaned.clean.contacts, weekly["domain"].unique().to_list(), config, as_of
    )
    assert weekly.equals(from_contacts)
    _assert_same_bundle(pipeline.render_run(lean, [], config, as_of), pipeline.render_run(assessment, [], config, as_of))


def _assert_same_bundle(lean, whole) -> None:
    assert sorted(lean.bundle.files) == sorted(whole.bundle.files)
    for name, content in whole.bundle.files.items():
        if isinstance(content, pl.DataFrame):
            assert content.equals(lean.bundle.files[name]), name
        else:
            assert content == lean.bundle.files[name], name


def test_a_parquet_output_does_not_depend_on_how_its_frame_is_chunked(tmp_path):
    # the account table's shape: a list of people per account (150k rows in 3 chunks did
    # give other bytes than one chunk before outputs were written as one chunk)
    rows = 150_000
    number = pl.int_range(rows, eager=True)
    table = pl.DataFrame({"domain": number.cast(pl.String).str.zfill(7)}).with_columns(
        pl.concat_list(pl.struct(pl.format("person {}", pl.col("domain")).alias("name"), number.alias("points"))).alias("engaged_people")
    )
    chunked = pl.concat([table.slice(0, rows // 3), table.slice(rows // 3, rows // 3), table.slice(2 * (rows // 3))], rechunk=False)
    assert chunked.n_chunks() == 3 and chunked.equals(table)
    outputs = catalog.RunOutputs(tmp_path)
    one = outputs.write_parquet("one.parquet", table).read_bytes()
    assert outputs.write_parquet("three.parquet", chunked).read_bytes() == one


def test_write_bundle_lets_each_frame_go_once_it_is_written(tmp_path, as_of):
    scores = pl.DataFrame({"contact_id": ["c-1", "c-2"], "points": [3, 5]})
    files = {"contact_scores.parquet": scores, "report.html": "<p>ok</p>", "run.json": {"as_of": as_of.isoformat()}}
    outputs = catalog.RunOutputs(tmp_path)
    outputs.write_bundle(files, {}, as_of)
    assert list(files) == ["report.html", "run.json"]  # the frame taken out, the rest left
    assert pl.read_parquet(outputs.path("contact_scores.parquet")).equals(scores)
    assert outputs.path("report.html").read_text() == "<p>ok</p>"


def test_a_frame_that_fails_to_write_fails_the_bundle(tmp_path, as_of):
    """Frames are written on a thread beside the pages and Data Docs: its error is the bundle's."""
    broken = pl.LazyFrame({"employees": ["twelve"]}).select(pl.col("employees").cast(pl.Int64))
    outputs = catalog.RunOutputs(tmp_path)
    with pytest.raises(pl.exceptions.InvalidOperationError):
        outputs.write_bundle({"account_scores.parquet": broken, "report.html": "<p>ok</p>"}, {}, as_of)


def test_frames_written_early_are_not_written_again_and_their_error_fails_the_bundle(tmp_path, as_of):
    """The flow starts the score tables as the pages are rendered (`write_early`); the bundle,
    which lists them too, waits for them instead of writing them twice."""
    early = pl.DataFrame({"contact_id": ["c-1", "c-2"], "points": [3, 5]})
    outputs = catalog.RunOutputs(tmp_path)
    frames = {"contact_scores.parquet": early}
    outputs.write_early(frames)
    assert frames == {}  # taken over, let go once written
    stale = pl.DataFrame({"contact_id": ["other"], "points": [0]})
    files = {"contact_scores.parquet": stale, "report.html": "<p>ok</p>"}
    outputs.write_bundle(files, {}, as_of)
    assert pl.read_parquet(outputs.path("contact_scores.parquet")).equals(early)
    assert outputs.path("report.html").read_text() == "<p>ok</p>"

    broken = pl.LazyFrame({"employees": ["twelve"]}).select(pl.col("employees").cast(pl.Int64))
    failing = catalog.RunOutputs(tmp_path / "failing")
    failing.write_early({"account_scores.parquet": broken})
    with pytest.raises(pl.exceptions.InvalidOperationError):
        failing.write_bundle({"report.html": "<p>ok</p>"}, {}, as_of)
    failing.write_early({"account_scores.parquet": broken})
    failing.discard()  # waits for the writer, then removes the staging folder
    assert not failing.staging.exists()


def test_the_flow_publishes_the_score_tables_it_wrote_early(handbuilt_dir, tmp_path, as_of):
    """The same bytes as a bundle written in one go (step by step, as `flows.qualify` does)."""
    assessment, config = _assessed(handbuilt_dir, as_of)
    rendered = pipeline.render_run(assessment, [], config, as_of)
    whole = catalog.RunOutputs(tmp_path / "whole")
    whole.write_bundle(dict(rendered.bundle.files), rendered.bundle.gx_results, as_of)
    early = catalog.RunOutputs(tmp_path / "early")
    early.write_early(render.score_tables(assessment.accounts, assessment.contacts))
    early.write_bundle(dict(rendered.bundle.files), rendered.bundle.gx_results, as_of)
    for name in ("contact_scores.parquet", "account_scores.parquet"):
        assert early.path(name).read_bytes() == whole.path(name).read_bytes()
