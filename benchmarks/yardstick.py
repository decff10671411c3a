"""The yardstick (issue 13): what a data engineer would write instead of the pipeline.

One hand-written DuckDB query over the same Parquet files: the reference lead model of the
domain brief (fit 0-50 from the account's firmographics and the contact's seniority,
engagement 0-50 from the lookback window's events, once/each as the default config says)
and a plain account roll-up (contacts, SQL-ready contacts, best lead, engaged contacts).
No data-quality gate, no normalisation, no decay, no buying group, no report: it is the
floor the pipeline's ingest + normalise + scoring are compared with, not a replacement.

    python benchmarks/yardstick.py benchmarks/data/L [--check benchmarks/out/L]

`--check` compares its lead scores with the pipeline's `contact_scores.parquet` of a run on
the same files (a yardstick that computes something else would measure nothing). The same
query is also run written in polars (`polars_run`) and its account roll-up compared with
DuckDB's: at L both engines take ~0.8 s, so the distance to the pipeline is the pipeline's
own work, not its engine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

AS_OF = dt.date(2026, 11, 25)


def _quoted(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _events(folder: Path) -> Path:
    """One events export, or the daily files' pattern."""
    return (folder / "events.parquet") if (folder / "events.parquet").exists() else (folder / "events" / "*.parquet")


def lead_model_sql(folder: Path, as_of: dt.date, select: str = "") -> str:
    """The query (by default the account roll-up), with the default config's ICP and points
    written in (read from it)."""
    from abmq.config import load_config

    config = load_config()
    icp, fit, rules = config.icp, config.lead_scoring.fit_points, config.lead_scoring.engagement
    since = as_of - dt.timedelta(days=rules.lookback_days - 1)
    events = _events(folder)
    engagement = " + ".join(
        f"{rule.points} * {'max' if rule.count == 'once' else 'sum'}((event_type = '{event_type}')::INT)"
        for event_type, rule in rules.events.items()
        if rule.points
    )
    select = select or ROLLUP.format(threshold=config.lead_scoring.sql_threshold, engaged=config.account_scoring.people.engaged_min_points)
    return f"""
    WITH accounts AS (
        SELECT lower(domain) AS domain, industry, employees, annual_revenue, country
        FROM read_parquet('{folder / "accounts.parquet"}')
    ),
    contacts AS (
        SELECT contact_id, seniority, lower(coalesce(domain, split_part(email, '@', 2))) AS domain
        FROM read_parquet('{folder / "contacts.parquet"}')
    ),
    engagement AS (
        SELECT contact_id, least({rules.cap}, {engagement}) AS engagement_points
        FROM read_parquet('{events}')
        -- UTC day bounds as instants: a cast of each timestamp to a date goes through the
        -- session's time zone, row by row
        WHERE occurred_at >= TIMESTAMPTZ '{since} 00:00:00+00' AND occurred_at < TIMESTAMPTZ '{as_of + dt.timedelta(days=1)} 00:00:00+00'
        GROUP BY contact_id
    ),
    leads AS (
        SELECT c.contact_id, c.domain,
            CASE WHEN a.industry IN ({_quoted(icp.industries)}) THEN {fit.industry} ELSE 0 END
            + CASE WHEN a.employees BETWEEN {icp.employees.min} AND {icp.employees.max} THEN {fit.employees} ELSE 0 END
            + CASE WHEN a.annual_revenue BETWEEN {icp.annual_revenue.min} AND {icp.annual_revenue.max} THEN {fit.annual_revenue} ELSE 0 END
            + CASE WHEN c.seniority IN ({_quoted(list(icp.decision_maker_seniorities))}) THEN {fit.decision_maker} ELSE 0 END
            + CASE WHEN a.country IN ({_quoted(icp.countries)}) THEN {fit.country} ELSE 0 END AS fit_points,
            coalesce(e.engagement_points, 0) AS engagement_points
        FROM contacts c JOIN accounts a USING (domain) LEFT JOIN engagement e USING (contact_id)
    )
    {select}"""


ROLLUP = """SELECT domain,
        count(*) AS contacts,
        count_if(fit_points + engagement_points >= {threshold}) AS sql_ready_contacts,
        max(fit_points + engagement_points) AS best_lead_score,
        count_if(engagement_points >= {engaged}) AS engaged_contacts
    FROM leads GROUP BY domain"""
LEADS = "SELECT contact_id, fit_points + engagement_points AS lead_score FROM leads"


def run(folder: Path, as_of: dt.date = AS_OF):
    """(seconds, the account roll-up as a polars frame)."""
    import duckdb

    sql = lead_model_sql(folder, as_of)
    connection = duckdb.connect()
    started = time.perf_counter()
    accounts = connection.sql(sql).pl()
    return time.perf_counter() - started, accounts


def polars_run(folder: Path, as_of: dt.date = AS_OF):
    """(seconds, the account roll-up): the same query written in polars, the pipeline's
    engine. It says what part of the distance to the DuckDB query is the engine's, and what
    is the work the pipeline does beyond it (text safety, linking, the gate, de-duplication,
    decay, buying groups)."""
    import polars as pl

    from abmq.config import load_config

    config = load_config()
    icp, fit, rules = config.icp, config.lead_scoring.fit_points, config.lead_scoring.engagement
    since = as_of - dt.timedelta(days=rules.lookback_days - 1)
    events = _events(folder)
    started = time.perf_counter()
    accounts = pl.scan_parquet(folder / "accounts.parquet").select(
        pl.col("domain").str.to_lowercase(), "industry", "employees", "annual_revenue", "country"
    )
    contacts = pl.scan_parquet(folder / "contacts.parquet").select(
        "contact_id",
        "seniority",
        pl.coalesce("domain", pl.col("email").str.split("@").list.get(1, null_on_oob=True)).str.to_lowercase().alias("domain"),
    )
    utc = dt.timezone.utc
    window = pl.col("occurred_at").is_between(
        dt.datetime.combine(since, dt.time(), utc), dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), utc), closed="left"
    )
    each_type = [
        rule.points
        * (pl.col("event_type") == event_type)
        .cast(pl.Int32)
        .pipe(lambda seen, once=rule.count == "once": seen.max() if once else seen.sum())
        for event_type, rule in rules.events.items()
        if rule.points
    ]
    engagement = (
        pl.scan_parquet(events)
        .filter(window)
        .group_by("contact_id")
        .agg(pl.min_horizontal(pl.lit(rules.cap), pl.sum_horizontal(each_type)).alias("engagement_points"))
    )

    def points(condition: pl.Expr, value: int) -> pl.Expr:
        return pl.when(condition).then(value).otherwise(0)

    leads = (
        contacts.join(accounts, on="domain", how="inner")
        .join(engagement, on="contact_id", how="left")
        .select(
            "contact_id",
            "domain",
            (
                points(pl.col("industry").is_in(icp.industries), fit.industry)
                + points(pl.col("employees").is_between(icp.employees.min, icp.employees.max), fit.employees)
                + points(pl.col("annual_revenue").is_between(icp.annual_revenue.min, icp.annual_revenue.max), fit.annual_revenue)
                + points(pl.col("seniority").is_in(list(icp.decision_maker_seniorities)), fit.decision_maker)
                + points(pl.col("country").is_in(icp.countries), fit.country)
            ).alias("fit_points"),
            pl.col("engagement_points").fill_null(0),
        )
    )
    score = pl.col("fit_points") + pl.col("engagement_points")
    rolled = (
        leads.group_by("domain")
        .agg(
            pl.len().alias("contacts"),
            (score >= config.lead_scoring.sql_threshold).sum().alias("sql_ready_contacts"),
            score.max().alias("best_lead_score"),
            (pl.col("engagement_points") >= config.account_scoring.people.engaged_min_points).sum().alias("engaged_contacts"),
        )
        .collect()
    )
    return time.perf_counter() - started, rolled


def same_rollup(duckdb_rollup, polars_rollup) -> bool:
    """Whether the two queries give the same account roll-up (row order aside)."""
    import polars as pl

    def tidy(frame):
        return frame.select(pl.col("domain"), pl.exclude("domain").cast(pl.Int64)).sort("domain")

    return tidy(duckdb_rollup).equals(tidy(polars_rollup))


def agreement(folder: Path, as_of: dt.date, run_dir: Path) -> dict[str, int]:
    """How many of the pipeline's contact lead scores the yardstick reproduces."""
    import duckdb
    import polars as pl

    theirs = duckdb.connect().sql(lead_model_sql(folder, as_of, LEADS)).pl()
    ours = pl.read_parquet(run_dir / "contact_scores.parquet", columns=["contact_id", "lead_score"])
    both = ours.join(theirs, on="contact_id", how="inner", suffix="_yardstick")
    return {
        "pipeline_contacts": ours.height,
        "yardstick_contacts": theirs.height,
        "in_both": both.height,
        "same_lead_score": int((both["lead_score"] == both["lead_score_yardstick"]).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--as-of", default=AS_OF.isoformat())
    parser.add_argument("--check", type=Path, help="a run's output folder on the same data")
    args = parser.parse_args()
    as_of = dt.date.fromisoformat(args.as_of)
    seconds, accounts = run(args.data, as_of)
    polars_seconds, polars_accounts = polars_run(args.data, as_of)
    figure = {
        "yardstick_s": seconds,
        "accounts": accounts.height,
        "polars_s": polars_seconds,
        "polars_same_rollup": same_rollup(accounts, polars_accounts),
    }
    if args.check:
        figure["agreement"] = agreement(args.data, dt.date.fromisoformat(args.as_of), args.check)
    print(json.dumps(figure))


if __name__ == "__main__":
    main()
