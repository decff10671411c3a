"""The report pages on hand-built data: every overview figure matches the account table,
account pages explain their score exactly, changes since the last run are right."""

import datetime as dt
import re

import polars as pl
import pytest

from abmq.tasks import changes, exports, report, rollup

RUN = {"config_fingerprint": "cfg", "inputs_fingerprint": "inp"}


@pytest.fixture(scope="module")
def site(handbuilt_result, as_of):
    clean, accounts, config = handbuilt_result["clean"], handbuilt_result["accounts"], handbuilt_result["config"]
    weekly = rollup.weekly_account_points(clean.events, clean.contacts, ["acme.com", "hooli.com"], config, as_of)
    return report.render_site(accounts, handbuilt_result["quality"], config, as_of, RUN, weekly=weekly, intent=clean.intent)


def figures(html: str) -> dict[str, int]:
    return {key: int(value.replace(",", "")) for key, value in re.findall(r'data-figure="([^"]+)">([\d,]+)<', html)}


def test_overview_figures_match_the_account_table(site, handbuilt_result):
    accounts = handbuilt_result["accounts"]
    shown = figures(site["report.html"])
    assert shown["accounts_scored"] == accounts.height == 10
    assert shown["targets"] == accounts["tier"].is_not_null().sum() == 5
    for decision, count in accounts.group_by("decision").len().iter_rows():
        assert shown[f"decision-{decision}"] == count
    tiers = dict(accounts.filter(pl.col("tier").is_not_null()).group_by("tier").len().iter_rows())
    assert [shown[f"tier-{i}-filled"] for i in (1, 2, 3)] == [tiers.get(t, 0) for t in ("Tier 1", "Tier 2", "Tier 3")] == [3, 1, 1]


def test_target_list_is_in_rank_order_and_links_account_pages(site):
    html = site["report.html"]
    order = re.findall(r'<a href="accounts/([^"]+)\.html"><strong>', html)
    assert order == ["acme.com", "hooli.com", "umbrella.com", "initech.com", "quiet.com"]
    assert {f"accounts/{d}.html" for d in order} <= set(site)
    assert 'id="target-filter"' in html and "hidden" in html  # the filter appears only with scripts on


def test_account_page_explains_the_score_exactly(site, handbuilt_result):
    page = site["accounts/acme.com.html"]
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">([+-]\d+)</td></tr>", page)
    assert sum(int(points) for _, points in rows) == 97 == figures(page)["score-total"]
    assert ("buying-group roles", "+12") in rows
    # people by role with their latest activity, names and titles but no e-mail addresses
    assert "Val Vp, VP of IT" in page and "last active 2026-11-23" in page
    assert "@acme.com" not in page
    assert "Intent Data" in page and "Salesforce, Snowflake" in page


def test_quality_page_accounts_for_every_source(site, handbuilt_result):
    page = site["quality.html"]
    for source in handbuilt_result["quality"]["sources"]:
        assert f"<td>{source['source']}</td>" in page
    assert 'href="data_docs/index.html"' in page
    assert "event dated after the as-of date" in page


def test_first_run_has_no_changes(site):
    assert "First run in this output folder" in site["report.html"]


def test_changes_since_the_last_run(handbuilt_result):
    accounts = handbuilt_result["accounts"]
    before = changes.snapshot(accounts).with_columns(
        # last time Hooli was only nurture in Tier 2, Quiet was a Tier 3 target that is now gone
        pl.when(pl.col("domain") == "hooli.com").then(pl.lit("nurture")).otherwise(pl.col("decision")).alias("decision"),
        pl.when(pl.col("domain") == "hooli.com").then(pl.lit("Tier 2")).otherwise(pl.col("tier")).alias("tier"),
        pl.when(pl.col("domain") == "hooli.com").then(pl.col("score") - 20).otherwise(pl.col("score")).alias("score"),
        pl.when(pl.col("domain") == "hooli.com")
        .then(pl.col("points_people") - 20)
        .otherwise(pl.col("points_people"))
        .alias("points_people"),
    )
    now = accounts.with_columns(pl.when(pl.col("domain") == "quiet.com").then(None).otherwise(pl.col("tier")).alias("tier"))
    found = changes.compare(now, before, "2026-11-18")
    assert [a["domain"] for a in found["new_sql_ready"]] == ["hooli.com"]
    assert [(a["domain"], a["tier_before"], a["tier"]) for a in found["tier_moves"]] == [("hooli.com", "Tier 2", "Tier 1")]
    assert [a["domain"] for a in found["dropped"]] == ["quiet.com"]
    assert found["risers"][0]["domain"] == "hooli.com" and found["risers"][0]["score_change"] == 20
    assert found["risers"][0]["top_signal"] == "engaged people +20"


def test_crm_exports_use_the_import_headers(handbuilt_result):
    files = exports.export_files(exports.targets_table(handbuilt_result["accounts"]))
    salesforce = pl.read_csv(files["exports/salesforce_accounts.csv"].encode())
    hubspot = pl.read_csv(files["exports/hubspot_companies.csv"].encode())
    linkedin = pl.read_csv(files["exports/linkedin_matched_audience_companies.csv"].encode())
    assert salesforce.columns[:7] == [
        "Account Name",
        "Website",
        "Billing Country",
        "Industry",
        "Employees",
        "Annual Revenue",
        "Account Owner",
    ]
    assert hubspot.columns[:3] == ["Company name", "Company Domain Name", "Country/Region"]
    assert "ABM Tier" in salesforce.columns and "ABM Score" in hubspot.columns
    assert linkedin.columns == ["companyname", "companywebsite", "companycountry"]
    assert linkedin.row(0) == ("Acme Software", "acme.com", "US")
    assert salesforce.height == hubspot.height == linkedin.height == 5


def test_weekly_engagement_of_the_top_accounts(handbuilt_result, as_of):
    clean, config = handbuilt_result["clean"], handbuilt_result["config"]
    weekly = rollup.weekly_account_points(clean.events, clean.contacts, ["hooli.com"], config, as_of)
    # Hooli: event 12 days ago (10) + download 14 days ago (5) in the week of Nov 9; pricing
    # 15 days ago (15) and the e-mail open 16 days ago (3) in the week of Nov 9 too.
    assert weekly.rows() == [("hooli.com", dt.date(2026, 11, 9), 33)]
