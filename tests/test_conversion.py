"""p_convert in the daily run: a calibration model used only for the config it was fitted on,
the likelihood beside the points (never in them), and equal scores ordered by it.

On the hand-built data (see test_account_selection.py) hooli.com and umbrella.com tie at 80
and umbrella ranks after hooli on decision-makers. A model that rewards intent points puts
umbrella (10 points for intent clusters; its new surge is a separate column) ahead:
p = 1 / (1 + e^-(-2 + points_intent / 4)).
  umbrella.com: points_intent 10 -> eta = 0.5 -> 0.622459
  hooli.com:    intent 0  -> eta = -2  -> 0.119203
"""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from steps import stage_and_validate

from abmq.config import load_config
from abmq.tasks import conversion, exports, pipeline, render, report
from abmq.tasks.catalog import read_p_convert_model
from abmq.tasks.output_contract import check_account_table
from abmq.tasks.validate import DataQualityError


def intent_model(config, **changes):
    return {
        "kind": "hand-written for tests",
        "label": "created",
        "horizon_days": 90,
        "config_fingerprint": config.fingerprint(),
        "features": ["points_intent"],
        "transforms": ["identity"],
        "mean": [0.0],
        "scale": [4.0],
        "coefficients": [1.0],
        "intercept": -2.0,
        "rows": 1200,
        "positives": 80,
        **changes,
    }


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def assessed(handbuilt_dir, as_of, config):
    sources = stage_and_validate(handbuilt_dir, as_of, config)
    model = conversion.usable_model(intent_model(config), config, "p_convert_model.json")
    return {
        "with": pipeline.assess(sources, config, as_of, model=model),
        "without": pipeline.assess(sources, config, as_of),
    }


def row(accounts: pl.DataFrame, domain: str) -> dict:
    return accounts.filter(domain=domain).to_dicts()[0]


def test_p_convert_is_the_models_probability_by_hand(assessed):
    accounts = assessed["with"].accounts
    assert row(accounts, "umbrella.com")["p_convert"] == pytest.approx(sigmoid(-2 + 10 / 4), abs=1e-6)
    assert row(accounts, "hooli.com")["p_convert"] == pytest.approx(sigmoid(-2), abs=1e-6)
    assert accounts["p_convert"].null_count() == 0 and accounts["p_convert"].is_between(0, 1).all()


def test_equal_scores_are_ordered_by_p_convert_and_nothing_else_changes(assessed):
    with_model, without = assessed["with"].accounts, assessed["without"].accounts
    assert (row(without, "hooli.com")["target_rank"], row(without, "umbrella.com")["target_rank"]) == (2, 3)
    assert (row(with_model, "umbrella.com")["target_rank"], row(with_model, "hooli.com")["target_rank"]) == (2, 3)
    assert row(with_model, "umbrella.com")["score"] == row(with_model, "hooli.com")["score"] == 80
    # scores, points, decisions and tier membership are the model-free ones
    same = ["domain", "score", "decision", "decision_reason", "tier", *[c for c in without.columns if c.startswith("points_")]]
    assert with_model.select(same).sort("domain").equals(without.select(same).sort("domain"))


def test_without_a_model_the_column_is_empty_and_ranks_are_unchanged(assessed):
    without = assessed["without"].accounts
    assert without["p_convert"].dtype == pl.Float64 and without["p_convert"].null_count() == without.height
    assert assessed["without"].model.why_not == conversion.NO_MODEL


def test_a_model_for_another_config_is_not_used_and_says_why(config):
    other = intent_model(config, config_fingerprint="0123456789abcdef")
    used = conversion.usable_model(other, config, "old/p_convert_model.json")
    assert used.model is None
    assert "fitted for config 0123456789abcdef" in used.why_not and config.fingerprint() in used.why_not
    assert "abmq calibrate" in used.why_not


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ({"features": [], "why_not": "Only 12 positive labels among the training rows."}, "Only 12 positive labels"),
        ({"features": ["points_intent"]}, "missing"),
        ({"features": ["points_secret"], "transforms": ["identity"], "mean": [0], "scale": [1], "coefficients": [1]}, "unknown features"),
    ],
)
def test_unusable_models_leave_p_convert_empty_with_a_reason(config, model, says):
    filled = {k: v for k, v in intent_model(config).items() if k in ("label", "horizon_days", "config_fingerprint", "intercept")}
    used = conversion.usable_model({**filled, **model} if model.get("features") else model, config)
    assert used.model is None and says in used.why_not
    frame = pl.DataFrame({"points_intent": [1, 2]})
    assert conversion.with_p_convert(frame, used)["p_convert"].null_count() == 2


def test_unreadable_model_file_is_a_config_error(tmp_path):
    from abmq.config import ConfigError

    bad = tmp_path / "p_convert_model.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not readable as JSON"):
        read_p_convert_model(bad)
    with pytest.raises(ConfigError, match="no such file"):
        read_p_convert_model(tmp_path / "missing.json")
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        read_p_convert_model(bad)


def test_output_contract_refuses_a_probability_outside_0_1(assessed, config):
    accounts = assessed["with"].accounts
    check_account_table(accounts, config)
    with pytest.raises(DataQualityError, match="p_convert_outside_0_1"):
        check_account_table(
            accounts.with_columns(pl.when(pl.col("domain") == "acme.com").then(1.5).otherwise(pl.col("p_convert")).alias("p_convert")),
            config,
        )


def test_report_pages_and_exports_show_the_likelihood_beside_the_points(assessed, config, as_of):
    model = assessed["with"].model
    run = render.run_record(assessed["with"].cleaned.sources, config, as_of, model)
    assert run["p_convert"]["available"] and run["p_convert"]["title"] == "likelihood to convert in 90 days"
    accounts = assessed["with"].accounts
    pages = report.render_site(accounts, {"sources": []}, config, as_of, run)
    assert "likelihood to convert in 90 days" in pages["report.html"] and "1,200 past account-dates" in pages["report.html"]
    umbrella = pages[report.account_page("umbrella.com")]
    assert "62.2%" in umbrella and "not part of the score" in umbrella
    assert 'data-figure="score-total">80<' in umbrella  # the points still add up to the score alone
    files = exports.export_files(exports.targets_table(accounts), model.horizon_days)
    targets = pl.read_csv(files["targets.csv"].encode())
    assert targets.filter(domain="umbrella.com")["p_convert"].item() == pytest.approx(0.6225)
    hubspot = pl.read_csv(files["exports/hubspot_companies.csv"].encode())
    assert "ABM Likelihood to Convert in 90 Days" in hubspot.columns


def test_report_says_why_p_convert_is_empty(assessed, config, as_of):
    run = render.run_record(assessed["without"].cleaned.sources, config, as_of)
    pages = report.render_site(assessed["without"].accounts, {"sources": []}, config, as_of, run)
    assert "is empty in this run. No calibration model was given" in pages["report.html"]
    assert "No calibration model was given" in pages[report.account_page("acme.com")]
    assert json.loads(json.dumps(run))["p_convert"]["why_not"] == conversion.NO_MODEL
