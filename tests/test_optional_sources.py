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


# --- accounts keyed by the CRM's account id when there is no domain --------------------------
#
# The hand-built data with a CRM export's gaps:
# * hooli.com (A02) has lost its domain: it is keyed "id:A02"; its three contacts carry
#   `account_id` A02 and link by it. Hooli had no technology or intent points, so its score
#   stays 80 (fit 15 + 10 + 10 + 5 = 40; engagement: people 29 + roles 11 = 40).
# * Zeta (account_id 0015g00000XyZ, no domain; a second row of the same id with only an owner
#   is merged into it): Software, 1,000 employees, USD 100M, US = fit 15 + 10 + 10 + 5 = 40.
#   Its one contact, a VP of Marketing at gmail.com (a personal e-mail: only the id links
#   it), requested a demo 2 days ago: 20 points decayed 0.5 ** (2 / 30) = 19.1, times the VP
#   persona weight 1.3 = 24.8, capped at 15 per person; roles: decision-maker 5 + champion 3
#   (marketing, VP) = 8. Score 40 + 15 + 8 = 63; a demo request from a VP at fit >= 40 takes
#   the fast path: sql_ready.
# * a row with neither domain nor account_id is quarantined with its reason.
# * crm_customers lists hooli.com: a list keyed by domain cannot match the id-keyed Hooli,
#   which stays a target.
ZETA_ID = "0015g00000XyZ"


def id_keyed_input(handbuilt_dir: Path, target: Path) -> Path:
    shutil.copytree(handbuilt_dir, target)
    accounts = pl.read_csv(target / "accounts.csv", infer_schema=False)
    accounts = pl.concat(
        [
            accounts.with_columns(pl.when(pl.col("account_id") == "A02").then(None).otherwise(pl.col("domain")).alias("domain")),
            pl.DataFrame(
                [
                    (ZETA_ID, None, "Zeta Id Co", "Software", "1000", "100000000", "US", None),
                    (ZETA_ID, "", None, None, None, None, None, "Dana Reyes"),
                    (None, None, "Keyless Ltd", "Software", "300", "30000000", "US", None),
                ],
                schema=accounts.columns,
                orient="row",
            ),
        ]
    )
    accounts.write_csv(target / "accounts.csv")
    contacts = pl.read_csv(target / "contacts.csv", infer_schema=False)
    contacts = pl.concat(
        [
            contacts.with_columns(pl.when(pl.col("contact_id").str.starts_with("h")).then(pl.lit("A02")).alias("account_id")),
            pl.DataFrame(
                [("z1", "zed@gmail.com", "Zed", "Zeta", "VP Marketing", "marketing", "vp", None, ZETA_ID)],
                schema=[*contacts.columns, "account_id"],
                orient="row",
            ),
        ]
    )
    contacts.write_csv(target / "contacts.csv")
    events = pl.read_csv(target / "events.csv", infer_schema=False)
    pl.concat(
        [events, pl.DataFrame([("z01", "z1", "demo_request", handbuilt.days_ago(2), None)], schema=events.columns, orient="row")]
    ).write_csv(target / "events.csv")
    pl.DataFrame({"domain": ["customer.com", "hooli.com"]}).write_csv(target / "crm_customers.csv")
    return target


def test_accounts_without_a_domain_are_keyed_by_their_id(handbuilt_dir, tmp_path, prefect_harness):
    data = id_keyed_input(handbuilt_dir, tmp_path / "input")
    out = tmp_path / "out"
    qualify(str(data), str(out), None, handbuilt.AS_OF.isoformat())
    scores = pl.read_parquet(out / "account_scores.parquet")
    assert scores.height == 11  # ten as before, and Zeta; the keyless row is quarantined
    by_id = {row["account_id"]: row for row in scores.filter(pl.col("domain").is_null()).to_dicts()}
    assert set(by_id) == {"A02", ZETA_ID}
    hooli, zeta = by_id["A02"], by_id[ZETA_ID]
    assert (hooli["score"], hooli["fit_points"], hooli["decision"]) == (80, 40, "sql_ready")  # not suppressed: hooli.com names no account
    assert (zeta["score"], zeta["fit_points"], zeta["points_people"], zeta["points_roles"]) == (63, 40, 15, 8)
    assert zeta["decision"] == "sql_ready" and zeta["decision_reason"].startswith("fast path")
    assert zeta["owner"] == "Dana Reyes"  # filled from its duplicate row
    assert not scores["domain"].drop_nulls().str.starts_with("id:").any()
    contacts = pl.read_parquet(out / "contact_scores.parquet")
    assert contacts.filter(pl.col("contact_id").is_in(["h1", "h2", "h3", "z1"]))["domain"].null_count() == 4
    summary = json.loads((out / "dq" / "summary.json").read_text())
    accounts_row = next(s for s in summary["sources"] if s["source"] == "accounts")
    assert accounts_row["keyed_by_account_id"] == 2
    assert accounts_row["duplicates_merged"] == 2  # Umbrella's second spelling, Zeta's second row
    assert accounts_row["rows_in"] == accounts_row["rows_used"] + accounts_row["rows_quarantined"] + accounts_row["duplicates_merged"]
    contacts_row = next(s for s in summary["sources"] if s["source"] == "contacts")
    assert contacts_row["account_links"]["account_id"] == 4
    quarantined = pl.read_parquet(out / "quarantine" / "accounts.parquet")
    assert quarantined["name"].to_list() == ["Keyless Ltd"]
    assert "expect_column_values_to_not_be_null(account_key): no domain and no account_id" in quarantined["quarantine_reasons"][0]
    assert "2 accounts have no domain and are keyed by <code>account_id</code>" in (out / "quality.html").read_text(encoding="utf-8")

    targets = pl.read_csv(out / "targets.csv", infer_schema=False)
    for account_id, score in (("A02", "80"), (ZETA_ID, "63")):
        row = targets.filter(pl.col("account_id") == account_id)
        assert row["domain"].to_list() == [None] and row["score"].to_list() == [score]
    salesforce = pl.read_csv(out / "exports" / "salesforce_accounts.csv", infer_schema=False)
    assert salesforce.columns[:2] == ["Account ID", "Account Name"]
    zeta_row = salesforce.filter(pl.col("Account ID") == ZETA_ID)
    assert zeta_row["Website"].to_list() == [None] and zeta_row["Account Name"].to_list() == ["Zeta Id Co"]
    hubspot = pl.read_csv(out / "exports" / "hubspot_companies.csv", infer_schema=False)
    assert hubspot.filter(pl.col("Record ID") == "A02")["Company Domain Name"].to_list() == [None]
    linkedin = pl.read_csv(out / "exports" / "linkedin_matched_audience_companies.csv", infer_schema=False)
    assert not linkedin["companywebsite"].drop_nulls().str.contains("id:").any()

    page = out / report_page(f"id:{ZETA_ID}")
    html = page.read_text(encoding="utf-8")
    assert "no domain · account id 0015g00000XyZ" in html and 'id="no-domain"' in html
    assert f'href="{report_page(f"id:{ZETA_ID}")}"' in (out / "report.html").read_text(encoding="utf-8")
    assert (out / "accounts" / "acme.com.html").exists()  # domain-keyed pages keep their names


def report_page(key: str) -> str:
    from abmq.tasks.report import account_page

    return account_page(key)


def test_account_page_names_of_ids_are_safe_stable_and_distinct():
    from abmq.tasks.report import account_page

    names = {account_page(k) for k in ("id:0015g00000XyZ", "id:0015G00000xyz", "id:../../etc/passwd", "id:a b")}
    assert len(names) == 4
    assert all(n.startswith("accounts/id-") and "/" not in n.removeprefix("accounts/") and n.count(".") == 1 for n in names)
    assert account_page("id:0015g00000XyZ") == account_page("id:0015g00000XyZ")
    assert account_page("acme.com") == "accounts/acme.com.html"


def test_id_keyed_accounts_score_the_same_in_shards(handbuilt_dir, tmp_path):
    data = id_keyed_input(handbuilt_dir, tmp_path / "input")
    config = load_config()
    checked = pipeline.check_inputs(str(data), None, config, handbuilt.AS_OF)
    one = pipeline.assess(checked.sources, config, handbuilt.AS_OF)
    for count in (2, 3, 7):
        sharded = pipeline.assess(checked.sources, config, handbuilt.AS_OF, shard_count=count)
        assert sharded.accounts.equals(one.accounts) and sharded.contacts.equals(one.contacts), count
    assert set(one.accounts.filter(pl.col("domain").str.starts_with("id:"))["domain"]) == {"id:A02", f"id:{ZETA_ID}"}


def test_the_snapshot_keeps_id_keyed_accounts_apart_from_domains():
    """The published snapshot shows no key in `domain`; read back, the key is rebuilt, so tier
    hysteresis and "what changed" follow an id-keyed account from run to run."""
    from abmq.tasks import changes

    accounts = pl.DataFrame(
        {"domain": ["acme.com", "id:A02"], "name": ["Acme", "Hooli"], "decision": ["sql_ready"] * 2, "score": [90, 80]}
    ).with_columns(
        pl.lit(40).alias("fit_points"),
        pl.lit(40).alias("engagement_points"),
        pl.lit("tier_1").alias("tier"),
        pl.Series("target_rank", [1, 2]),
        *[pl.lit(0, pl.Int64).alias(c) for c in changes.POINT_COLUMNS],
    )
    published = changes.published_snapshot(accounts)
    assert published["domain"].to_list() == ["acme.com", None] and published["account_id"].to_list() == [None, "A02"]
    assert changes.rekeyed(published).equals(changes.snapshot(accounts))
    assert changes.published_snapshot(accounts.head(1)).columns == changes.SNAPSHOT_COLUMNS  # domain-keyed: columns as before
    later = accounts.with_columns(pl.Series("score", [90, 85]))
    moved = changes.compare(later, changes.rekeyed(published), "2026-11-18")
    assert [(r["domain"], r["account_key"], r["score_change"]) for r in moved["risers"]] == [(None, "id:A02", 5)]


def test_an_accounts_export_with_ids_and_no_domain_column(handbuilt_dir, tmp_path):
    """A CRM export without a `domain` column: every account is keyed by its id, contacts link
    by account_id. (Technographics and intent, keyed by domain, could match nothing: left out.)"""
    data = id_keyed_input(handbuilt_dir, tmp_path / "input")
    pl.read_csv(data / "accounts.csv", infer_schema=False).drop("domain").write_csv(data / "accounts.csv")
    ids = {"acme.com": "A01", "hooli.com": "A02", "umbrella.com": "A09", "initech.com": "A04", "globex.com": "A05"}
    ids |= {"customer.com": "A07", "openopp.com": "A08", "rival.com": "A10", "nofirmo.com": "A11", "unknown-co.org": "A99"}
    contacts = pl.read_csv(data / "contacts.csv", infer_schema=False)
    email_domain = pl.col("email").str.to_lowercase().str.extract(r"@(.+)$", 1)
    contacts.with_columns(pl.coalesce("account_id", email_domain.replace_strict(ids, default=None))).write_csv(data / "contacts.csv")
    for source in ("technographics", "intent"):
        (data / f"{source}.csv").unlink()
    config = load_config()
    checked = pipeline.check_inputs(str(data), None, config, handbuilt.AS_OF)
    assessment = pipeline.assess(checked.sources, config, handbuilt.AS_OF)
    keys = assessment.accounts["domain"]
    assert keys.str.starts_with("id:").all() and keys.n_unique() == 12  # A01..A11 (A03 and A09 now two accounts), Zeta
    scores = dict(assessment.accounts.select("account_id", "score").iter_rows())
    assert scores["A02"] == 80 and scores[ZETA_ID] == 63 and scores["A01"] == 82  # acme without technology and intent: 97 - 15
    assert checked.sources["accounts"].quarantined["name"].to_list() == ["Keyless Ltd"]


def test_an_accounts_export_with_neither_key_column_stops_naming_both(handbuilt_dir, tmp_path):
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    pl.read_csv(data / "accounts.csv", infer_schema=False).drop("domain", "account_id").write_csv(data / "accounts.csv")
    checked = pipeline.check_inputs(str(data), None, load_config(), handbuilt.AS_OF)
    message = checked.sources["accounts"].validation.error_message()
    assert message == "accounts (accounts.csv): neither 'domain' nor 'account_id' is in the export; an account needs one of them"
