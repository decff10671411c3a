"""Calibration: backtest snapshots, conversion figures worked out by hand, the proposed
config, and one run of the `calibrate-scoring` flow on generated data."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import polars as pl
import pytest

from abmq.config import Config, load_config
from abmq.tasks import backtest, calibration
from abmq.tasks.calibration import SignalModel
from abmq.tasks.scoring import POINT_COLUMNS

D = dt.date


def opportunities(*rows: tuple[str, str, dt.date, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "opportunity_id": [r[0] for r in rows],
            "domain": [r[1] for r in rows],
            "created_at": [r[2] for r in rows],
            "closed_at": [None for _ in rows],
            "outcome": [r[3] for r in rows],
            "amount": [1000.0 for _ in rows],
        },
        schema_overrides={"closed_at": pl.Date},
    )


def scores(*rows: tuple[dt.date, str, int]) -> pl.DataFrame:
    return pl.DataFrame({"as_of": [r[0] for r in rows], "domain": [r[1] for r in rows], "score": [r[2] for r in rows]})


def outcomes(score: list[int], won: list[int], decision: list[str] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({"score": score, "won": won}, schema={"score": pl.Int64, "won": pl.Int8})
    return frame.with_columns(pl.Series("decision", decision)) if decision else frame


# --- training rows: the snapshot strictly before the opportunity, never after ------------


def test_training_rows_take_the_latest_snapshot_strictly_before_created_at():
    snapshots = scores(
        (D(2026, 2, 1), "a.com", 10),
        (D(2026, 3, 1), "a.com", 30),
        (D(2026, 4, 1), "a.com", 90),
        (D(2026, 2, 1), "b.com", 55),
        (D(2026, 3, 1), "b.com", 77),
    )
    opps = opportunities(
        ("O1", "a.com", D(2026, 3, 1), "won"),  # created on a snapshot day: that snapshot may know of it -> Feb
        ("O2", "a.com", D(2026, 3, 15), "lost"),  # -> Mar, not Apr (the future)
        ("O3", "b.com", D(2026, 5, 20), "won"),  # -> b's own latest, Mar (never a.com's Apr)
        ("O4", "a.com", D(2026, 1, 10), "won"),  # before every snapshot: left out
        ("O5", "a.com", D(2026, 4, 20), None),  # still open: left out
    )
    rows = calibration.training_rows(opps, snapshots)
    picked = dict(zip(rows["opportunity_id"], zip(rows["snapshot"], rows["score"], rows["won"], strict=False), strict=False))
    assert picked == {"O1": (D(2026, 2, 1), 10, 1), "O2": (D(2026, 3, 1), 30, 0), "O3": (D(2026, 3, 1), 77, 1)}
    assert (rows["snapshot"] < rows["created_at"]).all()


def test_backtest_dates_are_month_starts_over_the_span_before_each_opportunity():
    opps = opportunities(("O1", "a.com", D(2026, 3, 1), "won"), ("O2", "a.com", D(2026, 6, 15), "lost"))
    # 2026-03-01 needs a snapshot strictly before it: February's
    assert calibration.backtest_dates(opps, D(2026, 7, 1), months=12) == [D(2026, m, 1) for m in (2, 3, 4, 5, 6)]
    assert calibration.backtest_dates(opps, D(2026, 7, 1), months=3) == [D(2026, 4, 1), D(2026, 5, 1), D(2026, 6, 1)]
    assert calibration.backtest_dates(opps, D(2026, 4, 10), months=12) == [D(2026, 2, 1), D(2026, 3, 1), D(2026, 4, 1)]


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


# --- figures worked out by hand -------------------------------------------------------


def test_win_rate_by_band_by_hand():
    rows = outcomes([0, 29, 30, 45, 49, 50, 69, 70, 100], [0, 0, 1, 0, 1, 0, 0, 1, 1])
    bands = {b["band"]: (b["opportunities"], b["won"], b["win_rate"]) for b in calibration.conversion_by_band(rows)}
    # 0-29: 0, 29 (0 won); 30-49: 30, 45, 49 (2 won); 50-69: 50, 69 (0 won); 70-100: 70, 100 (2 won)
    assert bands == {"0-29": (2, 0, 0.0), "30-49": (3, 2, 0.6667), "50-69": (2, 0, 0.0), "70-100": (2, 2, 1.0)}
    assert [b["band"] for b in calibration.conversion_by_band(outcomes([75], [1]))] == ["0-29", "30-49", "50-69", "70-100"]


def test_win_rate_by_decision_and_lift_by_hand():
    rows = outcomes(
        [80, 75, 40, 35, 20, 60],
        [1, 1, 1, 0, 0, 0],
        ["sql_ready", "sql_ready", "nurture", "nurture", "disqualified", "suppressed"],
    )
    by_decision = {d["decision"]: (d["opportunities"], d["won"], d["win_rate"]) for d in calibration.conversion_by_decision(rows)}
    assert by_decision == {"sql_ready": (2, 2, 1.0), "nurture": (2, 1, 0.5), "disqualified": (1, 0, 0.0), "suppressed": (1, 0, 0.0)}
    # sql_ready wins 2 of 2 (100%), the rest 1 of 4 (25%): lift 4
    assert calibration.lift(rows) == {
        "selected": "sql_ready",
        "opportunities": 2,
        "win_rate": 1.0,
        "rest_opportunities": 4,
        "rest_win_rate": 0.25,
        "lift": 4.0,
    }
    assert calibration.lift(outcomes([80, 10], [1, 0], ["sql_ready", "nurture"]))["lift"] is None  # the rest never won


def test_auc_by_hand():
    # won {2, 4} vs lost {1, 3}: 2>1, 2<3, 4>1, 4>3 -> 3 of 4 pairs ordered right
    assert calibration.auc(outcomes([1, 2, 3, 4], [0, 1, 0, 1])) == 0.75
    # a tie counts half: won {5} vs lost {5, 1} -> (0.5 + 1) / 2
    assert calibration.auc(outcomes([5, 5, 1], [1, 0, 0])) == 0.75
    assert calibration.auc(outcomes([1, 2], [1, 1])) is None  # one outcome only: undefined


def test_time_split_trains_on_the_earlier_opportunities():
    rows = pl.DataFrame({"created_at": [D(2026, 1, d) for d in range(10, 0, -1)], "won": [1, 0] * 5})
    train, test, cut = calibration.time_split(rows, 0.7)
    assert cut == D(2026, 1, 8)
    assert train["created_at"].max() < cut <= test["created_at"].min()
    assert (train.height, test.height) == (7, 3)


# --- the proposal ---------------------------------------------------------------------


def model(coefficients: dict[str, float], constant: tuple[str, ...] = ()) -> SignalModel:
    signals = [c for c in POINT_COLUMNS if not c.endswith("_cap")]
    beta = {s: coefficients.get(s, 0.0) for s in signals}
    return SignalModel(signals, beta, dict(beta), -1.0, list(constant), 0.1)


def test_proposal_follows_the_coefficients_and_keeps_every_cap():
    config = load_config()
    assert (config.account_scoring.fit.points.industry, config.account_scoring.fit.technologies.points_each) == (15, 5)
    fitted = model(
        {
            "points_industry": 0.1,  # x 15 points = 1.5 log-odds at full strength
            "points_employees": 0.1,  # x 10 = 1.0
            "points_annual_revenue": -0.05,  # went with losses: 0 points
            "points_country": 0.1,  # x 5 = 0.5
            "points_technologies": 0.05,  # x cap 10 = 0.5; one technology (5 points) = 0.25
            "points_intent": 0.04,  # one cluster (5 points) = 0.2
        }
    )
    proposed, notes = calibration.propose_config(config, fitted)
    # k = fit cap 50 / (1.5 + 1.0 + 0.5 + 0.5) = 14.29 points per log-odds
    # technologies: each = round(14.29 x 0.25) = 4, share = round(14.29 x 0.5) = 7
    # firmographics share 50 - 7 = 43 as 1.5 : 1.0 : 0.5 = 21.5, 14.33, 7.17 -> 22, 14, 7
    # intent: each = round(14.29 x 0.2) = 3
    scoring = proposed.account_scoring
    assert scoring.fit.points.model_dump() == {"industry": 22, "employees": 14, "annual_revenue": 0, "country": 7}
    assert scoring.fit.technologies.points_each == 4
    assert scoring.intent.points_each == 3
    assert any("annual_revenue" in n and "0 points" in n for n in notes)
    # caps, the 0-100 scale and everything else unchanged
    assert isinstance(Config.model_validate(proposed.model_dump()), Config)
    assert (scoring.fit.cap, scoring.engagement_cap, scoring.fit.technologies.cap, scoring.intent.cap) == (
        config.account_scoring.fit.cap,
        config.account_scoring.engagement_cap,
        config.account_scoring.fit.technologies.cap,
        config.account_scoring.intent.cap,
    )
    assert scoring.fit.cap + scoring.engagement_cap == 100
    assert sum(scoring.fit.points.model_dump().values()) + 7 == scoring.fit.cap
    changed = {d["key"] for d in calibration.config_diff(config, proposed)}
    assert changed == {
        "account_scoring.fit.points.industry",
        "account_scoring.fit.points.employees",
        "account_scoring.fit.points.annual_revenue",
        "account_scoring.fit.points.country",
        "account_scoring.fit.technologies.points_each",
        "account_scoring.intent.points_each",
    }


def test_a_signal_the_backtest_cannot_measure_keeps_its_points():
    config = load_config()
    fitted = model(
        {"points_industry": 0.1, "points_employees": 0.1, "points_annual_revenue": 0.1, "points_country": 0.1}, constant=("points_intent",)
    )
    proposed, notes = calibration.propose_config(config, fitted)
    assert proposed.account_scoring.intent.points_each == config.account_scoring.intent.points_each
    assert any(n.startswith("intent.points_each: no variation") for n in notes)
    nothing, _ = calibration.propose_config(config, model({}))
    assert calibration.config_diff(config, nothing) == []


def test_config_diff_lists_key_old_new():
    config = load_config()
    raw = config.model_dump()
    raw["account_scoring"]["fit"]["points"]["country"] = 9
    diff = calibration.config_diff(config, Config.model_validate(raw))
    assert diff == [{"key": "account_scoring.fit.points.country", "old": 5, "new": 9}]
    markdown = calibration.diff_markdown(diff, "aaa", "bbb")
    assert "| `account_scoring.fit.points.country` | 5 | 9 |" in markdown


def synthetic_rows(n: int = 400) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Opportunities whose wins follow industry and employees, with monthly snapshots."""
    rng = np.random.default_rng(3)
    signals = [c for c in POINT_COLUMNS if not c.endswith("_cap")]
    points = {s: rng.integers(0, 2, n) * 5 for s in signals}
    points["points_industry"] = rng.integers(0, 2, n) * 15
    points["points_employees"] = rng.integers(0, 2, n) * 10
    logit = -1.5 + 0.12 * points["points_industry"] + 0.1 * points["points_employees"]
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    domains = [f"acct{i:04d}.com" for i in range(n)]
    created = [D(2026, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(1, 300, n)]
    opps = pl.DataFrame(
        {
            "opportunity_id": [f"O{i}" for i in range(n)],
            "domain": domains,
            "created_at": created,
            "closed_at": created,
            "outcome": np.where(won, "won", "lost").tolist(),
            "amount": [1.0] * n,
        }
    )
    snapshot = pl.DataFrame({"domain": domains, **points}).with_columns(
        pl.lit(D(2026, 1, 1)).alias("as_of"),
        pl.sum_horizontal(signals).alias("score"),
        pl.lit(0).alias("fit_points"),
        pl.lit(0).alias("engagement_points"),
        pl.lit("nurture").alias("decision"),
        pl.lit(None, pl.String).alias("tier"),
        *[pl.lit(0).alias(c) for c in POINT_COLUMNS if c.endswith("_cap")],
    )
    return opps, snapshot


def test_fit_weights_is_deterministic_and_finds_the_signals_that_win():
    opps, snapshots = synthetic_rows()
    config = load_config()
    first = calibration.fit_weights(opps, snapshots, config)
    second = calibration.fit_weights(opps, snapshots, config)
    assert first.model.coefficients == second.model.coefficients
    assert first.proposed.fingerprint() == second.proposed.fingerprint()
    assert first.train["created_at"].max() < first.test["created_at"].min()
    ranked = [s["signal"] for s in calibration.signal_report(first.rows, first.model)]
    assert set(ranked[:2]) == {"points_industry", "points_employees"}
    a = calibration.figures(first, calibration.rescored(first.test, snapshots), config, D(2026, 11, 1), [D(2026, 1, 1)])
    b = calibration.figures(second, calibration.rescored(second.test, snapshots), config, D(2026, 11, 1), [D(2026, 1, 1)])
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_too_little_history_is_named_not_fitted():
    opps, snapshots = synthetic_rows(40)
    with pytest.raises(calibration.NotEnoughHistoryError, match="won and lost opportunities in both parts"):
        calibration.fit_weights(opps.with_columns(pl.lit("won").alias("outcome")), snapshots, load_config())


# --- one real run ---------------------------------------------------------------------

CALIBRATION_AS_OF = D(2026, 11, 25)


@pytest.fixture(scope="module")
def calibration_run(tmp_path_factory, prefect_harness):
    from abmq.flows.calibrate import calibrate
    from abmq.sample_data import generate

    data = tmp_path_factory.mktemp("calibration") / "input"
    # 10,000 accounts: ~670 closed opportunities over two years, ~330 of them created in
    # the 12 backtested months (2,000 accounts leave ~20 held out: too few for an AUC).
    generate(data, 10_000, seed=7, as_of=CALIBRATION_AS_OF, progress=False)
    out = data.parent / "out"
    state = calibrate(str(data), str(out), None, CALIBRATION_AS_OF.isoformat(), return_state=True)
    return out, {**state.result(), "flow_run_id": state.state_details.flow_run_id}


def test_calibration_flow_publishes_a_report_and_a_proposal_that_beats_the_default(calibration_run):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    out, result = calibration_run
    assert {"calibration.html", "proposed_config.yaml", "config_diff.md", "calibration.json"} <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
    figures = json.loads((out / "calibration.json").read_text())
    head = figures["headline"]
    assert head["opportunities"] >= 250 and head["held_out"] >= 80
    assert figures["split"]["train"] + figures["split"]["test"] == head["opportunities"]
    # the acceptance criterion, on held-out opportunities (created after the
    # training ones), with the proposal rescored by the pipeline itself
    assert head["auc_proposed"] > head["auc_current"], head
    proposed = load_config(out / "proposed_config.yaml")
    assert proposed.fingerprint() == figures["proposed_fingerprint"] != figures["config_fingerprint"]
    assert proposed.account_scoring.fit.cap + proposed.account_scoring.engagement_cap == 100
    html = (out / "calibration.html").read_text()
    assert "Conversion by score band" in html and figures["proposed_fingerprint"] in html
    assert "http://" not in html and "https://" not in html  # no network
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", html)  # no e-mail addresses
    assert "account_scoring.fit.points.industry" in (out / "config_diff.md").read_text() or not figures["config_diff"]

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
    assert "AUC of the score" in summary.data and "@" not in summary.data


def test_a_backtest_on_the_run_date_scores_as_the_run_does(handbuilt_dir, handbuilt_result, as_of):
    """score_as_of is the pipeline itself: on the run's own date it gives the run's scores."""
    backtested = backtest.score_as_of(handbuilt_dir, as_of, load_config())
    run = handbuilt_result["accounts"]
    assert set(POINT_COLUMNS) <= set(backtested.columns)
    joined = run.select("domain", "score").join(backtested.select("domain", pl.col("score").alias("backtest")), on="domain", how="full")
    assert joined.height == run.height == backtested.height
    assert (joined["score"] == joined["backtest"]).all()
