"""Lead (contact) scores and account scores, both 0-100 with the config's threshold.

Account scores keep one `points_*` column per signal; they add up to the score exactly,
caps included (as negative `points_*_cap` adjustments), so every score can be explained.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from abmq.config import Config, FitPoints, Range
from abmq.tasks.sources import BAND_COLUMNS, band_columns, in_key_order
from abmq.vocabulary import FIT_SIGNALS

POINT_COLUMNS = (
    *(f"points_{s}" for s in FIT_SIGNALS),
    "points_technologies",
    "points_competitor_tech",
    "points_fit_cap",
    "points_people",
    "points_roles",
    "points_intent",
    "points_new_surges",
    "points_engagement_cap",
)
FIT_ITEMS = POINT_COLUMNS[:6]
ENGAGEMENT_ITEMS = POINT_COLUMNS[7:11]


def firmographic_matches(config: Config, columns: Collection[str] = ()) -> dict[str, pl.Expr]:
    """Whether the account's firmographics match the ICP, one boolean per fit signal
    (null values never match). When `columns` has a signal's band bounds (a mapping's
    `formats: {employees: band}`), a band matches when it overlaps the ICP range, bounds
    included: "100-249" overlaps 200-5,000, "5001+" does not; a row without a band (a plain
    number) is its own one-point band."""
    icp = config.icp

    def in_range(column: str, bounds: Range) -> pl.Expr:
        point = pl.col(column).is_between(bounds.min, bounds.max)
        if f"{column}_min" not in columns:
            return point.fill_null(False)
        low, high = pl.col(f"{column}_min"), pl.col(f"{column}_max")
        overlaps = (low <= bounds.max) & (high.is_null() | (high >= bounds.min))
        return pl.when(low.is_not_null()).then(overlaps).otherwise(point).fill_null(False)

    return {
        "industry": pl.col("industry").is_in(icp.industries).fill_null(False),
        "employees": in_range("employees", icp.employees),
        "annual_revenue": in_range("annual_revenue", icp.annual_revenue),
        "country": pl.col("country").is_in(icp.countries).fill_null(False),
    }


def band_bounds(columns: Collection[str]) -> list[str]:
    """The band columns (tasks/sources.py) a frame has."""
    return [name for column in BAND_COLUMNS for name in band_columns(column) if name in columns]


def _fit_points(points: FitPoints, config: Config, columns: Collection[str] = ()) -> list[pl.Expr]:
    matches = firmographic_matches(config, columns)
    return [
        pl.when(matches[signal]).then(getattr(points, signal)).otherwise(0).cast(pl.Int64).alias(f"points_{signal}")
        for signal in FIT_SIGNALS
    ]


def firmographics(accounts: pl.DataFrame) -> pl.DataFrame:
    """What a lead score reads of the accounts (`score_contacts`)."""
    return accounts.select("domain", *FIT_SIGNALS, *band_bounds(accounts.columns))


def score_contacts(contacts: pl.DataFrame, accounts: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The reference lead score: fit from the contact's account and role, engagement capped.
    `accounts`: the accounts, or their `firmographics`."""
    lead = config.lead_scoring
    fit = firmographics(accounts)
    decision_maker = pl.col("seniority").is_in(list(config.icp.decision_maker_seniorities)).fill_null(False)
    read = ["contact_id", "domain", "engagement_points", "seniority", "department", "last_activity_at"]
    counts = sorted(c for c in contacts.columns if c.startswith("n_"))
    scored = (
        contacts.select(*read, *counts)  # the join copies what it is given: names and titles are not scored
        .join(fit, on="domain", how="left", maintain_order="left")
        .with_columns(*_fit_points(lead.fit_points, config, fit.columns))
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
        *counts,
        "last_activity_at",
    ).pipe(in_key_order, "contact_id")  # as `rollup.contacts_with_engagement` gives them


def score_accounts(
    accounts: pl.DataFrame, rollup: pl.DataFrame, surges: pl.DataFrame, technologies: pl.DataFrame, config: Config
) -> pl.DataFrame:
    """Account score = fit (firmographics + technographics) + engagement (people, buying-group
    roles, intent clusters, new surges), each part capped as the config says. The trend is
    not in the score (an older event could then lower it); it orders equal scores."""
    scoring = config.account_scoring
    intent = scoring.intent
    tech = scoring.fit.technologies
    roles = scoring.buying_group.roles
    # sums across columns, not of a list built on every row (1M accounts: seconds)
    role_points = pl.sum_horizontal(
        pl.when(pl.col("roles_covered").list.contains(n)).then(pl.lit(r.points)).otherwise(0) for n, r in roles.items()
    )
    rival_points = pl.sum_horizontal(
        [pl.when(pl.col("competitor_technologies").list.contains(n)).then(pl.lit(p)).otherwise(0) for n, p in tech.competitors.items()]
        or [pl.lit(0)]
    )
    combined = (
        accounts.join(rollup, on="domain", how="left")
        .join(surges, on="domain", how="left")
        .join(technologies, on="domain", how="left")
        .with_columns(
            pl.col(
                "contacts",
                "engaged_stakeholders",
                "decision_makers_engaged",
                "departments_engaged",
                "recent_points",
                "previous_points",
                "engagement_events_points",
            ).fill_null(0),
            pl.col("people_points_raw").fill_null(0.0),
            pl.col("decision_maker_demo_request").fill_null(False),
            pl.col("roles_missing").fill_null(list(roles)),
            *[
                pl.col(c).fill_null([])
                for c in (
                    "engaged_departments",
                    "roles_covered",
                    "surging_topics",
                    "new_surging_topics",
                    "clusters_in_market",
                    "matched_technologies",
                    "competitor_technologies",
                )
            ],
        )
        .with_columns(trend_label(scoring.trend.rising_ratio, scoring.trend.cooling_ratio).alias("trend"))
    )
    scored = (
        combined.with_columns(
            *_fit_points(scoring.fit.points, config, accounts.columns),
            (pl.col("matched_technologies").list.len() * tech.points_each)
            .clip(upper_bound=tech.cap)
            .cast(pl.Int64)
            .alias("points_technologies"),
            rival_points.fill_null(0).cast(pl.Int64).alias("points_competitor_tech"),
            pl.col("people_points_raw").clip(upper_bound=scoring.people.cap).round(0).cast(pl.Int64).alias("points_people"),
            role_points.fill_null(0).clip(upper_bound=scoring.buying_group.cap).cast(pl.Int64).alias("points_roles"),
            (pl.col("clusters_in_market").list.len() * intent.points_each)
            .clip(upper_bound=intent.cap)
            .cast(pl.Int64)
            .alias("points_intent"),
            pl.when(pl.col("new_surging_topics").list.len() > 0)
            .then(intent.new_surge_points)
            .otherwise(0)
            .cast(pl.Int64)
            .alias("points_new_surges"),
        )
        .with_columns(
            _cap_adjustment(list(FIT_ITEMS), scoring.fit.cap).alias("points_fit_cap"),
            _cap_adjustment(list(ENGAGEMENT_ITEMS), scoring.engagement_cap).alias("points_engagement_cap"),
        )
        .with_columns(
            pl.sum_horizontal(*FIT_ITEMS, "points_fit_cap").alias("fit_points"),
            pl.sum_horizontal(*ENGAGEMENT_ITEMS, "points_engagement_cap").alias("engagement_points"),
        )
        .with_columns((pl.col("fit_points") + pl.col("engagement_points")).alias("score"))
    )
    return scored.sort("domain")


def _cap_adjustment(items: list[str], cap: int) -> pl.Expr:
    """What brings the items' sum into 0..cap: negative above the cap, positive below 0."""
    total = pl.sum_horizontal(items)
    return (total.clip(lower_bound=0, upper_bound=cap) - total).cast(pl.Int64)


def trend_label(rising_ratio: float, cooling_ratio: float) -> pl.Expr:
    recent, previous = pl.col("recent_points"), pl.col("previous_points")
    return (
        pl.when((recent == 0) & (previous == 0))
        .then(pl.lit("none"))
        .when(recent >= previous * rising_ratio)
        .then(pl.lit("rising"))
        .when(recent <= previous * cooling_ratio)
        .then(pl.lit("cooling"))
        .otherwise(pl.lit("steady"))
    )
