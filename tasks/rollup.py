"""Contact engagement and its roll-up to accounts (buying groups, trend, intent, technology).

All windows are counted in calendar days ending on, and including, the as-of date.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from abmq.config import EVENT_TYPES, Config


def window_start(as_of: dt.date, days: int) -> dt.date:
    """First day of the `days`-day window that ends on (and includes) `as_of`."""
    return as_of - dt.timedelta(days=days - 1)


def contact_engagement(events: pl.LazyFrame | pl.DataFrame, config: Config, as_of: dt.date) -> pl.DataFrame:
    """Per contact: events of each type in the lookback window, engagement points (capped as
    the reference model says), last activity and points in the two trend windows."""
    rules = config.lead_scoring.engagement
    trend = config.account_scoring.trend
    earliest = min(window_start(as_of, rules.lookback_days), window_start(as_of, 2 * trend.window_days))
    recent_from = window_start(as_of, trend.window_days)
    previous_from = window_start(as_of, 2 * trend.window_days)
    lookback_from = window_start(as_of, rules.lookback_days)

    day = pl.col("occurred_at").dt.date()
    in_lookback = day >= lookback_from
    per_event_points = pl.col("event_type").replace_strict(
        {t: rule.points for t, rule in rules.events.items()}, default=0, return_dtype=pl.Int64
    )
    counts = (
        events.lazy()
        .filter(day.is_between(earliest, as_of))
        .group_by("contact_id")
        .agg(
            *[((pl.col("event_type") == t) & in_lookback).sum().cast(pl.Int64).alias(f"n_{t}") for t in EVENT_TYPES],
            pl.col("occurred_at").filter(in_lookback).max().alias("last_activity_at"),
            per_event_points.filter(day >= recent_from).sum().alias("recent_points"),
            per_event_points.filter(day.is_between(previous_from, recent_from - dt.timedelta(days=1))).sum().alias("previous_points"),
        )
    )
    contributions = [
        pl.lit(rule.points, pl.Int64) * (pl.col(f"n_{t}").clip(upper_bound=1) if rule.count == "once" else pl.col(f"n_{t}"))
        for t, rule in rules.events.items()
    ]
    return (
        counts.with_columns(pl.sum_horizontal(contributions).alias("engagement_raw_points"))
        .with_columns(pl.col("engagement_raw_points").clip(upper_bound=rules.cap).alias("engagement_points"))
        .sort("contact_id")
        .collect(engine="streaming")
    )


def contacts_with_engagement(contacts: pl.DataFrame, engagement: pl.DataFrame) -> pl.DataFrame:
    """Every usable contact with its engagement (zero when it had no events in the windows)."""
    zero_fill = [c for c in engagement.columns if c.startswith("n_") or c.endswith("_points")]
    return (
        contacts.join(engagement, on="contact_id", how="left")
        .with_columns(pl.col(zero_fill).fill_null(0))
        .sort("contact_id")
    )


def account_rollup(contacts: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Per account domain: the buying group's engagement (who, which departments, trend)."""
    group = config.account_scoring.buying_group
    decision_makers = list(config.icp.decision_maker_seniorities)
    engaged = pl.col("engagement_points") >= group.engaged_min_points
    is_dm = pl.col("seniority").is_in(decision_makers)
    person = pl.struct(
        pl.concat_str([pl.col("first_name"), pl.col("last_name")], separator=" ", ignore_nulls=True).alias("name"),
        pl.col("title"),
        pl.col("seniority"),
        pl.col("department"),
        pl.col("engagement_points").alias("points"),
        pl.col("last_activity_at"),
    )
    return (
        contacts.sort(["domain", "engagement_points", "contact_id"], descending=[False, True, False])
        .group_by("domain", maintain_order=True)
        .agg(
            pl.len().alias("contacts"),
            engaged.sum().cast(pl.Int64).alias("engaged_stakeholders"),
            (engaged & is_dm).sum().cast(pl.Int64).alias("decision_makers_engaged"),
            pl.col("department").filter(engaged).unique().sort().alias("engaged_departments"),
            pl.col("engagement_points").clip(upper_bound=group.per_contact_cap).sum().cast(pl.Int64).alias("people_points_raw"),
            pl.col("engagement_raw_points").sum().cast(pl.Int64).alias("engagement_events_points"),
            pl.col("last_activity_at").max().alias("last_activity_at"),
            pl.col("recent_points").sum().cast(pl.Int64).alias("recent_points"),
            pl.col("previous_points").sum().cast(pl.Int64).alias("previous_points"),
            *[pl.col(f"n_{t}").sum().cast(pl.Int64).alias(f"n_{t}") for t in EVENT_TYPES],
            person.filter(engaged).alias("engaged_people"),
        )
        .with_columns(pl.col("engaged_departments").list.len().cast(pl.Int64).alias("departments_engaged"))
        .sort("domain")
    )


def intent_surges(intent: pl.DataFrame, config: Config, as_of: dt.date) -> pl.DataFrame:
    """Per domain: configured topics surging (score >= surge_score) in the recent weeks."""
    rules = config.account_scoring.intent
    since = as_of - dt.timedelta(weeks=rules.recent_weeks)
    recent = intent.filter((pl.col("week") > since) & (pl.col("week") <= as_of))
    surging = recent.filter(pl.col("score") >= rules.surge_score)
    return (
        recent.group_by("domain")
        .agg(
            pl.col("topic").filter((pl.col("score") >= rules.surge_score) & pl.col("topic").is_in(rules.topics)).unique().sort().alias("surging_topics"),
            pl.col("score").max().alias("intent_max_score"),
        )
        .join(
            surging.group_by("domain").agg(pl.col("topic").unique().sort().alias("all_surging_topics")),
            on="domain",
            how="left",
        )
        .sort("domain")
    )


def technology_matches(technographics: pl.DataFrame, config: Config, as_of: dt.date) -> pl.DataFrame:
    """Per domain: the configured technologies it runs (seen on or before the as-of date)."""
    wanted = {name.lower(): name for name in config.account_scoring.fit.technologies.match}
    return (
        technographics.filter(
            (pl.col("first_seen") <= as_of) & pl.col("technology").str.to_lowercase().is_in(list(wanted))
        )
        .with_columns(pl.col("technology").str.to_lowercase().replace_strict(wanted).alias("technology"))
        .group_by("domain")
        .agg(pl.col("technology").unique().sort().alias("matched_technologies"))
        .sort("domain")
    )


def weekly_account_points(
    events: pl.DataFrame, contacts: pl.DataFrame, domains: list[str], config: Config, as_of: dt.date, weeks: int = 12
) -> pl.DataFrame:
    """Engagement points per week (Monday start) of the given accounts over the last `weeks`
    weeks, every event at its reference points: the trend chart of the top accounts."""
    rules = config.lead_scoring.engagement.events
    first_monday = as_of - dt.timedelta(days=as_of.weekday()) - dt.timedelta(weeks=weeks - 1)
    points = pl.col("event_type").replace_strict({t: r.points for t, r in rules.items()}, default=0, return_dtype=pl.Int64)
    members = contacts.filter(pl.col("domain").is_in(domains)).select("contact_id", "domain")
    return (
        events.lazy()
        .filter(pl.col("occurred_at").dt.date().is_between(first_monday, as_of))
        .join(members.lazy(), on="contact_id", how="inner")
        .group_by("domain", pl.col("occurred_at").dt.date().dt.truncate("1w").alias("week"))
        .agg(points.sum().alias("points"))
        .sort("domain", "week")
        .collect()
    )
