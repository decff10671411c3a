"""Each vocabulary is defined once (`abmq/vocabulary.py`, columns in `tasks/sources.py`);
everything else that names its values is checked against it here."""

from __future__ import annotations

import json

import pytest

from abmq import sample_data, vocabulary
from abmq.config import load_config
from abmq.resources import suite_names, suite_text
from abmq.tasks import report
from abmq.tasks.sources import ACCOUNT_KEY, SOURCES

# Columns of the contract that staging derives when an export leaves them out (from the title).
DERIVED = {"contacts": {"department", "seniority"}}
VALUE_SETS = {"seniority": vocabulary.SENIORITIES, "department": vocabulary.DEPARTMENTS, "event_type": vocabulary.EVENT_TYPES}


def suite(name: str) -> dict:
    return json.loads(suite_text(name))


@pytest.mark.parametrize("name", [n for n in suite_names() if n in SOURCES or n == "events_partition"])
def test_suites_check_the_contracts_required_columns(name):
    source = "events" if name == "events_partition" else name
    checked = {e["kwargs"]["column"] for e in suite(name)["expectations"] if e["type"] == "expect_column_to_exist"}
    # accounts: the key derived from `domain` or `account_id` (tasks/sources.py, ACCOUNT_KEY)
    keys = {ACCOUNT_KEY} if source == "accounts" else set()
    assert checked == (set(SOURCES[source].required) - DERIVED.get(source, set())) | keys


@pytest.mark.parametrize("name", suite_names())
def test_suites_value_sets_are_the_vocabulary(name):
    for entry in suite(name)["expectations"]:
        column = entry["kwargs"].get("column")
        if entry["type"] == "expect_column_values_to_be_in_set" and column in VALUE_SETS:
            assert entry["kwargs"]["value_set"] == list(VALUE_SETS[column]), (name, column)


def test_the_default_config_scores_every_event_type():
    assert set(load_config().lead_scoring.engagement.events) == set(vocabulary.EVENT_TYPES)


def test_report_labels_cover_the_vocabulary():
    assert set(report.SENIORITY_LABELS) == set(vocabulary.SENIORITIES)


def test_the_generator_writes_only_vocabulary_values():
    assert sorted(sample_data.GENERATED_EVENT_TYPES) == sorted(vocabulary.EVENT_TYPES)
    assert {t[1] for t in sample_data.TITLES} <= set(vocabulary.SENIORITIES)
    assert {t[2] for t in sample_data.TITLES} <= set(vocabulary.DEPARTMENTS)
