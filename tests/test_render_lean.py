"""The flow lets the sources' rows go as soon as nothing reads them (the validated ones once
normalised, the normalised ones before rendering): the same scores and outputs as with them.
A Parquet output's bytes do not depend on how its frame is chunked."""

from __future__ import annotations

import polars as pl
import pytest

from abmq.config import load_config
from abmq.tasks import catalog, pipeline, rollup


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
    assert tuple(lean.cleaned.clean.contacts.columns) == rollup.PERSON_COLUMNS
    assert lean.accounts.equals(assessment.accounts) and lean.contacts.equals(assessment.contacts)
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
