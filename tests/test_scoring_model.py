"""The account model's behaviour: decay, persona weights, no single loud contact, buying
groups over volume, intent clusters, competitor technology, fast path, hysteresis, and the
properties that must hold whatever the data (hypothesis)."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from steps import run_steps

from abmq.config import load_config
from abmq.tasks import rollup, scoring, selection
from abmq.tasks.sources import UTC_TIMESTAMP

AS_OF = dt.date(2026, 11, 25)
CONFIG = load_config()
SCORING_TYPES = ["demo_request", "pricing_page_visit", "event_attendance", "content_download", "email_open", "email_click"]


def at(days_ago: int) -> dt.datetime:
    return dt.datetime.combine(AS_OF - dt.timedelta(days=days_ago), dt.time(9), tzinfo=dt.timezone.utc)


def accounts_frame(domains: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "domain": domains,
            "name": [d.split(".")[0].title() for d in domains],
            "industry": ["Software"] * len(domains),
            "employees": [1000] * len(domains),
            "annual_revenue": [100e6] * len(domains),
            "country": ["US"] * len(domains),
            "account_id": [f"A{i}" for i in range(len(domains))],
            "owner": ["Owner"] * len(domains),
        }
    )


def contacts_frame(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """(contact_id, domain, seniority, department)"""
    return pl.DataFrame(
        [
            (cid, domain, seniority, department, cid.title(), "X", f"{seniority} {department}")
            for cid, domain, seniority, department in rows
        ],
        schema={c: pl.String for c in ("contact_id", "domain", "seniority", "department", "first_name", "last_name", "title")},
        orient="row",
    )


def events_frame(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    """(contact_id, event_type, days ago)"""
    return pl.DataFrame(
        {"contact_id": [r[0] for r in rows], "event_type": [r[1] for r in rows], "occurred_at": [at(r[2]) for r in rows]},
        schema={"contact_id": pl.String, "event_type": pl.String, "occurred_at": UTC_TIMESTAMP},
    )


NO_INTENT = pl.DataFrame(schema={"domain": pl.String, "topic": pl.String, "week": pl.Date, "score": pl.Float64})
NO_TECH = pl.DataFrame(schema={"domain": pl.String, "technology": pl.String, "first_seen": pl.Date})


def score(accounts, contacts, events, intent=NO_INTENT, technographics=NO_TECH, config=CONFIG) -> pl.DataFrame:
    engagement = rollup.contact_engagement(events, config, AS_OF)
    people = rollup.contacts_with_engagement(contacts, engagement)
    return scoring.score_accounts(
        accounts,
        rollup.account_rollup(people, config),
        rollup.intent_surges(intent, config, AS_OF),
        rollup.technology_matches(technographics, config, AS_OF),
        config,
    )


def points(frame: pl.DataFrame, domain: str) -> dict:
    return frame.filter(domain=domain).to_dicts()[0]


def test_decay_by_hand():
    events = events_frame(
        [
            ("a", "demo_request", 30),  # 20 * 0.5 = 10
            ("a", "demo_request", 60),  # "once": only the latest counts
            ("a", "content_download", 0),
            ("a", "content_download", 60),  # 5 * (1 + 0.25) = 6.25
            ("a", "email_open", 90),  # outside the 90-day window
            ("b", "pricing_page_visit", 15),  # 15 * 0.5 ** 0.5 = 10.6066
        ]
    )
    decayed = {row[0]: row[1:] for row in rollup.decayed_engagement(events, CONFIG, AS_OF).collect().iter_rows()}
    assert decayed["a"][0] == pytest.approx(16.25)
    assert decayed["a"][1] == "demo_request 10.0 · content_download 6.2"  # per type (rounded), for the explanation
    assert decayed["b"][0] == pytest.approx(10.6066, abs=1e-4)


def test_persona_weight_applies_before_the_per_person_cap():
    # the same pricing visit today: 15 points; a VP counts 15 * 1.3 = 19.5 -> capped at 15,
    # an individual contributor 15 * 0.8 = 12
    contacts = contacts_frame([("vp", "a.com", "vp", "it"), ("ic", "b.com", "individual_contributor", "it")])
    scored = score(
        accounts_frame(["a.com", "b.com"]), contacts, events_frame([("vp", "pricing_page_visit", 0), ("ic", "pricing_page_visit", 0)])
    )
    assert points(scored, "a.com")["points_people"] == 15
    assert points(scored, "b.com")["points_people"] == 12


def test_one_loud_contact_ranks_below_a_moderately_engaged_buying_group():
    contacts = contacts_frame(
        [
            ("loud", "loud.com", "manager", "it"),
            ("p1", "group.com", "manager", "it"),
            ("p2", "group.com", "manager", "security"),
            ("p3", "group.com", "manager", "finance"),
            ("p4", "group.com", "individual_contributor", "finance"),
        ]
    )
    events = events_frame(
        [("loud", "email_open", d % 20) for d in range(100)]
        + [(p, kind, 5) for p in ("p1", "p2", "p3", "p4") for kind in ("content_download", "email_click", "email_open")]
    )
    scored = score(accounts_frame(["loud.com", "group.com"]), contacts, events)
    loud, group = points(scored, "loud.com"), points(scored, "group.com")
    assert loud["points_people"] == 15  # 100 opens, one person: the per-person cap
    assert group["score"] > loud["score"]


def test_it_alone_scores_below_the_same_engagement_spread_over_it_security_and_finance():
    contacts = contacts_frame(
        [
            ("i1", "itonly.com", "manager", "it"),
            ("i2", "itonly.com", "manager", "it"),
            ("i3", "itonly.com", "manager", "it"),
            ("s1", "spread.com", "manager", "it"),
            ("s2", "spread.com", "manager", "security"),
            ("s3", "spread.com", "manager", "finance"),
        ]
    )
    events = events_frame([(c, "pricing_page_visit", 3) for c in ("i1", "i2", "i3", "s1", "s2", "s3")])
    scored = score(accounts_frame(["itonly.com", "spread.com"]), contacts, events)
    it_only, spread = points(scored, "itonly.com"), points(scored, "spread.com")
    assert it_only["points_people"] == spread["points_people"]
    assert it_only["roles_missing"] == ["decision_maker", "finance", "champion"]
    assert spread["points_roles"] == it_only["points_roles"] + 3  # finance covered
    assert spread["score"] > it_only["score"]


def test_intent_cluster_needs_its_share_of_topics():
    week = AS_OF - dt.timedelta(days=AS_OF.weekday())
    intent = pl.DataFrame(
        {
            "domain": ["one.com", "two.com", "two.com"],
            "topic": ["Customer Data Platform", "Customer Data Platform", "Revenue Operations"],
            "week": [week, week, week],
            "score": [90.0, 90.0, 61.0],
        }
    )
    surges = rollup.intent_surges(intent, CONFIG, AS_OF)
    # customer_data needs 50% of its 2 topics (1 is enough); revenue_operations 25% of 4
    assert dict(surges.select("domain", "clusters_in_market").iter_rows()) == {
        "one.com": ["customer_data"],
        "two.com": ["revenue_operations", "customer_data"],
    }


def test_competitor_technology_can_count_against_an_account():
    config = CONFIG.model_validate(
        {
            **CONFIG.model_dump(),
            "account_scoring": {
                **CONFIG.account_scoring.model_dump(),
                "fit": {
                    **CONFIG.account_scoring.fit.model_dump(),
                    "technologies": {
                        **CONFIG.account_scoring.fit.technologies.model_dump(),
                        "competitors": {"6sense": -5, "Demandbase": 5},
                    },
                },
            },
        }
    )
    technographics = pl.DataFrame(
        {"domain": ["locked.com", "switch.com"], "technology": ["6sense", "Demandbase"], "first_seen": [dt.date(2025, 1, 1)] * 2}
    )
    scored = score(
        accounts_frame(["locked.com", "switch.com"]), contacts_frame([]), events_frame([]), technographics=technographics, config=config
    )
    assert points(scored, "locked.com")["points_competitor_tech"] == -5 and points(scored, "locked.com")["fit_points"] == 35
    assert points(scored, "switch.com")["points_competitor_tech"] == 5
    assert points(scored, "switch.com")["fit_points"] == 45


def test_fast_path_sends_a_decision_makers_demo_request_to_sales(handbuilt_dir, as_of):
    config = CONFIG.model_validate(
        {
            **CONFIG.model_dump(),
            "account_scoring": {
                **CONFIG.account_scoring.model_dump(),
                "fast_path": {"enabled": True, "seniorities": ["c_level"], "min_fit": 30},
            },
        }
    )
    initech = run_steps(handbuilt_dir, as_of, config)["accounts"].filter(domain="initech.com").to_dicts()[0]
    assert (initech["score"], initech["decision"]) == (53, "sql_ready")
    assert initech["decision_reason"] == "fast path: demo request from a decision-maker, fit 30 >= 30 (score 53)"


def test_tier_hysteresis_keeps_an_account_at_the_boundary():
    decided = pl.DataFrame(
        {
            "domain": ["a.com", "b.com"],
            "score": [68, 66],
            "decision": ["nurture"] * 2,
            "fit_points": [40, 40],
            "trend": ["steady"] * 2,
            "engaged_stakeholders": [1, 1],
            "decision_makers_engaged": [0, 0],
            "recent_points": [0, 0],
        }
    )
    previous = pl.DataFrame({"domain": ["a.com", "b.com"], "previous_tier": ["Tier 1", "Tier 1"]})
    tiered = dict(selection.assign_tiers(decided, CONFIG, previous).select("domain", "tier").iter_rows())
    # min 70, margin 3: 68 stays in Tier 1, 66 falls to Tier 2; without history both fall
    assert tiered == {"a.com": "Tier 1", "b.com": "Tier 2"}
    assert set(dict(selection.assign_tiers(decided, CONFIG).select("domain", "tier").iter_rows()).values()) == {"Tier 2"}


# ---- properties ---------------------------------------------------------------------------

GROUP = contacts_frame(
    [
        ("c1", "p.com", "vp", "finance"),
        ("c2", "p.com", "manager", "it"),
        ("c3", "p.com", "individual_contributor", "marketing"),
    ]
)
event_lists = st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(SCORING_TYPES), st.integers(0, 120)), max_size=25)


@settings(max_examples=60, deadline=None)
@given(events=event_lists, extra=st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(SCORING_TYPES), st.integers(0, 89)))
def test_adding_a_qualifying_event_never_lowers_the_score(events, extra):
    before = points(score(accounts_frame(["p.com"]), GROUP, events_frame(events)), "p.com")["score"]
    after = points(score(accounts_frame(["p.com"]), GROUP, events_frame([*events, extra])), "p.com")["score"]
    assert after >= before


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_row_order_of_the_inputs_never_changes_the_outputs(handbuilt_dir, tmp_path_factory, as_of, seed):
    shuffled = tmp_path_factory.mktemp("shuffled") / "input"
    shutil.copytree(handbuilt_dir, shuffled)
    for path in shuffled.glob("*.csv"):
        frame = pl.read_csv(path, infer_schema=False)
        frame.sample(fraction=1.0, shuffle=True, seed=seed).write_csv(path)
    original = run_steps(handbuilt_dir, as_of)
    reordered = run_steps(shuffled, as_of)
    for table in ("accounts", "contacts"):
        assert reordered[table].equals(original[table]), table


def test_merging_spellings_gives_the_same_result_as_clean_input(handbuilt_dir, tmp_path, as_of):
    clean = tmp_path / "clean"
    shutil.copytree(handbuilt_dir, clean)
    accounts = pl.read_csv(clean / "accounts.csv", infer_schema=False)
    merged_row = {
        "account_id": "A03",
        "domain": "umbrella.com",
        "name": "Umbrella Health",
        "industry": "Healthcare",
        "employees": "800",
        "annual_revenue": "90000000.0",
        "country": "GB",
        "owner": "Ana Silva",
    }
    accounts.filter(~pl.col("account_id").is_in(["A03", "A09"])).vstack(pl.DataFrame([merged_row]).select(accounts.columns)).write_csv(
        clean / "accounts.csv"
    )
    dirty_result = run_steps(handbuilt_dir, as_of)["accounts"].drop("domain_spellings")
    clean_result = run_steps(clean, as_of)["accounts"].drop("domain_spellings")
    assert dirty_result.equals(clean_result)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_suppressed_accounts_never_appear_in_targets(handbuilt_result, data):
    domains = handbuilt_result["accounts"]["domain"].to_list()
    lists = {
        key: pl.Series("domain", data.draw(st.lists(st.sampled_from(domains), unique=True)), pl.String)
        for key in ("customers", "open_opportunities", "competitors")
    }
    scored = handbuilt_result["accounts"].select(
        [
            c
            for c in handbuilt_result["accounts"].columns
            if c
            not in (
                "decision",
                "decision_reason",
                "suppression",
                "tier",
                "tier_label",
                "target_rank",
                "target_status",
                "next_step",
                "explanation",
            )
        ]
    )
    tiered = selection.assign_tiers(selection.decide(scored, lists, CONFIG), CONFIG)
    suppressed = set().union(*(set(s) for s in lists.values()))
    assert suppressed.isdisjoint(set(tiered.filter(pl.col("tier").is_not_null())["domain"]))
    assert set(tiered.filter(pl.col("decision") == "suppressed")["domain"]) == suppressed


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 0, 2]])
def test_people_points_are_the_exact_sum_of_each_persons_tenths(order):
    # managers weigh 1.0, so each person's account points are their decayed points: 0.1, 4.1 and
    # 0.3. As floats, 0.1 + 4.1 + 0.3 is 4.499999999999999 in this order and 4.5 in others; the
    # account's people points are the sum as written by hand, 4.5, whatever order rows come in.
    decayed = [0.1, 4.1, 0.3]
    people = contacts_frame([(f"c{i}", "a.com", "manager", "it") for i in range(3)]).with_columns(
        pl.Series("decayed_points", decayed),
        pl.lit(0, pl.Int64).alias("engagement_points"),
        pl.lit(0, pl.Int64).alias("engagement_raw_points"),
        pl.lit(None, pl.String).alias("decayed_by_type"),
        pl.lit(None, UTC_TIMESTAMP).alias("last_activity_at"),
        pl.lit(0, pl.Int64).alias("recent_points"),
        pl.lit(0, pl.Int64).alias("previous_points"),
        *[pl.lit(0, pl.Int64).alias(f"n_{t}") for t in CONFIG.lead_scoring.engagement.event_types],
    )
    assert (0.1 + 4.1) + 0.3 != 4.5  # the float sum this guards against
    rolled = rollup.account_rollup(people[order], CONFIG)
    assert rolled["people_points_raw"].to_list() == [4.5]
    assert rolled["contacts"].to_list() == [3]


def test_contacts_come_out_in_id_order_sorted_or_not():
    """The join keeps an export's id order when it has one and sorts when it has not: the
    same table either way, zero engagement filled in."""
    contacts = pl.DataFrame({"contact_id": ["c3", "c1", "c2"], "domain": ["a.com", "a.com", "b.com"]})
    engagement = pl.DataFrame({"contact_id": ["c2", "c3"], "n_demo_request": [1, 2], "engagement_points": [30, 60]})
    unsorted = rollup.contacts_with_engagement(contacts, engagement)
    presorted = rollup.contacts_with_engagement(contacts.sort("contact_id"), engagement)
    assert unsorted.equals(presorted)
    assert unsorted["contact_id"].to_list() == ["c1", "c2", "c3"]
    assert unsorted["n_demo_request"].to_list() == [0, 1, 2] and unsorted["engagement_points"].to_list() == [0, 30, 60]


def test_engagement_adds_up_each_contacts_events_however_they_are_sorted_and_sliced(monkeypatch):
    """A contact's events are made adjacent by sorting on the ids' hashes and added up a slice
    at a time. By hand, then the same table when slices hold one contact, when every id shares
    a hash and when two do; missing ids are one contact, as in a group-by."""
    events = events_frame(
        [
            ("b", "email_open", 45),  # previous trend window (30-59 days ago): 3
            ("a", "demo_request", 60),  # "once": only the latest counts (below)
            (None, "email_click", 3),
            ("a", "content_download", 0),
            ("c", "webinar_attended", 2),  # a type the config does not know: activity, no points
            ("a", "demo_request", 30),  # 20, in the previous window; decayed 20 * 0.5
            ("b", "pricing_page_visit", 15),  # 15 in the recent window; decayed 15 * 0.5 ** 0.5
            ("a", "email_open", 90),  # outside every window
            (None, "email_click", 4),
            ("a", "content_download", 60),  # 5 * (1 + 0.25) decayed
        ]
    )
    engagement = rollup.contact_engagement(events, CONFIG, AS_OF).sort("contact_id", nulls_last=True)
    by_contact = {row["contact_id"]: row for row in engagement.to_dicts()}
    a, b, c, missing = by_contact["a"], by_contact["b"], by_contact["c"], by_contact[None]
    assert (a["n_demo_request"], a["n_content_download"], a["n_email_open"]) == (2, 2, 0)
    assert (a["engagement_raw_points"], a["recent_points"], a["previous_points"]) == (30, 5, 20)
    assert a["last_activity_at"] == at(0)
    assert a["decayed_points"] == pytest.approx(16.25)
    assert a["decayed_by_type"] == "demo_request 10.0 · content_download 6.2"
    assert (b["engagement_points"], b["recent_points"], b["previous_points"]) == (18, 15, 3)
    assert b["decayed_points"] == pytest.approx(15 * 0.5**0.5 + 3 * 0.5**1.5, abs=1e-5)
    assert (c["engagement_points"], c["decayed_points"], c["last_activity_at"]) == (0, 0.0, at(2))
    assert (missing["n_email_click"], missing["engagement_points"]) == (2, 6)
    assert engagement.height == 4

    monkeypatch.setattr(rollup, "ENGAGEMENT_SLICE_ROWS", 1)  # every slice one contact
    assert rollup.contact_engagement(events, CONFIG, AS_OF).sort("contact_id", nulls_last=True).equals(engagement)
    monkeypatch.setattr(rollup, "id_hash", lambda ids: pl.lit(7, pl.UInt64))  # every id collides
    assert rollup.contact_engagement(events, CONFIG, AS_OF).sort("contact_id", nulls_last=True).equals(engagement)
    monkeypatch.setattr(rollup, "id_hash", lambda ids: ids.str.replace("c", "a").hash(seed=0))  # c collides with a only
    assert rollup.contact_engagement(events, CONFIG, AS_OF).sort("contact_id", nulls_last=True).equals(engagement)
    assert rollup.contact_engagement(events.clear(), CONFIG, AS_OF).schema == engagement.schema  # no events


def test_events_added_up_by_hash_pair_with_their_contacts_as_by_id(monkeypatch):
    """`contacts_with_events` adds events up by the contact id's hash and pairs them with the
    contacts by it: the table `contacts_with_engagement` gives from the events ordered by id.
    By hand first (a contact with no events, events of an id that is no contact, missing ids on
    both sides), then the same table where the hash cannot be trusted: two contacts sharing a
    hash, and an id that is no contact sharing a contact's hash (caught by the second seed)."""
    contacts = pl.DataFrame({"contact_id": ["c2", "c1", "c3", None], "domain": ["a.com", "a.com", "b.com", "b.com"]})
    events = events_frame(
        [
            ("c1", "demo_request", 2),
            ("x9", "demo_request", 1),  # no contact of these: counted for nobody
            ("c1", "email_open", 40),
            ("c2", "pricing_page_visit", 15),
            (None, "email_click", 3),  # a missing id pairs with no contact, not even one without an id
            ("c1", "email_open", 1),
        ]
    )

    def by_hash() -> pl.DataFrame:
        coded = rollup.in_one_piece(rollup.coded_query(events, CONFIG, AS_OF))
        return rollup.with_decayed_by_type(rollup.contacts_with_events(contacts, coded, CONFIG, AS_OF), CONFIG)

    expected = rollup.contacts_with_engagement(contacts, rollup.contact_engagement(events, CONFIG, AS_OF))
    paired = by_hash()
    assert paired.equals(expected) and paired.schema == expected.schema
    by_id = {row["contact_id"]: row for row in paired.to_dicts()}
    # c1: a demo request (20) and an e-mail open (3) in the last 30 days, one more open (3) 40 days ago
    assert (by_id["c1"]["n_demo_request"], by_id["c1"]["n_email_open"], by_id["c1"]["recent_points"]) == (1, 2, 23)
    assert by_id["c1"]["engagement_raw_points"] == 26 and by_id["c1"]["previous_points"] == 3
    assert (by_id["c2"]["n_pricing_page_visit"], by_id["c2"]["engagement_points"]) == (1, 15)
    assert (by_id["c3"]["engagement_points"], by_id["c3"]["decayed_points"], by_id["c3"]["decayed_by_type"]) == (0, 0.0, None)
    assert (by_id[None]["n_email_click"], by_id[None]["last_activity_at"]) == (0, None)

    monkeypatch.setattr(rollup, "id_hash", lambda ids: ids.str.replace("c2", "c1").hash(seed=0))  # two contacts share a hash
    assert by_hash().equals(expected)
    monkeypatch.setattr(rollup, "id_hash", lambda ids: ids.str.replace("x9", "c1").hash(seed=0))  # x9 shares c1's
    assert by_hash().equals(expected)
    # were the second hash to collide too, c1 would be given x9's demo request (odds ~2^-128)
    monkeypatch.setattr(rollup, "check_hash", lambda ids: ids.str.replace("x9", "c1").hash(seed=1).alias("_id_check"))
    assert by_hash().filter(pl.col("contact_id") == "c1")["n_demo_request"].item() == 2


def test_counts_added_up_packed_are_the_counts_and_too_many_events_are_added_up_apart(monkeypatch):
    """The per-type counts are added up several to a 64-bit number (`rollup._COUNT_BITS` bits
    each) and taken apart after. With 2 bits a count holds 3: c1's 5 e-mail opens would carry
    into the next count, so a contact with 4 events or more has everything added up unpacked."""
    contacts = pl.DataFrame({"contact_id": ["c1", "c2"], "domain": ["a.com", "b.com"]})
    events = events_frame([("c1", "email_open", day) for day in (1, 2, 3, 4, 5)] + [("c1", "email_click", 2), ("c2", "demo_request", 1)])

    def by_hash() -> pl.DataFrame:
        return rollup.contacts_with_events(contacts, rollup.coded_query(events, CONFIG, AS_OF), CONFIG, AS_OF)

    packed = by_hash()
    assert packed.select("contact_id", "n_email_open", "n_email_click", "n_demo_request", "_in_lookback").rows() == [
        ("c1", 5, 1, 0, 6),
        ("c2", 0, 0, 1, 1),
    ]
    monkeypatch.setattr(rollup, "_COUNT_BITS", 2)
    assert by_hash().equals(packed)
    few = events.filter(pl.col("contact_id") == "c2")  # 1 event: packed at 2 bits, and the same
    assert rollup.contacts_with_events(contacts, rollup.coded_query(few, CONFIG, AS_OF), CONFIG, AS_OF).row(1) == packed.row(1)


def test_contacts_join_their_engagement_by_id_even_when_two_ids_share_a_hash(monkeypatch):
    """The join goes by the ids' 64-bit hashes; were two ids to share one, the ids would not
    match their partners and the join is made on the ids themselves: the same table."""
    contacts = pl.DataFrame({"contact_id": ["c1", "c2", "c3"], "domain": ["a.com", "a.com", "b.com"]})
    engagement = pl.DataFrame({"contact_id": ["c3", "c1"], "n_demo_request": [2, 1], "engagement_points": [60, 30]})
    by_hash = rollup.contacts_with_engagement(contacts, engagement)
    assert by_hash.rows() == [("c1", "a.com", 1, 30), ("c2", "a.com", 0, 0), ("c3", "b.com", 2, 60)]
    monkeypatch.setattr(rollup, "id_hash", lambda ids: pl.lit(7, pl.UInt64))  # every id collides
    assert rollup.contacts_with_engagement(contacts, engagement).equals(by_hash)
    monkeypatch.setattr(rollup, "id_hash", lambda ids: ids.str.replace("2", "1").hash(seed=0))  # c2 collides with c1 only
    assert rollup.contacts_with_engagement(contacts, engagement).equals(by_hash)
    # a missing id pairs with nothing, as in a join, even with a missing id on the other side
    monkeypatch.undo()
    left = pl.DataFrame({"contact_id": ["a", None], "domain": ["a.com", "b.com"]})
    right = pl.DataFrame({"contact_id": [None, "a"], "n_demo_request": [5, 1]})
    assert rollup.joined_by_id(left, right, "contact_id").rows() == [("a", "a.com", 1), (None, "b.com", None)]


def test_role_and_cluster_lists_follow_the_config_order():
    """Lists of names built once per combination of flags: covered and missing roles in the
    config's order, whatever order the accounts come in."""
    frame = pl.DataFrame({"domain": ["b.com", "a.com", "c.com", "d.com"], "x": [True, False, True, False], "y": [True, True, False, False]})
    listed = rollup.named_lists(frame, {"y_role": pl.col("y"), "x_role": pl.col("x")}, "covered", "missing")
    assert listed["domain"].to_list() == ["b.com", "a.com", "c.com", "d.com"]
    assert listed["covered"].to_list() == [["y_role", "x_role"], ["y_role"], ["x_role"], []]
    assert listed["missing"].to_list() == [[], ["x_role"], ["y_role"], ["y_role", "x_role"]]
