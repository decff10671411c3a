"""Optional sources (issue 10): technographics and intent may be absent, or exported with a
header and no rows; the run publishes, their points are 0, and every output says which
sources were missing.

Hand computation on the hand-built data (tests/handbuilt.py, default config, as of
2026-11-25); the full scores are acme.com 97, umbrella.com 80, quiet.com 45:
* technographics give acme.com Salesforce + Snowflake = +10 and quiet.com HubSpot = +5 (fit
  points; acme's fit is 50 = industry 15 + size 10 + revenue 10 + geography 5 + 10, uncapped);
* intent gives acme.com one cluster in market (Intent Data 75 in the recent weeks) = +5 and
  umbrella.com two clusters (Lead Scoring 80, Revenue Operations 61) = +10 plus a topic newly
  surging in the latest week (Lead Scoring, 2026-11-23) = +2.
No account's engagement reaches its cap of 50 (acme.com 47 with intent), so nothing else
moves: without technographics acme.com 87, quiet.com 40; without intent acme.com 92,
umbrella.com 68 (below 70: it falls from sql_ready to nurture); without both acme.com 82.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import handbuilt
import polars as pl
import pytest

from abmq.config import load_config
from abmq.flows.qualify import qualify
from abmq.tasks import pipeline
from abmq.tasks.validate import ExpectationOutcome

FULL = {"acme.com": 97, "umbrella.com": 80, "quiet.com": 45}
WITHOUT = {
    ("technographics",): {"acme.com": 87, "umbrella.com": 80, "quiet.com": 40},
    ("intent",): {"acme.com": 92, "umbrella.com": 68, "quiet.com": 45},
    ("technographics", "intent"): {"acme.com": 82, "umbrella.com": 68, "quiet.com": 40},
}
NOTES = {
    "technographics": "No technographics source: technology and competitor-technology points are 0 for every account",
    "intent": "No intent source: intent points are 0 for every account",
}


def copy_without(handbuilt_dir: Path, target: Path, removed: tuple[str, ...] = (), emptied: tuple[str, ...] = ()) -> Path:
    shutil.copytree(handbuilt_dir, target)
    for source in removed:
        (target / f"{source}.csv").unlink()
    for source in emptied:  # the header, no rows
        path = target / f"{source}.csv"
        pl.read_csv(path, infer_schema=False).clear().write_csv(path)
    return target


@pytest.mark.parametrize("removed", list(WITHOUT), ids=["-".join(r) for r in WITHOUT])
def test_the_flow_publishes_without_technographics_or_intent(handbuilt_dir, tmp_path, prefect_harness, removed):
    data = copy_without(handbuilt_dir, tmp_path / "input", removed=removed)
    out = tmp_path / "out"
    result = qualify(str(data), str(out), None, handbuilt.AS_OF.isoformat())
    assert result["accounts"] == 10
    scores = pl.read_parquet(out / "account_scores.parquet")
    got = dict(scores.filter(pl.col("domain").is_in(list(FULL))).select("domain", "score").iter_rows())
    assert got == WITHOUT[removed]
    # every other account keeps its full score: only these sources' points went
    full = pipeline_scores(handbuilt_dir)
    unaffected = scores.filter(~pl.col("domain").is_in(list(FULL)))
    assert dict(unaffected.select("domain", "score").iter_rows()) == {d: full[d] for d in unaffected["domain"]}
    if "technographics" in removed:
        assert scores["points_technologies"].sum() == 0 and scores["points_competitor_tech"].sum() == 0
    if "intent" in removed:
        assert scores["points_intent"].sum() == 0 and scores["points_new_surges"].sum() == 0
    notes = [NOTES[s] for s in ("technographics", "intent") if s in removed]
    run = json.loads((out / "run.json").read_text())
    assert [a["note"] for a in run["absent_sources"]] == notes
    summary = json.loads((out / "dq" / "summary.json").read_text())
    assert [a["source"] for a in summary["absent_sources"]] == [s for s in ("technographics", "intent") if s in removed]
    for page in ("report.html", "quality.html"):
        html = (out / page).read_text(encoding="utf-8")
        assert all(note in html for note in notes), page
    assert not (out / "dq" / f"{removed[0]}.json").exists()  # nothing was validated


def pipeline_scores(input_dir: Path) -> dict[str, int]:
    config = load_config()
    checked = pipeline.check_inputs(str(input_dir), None, config, handbuilt.AS_OF)
    return dict(pipeline.assess(checked.sources, config, handbuilt.AS_OF).accounts.select("domain", "score").iter_rows())


def test_full_scores_are_the_hand_computed_ones(handbuilt_dir):
    scores = pipeline_scores(handbuilt_dir)
    assert {d: scores[d] for d in FULL} == FULL


def test_an_intent_export_with_no_rows_is_an_absent_source(handbuilt_dir, tmp_path, prefect_harness):
    """A header-only intent.csv: its freshness check (newest week of nothing) and volume check
    (0 rows against the last run's 6) cannot apply; they say so and do not block. With the
    freshness check downgraded to a warning (the reported crash), the same."""
    data = copy_without(handbuilt_dir, tmp_path / "input", emptied=("intent",))
    out = tmp_path / "out"
    history = [{"as_of": "2026-11-18", "rows_in": {"intent": 6}}]
    (out).mkdir()
    (out / "run_history.json").write_text(json.dumps(history))
    qualify(str(data), str(out), None, handbuilt.AS_OF.isoformat())
    scores = dict(pl.read_parquet(out / "account_scores.parquet").select("domain", "score").iter_rows())
    assert {d: scores[d] for d in FULL} == WITHOUT[("intent",)]
    note = "No intent source (intent.csv has no data rows): intent points are 0 for every account"
    assert [a["note"] for a in json.loads((out / "run.json").read_text())["absent_sources"]] == [note]
    assert note in (out / "report.html").read_text(encoding="utf-8")
    dq = json.loads((out / "dq" / "intent.json").read_text())
    not_applicable = {e["label"]: e["not_applicable"] for e in dq["expectations"] if "not_applicable" in e}
    assert not_applicable == {
        "expect_table_row_count_to_be_between(volume_floor)": "no intent source: intent.csv has no data rows",
        "expect_column_max_to_be_between(week)": "no intent source: intent.csv has no data rows",
    }
    quality = (out / "quality.html").read_text(encoding="utf-8")
    assert "2 not applicable (no intent source: intent.csv has no data rows)" in quality


def test_downgrading_the_freshness_of_an_empty_intent_export_does_not_crash(handbuilt_dir, tmp_path):
    data = copy_without(handbuilt_dir, tmp_path / "input", emptied=("intent",))
    config = load_config()
    overrides = {"intent": {"expect_column_max_to_be_between(week)": "warning"}}
    config = config.model_copy(update={"data_quality": config.data_quality.model_copy(update={"severity_overrides": overrides})})
    checked = pipeline.check_inputs(str(data), None, config, handbuilt.AS_OF)
    assessment = pipeline.assess(checked.sources, config, handbuilt.AS_OF)
    rendered = pipeline.render_run(assessment, [], config, handbuilt.AS_OF)
    assert rendered.bundle.files["run.json"]["absent_sources"][0]["source"] == "intent"
    assert not checked.sources["intent"].validation.warnings  # not applicable, not a failure


def test_a_freshness_message_without_values_does_not_crash():
    """GX gives no newest value (None, or NaT) for a column without values: the message says so."""
    for observed in (None, float("nan")):
        outcome = ExpectationOutcome(
            "intent",
            "expect_column_max_to_be_between",
            {"column": "week", "min_value": 1},
            "blocking",
            "stale",
            False,
            None,
            None,
            observed,
        )
        assert (
            outcome.message("intent.csv")
            == "intent (intent.csv): expect_column_max_to_be_between(week) failed: the column has no values (stale)"
        )
    count = ExpectationOutcome("intent", "expect_table_row_count_to_be_between", {"min_value": 1}, "blocking", "", False, None, None, None)
    assert count.message("intent.csv").endswith("failed: the source has no data rows")
