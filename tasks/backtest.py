"""Backtests: the scoring pipeline run in-process, without a Prefect API, as of past dates.

The steps are the pipeline's own (`tasks.pipeline`, plain), so a backtest scores history
with exactly the code and config a run would use. Staging does
not depend on the as-of date (it reads, casts and canonicalises), so the inputs are staged
once and shared by every date; validation and everything after it depend on the date (rows
dated after it are quarantined as "the future") and run once per date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from abmq.config import Config, SourceMapping
from abmq.tasks import calibration_table, gate, pipeline
from abmq.tasks.ingest import SourceData
from abmq.tasks.scoring import POINT_COLUMNS

# What a backtest keeps of each date's account table (the rest is presentation).
SCORE_COLUMNS = ("domain", "score", "fit_points", "engagement_points", "decision", "tier")


def backtest_config(config: Config) -> Config:
    """The config a backtest scores with: the same model, a different data-quality gate.

    * `freshness_days = {}`: history is scored as it was, not gated on being fresh. As of a
      date a year back, the newest event in today's export is a year "in the future" and
      the newest one on or before that date may be days old for no fault of the data.
    * `max_quarantine_share = 1`: rows dated after a past as-of date are quarantined as the
      future, which for an old date is most of the events; the escalation rule would read
      that as a renamed column or a wrong type and block. The present-day run (`abmq run`)
      still gates the same export with the real thresholds.

    The volume check needs no change: backtests pass an empty run history.
    """
    raw = config.model_dump()
    quality = raw.get("data_quality", {})
    if "freshness_days" in quality:
        quality["freshness_days"] = {}
    if "max_quarantine_share" in quality:
        quality["max_quarantine_share"] = 1.0
    return Config.model_validate(raw)


def stage_inputs(input_dir: Path, mappings: dict[str, SourceMapping] | None = None) -> dict[str, SourceData]:
    """Every source read, reshaped by `mappings` (the config's `sources:`), cast to the
    contract and canonicalised (independent of the date)."""
    return pipeline.stage_all(Path(input_dir), mappings=mappings)


def _validated(staged: dict[str, SourceData], as_of: dt.date, config: Config) -> dict[str, SourceData]:
    """The staged sources validated as of `as_of` (the staged values are shared, unchanged)."""
    return pipeline.validate_all(staged, gate.gate_parameters(as_of, config, history=[]), config)


def _kept(sources: dict[str, SourceData], name: str) -> pl.DataFrame | None:
    data = sources.get(name)
    return data.kept if data is not None else None


def suppression_as_of(
    suppression: dict[str, pl.Series],
    opportunities: pl.DataFrame | None,
    open_opportunities: pl.DataFrame | None,
    as_of: dt.date,
) -> dict[str, pl.Series]:
    """The customer and open-opportunity lists as they stood on `as_of`.

    The CRM lists are today's: every account won since `as_of` is on today's customer
    list, so scoring history with them would suppress exactly the accounts that later
    converted (the outcome leaking into the backtest). Rebuilt from the opportunity history:
    * customers then = today's customers, less those whose first win closed after `as_of`,
      plus those with a win closed on or before it;
    * open then = opportunities created on or before `as_of` and not closed by then, plus
      today's open opportunities created on or before it (undated ones are left out: when
      they opened is unknown).
    Competitors are kept as they are (being a competitor is not an outcome).
    """
    rebuilt = dict(suppression)
    empty = pl.Series("domain", [], pl.String)
    history = opportunities if opportunities is not None else pl.DataFrame(schema={"domain": pl.String, "created_at": pl.Date})
    for column, dtype in (("closed_at", pl.Date), ("outcome", pl.String)):
        if column not in history.columns:
            history = history.with_columns(pl.lit(None, dtype).alias(column))
    if "customers" in rebuilt:
        wins = history.filter((pl.col("outcome") == "won") & pl.col("closed_at").is_not_null())
        first_win = wins.group_by("domain").agg(pl.col("closed_at").min())
        won_later = first_win.filter(pl.col("closed_at") > as_of)["domain"]
        won_by_then = first_win.filter(pl.col("closed_at") <= as_of)["domain"]
        today = rebuilt["customers"]
        rebuilt["customers"] = pl.concat([today.filter(~today.is_in(won_later.implode())), won_by_then.rename(today.name)]).unique().sort()
    if "open_opportunities" in rebuilt:
        open_then = history.filter((pl.col("created_at") <= as_of) & (pl.col("closed_at").is_null() | (pl.col("closed_at") > as_of)))[
            "domain"
        ]
        dated = open_opportunities if open_opportunities is not None and "created_at" in open_opportunities.columns else None
        listed = dated.filter(pl.col("created_at") <= as_of)["domain"] if dated is not None else empty
        rebuilt["open_opportunities"] = pl.concat([open_then, listed]).drop_nulls().unique().sort().rename("domain")
    return rebuilt


def assess_staged(staged: dict[str, SourceData], as_of: dt.date, config: Config) -> pipeline.Assessment:
    """The pipeline's assessment (clean sources, contact and account tables) as of `as_of`,
    from sources staged by `stage_inputs`. `config` is used as given: pass it through
    `backtest_config`."""
    return assess_validated(_validated(staged, as_of, config), as_of, config)


def assess_validated(sources: dict[str, SourceData], as_of: dt.date, config: Config) -> pipeline.Assessment:
    """`assess_staged` on sources already validated (as of `as_of` or a later date)."""

    def suppression_then(today: dict[str, pl.Series]) -> dict[str, pl.Series]:
        return suppression_as_of(today, _kept(sources, "opportunities"), _kept(sources, "crm_open_opportunities"), as_of)

    return pipeline.assess(sources, config, as_of, suppression=suppression_then)


def score_staged(staged: dict[str, SourceData], as_of: dt.date, config: Config) -> pl.DataFrame:
    """The final account table (what `select_targets` returns) as of `as_of`, from sources
    staged by `stage_inputs`. `config` is used as given: pass it through `backtest_config`."""
    return assess_staged(staged, as_of, config).accounts


def score_as_of(input_dir: Path, as_of: dt.date, config: Config) -> pl.DataFrame:
    """The account table `select_targets` returns for the inputs in `input_dir` as of
    `as_of`, scored with `config` (data-quality gate relaxed for history, see
    `backtest_config`; suppression lists as they stood then, see `suppression_as_of`)."""
    return score_staged(stage_inputs(Path(input_dir), config.sources), as_of, backtest_config(config))


def backtest(input_dir: Path, dates: list[dt.date], config: Config, staged: dict[str, SourceData] | None = None) -> pl.DataFrame:
    """Account scores as of each date, one row per (as_of, domain): the score, its decision
    and tier and every `points_*` column."""
    staged = staged if staged is not None else stage_inputs(Path(input_dir), config.sources)
    relaxed = backtest_config(config)
    frames = []
    for as_of in sorted(set(dates)):
        accounts = score_staged(staged, as_of, relaxed)
        frames.append(accounts.select(pl.lit(as_of, pl.Date).alias("as_of"), *SCORE_COLUMNS, *POINT_COLUMNS))
    if not frames:
        return pl.DataFrame(schema={"as_of": pl.Date, "domain": pl.String, "score": pl.Int64})
    return pl.concat(frames, how="vertical_relaxed").sort("as_of", "domain")


def opportunity_history(staged: dict[str, SourceData], as_of: dt.date, config: Config) -> pl.DataFrame:
    """Every opportunity (open, won or lost) created on or before `as_of`, validated and with
    canonical domains: what the calibration's labels are read from."""
    data = staged.get("opportunities")
    schema = {"domain": pl.String, "created_at": pl.Date, "closed_at": pl.Date, "outcome": pl.String, "amount": pl.Float64}
    if data is None or data.staged is None:
        return pl.DataFrame(schema=schema)
    relaxed = backtest_config(config)
    validated = gate.validate_source("opportunities", data, gate.gate_parameters(as_of, relaxed, history=[]), relaxed)
    gate.quality_gate({"opportunities": validated})
    kept = validated.kept
    for column, dtype in schema.items():
        if column not in kept.columns:
            kept = kept.with_columns(pl.lit(None, dtype).alias(column))
    return (
        kept.filter(pl.col("created_at").is_not_null() & (pl.col("created_at") <= as_of))
        .with_columns(pl.when(pl.col("closed_at") <= as_of).then(pl.col("closed_at")).alias("closed_at"))
        .with_columns(pl.when(pl.col("closed_at").is_not_null()).then(pl.col("outcome")).alias("outcome"))
        .select(*schema)
        .sort("created_at", "domain")
    )


def first_event_day(staged: dict[str, SourceData]) -> dt.date | None:
    """The day of the earliest staged event (None without events)."""
    data = staged.get("events")
    if data is None or data.staged is None or data.staged.is_empty():
        return None
    return data.staged.select(pl.col("occurred_at").min().dt.date()).item()


def backtest_table(
    staged: dict[str, SourceData],
    dates: list[dt.date],
    config: Config,
    half_lives: tuple[float, ...] = calibration_table.HALF_LIVES,
    contact_caps: tuple[float, ...] = calibration_table.CONTACT_CAPS,
    with_features: bool = True,
    validate_once: bool = True,
) -> pl.DataFrame:
    """The calibration's backtest table: for each date, every account that was not
    suppressed on that date (customers and open opportunities as they stood then), with
    its score, decision, tier, `points_*`, signal counts and (with `with_features`) the
    uncapped engagement features of `calibration_table.event_features`. No label.

    `validate_once`: the sources go through their suites once, as of the latest date, and
    every date is scored from that. Under `backtest_config` (no freshness, no volume floor)
    the suites' only date-dependent rules quarantine rows dated after the as-of date (events,
    intent weeks, technologies first seen), and scoring reads only rows on or before its own
    date, so each date scores as if validated on it (tests/test_calibration.py checks it);
    validation is most of a backtest date's time."""
    relaxed = backtest_config(config)
    frames = []
    ordered = sorted(set(dates))
    once = _validated(staged, ordered[-1], relaxed) if validate_once and ordered else None
    for as_of in ordered:
        assessed = assess_validated(once, as_of, relaxed) if once is not None else assess_staged(staged, as_of, relaxed)
        clean = assessed.cleaned.clean
        if with_features:
            features = calibration_table.event_features(clean.events, clean.contacts, config, as_of, half_lives, contact_caps)
        else:
            features = pl.DataFrame({"domain": pl.Series([], dtype=pl.String)})
        frames.append(calibration_table.date_rows(assessed.accounts, features, config, as_of, POINT_COLUMNS))
    if not frames:
        return pl.DataFrame(schema={"as_of": pl.Date, "domain": pl.String, "score": pl.Int64})
    return pl.concat(frames, how="diagonal_relaxed").sort("as_of", "domain")


def labelled_backtest(
    staged: dict[str, SourceData], config: Config, as_of: dt.date, months: int, frequency: str, horizon_days: int, label: str
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The calibration's rows: every unsuppressed account on every backtest date (monthly or
    weekly, each date's label window ending by `as_of`, none before the first full lookback
    window of events) with its signals then, labelled by what its opportunities did in the
    `horizon_days` after the date; and counts for the log."""
    first_event = first_event_day(staged)
    earliest = first_event + dt.timedelta(days=config.lead_scoring.engagement.lookback_days - 1) if first_event else None
    dates = calibration_table.backtest_dates(as_of, horizon_days, months, frequency, earliest)
    opportunities = opportunity_history(staged, as_of, config)
    rows = calibration_table.label_rows(backtest_table(staged, dates, config), opportunities, horizon_days, label)
    counts = {
        "opportunities": opportunities.height,
        "dates": len(dates),
        "rows": rows.height,
        "positives": int(rows["label"].sum()) if rows.height else 0,
    }
    return rows, counts
