"""Optional means optional: every optional column of every source may be absent, alone or
all together; the run publishes and the outputs show blanks where data is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import handbuilt
import polars as pl
import pytest

from abmq.config import load_config
from abmq.flows.qualify import qualify
from abmq.tasks import pipeline
from abmq.tasks.sources import SOURCES

# An account needs one of `domain` and `account_id` (its key): the hand-built contacts link by
# e-mail domain, so the accounts' domain stays (an accounts export without domains, keyed by
# account_id, is tests/test_optional_sources.py's)
KEY = ("accounts", "domain")
OPTIONAL = [(source, column) for source, spec in SOURCES.items() for column in spec.optional if (source, column) != KEY]


def without(input_dir: Path, target: Path, drop: dict[str, list[str]]) -> Path:
    shutil.copytree(input_dir, target)
    for source, columns in drop.items():
        path = target / f"{source}.csv"
        if path.exists():
            frame = pl.read_csv(path, infer_schema=False)
            frame.drop([c for c in columns if c in frame.columns]).write_csv(path)
    return target


def test_every_source_has_optional_columns_to_drop():
    assert {source for source, _ in OPTIONAL} >= {"accounts", "contacts", "events", "opportunities"}


@pytest.mark.parametrize("source, column", OPTIONAL, ids=[f"{s}.{c}" for s, c in OPTIONAL])
def test_each_optional_column_may_be_absent(handbuilt_dir, tmp_path, source, column):
    data = without(handbuilt_dir, tmp_path / "input", {source: [column]})
    config = load_config()
    checked = pipeline.check_inputs(str(data), str(tmp_path / "out"), config, handbuilt.AS_OF)
    assessment = pipeline.assess(checked.sources, config, handbuilt.AS_OF)
    rendered = pipeline.render_run(assessment, [], config, handbuilt.AS_OF)
    assert assessment.accounts.height == 10
    if source == "accounts":  # the column is there, empty
        assert assessment.accounts[column].null_count() == assessment.accounts.height
        assert "account_scores.parquet" in rendered.bundle.files


def test_the_flow_publishes_without_any_optional_column(handbuilt_dir, tmp_path, prefect_harness):
    data = without(handbuilt_dir, tmp_path / "input", {s: [c for c in spec.optional if (s, c) != KEY] for s, spec in SOURCES.items()})
    out = tmp_path / "out"
    result = qualify(str(data), str(out), None, handbuilt.AS_OF.isoformat())
    assert result["accounts"] == 10
    targets = pl.read_csv(out / "targets.csv", infer_schema=False)
    assert targets["owner"].null_count() == targets.height  # blank, not missing
    scores = pl.read_parquet(out / "account_scores.parquet")
    assert scores["account_id"].null_count() == scores.height
    assert (out / "report.html").read_text(encoding="utf-8").count("<html") == 1
