"""Lead (contact) scores and account scores, both 0-100 with the config's threshold.

Account scores keep one `points_*` column per signal; they add up to the score exactly,
caps included (as negative `points_*_cap` adjustments), so every score can be explained.
"""

from __future__ import annotations

import polars as pl

from abmq.config import Config, FitPoints

FIT_SIGNALS = ("industry", "employees", "annual_revenue", "country")
ENGAGEMENT_SIGNALS = ("people", "decision_makers", "departments", "intent")
POINT_COLUMNS = (
    *(f"points_{s}" for s in FIT_SIGNALS),
    "points_technologies",
    "points_fit_cap",
    *(f"points_{s}" for s in ENGAGEMENT_SIGNALS),
    "points_engagement_cap",
)


def firmographic_matches(config: Config) -> dict[str, pl.Expr]:
    """Whether the account's firmographics match the ICP, one boolean per fit signal
    (null values never match)."""
    icp = config.icp
    return {
        "industry": pl.col("industry").is_in(icp.industries).fill_null(False),
        "employees": pl.col("employees").is_between(icp.employees.min, icp.employees.max).fill_null(False),
        "annual_revenue": pl.col("annual_revenue").is_between(icp.annual_revenue.min, icp.annual_revenue.max).fill_null(False),
        "country": pl.col("country").is_in(icp.countries).fill_null(False),
    }


def _fit_points(points: FitPoints, config: Config) -> list[pl.Expr]:
    matches = firmographic_matches(config)
    return [
        pl.when(matches[signal]).then(getattr(points, signal)).otherwise(0).cast(pl.Int64).alias(f"points_{signal}")
        for signal in FIT_SIGNALS
    ]


def score_contacts(contacts: pl.DataFrame, accounts: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The reference lead score: fit from the contact's account and role, engagement capped."""
    lead = config.lead_scoring
    firmographics = accounts.select("domain", *FIT_SIGNALS)
    decision_maker = pl.col("seniority").is_in(list(config.icp.decision_maker_seniorities)).fill_null(False)
    scored = (
        contacts.join(firmographics, on="domain", how="left")
        .with_columns(*_fit_points(lead.fit_points, config))
        .with_columns(
            pl.when(decision_maker).then(lead.fit_points.decision_maker).otherwise(0).cast(pl.Int64).alias("points_decision_maker")
        )
        .with_columns(
            pl.sum_horizontal(*(f"points_{s}" for s in FIT_SIGNALS), "points_decision_maker").alias("fit_points"),
        )
        .with_columns((pl.col("fit_points") + pl.col("engagement_points")).alias("lead_score"))
        .with_columns((pl.col("lead_score") >= lead.sql_threshold).alias("sql_ready"))
    )
    return scored.select(
        "contact_id",
        "domain",
        "fit_points",
        "engagement_points",
        "lead_score",
        "sql_ready",
        "seniority",
        "department",
        *(f"points_{s}" for s in FIT_SIGNALS),
        "points_decision_maker",
        *sorted(c for c in contacts.columns if c.startswith("n_")),
        "last_activity_at",
    ).sort("contact_id")


def score_accounts(accounts: pl.DataFrame, rollup: pl.DataFrame, surges: pl.DataFrame, technologies: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Account score = fit (firmographics + technographics) + engagement (people, buying
    group breadth, intent), each part capped as the config says."""
    scoring = config.account_scoring
    group = scoring.buying_group
    intent = scoring.intent
    tech = scoring.fit.technologies
    combined = (
        accounts.join(rollup, on="domain", how="left")
        .join(surges, on="domain", how="left")
        .join(technologies, on="domain", how="left")
        .with_columns(
            pl.col("contacts", "engaged_stakeholders", "decision_makers_engaged", "departments_engaged", "people_points_raw", "recent_points", "previous_points", "engagement_events_points").fill_null(0),
            *[pl.col(c).fill_null([]) for c in ("engaged_departments", "surging_topics", "all_surging_topics", "matched_technologies")],
        )
    )
    fit_items = [*(f"points_{s}" for s in FIT_SIGNALS), "points_technologies"]
    engagement_items = [f"points_{s}" for s in ENGAGEMENT_SIGNALS]
    scored = (
        combined.with_columns(
            *_fit_points(scoring.fit.points, config),
            (pl.col("matched_technologies").list.len() * tech.points_each).clip(upper_bound=tech.cap).cast(pl.Int64).alias("points_technologies"),
            pl.col("people_points_raw").clip(upper_bound=group.people_cap).cast(pl.Int64).alias("points_people"),
            (pl.col("decision_makers_engaged") * group.decision_maker_points_each).clip(upper_bound=group.decision_maker_cap).cast(pl.Int64).alias("points_decision_makers"),
            ((pl.col("departments_engaged") - 1).clip(lower_bound=0) * group.extra_department_points_each).clip(upper_bound=group.extra_department_cap).cast(pl.Int64).alias("points_departments"),
            (pl.col("surging_topics").list.len() * intent.points_each).clip(upper_bound=intent.cap).cast(pl.Int64).alias("points_intent"),
        )
        .with_columns(
            (pl.lit(scoring.fit.cap) - pl.sum_horizontal(fit_items)).clip(upper_bound=0).cast(pl.Int64).alias("points_fit_cap"),
            (pl.lit(scoring.engagement_cap) - pl.sum_horizontal(engagement_items)).clip(upper_bound=0).cast(pl.Int64).alias("points_engagement_cap"),
        )
        .with_columns(
            pl.sum_horizontal(*fit_items, "points_fit_cap").alias("fit_points"),
            pl.sum_horizontal(*engagement_items, "points_engagement_cap").alias("engagement_points"),
        )
        .with_columns((pl.col("fit_points") + pl.col("engagement_points")).alias("score"))
        .with_columns(trend_label(scoring.trend.rising_ratio, scoring.trend.cooling_ratio).alias("trend"))
    )
    return scored.sort("domain")


def trend_label(rising_ratio: float, cooling_ratio: float) -> pl.Expr:
    recent, previous = pl.col("recent_points"), pl.col("previous_points")
    return (
        pl.when((recent == 0) & (previous == 0)).then(pl.lit("none"))
        .when(recent >= previous * rising_ratio).then(pl.lit("rising"))
        .when(recent <= previous * cooling_ratio).then(pl.lit("cooling"))
        .otherwise(pl.lit("steady"))
    )
