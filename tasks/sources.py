"""The input contract: which sources exist, their columns and the types they are cast to.

Kept in one table so the reader, the staging casts, the README and the GX suites agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from abmq.vocabulary import normalise_header  # noqa: F401  (re-exported: the contract compares headers by it)

UTC_TIMESTAMP = pl.Datetime("us", "UTC")


class SourceError(RuntimeError):
    """An input that cannot be read; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    required: dict[str, pl.DataType]
    optional: dict[str, pl.DataType] = field(default_factory=dict)
    # A missing optional source is an empty table; a missing required one stops the run.
    required_source: bool = True
    # What an optional source's absence (or an export of it with no data rows) means for the
    # scores; the run record, the report and the data-quality page say it (None: not said,
    # e.g. opportunities, which only calibration reads).
    absent_effect: str | None = None

    @property
    def columns(self) -> dict[str, pl.DataType]:
        return {**self.required, **self.optional}


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "accounts",
            required={
                "name": pl.String,
                "industry": pl.String,
                "employees": pl.Int64,
                "annual_revenue": pl.Float64,
                "country": pl.String,
            },
            # an account needs one of `domain` and `account_id` (its key, see ACCOUNT_KEY);
            # expectations/accounts.json checks that one of them is there
            optional={"domain": pl.String, "account_id": pl.String, "region": pl.String, "owner": pl.String},
        ),
        SourceSpec(
            "technographics",
            required={
                "domain": pl.String,
                "technology": pl.String,
                "category": pl.String,
                "first_seen": pl.Date,
                "last_seen": pl.Date,
            },
            required_source=False,
            absent_effect="technology and competitor-technology points are 0 for every account",
        ),
        SourceSpec(
            "intent",
            required={"domain": pl.String, "topic": pl.String, "week": pl.Date, "score": pl.Float64},
            required_source=False,
            absent_effect="intent points are 0 for every account",
        ),
        SourceSpec(
            "contacts",
            required={
                "contact_id": pl.String,
                "email": pl.String,
                "first_name": pl.String,
                "last_name": pl.String,
                "title": pl.String,
                "department": pl.String,
                "seniority": pl.String,
            },
            # account_id: the CRM's link to the company (HubSpot company id, Salesforce AccountId);
            # contacts join accounts by it first, then by domain, then by e-mail domain
            optional={"domain": pl.String, "account_id": pl.String},
        ),
        SourceSpec(
            "events",
            required={
                "event_id": pl.String,
                "contact_id": pl.String,
                "event_type": pl.String,
                "occurred_at": UTC_TIMESTAMP,
            },
            optional={"detail": pl.String},
        ),
        SourceSpec(
            "crm_customers",
            required={"domain": pl.String},
            required_source=False,
            absent_effect="no account is suppressed as an existing customer",
        ),
        SourceSpec(
            "crm_open_opportunities",
            required={"domain": pl.String},
            optional={"created_at": pl.Date},
            required_source=False,
            absent_effect="no account is suppressed as an open opportunity",
        ),
        SourceSpec(
            "competitors",
            required={"domain": pl.String},
            optional={"name": pl.String},
            required_source=False,
            absent_effect="no account is suppressed as a competitor",
        ),
        SourceSpec(
            "opportunities",
            required={"domain": pl.String, "created_at": pl.Date},
            optional={
                "opportunity_id": pl.String,
                "closed_at": pl.Date,
                "outcome": pl.String,
                "amount": pl.Float64,
            },
            required_source=False,
        ),
    )
}

# --- the account key ---------------------------------------------------------------------------
# Accounts are keyed by their canonical domain; an account without one (a CRM export with
# empty or no `domain`) is keyed by its CRM `account_id` as "id:<account_id>". A canonical
# domain never holds ":" (tasks/staging.py cuts at it), so the two kinds never collide.
# Staging derives `account_key`; from normalising on, the pipeline's `domain` column holds the
# key (every join, shard, rank and snapshot is by it), and the outputs show the domain blank
# and the account id for an id-keyed account (`published_domain`), never the key.
ACCOUNT_KEY = "account_key"
ID_KEY_PREFIX = "id:"


def id_key(account_id: pl.Expr) -> pl.Expr:
    return pl.lit(ID_KEY_PREFIX) + account_id


def is_id_key(key: pl.Expr) -> pl.Expr:
    return key.str.starts_with(ID_KEY_PREFIX)


def in_key_order(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """`frame` sorted by `key`, unless it already is: tables often arrive in key order (exports,
    joins that keep the left order), and sorting 10M contacts with every column took seconds."""
    return frame if frame.get_column(key).is_sorted() else frame.sort(key)


def compacted(rows: pl.DataFrame) -> pl.DataFrame:
    """`rows` in buffers of their own, for a few rows kept long after the frame they came from.
    A filter's text columns are views into the buffers of the frame filtered, so they keep
    every byte of it alive (at XL, 98k quarantined contacts held the 10M staged contacts'
    text to the end of the run, ~1 GiB).
    Arrow's oldest text layout copies only the bytes the rows use; polars' types come back
    whole (checked for dates, time zones, enums, lists and structs)."""
    if rows.is_empty():
        return rows
    return pl.from_arrow(rows.to_arrow(compat_level=pl.CompatLevel.oldest()))


def published_domain(key: pl.Expr) -> pl.Expr:
    """The domain of an account key: empty for an account keyed by its id."""
    return pl.when(~is_id_key(key)).then(key)


def key_from_published(domain: pl.Expr, account_id: pl.Expr) -> pl.Expr:
    """The account key again from published columns (a snapshot's domain and account_id)."""
    return pl.coalesce(domain, id_key(account_id))


# Order matters: each source's referential checks look at the ones staged before it.
SOURCE_ORDER = tuple(SOURCES)

# Exports read back from the export store as scans of its files, not whole: technographics and
# intent are read through their per-domain summaries (`tasks/domain_summaries.py`), their rows
# only when a summary is made again (at XL 12.8M rows, ~1.1 GiB and ~1 s a day otherwise); the
# contacts for the columns the steps after read (`clean.normalise_sources`: at XL their e-mails
# and flags were ~0.8 GiB of the 2.1 GiB read).
READ_BACK_AS_SCANS = ("technographics", "intent", "contacts")


def height(rows: pl.DataFrame | pl.LazyFrame) -> int:
    """Rows of a frame, or of a lazy one (counted by a scan: a Parquet file's from its footer)."""
    return rows.height if isinstance(rows, pl.DataFrame) else rows.select(pl.len()).collect().item()


# Columns an export may give as bands ("200-499", "$10M-$50M", "5001+"): with
# `formats: {employees: band}` the band's bounds and text are kept beside the value
# (tasks/mapping.py), and fit is judged on the bounds (tasks/scoring.py: a band matches the
# ICP range when it overlaps it).
BAND_COLUMNS = ("employees", "annual_revenue")


def band_columns(column: str) -> dict[str, pl.DataType]:
    """The columns a banded contract column adds: lower bound, upper bound (null: open), text."""
    dtype = SOURCES["accounts"].columns[column]
    return {f"{column}_min": dtype, f"{column}_max": dtype, f"{column}_band": pl.String}


def derived_columns(spec: SourceSpec) -> dict[str, pl.DataType]:
    """Columns a mapping may add to a source beyond its contract (kept through staging)."""
    return {name: dtype for column in BAND_COLUMNS if column in spec.columns for name, dtype in band_columns(column).items()}
