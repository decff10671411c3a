"""The backtest table of a calibration: every scoreable, unsuppressed account on every
backtest date, its signals as of that date, and the label of the `horizon_days` after it.

Plain polars functions (the pipeline runs are in `tasks.backtest`, which calls these):

* `backtest_dates`: month starts (or Mondays) whose label window has fully happened by the
  calibration's as-of date and whose engagement lookback lies inside the event history.
* `signal_features`: from one date's final account table, the config-expressible signals
  (firmographic matches, technology and intent counts, roles covered).
* `event_features`: from one date's events and contacts, the *uncapped* engagement features a
  model can re-weight: decayed counts per event type (persona-weighted), decayed points per
  seniority, and people points for each (half-life, per-contact cap) of a small grid.
* `label_rows`: the label of each row, from the opportunity history.
* `split_dates`: the time-ordered split with the horizon purged between train and test.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

from abmq.config import Config
from abmq.tasks.scoring import firmographic_matches
from abmq.vocabulary import FIT_SIGNALS, SENIORITIES

HORIZON_DAYS = 90
LABELS = ("created", "won", "won_amount")  # opportunity created / won in the horizon; won weighted by amount
FREQUENCIES = ("monthly", "weekly")
DEFAULT_BACKTEST_MONTHS = 12
TEST_SHARE = 0.3
# The non-linear settings a linear model cannot learn, tried on a grid (0: no decay / no cap).
HALF_LIVES = (7, 15, 30, 60, 0)
CONTACT_CAPS = (15, 30, 60, 0)
UNKNOWN_SENIORITY = "unknown"
SENIORITY_GROUPS = (*SENIORITIES, UNKNOWN_SENIORITY)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def backtest_dates(
    as_of: dt.date,
    horizon_days: int = HORIZON_DAYS,
    months: int = DEFAULT_BACKTEST_MONTHS,
    frequency: str = "monthly",
    earliest: dt.date | None = None,
) -> list[dt.date]:
    """Backtest dates over the `months` before `as_of`: month starts (monthly) or Mondays
    (weekly), each with its whole label window on or before `as_of` (date + horizon <= as_of)
    and none before `earliest` (the first date whose engagement lookback lies inside the
    event history: an earlier date would see a partial window, not the account)."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {FREQUENCIES}, got {frequency!r}")
    last = as_of - dt.timedelta(days=horizon_days)
    first = add_months(as_of.replace(day=1), -months)
    if earliest is not None:
        first = max(first, earliest)
    dates: list[dt.date] = []
    if frequency == "monthly":
        current = first if first.day == 1 else add_months(first.replace(day=1), 1)
        while current <= last:
            dates.append(current)
            current = add_months(current, 1)
    else:
        current = first + dt.timedelta(days=(7 - first.weekday()) % 7)
        while current <= last:
            dates.append(current)
            current += dt.timedelta(days=7)
    return dates


# --------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------
def role_column(name: str) -> str:
    return f"role_{name}"


def competitor_column(name: str) -> str:
    return "comp_" + "".join(ch if ch.isalnum() else "_" for ch in name.lower())


def signal_features(accounts: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Per account of one date's final table: `match_<fit signal>` (0/1), `n_technologies`,
    `comp_<competitor>` (0/1), `n_clusters` (intent clusters in market), `new_surge` (0/1)
    and `role_<role>` (0/1), all floats, plus the `domain`."""
    matches = firmographic_matches(config, accounts.columns)
    tech = config.account_scoring.fit.technologies
    roles = config.account_scoring.buying_group.roles
    return accounts.select(
        "domain",
        *[matches[s].cast(pl.Float64).alias(f"match_{s}") for s in FIT_SIGNALS],
        pl.col("matched_technologies").list.len().fill_null(0).cast(pl.Float64).alias("n_technologies"),
        *[
            pl.col("competitor_technologies").list.contains(n).fill_null(False).cast(pl.Float64).alias(competitor_column(n))
            for n in tech.competitors
        ],
        pl.col("clusters_in_market").list.len().fill_null(0).cast(pl.Float64).alias("n_clusters"),
        (pl.col("new_surging_topics").list.len().fill_null(0) > 0).cast(pl.Float64).alias("new_surge"),
        *[pl.col("roles_covered").list.contains(n).fill_null(False).cast(pl.Float64).alias(role_column(n)) for n in roles],
    )


def event_column(event_type: str, half_life: float) -> str:
    return f"evt_{event_type}_h{int(half_life)}"


def seniority_column(seniority: str, half_life: float) -> str:
    return f"sen_{seniority}_h{int(half_life)}"


def people_column(half_life: float, cap: float) -> str:
    return f"people_h{int(half_life)}_c{int(cap)}"


def _weight(age: pl.Expr, half_life: float) -> pl.Expr:
    return pl.lit(0.5).pow(age / half_life) if half_life > 0 else age * 0.0 + 1.0  # a column, not a literal: sums count rows


def _type_weight(age: pl.Expr, half_life: float, config: Config) -> pl.Expr:
    """The weight at the grid's half-life, except for categories with a half-life of their
    own, which the pipeline decays by theirs whatever the shared one is."""
    weight = _weight(age, half_life)
    for t, rule in config.lead_scoring.engagement.events.items():
        if rule.half_life_days is not None:
            weight = pl.when(pl.col("event_type") == t).then(_weight(age, rule.half_life_days)).otherwise(weight)
    return weight


def event_features(
    events: pl.DataFrame | pl.LazyFrame,
    contacts: pl.DataFrame,
    config: Config,
    as_of: dt.date,
    half_lives: tuple[float, ...] = HALF_LIVES,
    contact_caps: tuple[float, ...] = CONTACT_CAPS,
) -> pl.DataFrame:
    """Per account domain, uncapped engagement in the lookback window ending on `as_of`,
    for each half-life h (0: no decay), each event weighted 0.5 ** (age / h) as the
    pipeline does ('once' types count their most recent event, 'each' types all):

    * `evt_<type>_h<h>`: sum over contacts of persona weight x decayed count of the type;
    * `sen_<seniority>_h<h>`: sum over the seniority's contacts of decayed points (current
      event points, each contact within the lead engagement cap as in the pipeline);
    * `people_h<h>_c<cap>`: the pipeline's people points before the account cap, with the
      per-contact cap `cap` (0: none) in the current points."""
    rules = config.lead_scoring.engagement
    persona = config.account_scoring.people.persona_weights
    start = as_of - dt.timedelta(days=rules.lookback_days - 1)
    day = pl.col("occurred_at").dt.date()
    age = (pl.lit(as_of) - day).dt.total_days().cast(pl.Float64)
    once = [t for t in rules.event_types if rules.events[t].count == "once"]
    per_contact = (
        events.lazy()
        .filter(day.is_between(start, as_of))
        .group_by("contact_id", "event_type")
        .agg(
            *[
                pl.when(pl.col("event_type").first().is_in(once))
                .then(_type_weight(age, h, config).max())
                .otherwise(_type_weight(age, h, config).sum())
                .alias(f"w{i}")
                for i, h in enumerate(half_lives)
            ]
        )
        .collect()
    )
    people = contacts.select(
        "contact_id",
        "domain",
        pl.col("seniority").fill_null(UNKNOWN_SENIORITY).alias("seniority"),
    ).with_columns(pl.col("seniority").replace_strict(dict(persona), default=1.0, return_dtype=pl.Float64).alias("persona"))
    points = pl.col("event_type").replace_strict(
        {t: float(r.points) for t, r in rules.events.items()}, default=0.0, return_dtype=pl.Float64
    )
    joined = per_contact.join(people, on="contact_id", how="inner").filter(pl.col("domain").is_not_null())
    by_type = joined.group_by("domain").agg(
        *[
            (pl.col(f"w{i}") * pl.col("persona")).filter(pl.col("event_type") == t).sum().alias(event_column(t, h))
            for i, h in enumerate(half_lives)
            for t in rules.event_types
        ]
    )
    contact_points = joined.group_by("contact_id", "domain", "seniority", "persona").agg(
        *[(pl.col(f"w{i}") * points).sum().clip(upper_bound=rules.cap).alias(f"p{i}") for i in range(len(half_lives))]
    )
    by_person = contact_points.group_by("domain").agg(
        *[
            pl.col(f"p{i}").filter(pl.col("seniority") == s).sum().alias(seniority_column(s, h))
            for i, h in enumerate(half_lives)
            for s in SENIORITY_GROUPS
        ],
        *[
            ((pl.col(f"p{i}") * pl.col("persona")).clip(upper_bound=cap) if cap > 0 else pl.col(f"p{i}") * pl.col("persona"))
            .sum()
            .alias(people_column(h, cap))
            for i, h in enumerate(half_lives)
            for cap in contact_caps
        ],
    )
    # rounded: float sums depend on the order rows arrive in; the table should not
    features = by_type.join(by_person, on="domain", how="full", coalesce=True).fill_null(0.0)
    return features.with_columns(pl.exclude("domain").round(9)).sort("domain")


# Columns of the final account table the calibration keeps (the rest is presentation).
ACCOUNT_COLUMNS = (
    "domain",
    "score",
    "fit_points",
    "engagement_points",
    "decision",
    "tier",
    "contacts",
    "engaged_stakeholders",
    "decision_makers_engaged",
    "departments_engaged",
    "people_points_raw",
    "engagement_events_points",
    "recent_points",
    "previous_points",
    "intent_max_score",
)


def account_columns(config: Config) -> tuple[str, ...]:
    """ACCOUNT_COLUMNS and the count of every event type the config knows (`n_<type>`)."""
    return (*ACCOUNT_COLUMNS, *(f"n_{t}" for t in config.lead_scoring.engagement.event_types))


def date_rows(
    accounts: pl.DataFrame, features: pl.DataFrame, config: Config, as_of: dt.date, point_columns: tuple[str, ...]
) -> pl.DataFrame:
    """One date's rows of the backtest table: accounts that are not suppressed (the ones a
    run could have worked), with their scores, signals and engagement features."""
    kept = accounts.filter(pl.col("decision") != "suppressed")
    present = [c for c in (*account_columns(config), *point_columns) if c in kept.columns]
    table = kept.select(present).join(signal_features(kept, config), on="domain", how="left").join(features, on="domain", how="left")
    zero = [c for c in features.columns if c != "domain"]
    return table.with_columns(pl.col(zero).fill_null(0.0), pl.lit(as_of, pl.Date).alias("as_of")).select("as_of", pl.exclude("as_of"))


# --------------------------------------------------------------------------------------
# Labels and the split
# --------------------------------------------------------------------------------------
def label_rows(table: pl.DataFrame, opportunities: pl.DataFrame, horizon_days: int = HORIZON_DAYS, label: str = "created") -> pl.DataFrame:
    """`table` (one row per as_of, domain) with `label` (1/0) and `weight`:

    * "created": an opportunity of the account was created in (as_of, as_of + horizon];
    * "won": one was won (closed won) in (as_of, as_of + horizon];
    * "won_amount": as "won", and a positive row weighs its won amount over the mean won
      amount of the positive rows (a negative row weighs 1).
    Opportunities with a null date cannot be placed and are ignored."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}, got {label!r}")
    if label == "created":
        events = opportunities.select("domain", pl.col("created_at").alias("day"), pl.lit(0.0).alias("amount"))
    else:
        events = opportunities.filter(pl.col("outcome") == "won").select(
            "domain", pl.col("closed_at").alias("day"), pl.col("amount").cast(pl.Float64).fill_null(0.0)
        )
    events = events.filter(pl.col("day").is_not_null() & pl.col("domain").is_not_null())
    keys = table.select("as_of", "domain").unique()
    hits = (
        keys.join(events, on="domain", how="inner")
        .filter((pl.col("day") > pl.col("as_of")) & (pl.col("day") <= pl.col("as_of") + pl.duration(days=horizon_days)))
        .group_by("as_of", "domain")
        .agg(pl.len().alias("_n"), pl.col("amount").sum().alias("_amount"))
    )
    labelled = table.join(hits, on=["as_of", "domain"], how="left").with_columns(pl.col("_n").is_not_null().cast(pl.Int8).alias("label"))
    if label == "won_amount":
        mean = labelled.filter(pl.col("label") == 1)["_amount"].mean()
        scale = float(mean) if mean else 1.0
        weight = pl.when(pl.col("label") == 1).then(pl.col("_amount") / scale).otherwise(1.0)
    else:
        weight = pl.lit(1.0)
    return labelled.with_columns(weight.cast(pl.Float64).alias("weight")).drop("_n", "_amount")


def split_dates(dates: list[dt.date], horizon_days: int = HORIZON_DAYS, test_share: float = TEST_SHARE) -> dict[str, list[dt.date]]:
    """Time-ordered split of the backtest dates: the latest `test_share` of them (at least
    one) test; of the earlier ones, a date trains only if its label window ends on or
    before the first test date (date + horizon <= first test date), so no training label
    overlaps the test period; the others are purged."""
    ordered = sorted(set(dates))
    if not ordered:
        return {"train": [], "purged": [], "test": []}
    n_test = max(1, int(math.ceil(test_share * len(ordered)))) if len(ordered) > 1 else 1
    test = ordered[-n_test:]
    first_test = test[0]
    earlier = ordered[:-n_test]
    train = [d for d in earlier if d + dt.timedelta(days=horizon_days) <= first_test]
    purged = [d for d in earlier if d not in train]
    return {"train": train, "purged": purged, "test": test}
