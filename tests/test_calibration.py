"""Calibration: the backtest table and its labels worked out by hand (purging included),
the proposal and its notes, small histories, p_convert, and one run of the
`calibrate-scoring` flow on generated data."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import numpy as np
import polars as pl
import pytest

from abmq.config import load_config
from abmq.tasks import backtest, calibration, calibration_model, calibration_proposal, calibration_table
from abmq.tasks.scoring import POINT_COLUMNS
from abmq.vocabulary import EVENT_TYPES

D = dt.date


# --- backtest dates, labels and the split, by hand --------------------------------------


def test_backtest_dates_monthly_and_weekly_end_a_horizon_before_as_of():
    # monthly: month starts from 12 months back, each with its 90 days on or before as-of
    assert calibration_table.backtest_dates(D(2026, 11, 1), 90, months=12) == [
        D(2025, 11, 1),
        D(2025, 12, 1),
        *[D(2026, m, 1) for m in range(1, 9)],
    ]
    # the event history starts 2026-01-10: a date's 90-day lookback must lie inside it
    assert calibration_table.backtest_dates(D(2026, 11, 1), 90, months=12, earliest=D(2026, 4, 9)) == [D(2026, m, 1) for m in (5, 6, 7, 8)]
    weekly = calibration_table.backtest_dates(D(2026, 11, 1), 30, months=2, frequency="weekly")
    assert weekly == [D(2026, 9, 7), D(2026, 9, 14), D(2026, 9, 21), D(2026, 9, 28)]  # Mondays, last + 30 <= Nov 1
    assert all(d.weekday() == 0 for d in weekly)


def opportunity_rows(*rows):
    return pl.DataFrame(
        {
            "domain": [r[0] for r in rows],
            "created_at": [r[1] for r in rows],
            "closed_at": [r[2] for r in rows],
            "outcome": [r[3] for r in rows],
            "amount": [r[4] for r in rows],
        },
        schema={"domain": pl.String, "created_at": pl.Date, "closed_at": pl.Date, "outcome": pl.String, "amount": pl.Float64},
    )


def table_of(*keys):
    return pl.DataFrame({"as_of": [k[0] for k in keys], "domain": [k[1] for k in keys], "score": [50] * len(keys)})


def test_labels_by_hand():
    d1, d2 = D(2026, 3, 1), D(2026, 4, 1)
    table = table_of((d1, "a.com"), (d1, "b.com"), (d1, "c.com"), (d2, "a.com"), (d2, "b.com"), (d2, "c.com"))
    opps = opportunity_rows(
        ("a.com", D(2026, 3, 1), D(2026, 4, 20), "won", 1000.0),  # created ON d1: not after it; won Apr 20
        ("b.com", D(2026, 5, 30), None, None, 500.0),  # created d1 + 90 = May 30: in d1's window and d2's
        ("c.com", D(2026, 7, 1), D(2026, 8, 1), "won", 3000.0),  # created d2 + 91: in no window; won later
        ("a.com", D(2026, 6, 30), D(2026, 6, 30), "lost", 9.0),  # created d2 + 90: in d2's window
    )
    created = calibration_table.label_rows(table, opps, 90, "created").sort("as_of", "domain")
    assert created["label"].to_list() == [0, 1, 0, 1, 1, 0]
    won = calibration_table.label_rows(table, opps, 90, "won").sort("as_of", "domain")
    # a.com won Apr 20: in (d1, d1+90] and (d2, d2+90]; c.com's win Aug 1 is outside both
    assert won["label"].to_list() == [1, 0, 0, 1, 0, 0]
    weighted = calibration_table.label_rows(table, opps, 90, "won_amount").sort("as_of", "domain")
    assert weighted["weight"].to_list() == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]  # both positives won 1,000 = the mean
    with pytest.raises(ValueError):
        calibration_table.label_rows(table, opps, 90, "closed")


def test_split_purges_training_dates_whose_labels_overlap_the_test_period():
    dates = [D(2026, m, 1) for m in range(1, 11)]  # Jan .. Oct
    split = calibration_table.split_dates(dates, 90, 0.3)
    assert split["test"] == [D(2026, 8, 1), D(2026, 9, 1), D(2026, 10, 1)]
    # May 1 + 90 days = Jul 30 <= Aug 1 trains; Jun 1 + 90 = Aug 30 and Jul 1 + 90 overlap the test period
    assert split["train"] == [D(2026, m, 1) for m in range(1, 6)]
    assert split["purged"] == [D(2026, 6, 1), D(2026, 7, 1)]
    for d in split["train"]:
        assert d + dt.timedelta(days=90) <= split["test"][0]
    assert calibration_table.split_dates([D(2026, 1, 1), D(2026, 2, 1)], 90) == {
        "train": [],
        "purged": [D(2026, 1, 1)],
        "test": [D(2026, 2, 1)],
    }


def test_event_features_by_hand():
    config = load_config()
    as_of = D(2026, 6, 30)
    at = lambda days: dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time(10), tzinfo=dt.timezone.utc)  # noqa: E731
    events = pl.DataFrame(
        {
            "contact_id": ["v", "v", "v", "m", "m", "m", "m"],
            "event_type": ["demo_request", "demo_request", "email_open", "email_open", "email_open", "web_visit", "email_open"],
            "occurred_at": [at(30), at(60), at(0), at(0), at(30), at(0), at(90)],  # 90 days back: outside the lookback
        }
    )
    contacts = pl.DataFrame({"contact_id": ["v", "m"], "domain": ["a.com", "a.com"], "seniority": ["vp", None]})
    f = calibration_table.event_features(events, contacts, config, as_of, half_lives=(30, 0), contact_caps=(15, 0)).row(0, named=True)
    # vp (persona 1.3): demo 'once' -> most recent, weight 0.5 at 30 days; one open today (weight 1)
    # unknown seniority (persona 1.0): opens 1 + 0.5, a web visit (0 points)
    assert f["evt_demo_request_h30"] == pytest.approx(1.3 * 0.5)
    assert f["evt_email_open_h30"] == pytest.approx(1.3 * 1 + 1.0 * 1.5)
    assert f["evt_demo_request_h0"] == pytest.approx(1.3) and f["evt_email_open_h0"] == pytest.approx(1.3 + 2.0)
    assert f["evt_web_visit_h0"] == pytest.approx(1.0)
    # decayed points: vp 20 x 0.5 + 3 = 13; unknown 3 x 1.5 = 4.5; no decay: vp 23, unknown 6
    assert f["sen_vp_h30"] == pytest.approx(13.0) and f["sen_unknown_h30"] == pytest.approx(4.5)
    assert f["sen_vp_h0"] == pytest.approx(23.0) and f["sen_unknown_h0"] == pytest.approx(6.0)
    # people: vp 13 x 1.3 = 16.9 capped at 15, plus 4.5
    assert f["people_h30_c15"] == pytest.approx(15 + 4.5) and f["people_h30_c0"] == pytest.approx(16.9 + 4.5)


def test_suppression_lists_are_rebuilt_as_they_stood_on_the_date():
    today = {
        "customers": pl.Series("domain", ["won-later.com", "won-before.com", "legacy.com"]),
        "open_opportunities": pl.Series("domain", ["open-now.com"]),
        "competitors": pl.Series("domain", ["rival.com"]),
    }
    history = pl.DataFrame(
        {
            "domain": ["won-later.com", "won-before.com", "open-then.com", "opened-later.com", "open-now.com"],
            "created_at": [D(2026, 1, 5), D(2025, 11, 1), D(2026, 2, 1), D(2026, 3, 15), D(2026, 4, 1)],
            "closed_at": [D(2026, 5, 1), D(2026, 1, 15), D(2026, 4, 1), D(2026, 6, 1), None],
            "outcome": ["won", "won", "lost", "lost", None],
        }
    )
    crm_open = pl.DataFrame({"domain": ["open-now.com", "listed-early.com"], "created_at": [D(2026, 4, 1), D(2026, 2, 10)]})
    then = backtest.suppression_as_of(today, history, crm_open, D(2026, 3, 1))
    assert then["customers"].to_list() == ["legacy.com", "won-before.com"]  # won-later.com had not converted yet
    # open then: created on or before the date, closed after it (won-later.com's deal too)
    assert then["open_opportunities"].to_list() == ["listed-early.com", "open-then.com", "won-later.com"]
    assert then["competitors"].to_list() == ["rival.com"]


# --- the table through the pipeline -------------------------------------------------------


def test_backtest_table_keeps_unsuppressed_accounts_with_the_pipelines_people_points(handbuilt_dir, handbuilt_result, as_of):
    config = load_config()
    staged = backtest.stage_inputs(handbuilt_dir)
    table = backtest.backtest_table(staged, [as_of - dt.timedelta(days=7), as_of], config)
    run = handbuilt_result["accounts"]
    assert table["as_of"].unique().sort().to_list() == [as_of - dt.timedelta(days=7), as_of]
    today = table.filter(pl.col("as_of") == as_of)
    # every account the backtest did not suppress (customers and open opportunities as they
    # stood then: an undated open opportunity is not known to have been open), and none it did
    scored = backtest.score_as_of(handbuilt_dir, as_of, config)
    assert sorted(today["domain"]) == sorted(scored.filter(pl.col("decision") != "suppressed")["domain"])
    assert today.height < run.height
    assert "suppressed" not in table["decision"].to_list()
    # the uncapped feature at today's half-life and per-contact cap is the pipeline's people points (rounded per person)
    joined = today.join(run.select("domain", pl.col("people_points_raw").alias("run")), on="domain")
    current = calibration_table.people_column(30, 15)
    assert (joined[current] - joined["run"]).abs().max() < 0.1
    assert set(POINT_COLUMNS) <= set(table.columns)
    # validated once (as of the latest date) scores each date as validating on it does
    per_date = backtest.backtest_table(staged, [as_of - dt.timedelta(days=7), as_of], config, validate_once=False)
    assert table.equals(per_date)


# --- fit, proposal and notes --------------------------------------------------------------


def synthetic_rows(n_accounts: int = 1500, dates: int = 9, seed: int = 3, strength: float = 1.0) -> pl.DataFrame:
    """Rows with every feature column the models read; the label follows industry, intent and
    people points at half-life 15 (people_h15_*), technologies and country carry nothing."""
    config = load_config()
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(dates):
        day = D(2025, 1, 1) + dt.timedelta(days=30 * i)
        n = n_accounts
        cols = {"as_of": [day] * n, "domain": [f"d{j}.com" for j in range(n)]}
        for s in ("industry", "employees", "annual_revenue", "country"):
            cols[f"match_{s}"] = (rng.random(n) < 0.4).astype(float)
        cols["n_technologies"] = rng.integers(0, 3, n).astype(float)
        for name in config.account_scoring.fit.technologies.competitors:
            cols[calibration_table.competitor_column(name)] = (rng.random(n) < 0.05).astype(float)
        cols["n_clusters"] = rng.integers(0, 3, n).astype(float)
        cols["new_surge"] = (rng.random(n) < 0.1).astype(float)
        for role in config.account_scoring.buying_group.roles:
            cols[calibration_table.role_column(role)] = (rng.random(n) < 0.3).astype(float)
        base = rng.gamma(1.0, 8.0, n)
        for h in calibration_table.HALF_LIVES:
            noise = 1.0 if h == 15 else rng.gamma(4.0, 0.25, n)
            for cap in calibration_table.CONTACT_CAPS:
                cols[calibration_table.people_column(h, cap)] = base * noise * (1.0 if cap == 0 else min(1.0, cap / 40))
            for t in EVENT_TYPES:
                cols[calibration_table.event_column(t, h)] = base * noise * (0.3 if t == "demo_request" else 0.1) * rng.random(n)
            for s in calibration_table.SENIORITY_GROUPS:
                cols[calibration_table.seniority_column(s, h)] = base * noise * rng.random(n) / 3
        eta = -5.0 + strength * (1.5 * cols["match_industry"] + 0.6 * cols["n_clusters"] + 0.08 * cols["people_h15_c0"])
        label = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int8)
        fit = 15 * cols["match_industry"] + 10 * cols["match_employees"] + 10 * cols["match_annual_revenue"] + 5 * cols["match_country"]
        score = np.minimum(fit + np.minimum(cols["people_h30_c15"], 30) + 5 * cols["n_clusters"], 100).astype(np.int64)
        cols.update(
            label=label,
            weight=np.ones(n),
            score=score,
            fit_points=fit.astype(np.int64),
            decision=np.where(score >= 70, "sql_ready", "nurture"),
            tier=["Tier 3"] * n,
        )
        frames.append(pl.DataFrame(cols))
    return pl.concat(frames)


def test_fit_finds_the_settings_and_notes_never_contradict_the_diff():
    config = load_config()
    rows = synthetic_rows()
    cal = calibration.fit(rows, config, 90, "created")
    assert cal.mode == "full" and cal.positives_train >= calibration_model.FULL_POSITIVES
    assert cal.models.settings.half_life == 15  # the grid finds the half-life the label follows
    # the split is purged: no training label window reaches the first test date
    assert all(d + dt.timedelta(days=90) <= cal.split["test"][0] for d in cal.split["train"])
    proposed = cal.proposed.account_scoring
    assert proposed.fit.points.industry > proposed.fit.points.country
    assert proposed.fit.cap + proposed.engagement_cap == 100
    assert proposed.people.decay_half_life_days == 15
    figures = calibration.figures(cal, None, config, D(2026, 1, 1), {"frequency": "monthly"})
    changed = {d["key"] for d in figures["config_diff"]}
    for note in figures["notes"]:
        if note.startswith("kept as they are"):
            assert not {k.strip() for k in note.split(":", 1)[1].split(",")} & changed, note
    for key in changed:
        assert any(n.startswith(f"{key}: ") for n in figures["notes"]), key
    # not applied: the config given is unchanged
    assert load_config().fingerprint() == config.fingerprint() != cal.proposed.fingerprint()


def test_little_history_fits_less_and_says_why_instead_of_stopping():
    config = load_config()
    none = calibration.fit(synthetic_rows(200, 9, seed=5, strength=0.0), config, 90, "created")
    assert none.mode == "none" and none.proposed.fingerprint() == config.fingerprint() and none.p_model is None
    figures = calibration.figures(none, None, config, D(2026, 1, 1), {"frequency": "weekly"})
    assert figures["config_diff"] == [] and f"at least {calibration_model.MIN_POSITIVES}" in figures["p_convert"]["why_not"]
    assert calibration.p_convert(pl.DataFrame({"score": [1, 2]}), none.p_model).null_count() == 2
    html = calibration.render_html(figures, {"as_of": "2026-01-01", "config_fingerprint": "x", "inputs_fingerprint": "y"})
    assert "p_convert is empty" in html and "No change proposed." in html
    rows = synthetic_rows(300, 9, seed=5)
    reduced = calibration.fit(rows, config, 90, "created")
    assert reduced.mode == "reduced", reduced.positives_train
    diff = calibration_proposal.config_diff(config, reduced.proposed)
    assert not [d for d in diff if ".roles." in d["key"] or "engagement.events" in d["key"]]
    with pytest.raises(calibration.NotEnoughHistoryError, match="no backtest date"):
        calibration.fit(rows.head(0), config, 90, "created")


def test_p_convert_by_hand():
    model = {
        "features": ["points_industry", "n_demo_request"],
        "transforms": ["identity", "log1p"],
        "mean": [5.0, 0.0],
        "scale": [5.0, 1.0],
        "coefficients": [1.0, 2.0],
        "intercept": -3.0,
    }
    accounts = pl.DataFrame({"points_industry": [15, 0], "n_demo_request": [math.e - 1, None]})
    expected = [1 / (1 + math.exp(-(-3 + 2 + 2))), 1 / (1 + math.exp(-(-3 - 1)))]
    assert calibration.p_convert(accounts, model).to_list() == pytest.approx(expected, abs=1e-6)


# --- the flow on generated data -----------------------------------------------------------

CALIBRATION_AS_OF = D(2026, 11, 1)


@pytest.fixture(scope="module")
def calibration_run(tmp_path_factory, prefect_harness):
    from abmq.flows.calibrate import calibrate
    from abmq.sample_data import generate

    data = tmp_path_factory.mktemp("calibration") / "input"
    generate(data, 2500, seed=7, as_of=CALIBRATION_AS_OF, progress=False)
    out = data.parent / "out"
    # 8 months: 6 monthly dates (Mar..Aug), 2 train, 2 purged, 2 held out; ~10 dates scored in all
    state = calibrate(str(data), str(out), None, CALIBRATION_AS_OF.isoformat(), 8, return_state=True)
    return out, {**state.result(), "flow_run_id": state.state_details.flow_run_id}


def test_calibration_flow_publishes_report_proposal_and_p_convert_model(calibration_run):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    out, result = calibration_run
    names = {p.name for p in out.iterdir()}
    assert {"calibration.html", "proposed_config.yaml", "config_diff.md", "calibration.json", "p_convert_model.json"} <= names
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
    figures = json.loads((out / "calibration.json").read_text())
    for key in ("report", "proposed_config", "opportunities", "auc_current", "auc_proposed", "held_out"):
        assert key in result
    assert result["opportunities"] == figures["rows"]["positives"] > 0
    assert figures["settings"]["frequency"] == "monthly" and len(figures["backtest_dates"]) == 6
    assert set(figures["split"]["test"]).isdisjoint(figures["split"]["train"])
    proposed = load_config(out / "proposed_config.yaml")
    assert proposed.fingerprint() == figures["proposed_fingerprint"]
    assert proposed.account_scoring.fit.cap + proposed.account_scoring.engagement_cap == 100
    model = json.loads((out / "p_convert_model.json").read_text())
    html = (out / "calibration.html").read_text()
    assert "Ranking on the held-out dates" in html and figures["proposed_fingerprint"] in html
    if figures["mode"] == "none":
        assert model["features"] == [] and "p_convert is empty" in html
    else:
        assert model["features"] and figures["ranking"]["current"]["auc_interval"][0] is not None
    assert "http://" not in html and "https://" not in html  # no network
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", html)  # no e-mail addresses
    diff = (out / "config_diff.md").read_text()
    for d in figures["config_diff"]:
        assert d["key"] in diff

    async def artifact():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["abm-scoring-calibration"]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[result["flow_run_id"]]),
                )
            )
            assert len(found) == 1
            return found[0]

    summary = asyncio.run(artifact())
    assert "AUC [95% CI]" in summary.data and "@" not in summary.data


def test_a_backtest_on_the_run_date_scores_as_the_run_does(handbuilt_dir, handbuilt_result, as_of):
    """score_as_of is the pipeline itself: on the run's own date it gives the run's scores."""
    backtested = backtest.score_as_of(handbuilt_dir, as_of, load_config())
    run = handbuilt_result["accounts"]
    assert set(POINT_COLUMNS) <= set(backtested.columns)
    joined = run.select("domain", "score").join(backtested.select("domain", pl.col("score").alias("backtest")), on="domain", how="full")
    assert joined.height == run.height == backtested.height
    assert (joined["score"] == joined["backtest"]).all()


def test_the_daily_run_uses_the_calibrations_p_convert_model(calibration_run, tmp_path):
    """calibrate → p_convert_model.json → qualify --p-convert-model: the likelihood in the
    account table, the target list, the exports and the report."""
    from abmq.flows.qualify import qualify

    out, _ = calibration_run
    model = json.loads((out / "p_convert_model.json").read_text())
    assert model["features"], "the fixture's history should support a p_convert model"
    run = tmp_path / "run"
    qualify(str(out.parent / "input"), str(run), None, CALIBRATION_AS_OF.isoformat(), p_convert_model=str(out / "p_convert_model.json"))
    accounts = pl.read_parquet(run / "account_scores.parquet")
    assert accounts["p_convert"].null_count() == 0 and accounts["p_convert"].is_between(0, 1).all()
    assert accounts["p_convert"].n_unique() > 10
    targets = pl.read_csv(run / "targets.csv", infer_schema_length=None)
    assert targets["p_convert"].null_count() == 0
    # equal scores in rank order have non-increasing p_convert
    for _, group in targets.group_by("score"):
        ordered = group.sort("rank")["p_convert"].to_list()
        assert ordered == sorted(ordered, reverse=True)
    assert "ABM Likelihood to Convert in 90 Days" in (run / "exports" / "salesforce_accounts.csv").read_text().splitlines()[0]
    html = (run / "report.html").read_text()
    assert "likelihood to convert in 90 days" in html and f"{model['rows']:,} past account-dates" in html
    assert json.loads((run / "run.json").read_text())["p_convert"]["available"] is True
