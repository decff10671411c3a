"""A team's own activity vocabulary: names mapped onto event types (`sources.events.values.
event_type`) and product-usage (PQL) categories of its own in `lead_scoring.engagement.events`.

The hand-built dataset (tests/handbuilt.py, as of 2026-11-25) plus one contact at quiet.com
(Healthcare, 250 employees, USD 30M, NL: lead fit 15 + 10 + 10 + 5 = 40; a manager, so no
decision-maker points) whose activity comes in the team's words:

    t-1  Trial Started  10 days ago  -> trial_started  (15, once, the shared half-life 30)
    t-2  Trial Started   4 days ago  -> trial_started  (once: not counted again)
    t-3  Feature Used   14 days ago  -> feature_used   (3 each, own half-life 14)
    t-4  Feature Used   42 days ago  -> feature_used
    t-5  Call           30 days ago  -> event_attendance (built-in: 10, once)
    t-6  Fax Received    2 days ago  -> mapped onto nothing: quarantined

Lead engagement: 15 + 3 x 2 + 10 = 31 (under the cap of 50); lead score 40 + 31 = 71.
Decayed: trial_started 15 x 0.5^(4/30) = 13.676 (its latest event), feature_used
3 x (0.5^(14/14) + 0.5^(42/14)) = 3 x (0.5 + 0.125) = 1.875, event_attendance
10 x 0.5^(30/30) = 5.0; together 20.551; weighted 1.0 (manager), capped at 15 per person.
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil

import handbuilt
import numpy as np
import polars as pl
import pytest
import yaml

from abmq.config import ConfigError, load_config
from abmq.resources import DEFAULT_CONFIG
from abmq.tasks import calibration_table, event_partitions, rollup
from abmq.vocabulary import EVENT_TYPES
from tests.steps import run_steps

AS_OF = handbuilt.AS_OF
CATEGORIES = {
    "trial_started": {"points": 15, "count": "once"},
    "feature_used": {"points": 3, "count": "each", "half_life_days": 14},
    "active_user": {"points": 5, "count": "once"},
}
TEAM_VOCABULARY = {"Trial Started": "trial_started", "Feature Used": "feature_used", "Call": "event_attendance"}
TEAM_EVENTS = [
    ("t-1", "t1", "Trial Started", 10),
    ("t-2", "t1", "Trial Started", 4),
    ("t-3", "t1", "Feature Used", 14),
    ("t-4", "t1", "Feature Used", 42),
    ("t-5", "t1", "Call", 30),
    ("t-6", "t1", "Fax Received", 2),
]
DECAYED = 15 * 0.5 ** (4 / 30) + 1.875 + 5.0


def raw_config(categories: dict | None = None, vocabulary: dict | None = None) -> dict:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["lead_scoring"]["engagement"]["events"].update(copy.deepcopy(CATEGORIES if categories is None else categories))
    raw["sources"] = {"events": {"values": {"event_type": dict(TEAM_VOCABULARY if vocabulary is None else vocabulary)}}}
    return raw


def write_config(tmp_path, raw: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def team_dir(handbuilt_dir, tmp_path):
    """The hand-built inputs with the quiet.com contact and its events in the team's words."""
    folder = shutil.copytree(handbuilt_dir, tmp_path / "input")
    contacts = pl.read_csv(folder / "contacts.csv", infer_schema=False)
    tess = {c: None for c in contacts.columns} | {
        "contact_id": "t1",
        "email": "tess@quiet.com",
        "first_name": "Tess",
        "last_name": "Trial",
        "title": "Product Manager",
        "department": "operations",
        "seniority": "manager",
    }
    pl.concat([contacts, pl.DataFrame([tess], schema=contacts.schema)]).write_csv(folder / "contacts.csv")
    events = pl.read_csv(folder / "events.csv", infer_schema=False)
    team = pl.DataFrame(
        [(eid, cid, kind, handbuilt.days_ago(days), None) for eid, cid, kind, days in TEAM_EVENTS], schema=events.schema, orient="row"
    )
    pl.concat([events, team]).write_csv(folder / "events.csv")
    return folder


# --- the config ---------------------------------------------------------------------------------


def test_the_default_config_knows_the_built_in_types_only():
    config = load_config()
    assert config.lead_scoring.engagement.event_types == EVENT_TYPES
    # no half-life of its own anywhere: the dump, and so the fingerprint, are as before
    assert all("half_life_days" not in rule for rule in config.model_dump()["lead_scoring"]["engagement"]["events"].values())


def test_categories_come_after_the_built_ins_in_config_order(tmp_path):
    config = load_config(write_config(tmp_path, raw_config()))
    assert config.lead_scoring.engagement.event_types == (*EVENT_TYPES, "trial_started", "feature_used", "active_user")
    assert config.event_half_life("feature_used") == 14  # its own
    assert config.event_half_life("trial_started") == 30  # the people score's


@pytest.mark.parametrize(
    "name, message",
    [
        ("Trial Started", "'Trial Started' is not a category name: use lower-case snake_case"),
        ("1st_call", "'1st_call' is not a category name"),
        ("technologies", "'technologies' is reserved"),
    ],
)
def test_a_bad_category_name_is_a_config_error(tmp_path, name, message):
    raw = raw_config({name: {"points": 5, "count": "once"}}, vocabulary={})
    with pytest.raises(ConfigError, match="lead_scoring.engagement.events") as error:
        load_config(write_config(tmp_path, raw))
    assert message in str(error.value)


def test_the_built_in_types_stay_required(tmp_path):
    raw = raw_config()
    del raw["lead_scoring"]["engagement"]["events"]["web_visit"]
    with pytest.raises(ConfigError, match=r"no rule for event type\(s\) \['web_visit'\]"):
        load_config(write_config(tmp_path, raw))


def test_a_mapping_onto_an_unknown_type_is_a_config_error(tmp_path):
    raw = raw_config(vocabulary={"Trial Started": "trial_startd"})
    with pytest.raises(ConfigError, match="'Trial Started' -> 'trial_startd'.*add a category under lead_scoring.engagement.events"):
        load_config(write_config(tmp_path, raw))


def test_the_events_contract_follows_the_categories(tmp_path):
    default = load_config()
    custom = load_config(write_config(tmp_path, raw_config()))

    def value_set(config):
        suite = event_partitions.partition_suite(config)
        (entry,) = [
            e for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "event_type"
        ]
        return entry["kwargs"]["value_set"]

    assert value_set(default) == list(EVENT_TYPES)
    assert value_set(custom) == [*EVENT_TYPES, "trial_started", "feature_used", "active_user"]
    # remembered daily files are validated again when the categories change, not when points do
    hashes = {event_partitions.suite_hash(event_partitions.partition_suite(c)) for c in (default, custom)}
    assert len(hashes) == 2
    repointed = raw_config()
    repointed["lead_scoring"]["engagement"]["events"]["trial_started"]["points"] = 20
    same_types = load_config(write_config(tmp_path, repointed))
    assert event_partitions.suite_hash(event_partitions.partition_suite(same_types)) == event_partitions.suite_hash(
        event_partitions.partition_suite(custom)
    )


# --- scoring, by hand ---------------------------------------------------------------------------


def test_decayed_points_use_the_categorys_own_half_life(tmp_path):
    config = load_config(write_config(tmp_path, raw_config()))
    at = [dt.datetime.combine(AS_OF - dt.timedelta(days=d), dt.time(10), tzinfo=dt.timezone.utc) for d in (14, 42, 14)]
    events = pl.DataFrame(
        {"contact_id": ["a", "a", "b"], "event_type": ["feature_used", "feature_used", "content_download"], "occurred_at": at}
    )
    decayed = rollup.decayed_engagement(events, config, AS_OF).collect().sort("contact_id")
    # a: 3 x (0.5 + 0.125) at its own 14 days; b: a built-in at the shared 30 days, 5 x 0.5^(14/30)
    assert decayed["decayed_points"].to_list() == pytest.approx([1.875, 5 * 0.5 ** (14 / 30)], abs=1e-4)
    assert decayed["decayed_by_type"].to_list() == ["feature_used 1.9", "content_download 3.6"]


def test_team_activity_scores_as_engagement(team_dir, tmp_path):
    config = load_config(write_config(tmp_path, raw_config()))
    result = run_steps(team_dir, AS_OF, config)
    tess = result["contacts"].filter(pl.col("contact_id") == "t1").row(0, named=True)
    assert (tess["n_trial_started"], tess["n_feature_used"], tess["n_event_attendance"], tess["n_active_user"]) == (2, 2, 1, 0)
    assert tess["fit_points"] == 40
    assert tess["engagement_points"] == 15 + 3 * 2 + 10
    assert tess["lead_score"] == 71 and tess["sql_ready"]

    quiet = result["accounts"].filter(pl.col("domain") == "quiet.com").row(0, named=True)
    assert quiet["n_trial_started"] == 2 and quiet["n_feature_used"] == 2
    (person,) = quiet["engaged_people"]
    assert person["points"] == 31
    assert person["by_type"] == "event_attendance 5.0 · trial_started 13.7 · feature_used 1.9"
    assert person["account_points"] == 15.0  # 20.55 x 1.0 (manager), capped at 15 per person
    assert quiet["points_people"] == 15
    engagement = rollup.contact_engagement(result["clean"].events, config, AS_OF)
    assert engagement.filter(pl.col("contact_id") == "t1")["decayed_points"].item() == pytest.approx(DECAYED, abs=1e-4)

    # the unmapped activity is kept aside, naming its value and the way out
    quarantined = result["sources"]["events"].quarantined.filter(pl.col("event_id") == "t-6")
    assert quarantined["quarantine_reasons"].item() == (
        "expect_column_values_to_be_in_set(event_type): unknown event_type 'fax received'; map it onto a known type under "
        "sources.events.values.event_type, or add it as a category under lead_scoring.engagement.events"
    )
    failed = {f["label"]: f for s in result["quality"]["sources"] if s["source"] == "events" for f in s["failed"]}
    assert failed["expect_column_values_to_be_in_set(event_type)"]["unexpected_count"] == 1
    assert "sources.events.values.event_type" in failed["expect_column_values_to_be_in_set(event_type)"]["why"]


def test_without_the_category_its_activity_is_quarantined(team_dir, tmp_path):
    raw = raw_config(categories={}, vocabulary={"Call": "event_attendance"})
    result = run_steps(team_dir, AS_OF, load_config(write_config(tmp_path, raw)))
    reasons = dict(result["sources"]["events"].quarantined.select("event_id", "quarantine_reasons").iter_rows())
    assert {e for e, r in reasons.items() if "unknown event_type" in r} == {"t-1", "t-2", "t-3", "t-4", "t-6"}
    assert "'trial started'" in reasons["t-1"] and "'feature used'" in reasons["t-3"]
    tess = result["contacts"].filter(pl.col("contact_id") == "t1").row(0, named=True)
    assert tess["engagement_points"] == 10  # the call, mapped onto event_attendance
    assert "n_trial_started" not in result["contacts"].columns


def test_calibration_features_cover_the_categories(tmp_path):
    config = load_config(write_config(tmp_path, raw_config()))
    at = [dt.datetime.combine(AS_OF - dt.timedelta(days=d), dt.time(10), tzinfo=dt.timezone.utc) for d in (14, 42, 4)]
    events = pl.DataFrame({"contact_id": ["a"] * 3, "event_type": ["feature_used", "feature_used", "trial_started"], "occurred_at": at})
    contacts = pl.DataFrame({"contact_id": ["a"], "domain": ["x.com"], "seniority": ["manager"]})
    features = calibration_table.event_features(events, contacts, config, AS_OF, half_lives=(30, 0), contact_caps=(0,)).row(0, named=True)
    # feature_used decays by its own 14 days whatever the grid's half-life; trial_started by the grid's
    assert features["evt_feature_used_h30"] == pytest.approx(0.625) and features["evt_feature_used_h0"] == pytest.approx(0.625)
    assert features["evt_trial_started_h30"] == pytest.approx(0.5 ** (4 / 30)) and features["evt_trial_started_h0"] == 1.0
    assert features["evt_active_user_h30"] == 0.0
    assert features["people_h0_c0"] == pytest.approx(15 + 1.875)


def test_a_full_calibration_reweighs_the_categories_with_the_built_ins(tmp_path):
    """The category model fits every type the config knows; the total of their points is kept
    and a category's own half-life is left as it is (the notes say so)."""
    from abmq.tasks import calibration
    from tests.test_calibration import synthetic_rows

    config = load_config(write_config(tmp_path, raw_config()))
    rows = synthetic_rows()
    rng = np.random.default_rng(11)
    custom = {
        calibration_table.event_column(t, h): rng.random(rows.height) * rows[calibration_table.people_column(h, 0)].to_numpy() * 0.1
        for t in config.lead_scoring.engagement.custom_types
        for h in calibration_table.HALF_LIVES
    }
    cal = calibration.fit(rows.with_columns(**custom), config, 90, "created")
    assert cal.mode == "full"
    events = cal.proposed.lead_scoring.engagement.events
    total = sum(r["points"] for r in CATEGORIES.values()) + sum(config.lead_scoring.engagement.events[t].points for t in EVENT_TYPES)
    assert abs(sum(rule.points for rule in events.values()) - total) <= len(events)  # kept, up to rounding
    assert {f"lead_scoring.engagement.events.{t}.points" for t in ("trial_started", "feature_used", "active_user")} <= set(cal.reasons)
    assert events["feature_used"].half_life_days == 14
    assert any("own half-life (feature_used) keep it" in note for note in cal.inexpressible)


# --- the real flow ------------------------------------------------------------------------------


def test_the_flow_explains_a_pql_like_any_engagement(team_dir, tmp_path, prefect_harness):
    from abmq.flows.qualify import qualify

    out = tmp_path / "out"
    config_path = write_config(tmp_path, raw_config())
    result = qualify(str(team_dir), str(out), str(config_path), AS_OF.isoformat())
    assert result["accounts"] == 10
    contacts = pl.read_parquet(out / "contact_scores.parquet")
    assert contacts.filter(pl.col("contact_id") == "t1").select("engagement_points", "n_trial_started").row(0) == (31, 2)
    assert "trial_started 13.7" in (out / "accounts" / "quiet.com.html").read_text(encoding="utf-8")
    quarantined = pl.read_parquet(out / "quarantine" / "events.parquet").filter(pl.col("event_id") == "t-6")
    assert "'fax received'" in quarantined["quarantine_reasons"].item()
