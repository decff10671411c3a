"""Account roll-up, scores, decisions and tiers on the hand-built dataset (default config).

Account score = fit (industry 15, size 10, revenue 10, geography 5, technologies 5 each up
to 10; cap 50) + engagement (each person's lead engagement capped at 15 and all people
together at 30; decision-makers engaged 5 each up to 10; 3 per engaged department beyond
the first up to 6; surging configured intent topics 5 each up to 10; cap 50). A contact is
an engaged stakeholder from 10 lead engagement points.
"""

import polars as pl
import pytest

from abmq.config import load_config
from steps import run_steps
from tasks.scoring import POINT_COLUMNS

EXPECTED = {
    # domain: (score, decision, tier, rank)
    # fit 50 (incl. Salesforce + Snowflake 10); people 15+15+15+15 = 60 -> 30, DMs 3 -> 10,
    # 3 departments -> 6, intent 'Intent Data' 75 -> 5: 51 capped to 50.
    "acme.com": (100, "sql_ready", "Tier 1", 1),
    # merged spellings: fit 40; people 11+15 = 26, DM 1 (title-derived) -> 5,
    # 2 departments -> 3, 2 configured topics surging -> 10: 44.
    "umbrella.com": (84, "sql_ready", "Tier 1", 2),
    # fit 40; people 15+15+3 = 33 -> 30, DMs 2 -> 10, 2 engaged departments -> 3 (the
    # engineer's 3 points do not make an engaged stakeholder): 43.
    "hooli.com": (83, "sql_ready", "Tier 1", 3),
    # fit 15+0+10+5 = 30; people 15, DM 5 (its surge is older than 4 weeks): 50.
    "initech.com": (50, "nurture", "Tier 2", 4),
    # fit 40 + HubSpot 5, nobody engaged: 45.
    "quiet.com": (45, "nurture", "Tier 3", 5),
    # fit 0; people 6, nobody engaged.
    "globex.com": (6, "disqualified", None, None),
    # fit 40; people 15 + DM 5.
    "customer.com": (60, "suppressed", None, None),
    "openopp.com": (60, "suppressed", None, None),
    "rival.com": (60, "suppressed", None, None),
    # fit 0+10+10+5; people 15 + DM 5.
    "nofirmo.com": (45, "needs_enrichment", None, None),
}


def account(result, domain):
    rows = result["accounts"].filter(domain=domain).to_dicts()
    assert len(rows) == 1, domain
    return rows[0]


@pytest.mark.parametrize("domain", sorted(EXPECTED))
def test_decision_score_and_tier(handbuilt_result, domain):
    row = account(handbuilt_result, domain)
    assert (row["score"], row["decision"], row["tier"], row["target_rank"]) == EXPECTED[domain]


def test_every_account_has_exactly_one_decision_with_a_reason(handbuilt_result):
    accounts = handbuilt_result["accounts"]
    assert accounts.height == len(EXPECTED)
    assert accounts["domain"].is_unique().all()
    assert accounts["decision_reason"].null_count() == 0


def test_reasons_name_the_rule(handbuilt_result):
    assert account(handbuilt_result, "customer.com")["decision_reason"] == "suppressed: existing customer"
    assert account(handbuilt_result, "openopp.com")["decision_reason"] == "suppressed: open opportunity"
    assert account(handbuilt_result, "rival.com")["decision_reason"] == "suppressed: competitor"
    assert account(handbuilt_result, "nofirmo.com")["decision_reason"] == "missing firmographics: industry"
    assert account(handbuilt_result, "globex.com")["decision_reason"] == "fit 0 < 25 (minimum fit to nurture)"
    assert account(handbuilt_result, "initech.com")["decision_reason"] == "fit 30 >= 25 but score 50 < 70"


def test_points_per_signal_add_up_to_the_score(handbuilt_result):
    accounts = handbuilt_result["accounts"]
    total = accounts.select(pl.sum_horizontal(list(POINT_COLUMNS)).alias("total"))["total"]
    assert (total == accounts["score"]).all()
    acme = account(handbuilt_result, "acme.com")
    assert {c: acme[c] for c in POINT_COLUMNS} == {
        "points_industry": 15, "points_employees": 10, "points_annual_revenue": 10, "points_country": 5,
        "points_technologies": 10, "points_fit_cap": 0, "points_people": 30, "points_decision_makers": 10,
        "points_departments": 6, "points_intent": 5, "points_engagement_cap": -1,
    }
    assert acme["explanation"].endswith("engagement cap -1 = 100")


def test_buying_group_roll_up(handbuilt_result):
    acme = account(handbuilt_result, "acme.com")
    assert acme["engaged_stakeholders"] == 4
    assert acme["decision_makers_engaged"] == 3
    assert acme["engaged_departments"] == ["finance", "it", "marketing"]
    assert [p["name"] for p in acme["engaged_people"]] == ["Val Vp", "Dee Dir", "Max Mgr", "Olga Old"]
    assert acme["matched_technologies"] == ["Salesforce", "Snowflake"]
    hooli = account(handbuilt_result, "hooli.com")
    assert (hooli["engaged_stakeholders"], hooli["contacts"], hooli["engaged_departments"]) == (2, 3, ["finance", "security"])
    umbrella = account(handbuilt_result, "umbrella.com")
    assert umbrella["decision_makers_engaged"] == 1
    assert umbrella["surging_topics"] == ["Lead Scoring", "Revenue Operations"]
    assert umbrella["domain_spellings"] == ["https://www.Umbrella.com/", "umbrella.com"]
    assert umbrella["annual_revenue"] == 90e6 and umbrella["industry"] == "Healthcare"
    # all of Initech's activity (30 days ago) is in the previous trend window
    assert account(handbuilt_result, "initech.com")["trend"] == "cooling"
    assert account(handbuilt_result, "acme.com")["trend"] == "rising"
    assert account(handbuilt_result, "quiet.com")["trend"] == "none"


def test_tier_capacities_and_min_scores_come_from_config(handbuilt_dir, as_of):
    default = load_config()
    tiers = [
        {"name": "Tier 1", "label": "1:1", "capacity": 1, "min_score": 70},
        {"name": "Tier 2", "label": "1:few", "capacity": 2, "min_score": 50},
        {"name": "Tier 3", "label": "1:many", "capacity": 1, "min_score": 0},
    ]
    config = default.model_validate({**default.model_dump(), "selection": {**default.selection.model_dump(), "tiers": tiers}})
    result = run_steps(handbuilt_dir, as_of, config)
    placed = {d: (account(result, d)["tier"], account(result, d)["target_status"]) for d in ("acme.com", "hooli.com", "umbrella.com", "initech.com", "quiet.com")}
    assert placed == {
        "acme.com": ("Tier 1", "target"),
        "umbrella.com": ("Tier 2", "target"),
        "hooli.com": ("Tier 2", "target"),
        "initech.com": ("Tier 3", "target"),
        "quiet.com": (None, "eligible, beyond tier capacity"),
    }


def test_accounting_per_source(handbuilt_result):
    by_source = {s["source"]: s for s in handbuilt_result["quality"]["sources"]}
    for s in by_source.values():
        assert s["rows_in"] == s["rows_used"] + s["rows_quarantined"] + s["duplicates_merged"], s["source"]
    assert (by_source["accounts"]["rows_in"], by_source["accounts"]["duplicates_merged"]) == (11, 1)
    # events: the future one and the orphan contact's are quarantined, the repeated e43 merged
    assert (by_source["events"]["rows_in"], by_source["events"]["rows_quarantined"], by_source["events"]["duplicates_merged"]) == (47, 2, 1)
    assert (by_source["contacts"]["rows_in"], by_source["contacts"]["rows_quarantined"]) == (16, 1)
