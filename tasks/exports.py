"""The account table as the ABM team sees it: explanation text, target list, CSV export."""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from abmq.tasks.conversion import DEFAULT_HORIZON_DAYS
from abmq.tasks.scoring import POINT_COLUMNS
from abmq.tasks.sources import published_domain
from abmq.tasks.staging import once_per_value_beside

POINT_LABELS = {
    "points_industry": "industry",
    "points_employees": "company size",
    "points_annual_revenue": "revenue",
    "points_country": "geography",
    "points_technologies": "technologies",
    "points_competitor_tech": "competitor technology",
    "points_fit_cap": "fit cap",
    "points_people": "engaged people",
    "points_roles": "buying-group roles",
    "points_intent": "intent clusters",
    "points_new_surges": "new intent surge",
    "points_engagement_cap": "engagement cap",
}
# Spreadsheet apps run cells that start with these as formulas (CSV injection).
FORMULA_PREFIX = r"^[=+\-@\t\r]"


def explained(accounts: pl.DataFrame) -> pl.DataFrame:
    """`accounts` with their `explanation`, worked out once per distinct set of points (a
    few thousand among 1M accounts: formatting every row took 3.6 s at XL)."""
    inputs = [*POINT_COLUMNS, "score", *(band_column(c) for c in POINT_COLUMNS)]
    return once_per_value_beside(accounts, inputs, explanation(accounts.columns).alias("explanation"))


def band_column(point_column: str) -> str:
    """The band text shown beside a signal's points: `points_employees` -> `employees_band`."""
    return f"{point_column.removeprefix('points_')}_band"


def explanation(columns: Collection[str] = ()) -> pl.Expr:
    """'industry +15 · company size +10 · … = 85': every non-zero signal, summing to the score.
    A banded employees or revenue value (a mapping's `formats: band`, among `columns`) shows
    its band: 'company size +10 (200-499)'."""

    def item(column: str) -> pl.Expr:
        text = pl.format(
            "{} {}",
            pl.lit(POINT_LABELS[column]),
            pl.when(pl.col(column) > 0).then(pl.lit("+")).otherwise(pl.lit("")) + pl.col(column).cast(pl.String),
        )
        band = band_column(column)
        if band in columns:
            text = pl.when(pl.col(band).is_not_null()).then(pl.format("{} ({})", text, pl.col(band))).otherwise(text)
        return pl.when(pl.col(column) != 0).then(text)

    items = [item(column) for column in POINT_COLUMNS]
    joined = pl.concat_str(items, separator=" · ", ignore_nulls=True)
    return pl.when(joined == "").then(pl.lit("no points")).otherwise(joined) + pl.lit(" = ") + pl.col("score").cast(pl.String)


def people_summary() -> pl.Expr:
    """'Jane Doe, VP of Finance (35); …' — names and titles only, never e-mail addresses."""
    return (
        pl.col("engaged_people")
        .list.eval(
            pl.format(
                "{}, {} ({})",
                pl.element().struct.field("name"),
                pl.element().struct.field("title").fill_null("no title"),
                pl.element().struct.field("points"),
            )
        )
        .list.join("; ")
    )


def targets_table(accounts: pl.DataFrame) -> pl.DataFrame:
    """Target accounts in rank order, one row each, flat columns ready for a CRM import."""
    return (
        accounts.filter(pl.col("tier").is_not_null())
        .sort("target_rank")
        .select(
            pl.col("target_rank").alias("rank"),
            "tier",
            "tier_label",
            pl.col("name").alias("account_name"),
            # blank for an account keyed by its account_id (never the key in a domain column)
            published_domain(pl.col("domain")).alias("domain"),
            "account_id",
            "owner",
            "country",
            "industry",
            "employees",
            "annual_revenue",
            "score",
            # 4 decimals as text: the CSV's 2-decimal float format would round 0.0042 to 0.00
            pl.col("p_convert").round(4).cast(pl.String).alias("p_convert"),
            "fit_points",
            "engagement_points",
            pl.col("points_intent").alias("intent_points"),
            "decision",
            "decision_reason",
            "trend",
            "engaged_stakeholders",
            "decision_makers_engaged",
            pl.col("engaged_departments").list.join("; ").alias("engaged_departments"),
            people_summary().alias("engaged_people"),
            pl.col("surging_topics").list.join("; ").alias("surging_topics"),
            pl.col("matched_technologies").list.join("; ").alias("matched_technologies"),
            "next_step",
            "explanation",
        )
    )


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a quote."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_PREFIX)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c) for c in text_columns
    )


def to_csv(frame: pl.DataFrame) -> str:
    return neutralise_formulas(frame).write_csv(float_precision=2, date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%SZ")


# CRM and ad-platform imports: the column headers their import wizards map automatically.
# Custom ABM fields ("ABM Tier", …) must exist in the CRM first (see README, "Exports").
SALESFORCE_COLUMNS = {
    "account_name": "Account Name",
    "domain": "Website",
    "country": "Billing Country",
    "industry": "Industry",
    "employees": "Employees",
    "annual_revenue": "Annual Revenue",
    "owner": "Account Owner",
}
HUBSPOT_COLUMNS = {
    "account_name": "Company name",
    "domain": "Company Domain Name",
    "country": "Country/Region",
    "industry": "Industry",
    "employees": "Number of Employees",
    "annual_revenue": "Annual Revenue",
    "owner": "Company owner",
}
ABM_FIELDS = {
    "tier": "ABM Tier",
    "rank": "ABM Rank",
    "score": "ABM Score",
    "decision_reason": "ABM Reason",
    "next_step": "ABM Next Step",
}
LINKEDIN_COLUMNS = {"account_name": "companyname", "domain": "companywebsite", "country": "companycountry"}
# The CRM's own record id, for targets without a domain: the import then updates the record
# by id (Salesforce Account ID, HubSpot Record ID). Added only when some target has no domain,
# so exports of domain-keyed accounts keep their columns.
ID_COLUMNS = {"salesforce": "Account ID", "hubspot": "Record ID"}


def likelihood_header(horizon_days: int) -> str:
    return f"ABM Likelihood to Convert in {horizon_days} Days"


def crm_table(
    targets: pl.DataFrame,
    columns: dict[str, str],
    with_abm_fields: bool = True,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    id_header: str | None = None,
) -> pl.DataFrame:
    """The target list renamed to one import's headers (with the account id under `id_header`
    when a target has no domain)."""
    keyed_by_id = id_header is not None and targets["domain"].null_count() > 0
    mapping = {**({"account_id": id_header} if keyed_by_id else {}), **columns, **(ABM_FIELDS if with_abm_fields else {})}
    if with_abm_fields:
        mapping["p_convert"] = likelihood_header(horizon_days)
    return targets.select([pl.col(source).alias(header) for source, header in mapping.items()])


def export_files(targets: pl.DataFrame, horizon_days: int = DEFAULT_HORIZON_DAYS) -> dict[str, str]:
    """{relative path: CSV text} of every export (formulas neutralised in all of them);
    `horizon_days` is the p_convert model's, for the likelihood column's header."""
    return {
        "targets.csv": to_csv(targets),
        "exports/salesforce_accounts.csv": to_csv(
            crm_table(targets, SALESFORCE_COLUMNS, horizon_days=horizon_days, id_header=ID_COLUMNS["salesforce"])
        ),
        "exports/hubspot_companies.csv": to_csv(
            crm_table(targets, HUBSPOT_COLUMNS, horizon_days=horizon_days, id_header=ID_COLUMNS["hubspot"])
        ),
        "exports/linkedin_matched_audience_companies.csv": to_csv(crm_table(targets, LINKEDIN_COLUMNS, with_abm_fields=False)),
    }
