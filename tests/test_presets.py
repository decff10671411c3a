"""Presets: the exports people have (HubSpot, Salesforce, Bombora, TrustRadius) read with a
ready-made `sources:` entry (config/presets/, abmq/presets.py).

The fixtures under tests/fixtures/presets/ are the hand-built dataset (tests/handbuilt.py)
written as each vendor exports it, with the dirt such exports carry: employee and revenue
bands, country names ("Deutschland", "UK"), vendor industry labels ("Computer Software",
"Technology"), websites with scheme and www, ISO datetimes with milliseconds, free-mail
contacts (gmail.com, outlook.com) linked only by their company id, and intent as TrustRadius
activities whose labels give scores on the same side of the surge line (60) as the hand-built
ones. Every account must score as the contract-format run does.
"""

from __future__ import annotations

from pathlib import Path

import handbuilt
import polars as pl
import pytest
import yaml
from steps import run_steps, stage_and_validate
from typer.testing import CliRunner

from abmq import presets
from abmq.cli import app
from abmq.config import ConfigError, load_config
from abmq.tasks import catalog, mapping
from abmq.tasks.sources import SOURCES, SourceError

FIXTURES = Path(__file__).parent / "fixtures" / "presets"
SCORES = [
    "domain",
    "score",
    "fit_points",
    "engagement_points",
    "points_intent",
    "points_new_surges",
    "points_people",
    "points_roles",
    "decision",
]
# Task types beyond Salesforce's defaults (Call, Email, Meeting, Other), as an org adds them:
# the user's own `sources:` entry extends the preset's value table.
TASK_TYPES = {
    "events": {
        "values": {"event_type": {"Pricing Page": "pricing_page_visit", "Download": "content_download", "Email Click": "email_click"}}
    }
}


def write_yaml(path: Path, payload: dict) -> Path:
    path.write_text(yaml.safe_dump(payload))
    return path


def scores(result: dict) -> pl.DataFrame:
    return result["accounts"].select(SCORES).sort("domain")


@pytest.fixture(scope="module")
def hubspot_result():
    return run_steps(FIXTURES / "hubspot", handbuilt.AS_OF, load_config(None, None, ["hubspot", "trustradius"]))


@pytest.fixture(scope="module")
def salesforce_result(tmp_path_factory):
    own = write_yaml(tmp_path_factory.mktemp("own") / "mapping.yaml", {"sources": TASK_TYPES})
    return run_steps(FIXTURES / "salesforce", handbuilt.AS_OF, load_config(None, own, ["salesforce", "bombora"]))


# --- every shipped preset -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(presets.available()))
def test_every_preset_is_a_valid_mapping_with_a_cited_source(name):
    config = load_config(None, None, [name])
    mapping.check_mappings(config.sources)
    assert set(config.sources) == set(presets.available()[name]["sources"])
    assert all(entry.files for entry in config.sources.values())  # each says which file is its export
    text = (Path(__file__).parent.parent / "config" / "presets" / f"{name}.yaml").read_text()
    assert "https://" in text  # the page the column names come from


def test_headers_are_compared_as_the_contract_spells_them():
    from abmq.tasks.sources import normalise_header

    for header in ("Company Domain Name", " annual-revenue ", "Country/Region", "Associated  Company ID"):
        assert presets.normalise_header(header) == normalise_header(header)


def test_presets_ship_in_the_package():
    assert {"hubspot", "salesforce", "salesforce-campaigns", "bombora", "trustradius"} <= set(presets.available())


# --- scores equal the contract-format run ----------------------------------------------------


def test_hubspot_and_trustradius_exports_score_like_the_hand_built_data(hubspot_result, handbuilt_result):
    assert scores(hubspot_result).equals(scores(handbuilt_result))
    # Acme, worked out in tests/test_scoring_model.py: fit 50, engagement 47, score 97
    acme = hubspot_result["accounts"].row(by_predicate=pl.col("domain") == "acme.com", named=True)
    assert (acme["score"], acme["fit_points"], acme["decision"]) == (97, 50, "sql_ready")
    # its firmographics came through the dirt: "1,200" employees, "United States", "Computer Software"
    assert (acme["employees"], acme["country"], acme["industry"]) == (1200, "US", "Software")
    # Hooli's "200-499" and "$10M-$50M" are bands overlapping the ICP
    hooli = hubspot_result["accounts"].row(by_predicate=pl.col("domain") == "hooli.com", named=True)
    assert (hooli["points_employees"], hooli["points_annual_revenue"], hooli["country"]) == (10, 10, "CA")


def test_free_mail_contacts_link_by_the_associated_company_id(hubspot_result):
    contacts = hubspot_result["clean"].contacts
    linked = dict(contacts.filter(pl.col("contact_id").is_in(["c-dir", "h1"])).select("contact_id", "domain").iter_rows())
    assert linked == {"c-dir": "acme.com", "h1": "hooli.com"}  # dee.dir@gmail.com, hana@outlook.com


def test_trustradius_labels_become_scores_and_categories_topics(hubspot_result):
    intent = hubspot_result["sources"]["intent"].kept.sort("domain", "week")
    rows = intent.select("domain", "topic", "week", "score").rows()
    # Comparison 80, Product Pricing Link 85, Product Reviews 70, Product Profile 55;
    # "Predictive Lead Scoring" is the default config's "Lead Scoring"
    assert ("umbrella.com", "Lead Scoring", handbuilt.dt.date(2026, 11, 23), 80.0) in rows
    assert ("acme.com", "Intent Data", handbuilt.dt.date(2026, 11, 9), 55.0) in rows
    assert ("acme.com", "Intent Data", handbuilt.dt.date(2026, 11, 16), 70.0) in rows


def test_salesforce_and_bombora_exports_score_like_the_hand_built_data(salesforce_result, handbuilt_result):
    assert scores(salesforce_result).equals(scores(handbuilt_result))
    events = salesforce_result["clean"].events
    assert sorted(events["event_type"].unique().to_list()) == sorted(
        ["demo_request", "pricing_page_visit", "event_attendance", "content_download", "email_open", "email_click", "web_visit"]
    )
    initech = salesforce_result["accounts"].row(by_predicate=pl.col("domain") == "initech.com", named=True)
    assert (initech["country"], initech["industry"]) == ("DE", "Financial Services")  # "Deutschland", "Finance"


# --- choosing presets ---------------------------------------------------------------------


def test_two_presets_covering_one_source_need_a_choice():
    with pytest.raises(ConfigError) as error:
        load_config(None, None, ["hubspot", "salesforce"])
    message = str(error.value)
    assert "accounts: presets 'hubspot' and 'salesforce' both cover it" in message
    assert "--preset accounts=salesforce" in message


def test_a_per_source_choice_mixes_presets():
    config = load_config(None, None, ["salesforce", "events=salesforce-campaigns", "intent=bombora"])
    assert config.sources["events"].files == ["CampaignMember.csv"]
    assert config.sources["accounts"].files == ["Account.csv"]
    assert config.sources["intent"].columns["Composite Score"] == "score"
    both = load_config(None, None, ["hubspot", "salesforce", "accounts=hubspot", "contacts=salesforce"])
    assert (both.sources["accounts"].files, both.sources["contacts"].files) == (["hubspot-crm-exports-*compan*.csv"], ["Contact.csv"])


def test_campaign_members_as_events(tmp_path):
    config = load_config(None, None, ["salesforce", "events=salesforce-campaigns", "bombora"])
    events = stage_and_validate(FIXTURES / "salesforce", handbuilt.AS_OF, config)["events"]
    assert events.files == ["CampaignMember.csv"]
    kept = dict(events.kept.group_by("event_type").len().iter_rows())
    # the hand-built events but pricing visits, as member statuses (x1's and the future e95 set aside):
    # Attended 2 (e23, e40), Clicked 4, Demo Requested 9 (of 10: one set aside), Sent 11 (scoring nothing, as web visits)
    assert (kept["event_attendance"], kept["email_click"], kept["demo_request"], kept["web_visit"]) == (2, 4, 9, 11)
    assert "pricing_page_visit" not in kept


@pytest.mark.parametrize(
    "preset, message",
    [
        ("marketo", "no preset called 'marketo'; presets: bombora (intent), hubspot (accounts, contacts)"),
        ("intent=hubspot", "preset 'hubspot' has no entry for 'intent'; it covers accounts, contacts"),
    ],
)
def test_preset_mistakes_are_config_errors(preset, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, None, [preset])
    assert message in str(error.value)


def test_preset_in_the_config_file_and_the_users_entries_win(tmp_path):
    raw = yaml.safe_load((Path(__file__).parent.parent / "config" / "default.yaml").read_text())
    raw["preset"] = {"accounts": "hubspot", "contacts": "hubspot", "intent": "trustradius"}
    raw["sources"] = {
        "accounts": {"columns": {"Website URL": "domain"}, "values": {"industry": {"Banking": "Banking"}}},
        "intent": {"values": {"score": {"Comparison": "90"}}},
    }
    config = load_config(write_yaml(tmp_path / "config.yaml", raw))
    accounts = config.sources["accounts"]
    # the user's header for domain replaces the preset's; the rest of the preset's stay
    assert accounts.columns["Website URL"] == "domain" and "Company Domain Name" not in accounts.columns
    assert accounts.columns["Record ID"] == "account_id"
    assert accounts.values["industry"] == {"Computer Software": "Software", "Hospital & Health Care": "Healthcare", "Banking": "Banking"}
    assert config.sources["intent"].values["score"]["Comparison"] == "90"
    assert config.sources["intent"].values["score"]["Product Reviews"] == "70"
    mapping.check_mappings(config.sources)
    # the merged sources are what the fingerprint sees; the preset key itself is not kept
    assert config.fingerprint() != load_config(None, None, ["hubspot", "trustradius"]).fingerprint()
    assert "preset" not in config.model_dump()


def test_the_command_line_preset_replaces_the_configs(tmp_path):
    raw = yaml.safe_load((Path(__file__).parent.parent / "config" / "default.yaml").read_text())
    raw["preset"] = "hubspot"
    config = load_config(write_yaml(tmp_path / "config.yaml", raw), None, ["bombora"])
    assert set(config.sources) == {"intent"}


# --- files: ---------------------------------------------------------------------------------


def test_files_patterns_find_the_export_and_name_ambiguity(tmp_path):
    (tmp_path / "hubspot-crm-exports-all-companies-2026-11-01.csv").write_text("Record ID\n1\n")
    assert catalog.source_files(tmp_path, "accounts", ["hubspot-crm-exports-*compan*.csv"])[0].name.endswith("11-01.csv")
    (tmp_path / "hubspot-crm-exports-all-companies-2026-11-24.csv").write_text("Record ID\n1\n")
    with pytest.raises(SourceError) as error:
        catalog.source_files(tmp_path, "accounts", ["hubspot-crm-exports-*compan*.csv"])
    assert "accounts: 2 files match hubspot-crm-exports-*compan*.csv" in str(error.value)
    assert "hubspot-crm-exports-all-companies-2026-11-01.csv, hubspot-crm-exports-all-companies-2026-11-24.csv" in str(error.value)
    # events come in parts: several matching files are one export
    for day in ("01", "02"):
        (tmp_path / f"Task-{day}.csv").write_text("Id\n1\n")
    assert len(catalog.source_files(tmp_path, "events", ["Task-*.csv"])) == 2


def test_a_pattern_matching_nothing_falls_back_to_the_contract_name_then_is_missing(tmp_path):
    (tmp_path / "accounts.csv").write_text("domain\nacme.com\n")
    assert catalog.source_files(tmp_path, "accounts", ["Account.csv"]) == [tmp_path / "accounts.csv"]
    with pytest.raises(SourceError, match="contacts: no contacts.parquet, contacts.csv or contacts/ folder, no file matching Contact.csv"):
        catalog.scan_source(tmp_path, SOURCES["contacts"], None, ["Contact.csv"])


def test_files_keep_a_mapping_fingerprint_without_them(tmp_path):
    plain = write_yaml(tmp_path / "m.yaml", {"sources": {"contacts": {"columns": {"AccountId": "account_id"}}}})
    config = load_config(None, plain)
    assert "files" not in config.model_dump()["sources"]["contacts"]


# --- the command line -------------------------------------------------------------------------


def test_check_takes_presets(tmp_path):
    runner = CliRunner()
    own = write_yaml(tmp_path / "own.yaml", {"sources": TASK_TYPES})
    args = ["check", "--input", str(FIXTURES / "salesforce"), "--as-of", "2026-11-25", "--mapping", str(own)]
    ok = runner.invoke(app, [*args, "--preset", "salesforce", "--preset", "bombora"])
    assert ok.exit_code == 0, ok.output
    assert "data-quality gate: passes" in ok.output
    clash = runner.invoke(app, [*args, "--preset", "salesforce", "--preset", "hubspot"])
    assert clash.exit_code == 2
    assert "accounts: presets 'salesforce' and 'hubspot' both cover it" in clash.output


def test_a_custom_task_type_becomes_a_pql_category_of_its_own(tmp_path):
    """An org's own Task type, "Trial Started", mapped onto a product-usage category with its
    points (15, once) in the config: h3 (Hooli, individual contributor, fit 40, one e-mail
    open 16 days ago: engagement 3) started a trial 2 days before the as-of date."""
    import shutil

    folder = tmp_path / "salesforce"
    shutil.copytree(FIXTURES / "salesforce", folder)
    with (folder / "Task.csv").open("a") as tasks:
        tasks.write("p01,h3,Trial Started,product trial,2026-11-23T10:00:00.000Z\n")
    raw = yaml.safe_load((Path(__file__).parents[1] / "config" / "default.yaml").read_text())
    raw["lead_scoring"]["engagement"]["events"]["trial_started"] = {"points": 15, "count": "once"}
    config = write_yaml(tmp_path / "config.yaml", raw)
    own = {"events": {"values": {"event_type": {**TASK_TYPES["events"]["values"]["event_type"], "Trial Started": "trial_started"}}}}
    result = run_steps(
        folder, handbuilt.AS_OF, load_config(config, write_yaml(tmp_path / "own.yaml", {"sources": own}), ["salesforce", "bombora"])
    )
    hal = result["contacts"].row(by_predicate=pl.col("contact_id") == "h3", named=True)
    assert (hal["n_trial_started"], hal["engagement_points"], hal["lead_score"]) == (1, 3 + 15, 40 + 3 + 15)
    hooli = result["accounts"].row(by_predicate=pl.col("domain") == "hooli.com", named=True)
    hal_engaged = next(p for p in hooli["engaged_people"] if p["name"] == "Hal Three")
    # decayed (half-life 30 days): email_open 3 * 0.5^(16/30) = 2.07, trial_started 15 * 0.5^(2/30) = 14.32
    assert hal_engaged["by_type"] == "email_open 2.1 · trial_started 14.3"
    assert hooli["n_trial_started"] == 1
