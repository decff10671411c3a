"""Deterministic, realistic sample sources for the abm-qualify pipeline.

``generate`` writes the nine input tables of the pipeline's contract into a
directory, as parquet or csv.  The rows come from a small latent model: every
account gets a firmographic *fit* (ICP industry, country, size, revenue) and an
*in-market propensity* (higher for good fits).  Propensity drives buying-group
size, event volume, recent engagement, intent surges and opportunities (won
more often for good fits), so that the pipeline's scores have something real
to find.  Small, deterministic shares of dirty data (domain spelling variants,
duplicate companies, missing firmographics, orphan contacts, future and
duplicated events) exercise the pipeline's cleaning steps.

Scaling: accounts are processed in fixed batches of ``BATCH_SIZE``.  Each batch
draws from its own RNG streams, keyed by (seed, batch, source), and every
source is appended to its file batch by batch (one parquet row group per
batch), so memory is bounded by one batch and the output depends only on
(n_accounts, seed, as_of, contacts_scale, events_scale) -- never on ``fmt``,
``events_layout``, timing or thread count.  ``contacts_scale`` and
``events_scale`` multiply contacts and events per account (``XL_PARAMS`` uses
them for a 1M-account / ~10M-contact / ~100M-event data set); at 1.0 they
leave the output byte-identical to a run without them.

Event layout: ``"single"`` writes ``events.<fmt>``; ``"daily"`` writes one file
per UTC calendar day of ``occurred_at``, ``events/<YYYY-MM-DD>.<fmt>``, holding
exactly the rows of the single file, sorted by (occurred_at, event_id) within
the day.  Each batch's events are first spilled to a hidden hive-style area
(``.events_tmp/day=<date>/events.arrow``, Arrow IPC), then compacted one day at
a time, so memory stays bounded by one batch or one day, whichever is larger.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from abmq.vocabulary import DEPARTMENTS, EVENT_TYPES, SENIORITIES

# --------------------------------------------------------------------------
# Output contract: file stem -> column -> dtype (order matters).
# --------------------------------------------------------------------------
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "accounts": {
        "account_id": pl.String(),
        "domain": pl.String(),
        "name": pl.String(),
        "industry": pl.String(),
        "employees": pl.Int64(),
        "annual_revenue": pl.Float64(),
        "country": pl.String(),
        "region": pl.String(),
        "owner": pl.String(),
    },
    "technographics": {
        "domain": pl.String(),
        "technology": pl.String(),
        "category": pl.String(),
        "first_seen": pl.Date(),
        "last_seen": pl.Date(),
    },
    "intent": {"domain": pl.String(), "topic": pl.String(), "week": pl.Date(), "score": pl.Int64()},
    "contacts": {
        "contact_id": pl.String(),
        "email": pl.String(),
        "first_name": pl.String(),
        "last_name": pl.String(),
        "title": pl.String(),
        "department": pl.String(),
        "seniority": pl.String(),
        "domain": pl.String(),
    },
    "events": {
        "event_id": pl.String(),
        "contact_id": pl.String(),
        "event_type": pl.String(),
        "occurred_at": pl.Datetime("us", "UTC"),
        "detail": pl.String(),
    },
    "crm_customers": {"domain": pl.String()},
    "crm_open_opportunities": {"domain": pl.String(), "created_at": pl.Date()},
    "competitors": {"domain": pl.String(), "name": pl.String()},
    "opportunities": {
        "opportunity_id": pl.String(),
        "domain": pl.String(),
        "created_at": pl.Date(),
        "closed_at": pl.Date(),
        "outcome": pl.String(),
        "amount": pl.Float64(),
    },
}
FORMATS = ("parquet", "csv")
EVENTS_LAYOUTS = ("single", "daily")
# ISO-8601 with an explicit UTC designator (polars' default writes "+0000").
CSV_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"

# Fixed so that output never depends on anything but (n_accounts, seed, as_of).
BATCH_SIZE = 10_000

# --------------------------------------------------------------------------
# Firmographics
# --------------------------------------------------------------------------
INDUSTRIES: list[tuple[str, float]] = [
    ("Software", 0.14),
    ("Financial Services", 0.12),
    ("Healthcare", 0.10),
    ("Manufacturing", 0.13),
    ("Retail", 0.09),
    ("Education", 0.06),
    ("Government", 0.04),
    ("Media", 0.06),
    ("Telecommunications", 0.04),
    ("Energy", 0.04),
    ("Professional Services", 0.12),
    ("Transportation", 0.06),
]
ICP_INDUSTRIES = {"Software", "Financial Services", "Healthcare"}

REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
# (ISO code, weight, region, local TLD).  First eight are the ICP markets.
COUNTRIES: list[tuple[str, float, str, str]] = [
    ("US", 0.45, "NA", "com"),
    ("CA", 0.05, "NA", "ca"),
    ("GB", 0.08, "EMEA", "co.uk"),
    ("IE", 0.02, "EMEA", "ie"),
    ("DE", 0.07, "EMEA", "de"),
    ("FR", 0.04, "EMEA", "fr"),
    ("NL", 0.02, "EMEA", "nl"),
    ("AU", 0.03, "APAC", "com.au"),
    ("BR", 0.04, "LATAM", "com.br"),
    ("IN", 0.05, "APAC", "in"),
    ("JP", 0.03, "APAC", "co.jp"),
    ("SG", 0.02, "APAC", "sg"),
    ("ES", 0.03, "EMEA", "es"),
    ("IT", 0.03, "EMEA", "it"),
    ("MX", 0.02, "LATAM", "com.mx"),
    ("ZA", 0.02, "EMEA", "co.za"),
]
ICP_COUNTRIES = {"US", "CA", "GB", "IE", "DE", "FR", "NL", "AU"}
LOCAL_TLD_SHARE = 0.6  # non-US companies often still use .com

# Employees: a mix of small businesses and mid-market/enterprise companies, so
# the median is ~400 but only ~40% sit inside the ICP band.
SMB_SHARE = 0.42
SMB_EMPLOYEES_MEDIAN, SMB_EMPLOYEES_SIGMA = 60, 1.0
LARGE_EMPLOYEES_MEDIAN, LARGE_EMPLOYEES_SIGMA = 1_500, 1.5
EMPLOYEES_RANGE = (10, 200_000)
REVENUE_PER_EMPLOYEE_MEDIAN, REVENUE_PER_EMPLOYEE_SIGMA = 250_000, 0.3
ICP_EMPLOYEES, ICP_REVENUE = (200, 5_000), (20e6, 1e9)

# Sales reps by region (~12 reps; NA is the biggest territory).
REPS: dict[str, list[str]] = {
    "NA": ["Jordan Blake", "Taylor Brooks", "Morgan Reyes", "Casey Nguyen", "Riley Carter"],
    "EMEA": ["Sophie Laurent", "Lukas Becker", "Aoife Murphy", "Oliver Hughes"],
    "APAC": ["Hana Sato", "Liam Walsh"],
    "LATAM": ["Camila Duarte"],
}
# Typical UTC hour of business activity per region (for event timestamps).
REGION_UTC_HOUR = {"NA": 17.0, "EMEA": 11.0, "APAC": 3.0, "LATAM": 16.0}

# Company names are "<Prefix><stem> <Suffix>"; the domain is the lowercase
# concatenation plus a suffix slug, so every (prefix, stem, suffix) triple is a
# distinct domain.  Account numbers map onto triples through a bijection (see
# _company_names), giving len(PREFIXES)*len(STEMS)*len(SUFFIXES) unique names
# before a numeric disambiguator is needed.
PREFIXES = (
    "Apex Arbor Atlas Aurora Beacon Birch Blue Bold Bright Cedar Civic Clear Cobalt Coral Crest "
    "Crystal Delta Eagle Echo Ember Evergreen Falcon Fern First Fusion Garnet Golden Granite Green "
    "Hawk Helix Highland Horizon Indigo Iron Ivy Jade Keystone Lake Lantern Liberty Linden Lumen "
    "Maple Marble Meridian Mesa Metro Midway Nimbus Noble North Nova Oak Ocean Onyx Orbit Pacific "
    "Peak Pine Pioneer Pixel Polar Prairie Prime Quantum Quartz Radiant Raven Red Ridge River Rock "
    "Sage Sapphire Sierra Silver Sky Solar Spruce Stellar Stone Summit Swift Terra Thunder Tidal "
    "True Union Unity Valley Vantage Vector Velvet Vertex Violet Vista West Willow"
).split()
STEMS = (
    "arc bay bridge brook canyon cloud coast code core creek crown dale dawn dome field fire flow "
    "ford forge frame gate glen grid grove hill hub key land leaf light line link loop mark mill "
    "mind moon mount nest node path point port pulse quest rail reach root run sail scale shore "
    "signal spark spring square star stream street tide tower trail tree vale view wave way well "
    "wind wing wood yard beam bloom bolt byte chain cliff cove drift dune edge fall flare fleet "
    "gleam haven helm isle jet lane lift mesh mint pier rise sphere stack vine"
).split()
SUFFIXES: list[tuple[str, str]] = [
    ("Systems", "systems"),
    ("Labs", "labs"),
    ("Group", "group"),
    ("Technologies", "tech"),
    ("Partners", "partners"),
    ("Holdings", "holdings"),
    ("Solutions", "solutions"),
    ("Networks", "networks"),
    ("Global", "global"),
    ("Corp", "corp"),
    ("Inc", "inc"),
    ("Co", "co"),
    ("Industries", "industries"),
    ("Dynamics", "dynamics"),
    ("Ventures", "ventures"),
    ("Enterprises", "ent"),
    ("Works", "works"),
    ("International", "intl"),
    ("Associates", "associates"),
    ("Company", "company"),
    ("Worldwide", "worldwide"),
    ("Collective", "collective"),
    ("Digital", "digital"),
    ("Brands", "brands"),
    ("HQ", "hq"),
]
NAME_SPACE = len(PREFIXES) * len(STEMS) * len(SUFFIXES)
NAME_STRIDE = 1_000_003  # prime, coprime to NAME_SPACE: scatters consecutive ids
assert math.gcd(NAME_STRIDE, NAME_SPACE) == 1

# About five competitors; they also appear as ordinary accounts.  ".io" is
# never produced for generated companies, so these domains cannot collide.
# (name, domain, country, employees)
COMPETITORS: list[tuple[str, str, str, int]] = [
    ("Intentful", "intentful.io", "US", 420),
    ("Pipestack", "pipestack.io", "US", 1_300),
    ("Buyerly", "buyerly.io", "GB", 260),
    ("Accountable ABM", "accountableabm.io", "US", 180),
    ("Demandgrid", "demandgrid.io", "DE", 950),
]

# --------------------------------------------------------------------------
# Latent model: fit -> propensity -> engagement and outcomes
# --------------------------------------------------------------------------
# The numbers below were tuned together (seed-independent to within ~1 point):
# ~14% of accounts in market, ~6% with a closed and ~2% with an open
# opportunity, ~31% of closed opportunities won.
FIT_WEIGHTS = {"industry": 0.30, "country": 0.20, "employees": 0.25, "revenue": 0.25}
# propensity = sigmoid(intercept + slope * fit + noise): noise lets poor fits buy too.
PROPENSITY_INTERCEPT, PROPENSITY_FIT_SLOPE, PROPENSITY_NOISE = -3.6, 3.6, 1.0
IN_MARKET_THRESHOLD = 0.45  # propensity above this = actively buying

# P(closed opp in last 2y) = k * propensity; P(open opp) = k * propensity^2,
# so open opportunities concentrate on the accounts that are buying now.
CLOSED_OPP_K, OPEN_OPP_K = 0.30, 0.235
# P(won) = sigmoid(intercept + fit slope * fit + propensity slope * propensity)
WIN_INTERCEPT, WIN_FIT_SLOPE, WIN_PROPENSITY_SLOPE = -3.3, 1.6, 3.0
EXTRA_CUSTOMER_SHARE = 0.005  # legacy customers without an opportunity record
OPP_CREATED_DAYS_AGO = (21, 730)
OPEN_OPP_CREATED_DAYS_AGO = (0, 120)
SALES_CYCLE_MEDIAN_DAYS, SALES_CYCLE_SIGMA = 60, 0.6

# --------------------------------------------------------------------------
# Contacts
# --------------------------------------------------------------------------
# (title, seniority, department, relative frequency)
TITLES: list[tuple[str, str, str, float]] = [
    ("Chief Executive Officer", "c_level", "executive", 1.0),
    ("CEO", "c_level", "executive", 0.6),
    ("Chief Financial Officer", "c_level", "finance", 0.8),
    ("CFO", "c_level", "finance", 0.5),
    ("Chief Information Officer", "c_level", "it", 0.8),
    ("CIO", "c_level", "it", 0.5),
    ("Chief Technology Officer", "c_level", "engineering", 0.8),
    ("Chief Information Security Officer", "c_level", "security", 0.5),
    ("CISO", "c_level", "security", 0.5),
    ("Chief Marketing Officer", "c_level", "marketing", 0.8),
    ("Chief Revenue Officer", "c_level", "sales", 0.6),
    ("Chief Operating Officer", "c_level", "operations", 0.6),
    ("VP of Marketing", "vp", "marketing", 1.6),
    ("VP of Sales", "vp", "sales", 1.6),
    ("VP of Engineering", "vp", "engineering", 1.2),
    ("VP of Finance", "vp", "finance", 0.8),
    ("VP of IT", "vp", "it", 1.0),
    ("VP of Operations", "vp", "operations", 0.8),
    ("SVP Human Resources", "vp", "hr", 0.5),
    ("Director of IT Security", "director", "security", 1.2),
    ("Director of Marketing Operations", "director", "marketing", 1.6),
    ("Demand Generation Director", "director", "marketing", 1.4),
    ("Head of Revenue Operations", "director", "operations", 1.6),
    ("Director of Sales", "director", "sales", 1.4),
    ("IT Director", "director", "it", 1.2),
    ("Director of Engineering", "director", "engineering", 1.0),
    ("Finance Director", "director", "finance", 0.8),
    ("Head of People", "director", "hr", 0.6),
    ("Sales Operations Manager", "manager", "sales", 2.0),
    ("Marketing Manager", "manager", "marketing", 2.4),
    ("IT Manager", "manager", "it", 2.0),
    ("Engineering Manager", "manager", "engineering", 1.4),
    ("Security Operations Manager", "manager", "security", 1.0),
    ("HR Manager", "manager", "hr", 1.0),
    ("Finance Manager", "manager", "finance", 1.0),
    ("Operations Manager", "manager", "operations", 1.4),
    ("Senior Software Engineer", "individual_contributor", "engineering", 2.0),
    ("Software Engineer", "individual_contributor", "engineering", 1.6),
    ("Marketing Specialist", "individual_contributor", "marketing", 2.4),
    ("Financial Analyst", "individual_contributor", "finance", 1.4),
    ("HR Business Partner", "individual_contributor", "hr", 1.0),
    ("Security Analyst", "individual_contributor", "security", 1.2),
    ("Systems Administrator", "individual_contributor", "it", 1.4),
    ("Account Executive", "individual_contributor", "sales", 1.6),
    ("Business Analyst", "individual_contributor", "operations", 1.2),
    ("Executive Assistant", "individual_contributor", "executive", 0.8),
]
FIRST_NAMES = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony Sandra Mark "
    "Ashley Steven Emily Paul Michelle Andrew Amanda Joshua Melissa Kevin Laura Brian Rebecca Priya "
    "Raj Wei Mei Hiroshi Yuki Lucas Sofia Mateo Valentina Ahmed Fatima Lars Ingrid Pierre Camille "
    "Hans Greta Diego Isabela"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Patel Shah Kumar "
    "Singh Chen Wang Li Zhang Tanaka Suzuki Kim Park Muller Schmidt Schneider Fischer Dubois Moreau "
    "Rossi Russo Silva Santos Oliveira Jansen Byrne Kelly Murphy Walsh Novak"
).split()
CONTACTS_RANGE = (2, 12)
# Free-mail and unknown domains for orphan contacts; ".biz" is never generated
# for accounts, so these never match one.
FREE_MAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me"]

# --------------------------------------------------------------------------
# Technographics and intent
# --------------------------------------------------------------------------
# (technology, category, popularity, extra popularity for good-fit accounts)
TECHNOLOGIES: list[tuple[str, str, float, float]] = [
    ("Salesforce", "CRM", 3.0, 2.0),
    ("HubSpot", "Marketing Automation", 2.0, 0.0),
    ("Marketo", "Marketing Automation", 1.0, 1.0),
    ("Pardot", "Marketing Automation", 0.8, 0.5),
    ("Snowflake", "Data Warehouse", 1.0, 1.0),
    ("BigQuery", "Data Warehouse", 0.8, 0.3),
    ("Segment", "CDP", 0.6, 0.5),
    ("Outreach", "Sales Engagement", 0.8, 0.8),
    ("Salesloft", "Sales Engagement", 0.7, 0.6),
    ("Tableau", "BI", 1.2, 0.5),
    ("Looker", "BI", 0.8, 0.4),
    ("6sense", "ABM Platform", 0.3, 0.6),
    ("Demandbase", "ABM Platform", 0.3, 0.6),
    ("Zendesk", "Support", 1.5, 0.0),
    ("Slack", "Collaboration", 3.0, 0.5),
]
TECHS_PER_ACCOUNT = (2, 6)
TECH_CHURN_SHARE = 0.12  # technologies no longer detected recently

INTENT_TOPICS: list[tuple[str, float]] = [
    ("Account-Based Marketing", 1.5),
    ("Intent Data", 1.2),
    ("Lead Scoring", 1.0),
    ("Revenue Operations", 1.0),
    ("Sales Intelligence", 1.0),
    ("Marketing Automation", 1.3),
    ("Customer Data Platform", 0.8),
    ("Predictive Analytics", 0.8),
    ("Data Quality", 0.7),
    ("CRM Software", 1.2),
    ("Sales Engagement", 0.9),
    ("B2B Advertising", 0.7),
]
INTENT_WEEKS = 12
INTENT_BASE_SHARE, INTENT_PROPENSITY_SLOPE = 0.12, 0.75  # P(account has intent), ~35% overall
INTENT_BASE_MEAN, INTENT_TOPIC_SD, INTENT_WEEK_SD = 37.0, 5.0, 6.0  # mostly 20-55
INTENT_SURGE_RANGE = (60, 101)
INTENT_SURGE_WEEKS = (1, 5)  # surge lasts the most recent 1-4 weeks
INTENT_NOISE_SPIKE_SHARE = 0.01  # random single-week spikes, not buying signals
INTENT_GAP_SHARE = 0.08  # weeks the provider reported nothing

# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------
# The vocabulary's event types in the order the mixes below weight them (most common first).
GENERATED_EVENT_TYPES = [
    "email_open",
    "web_visit",
    "email_click",
    "content_download",
    "pricing_page_visit",
    "event_attendance",
    "demo_request",
]
# Type mix for routine activity vs. activity of a buying group that is in
# market or about to open an opportunity (more pricing, demos, content).
EVENT_MIX_ROUTINE = [0.44, 0.27, 0.14, 0.09, 0.035, 0.022, 0.003]
EVENT_MIX_BUYING = [0.24, 0.30, 0.14, 0.14, 0.11, 0.045, 0.025]
EVENT_DETAILS: dict[str, list[str]] = {
    "email_open": [
        "newsletter-monthly",
        "nurture-abm-1",
        "nurture-abm-2",
        "nurture-abm-3",
        "product-update",
        "event-invite-abm-summit",
        "webinar-invite-intent-data",
    ],
    "web_visit": [
        "/",
        "/product",
        "/product/intent-data",
        "/product/scoring",
        "/integrations/salesforce",
        "/customers",
        "/about",
        "/careers",
        "/blog/what-is-account-based-marketing",
        "/blog/intent-data-101",
        "/blog/buying-groups-explained",
        "/blog/lead-scoring-is-dead",
        "/blog/revops-metrics-that-matter",
        "/blog/icp-definition-guide",
    ],
    "email_click": ["newsletter-monthly", "nurture-abm-1", "nurture-abm-2", "product-update", "/blog/intent-data-101", "/pricing"],
    "content_download": [
        "ebook-abm-playbook.pdf",
        "whitepaper-intent-data-guide.pdf",
        "report-state-of-b2b-marketing.pdf",
        "checklist-icp-definition.pdf",
        "case-study-fintech.pdf",
        "case-study-healthcare.pdf",
    ],
    "pricing_page_visit": ["/pricing", "/pricing/enterprise", "/pricing?plan=growth"],
    "event_attendance": ["webinar: Building Buying Groups", "webinar: Intent Data in Practice", "ABM Summit", "Roundtable: RevOps Leaders"],
    "demo_request": ["/demo", "/contact-sales"],
}
EVENT_DETAIL_NULL_SHARE = 0.04
EVENT_WINDOW_DAYS = 365
# Expected events per account: routine * activity + recent (in-market) + burst
# (before an opportunity).  Tuned so the overall mean is ~50 per account.
EVENTS_ROUTINE_MEAN = 80.0
EVENTS_RECENT_MEAN = 120.0  # in-market accounts only
EVENTS_BURST_MEAN = 60.0  # accounts whose opportunity starts inside the window
EVENTS_PER_ORPHAN = 3.0
RECENT_WINDOW_DAYS = 60  # density rises linearly towards as_of
BURST_WINDOW_DAYS = 45
WEEKEND_DROP_SHARE = 0.8  # B2B buyers are mostly idle at weekends
EVENT_HOUR_SD = 2.5

# --------------------------------------------------------------------------
# Dirty data (exact shares per batch, rounded)
# --------------------------------------------------------------------------
DOMAIN_VARIANT_SHARE = 0.01
DUPLICATE_COMPANY_SHARE = 0.005
MISSING_FIRMOGRAPHICS_SHARE = 0.03
MISSING_COUNTRY_SHARE = 0.01
CONTACT_DOMAIN_NULL_SHARE = 0.15
CONTACT_EMAIL_DOMAIN_CASE_SHARE = 0.03
CONTACT_DEPT_NULL_SHARE = 0.10
CONTACT_SENIORITY_NULL_SHARE = 0.10
ORPHAN_CONTACT_SHARE = 0.01
FUTURE_EVENT_SHARE = 0.001
FUTURE_EVENT_DAYS = (1, 11)
DUPLICATE_EVENT_SHARE = 0.0005

# RNG stream ids: one independent stream per (batch, source).
_S_ACCOUNTS, _S_DIRT, _S_OPPS, _S_CONTACTS, _S_TECH, _S_INTENT, _S_EVENTS = range(7)

_US_PER_DAY = 86_400 * 1_000_000
_EPOCH = dt.date(1970, 1, 1)
_EVENTS_TMP = ".events_tmp"  # spill area of the daily layout, removed when generate returns

# An "XL" data set: 1M accounts, ~10M contacts (orphans included) and ~100M events.
# Tuned on measured means at 50k accounts (seeds 7 and 11): at scale 1.0 there
# are 6.03 contacts and 49.6 events per account.  contacts_scale 1.65 gives 9.955
# contacts per account (just under 10M in all, so contact ids keep 7 digits).
# Expected events are linear in events_scale; one full XL run (seed 7, 2.005)
# gave 9,956,098 contacts and 99.76M events, hence 2.01 for ~100.0M.
XL_PARAMS: dict[str, float | int] = {"n_accounts": 1_000_000, "contacts_scale": 1.65, "events_scale": 2.01}


# ==========================================================================
# Public API
# ==========================================================================
def generate(
    out_dir: Path,
    n_accounts: int,
    seed: int = 7,
    as_of: dt.date | None = None,
    fmt: str = "parquet",
    progress: bool = True,
    events_layout: str = "single",
    contacts_scale: float = 1.0,
    events_scale: float = 1.0,
    truth: bool = False,
) -> dict[str, int]:
    """Write realistic, deterministic sample sources into out_dir; return row counts per source file.

    ``as_of`` is required (no "today" default, so runs are reproducible): events,
    intent weeks, technographics and opportunities all end on or before it, except
    for a deliberate ~0.1% of future-dated events.  Same (n_accounts, seed, as_of,
    fmt, events_layout, contacts_scale, events_scale) gives byte-identical files.
    The returned dict maps file name (e.g. ``"events.parquet"``) to the number of
    rows written; with ``events_layout="daily"`` the events entry is the glob
    ``"events/*.<fmt>"`` (relative to out_dir) with the total over all days.

    ``events_layout="daily"`` writes ``events/<YYYY-MM-DD>.<fmt>`` (one file per
    UTC day of occurred_at, including the few deliberate days after as_of) instead
    of ``events.<fmt>``.  ``contacts_scale`` multiplies the expected contacts per
    account (buying-group size, capped at 12 * scale), ``events_scale`` the
    expected events per account; see ``XL_PARAMS``.

    ``truth=True`` also writes ``truth/propensity.parquet`` (``TRUTH_FILE``): each account's
    latent fit, in-market propensity and win probability, for validity benchmarks only (no
    source of the pipeline's contract; it draws no random numbers, so every other file is
    byte-identical with or without it). ``true_label_probability`` turns it into the
    probability of a calibration label on a backtest date.
    """
    if as_of is None:
        raise ValueError("as_of is required (pass an explicit date; there is no 'today' default)")
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    if not isinstance(as_of, dt.date):
        raise TypeError(f"as_of must be a datetime.date, got {type(as_of).__name__}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if n_accounts < 1:
        raise ValueError("n_accounts must be >= 1")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    if events_layout not in EVENTS_LAYOUTS:
        raise ValueError(f"events_layout must be one of {EVENTS_LAYOUTS}, got {events_layout!r}")
    for label, scale in (("contacts_scale", contacts_scale), ("events_scale", events_scale)):
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"{label} must be a positive number, got {scale!r}")

    ctx = _Ctx(
        seed=int(seed),
        as_of=as_of,
        n_accounts=int(n_accounts),
        contacts_scale=float(contacts_scale),
        events_scale=float(events_scale),
        truth=[] if truth else None,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sinks: dict[str, _Sink | _DailySink] = {
        name: _Sink(out_dir / f"{name}.{fmt}", schema, fmt) for name, schema in SCHEMAS.items() if name != "events"
    }
    # Replace the other layout's events output, so a folder never holds both.
    if events_layout == "daily":
        (out_dir / f"events.{fmt}").unlink(missing_ok=True)
        sinks["events"] = _DailySink(out_dir, SCHEMAS["events"], fmt)
    else:
        _remove_daily_files(out_dir / "events", fmt)
        sinks["events"] = _Sink(out_dir / f"events.{fmt}", SCHEMAS["events"], fmt)
    sinks = {name: sinks[name] for name in SCHEMAS}  # contract order, as before
    try:
        _run_batches(ctx, sinks, progress)
        events = sinks["events"]
        if isinstance(events, _DailySink):
            events.compact(progress)
    finally:
        for sink in sinks.values():
            sink.close()
    counts = {sink.name: sink.rows for sink in sinks.values()}
    if ctx.truth is not None:
        frame = pl.concat(ctx.truth) if ctx.truth else pl.DataFrame(schema=TRUTH_SCHEMA)
        (out_dir / TRUTH_FILE).parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out_dir / TRUTH_FILE)
        counts[TRUTH_FILE] = frame.height
    return counts


# ==========================================================================
# Ground truth (validity benchmarks only)
# ==========================================================================
TRUTH_FILE = "truth/propensity.parquet"
TRUTH_SCHEMA = {"domain": pl.String(), "fit": pl.Float64(), "propensity": pl.Float64(), "p_win": pl.Float64(), "competitor": pl.Boolean()}


def _truth_frame(acc: "_Accounts") -> pl.DataFrame:
    p_win = _sigmoid(WIN_INTERCEPT + WIN_FIT_SLOPE * acc.fit + WIN_PROPENSITY_SLOPE * acc.propensity)
    return pl.DataFrame(
        {"domain": acc.domain, "fit": acc.fit, "propensity": acc.propensity, "p_win": p_win, "competitor": acc.competitor},
        schema=TRUTH_SCHEMA,
    )


def true_label_probability(
    truth: pl.DataFrame, generated_as_of: dt.date, dates: pl.Series | list[dt.date], horizon_days: int = 90, label: str = "created"
) -> pl.DataFrame:
    """Per (as_of, domain): the generator's probability of the calibration label, from the
    latent propensity alone (what no observable signal can beat on average).

    A closed opportunity exists with probability CLOSED_OPP_K * p, created uniformly
    OPP_CREATED_DAYS_AGO before the generated as-of date; an open one with OPEN_OPP_K * p^2,
    created uniformly OPEN_OPP_CREATED_DAYS_AGO before it. "created": the chance one of them
    falls in (as_of, as_of + horizon]. "won"/"won_amount": a closed one won (p_win) whose
    close (creation + the median sales cycle, an approximation) falls in the window."""

    def overlap(start: int, end: int, low: int, high: int) -> float:
        """Share of the integer days low..high (offsets, inclusive) inside start..end."""
        return max(0, min(end, high) - max(start, low) + 1) / (high - low + 1)

    c_low, c_high = -(OPP_CREATED_DAYS_AGO[1] - 1), -OPP_CREATED_DAYS_AGO[0]
    o_low, o_high = -(OPEN_OPP_CREATED_DAYS_AGO[1] - 1), -OPEN_OPP_CREATED_DAYS_AGO[0]
    frames = []
    for day in sorted(set(dates)):
        start = (day - generated_as_of).days + 1
        end = start + horizon_days - 1
        if label == "created":
            closed_share, open_share = overlap(start, end, c_low, c_high), overlap(start, end, o_low, o_high)
            prob = 1 - (1 - CLOSED_OPP_K * pl.col("propensity") * closed_share) * (1 - OPEN_OPP_K * pl.col("propensity") ** 2 * open_share)
        else:
            shift = SALES_CYCLE_MEDIAN_DAYS
            closed_share = overlap(start - shift, end - shift, c_low, c_high)
            prob = CLOSED_OPP_K * pl.col("propensity") * pl.col("p_win") * closed_share
        frames.append(truth.select(pl.lit(day, pl.Date).alias("as_of"), "domain", prob.alias("true_probability")))
    return pl.concat(frames) if frames else pl.DataFrame(schema={"as_of": pl.Date, "domain": pl.String, "true_probability": pl.Float64})


# ==========================================================================
# Orchestration
# ==========================================================================
@dataclass
class _Ctx:
    seed: int
    as_of: dt.date
    n_accounts: int
    contacts_scale: float = 1.0
    events_scale: float = 1.0
    # Running id counters, continued across batches.
    next_dup_account: int = 0
    next_contact: int = 1
    next_event: int = 1
    next_opportunity: int = 1
    truth: list[pl.DataFrame] | None = None  # ground-truth frames, one per batch (truth=True)

    def __post_init__(self) -> None:
        self.as_of_day = (self.as_of - _EPOCH).days  # days since epoch
        self.next_dup_account = self.n_accounts + 1  # duplicates get ids after the real accounts

    def rng(self, batch: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, batch, stream])


def _run_batches(ctx: _Ctx, sinks: dict[str, _Sink | _DailySink], progress: bool) -> None:
    n_batches = -(-ctx.n_accounts // BATCH_SIZE)
    columns = [TextColumn("[bold]sample data"), BarColumn(), MofNCompleteColumn(), TextColumn("account batches"), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task("batches", total=n_batches)
        for batch in range(n_batches):
            start = batch * BATCH_SIZE
            _write_batch(ctx, sinks, batch, start, min(start + BATCH_SIZE, ctx.n_accounts))
            bar.advance(task)


def _write_batch(ctx: _Ctx, sinks: dict[str, _Sink | _DailySink], batch: int, start: int, stop: int) -> None:
    acc = _accounts_truth(ctx, batch, start, stop)
    if ctx.truth is not None:
        ctx.truth.append(_truth_frame(acc))
    sinks["accounts"].write(_accounts_frame(ctx, batch, acc))
    if batch == 0:
        sinks["competitors"].write(pl.DataFrame({"domain": acc.domain.filter(acc.competitor), "name": acc.name.filter(acc.competitor)}))
    opps, customers, burst_day = _opportunities(ctx, batch, acc)
    sinks["opportunities"].write(opps)
    sinks["crm_open_opportunities"].write(opps.filter(pl.col("closed_at").is_null()).select("domain", "created_at"))
    sinks["crm_customers"].write(customers)
    contacts, people = _contacts(ctx, batch, acc)
    sinks["contacts"].write(contacts)
    sinks["technographics"].write(_technographics(ctx, batch, acc))
    sinks["intent"].write(_intent(ctx, batch, acc))
    sinks["events"].write(_events(ctx, batch, acc, people, burst_day))


# ==========================================================================
# Accounts
# ==========================================================================
@dataclass
class _Accounts:
    """Clean ground truth for one batch of accounts, plus the latent model."""

    num: np.ndarray  # 1-based account numbers
    name: pl.Series
    domain: pl.Series  # canonical lowercase domain
    industry: np.ndarray  # index into INDUSTRIES
    country: np.ndarray  # index into COUNTRIES
    employees: np.ndarray
    revenue: np.ndarray
    owner: np.ndarray  # index into _REP_S
    fit: np.ndarray  # 0..1
    propensity: np.ndarray  # 0..1
    in_market: np.ndarray  # bool
    competitor: np.ndarray  # bool

    @property
    def n(self) -> int:
        return len(self.num)

    @property
    def region(self) -> np.ndarray:
        return _COUNTRY_REGION[self.country]


def _accounts_truth(ctx: _Ctx, batch: int, start: int, stop: int) -> _Accounts:
    rng = ctx.rng(batch, _S_ACCOUNTS)
    n = stop - start
    num = np.arange(start + 1, stop + 1, dtype=np.int64)
    industry = rng.choice(len(INDUSTRIES), size=n, p=_INDUSTRY_P)
    country = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_P)
    employees = _employees(rng, n)
    per_employee = rng.lognormal(np.log(REVENUE_PER_EMPLOYEE_MEDIAN), REVENUE_PER_EMPLOYEE_SIGMA, n)
    local_tld = rng.random(n) < LOCAL_TLD_SHARE
    name, domain = _company_names(ctx.seed, num, np.where(local_tld, _COUNTRY_TLD[country], "com"))

    # Competitors take the first account slots of the run, as Software companies.
    competitor = num <= len(COMPETITORS)
    if competitor.any():
        k = int(competitor.sum())
        name = name.scatter(np.arange(k), [c[0] for c in COMPETITORS[:k]])
        domain = domain.scatter(np.arange(k), [c[1] for c in COMPETITORS[:k]])
        industry[:k] = _INDUSTRY_INDEX["Software"]
        country[:k] = [_COUNTRY_INDEX[c[2]] for c in COMPETITORS[:k]]
        employees[:k] = [c[3] for c in COMPETITORS[:k]]
    revenue = np.round(employees * per_employee, -3)  # reported to the nearest USD 1,000

    region = _COUNTRY_REGION[country]
    owner = _REP_OFFSET[region] + (rng.random(n) * _REP_COUNT[region]).astype(np.int64)
    fit = _fit(industry, country, employees, revenue)
    noise = rng.normal(0.0, PROPENSITY_NOISE, n)
    propensity = _sigmoid(PROPENSITY_INTERCEPT + PROPENSITY_FIT_SLOPE * fit + noise)
    return _Accounts(
        num, name, domain, industry, country, employees, revenue, owner, fit, propensity, propensity > IN_MARKET_THRESHOLD, competitor
    )


def _employees(rng: np.random.Generator, n: int) -> np.ndarray:
    smb = rng.random(n) < SMB_SHARE
    log_median = np.where(smb, np.log(SMB_EMPLOYEES_MEDIAN), np.log(LARGE_EMPLOYEES_MEDIAN))
    sigma = np.where(smb, SMB_EMPLOYEES_SIGMA, LARGE_EMPLOYEES_SIGMA)
    return np.clip(np.rint(np.exp(rng.normal(log_median, sigma))), *EMPLOYEES_RANGE).astype(np.int64)


def _fit(industry: np.ndarray, country: np.ndarray, employees: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    """Share of the ICP criteria an account meets, weighted (0..1)."""
    return (
        FIT_WEIGHTS["industry"] * _INDUSTRY_ICP[industry]
        + FIT_WEIGHTS["country"] * _COUNTRY_ICP[country]
        + FIT_WEIGHTS["employees"] * ((employees >= ICP_EMPLOYEES[0]) & (employees <= ICP_EMPLOYEES[1]))
        + FIT_WEIGHTS["revenue"] * ((revenue >= ICP_REVENUE[0]) & (revenue <= ICP_REVENUE[1]))
    )


def _company_names(seed: int, num: np.ndarray, tld: np.ndarray) -> tuple[pl.Series, pl.Series]:
    """Unique (name, domain) per account number, scrambled by seed."""
    cycle, slot = np.divmod(num - 1, NAME_SPACE)
    # Multiplying by a stride coprime to NAME_SPACE is a bijection on slots, so
    # names stay unique while consecutive ids get unrelated names.
    slot = (slot * NAME_STRIDE + seed * 7_919) % NAME_SPACE
    prefix = slot % len(PREFIXES)
    stem = (slot // len(PREFIXES)) % len(STEMS)
    suffix = slot // (len(PREFIXES) * len(STEMS))
    # Past NAME_SPACE accounts a number keeps names unique ("... Labs 2").
    number = pl.Series(np.where(cycle > 0, cycle + 1, 0)).cast(pl.String).replace("0", "")
    parts = pl.DataFrame(
        {
            "prefix": _PREFIX_S.gather(prefix),
            "stem": _STEM_S.gather(stem),
            "suffix": _SUFFIX_S.gather(suffix),
            "slug": _SLUG_S.gather(suffix),
            "number": number,
            "tld": pl.Series(tld, dtype=pl.String),
        }
    )
    out = parts.select(
        name=pl.concat_str(
            "prefix",
            "stem",
            pl.lit(" "),
            "suffix",
            pl.when(pl.col("number") != "").then(pl.lit(" ") + pl.col("number")).otherwise(pl.lit("")),
        ),
        domain=pl.concat_str(pl.col("prefix").str.to_lowercase(), "stem", "slug", "number", pl.lit("."), "tld"),
    )
    return out["name"], out["domain"]


def _accounts_frame(ctx: _Ctx, batch: int, acc: _Accounts) -> pl.DataFrame:
    """The accounts rows as a CRM would export them: mostly clean, a little dirty."""
    rng = ctx.rng(batch, _S_DIRT)
    n = acc.n
    not_comp = ~acc.competitor  # keep competitor rows clean so they are easy to match
    variant = _pick(rng, n, DOMAIN_VARIANT_SHARE) & not_comp
    missing = _pick(rng, n, MISSING_FIRMOGRAPHICS_SHARE) & not_comp
    # Each account with missing firmographics loses one or more of the three fields.
    which = rng.random((n, 3)) < 0.45
    which[np.arange(n), rng.integers(0, 3, n)] = True
    no_industry, no_employees, no_revenue = (missing & which[:, i] for i in range(3))
    no_country = _pick(rng, n, MISSING_COUNTRY_SHARE) & not_comp
    frame = pl.DataFrame(
        {
            "account_id": _ids("A", acc.num, 7),
            "domain": _domain_variants(acc.domain, np.where(variant, rng.integers(0, 4, n), -1)),
            "name": acc.name,
            "industry": _masked(_INDUSTRY_S.gather(acc.industry), no_industry),
            "employees": _masked(pl.Series(acc.employees, dtype=pl.Int64), no_employees),
            "annual_revenue": _masked(pl.Series(acc.revenue, dtype=pl.Float64), no_revenue),
            "country": _masked(_COUNTRY_S.gather(acc.country), no_country),
            "region": _REGION_S.gather(acc.region),
            "owner": _REP_S.gather(acc.owner),
        }
    )
    return pl.concat([frame, _duplicate_companies(ctx, rng, frame, acc)])


def _duplicate_companies(ctx: _Ctx, rng: np.random.Generator, frame: pl.DataFrame, acc: _Accounts) -> pl.DataFrame:
    """Extra rows for existing companies: variant domain, new id, some fields blank."""
    rows = np.flatnonzero(_pick(rng, acc.n, DUPLICATE_COMPANY_SHARE) & ~acc.competitor)
    k = len(rows)
    ids = np.arange(ctx.next_dup_account, ctx.next_dup_account + k)
    ctx.next_dup_account += k
    blank = rng.random((k, 4)) < 0.5
    dups = frame[rows]
    return dups.with_columns(
        account_id=_ids("A", ids, 7),
        domain=_domain_variants(acc.domain.gather(rows), rng.integers(0, 4, k)),
        industry=_masked(dups["industry"], blank[:, 0]),
        employees=_masked(dups["employees"], blank[:, 1]),
        annual_revenue=_masked(dups["annual_revenue"], blank[:, 2]),
        country=_masked(dups["country"], blank[:, 3]),
    )


def _domain_variants(domain: pl.Series, kind: np.ndarray) -> pl.Series:
    """Spelling variants of a domain that normalise back to it (kind -1 = unchanged)."""
    d = pl.col("d")
    capitalised = d.str.slice(0, 1).str.to_uppercase() + d.str.slice(1)
    k = pl.col("k")
    expr = (
        pl.when(k == 0)
        .then(pl.lit("https://www.") + capitalised + pl.lit("/"))
        .when(k == 1)
        .then(pl.lit("WWW.") + d)
        .when(k == 2)
        .then(d + pl.lit("/"))
        .when(k == 3)
        .then(d.str.to_uppercase())
        .otherwise(d)
    )
    return pl.DataFrame({"d": domain, "k": pl.Series(kind, dtype=pl.Int8)}).select(expr.alias("domain"))["domain"]


# ==========================================================================
# Opportunities and CRM
# ==========================================================================
def _opportunities(ctx: _Ctx, batch: int, acc: _Accounts) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray]:
    """Opportunities, CRM customers, and each account's latest opportunity start (day offset).

    Returns the latest created_at as an offset from as_of in days (very negative when
    none) so that events can burst before it.
    """
    rng = ctx.rng(batch, _S_OPPS)
    n, p = acc.n, acc.propensity
    eligible = ~acc.competitor
    closed = eligible & (rng.random(n) < CLOSED_OPP_K * p)
    opened = eligible & (rng.random(n) < OPEN_OPP_K * p**2)

    c_idx, o_idx = np.flatnonzero(closed), np.flatnonzero(opened)
    c_created = -rng.integers(*OPP_CREATED_DAYS_AGO, len(c_idx))
    cycle = np.rint(rng.lognormal(np.log(SALES_CYCLE_MEDIAN_DAYS), SALES_CYCLE_SIGMA, len(c_idx)))
    c_closed = np.minimum(c_created + cycle.astype(np.int64), 0)
    p_win = _sigmoid(WIN_INTERCEPT + WIN_FIT_SLOPE * acc.fit[c_idx] + WIN_PROPENSITY_SLOPE * p[c_idx])
    won = rng.random(len(c_idx)) < p_win
    o_created = -rng.integers(*OPEN_OPP_CREATED_DAYS_AGO, len(o_idx))

    idx = np.concatenate([c_idx, o_idx])
    created = np.concatenate([c_created, o_created])
    order = np.lexsort((created, idx))  # by account, then date: reads like a CRM export
    idx, created = idx[order], created[order]
    is_closed = np.concatenate([np.ones(len(c_idx), bool), np.zeros(len(o_idx), bool)])[order]
    closed_day = np.concatenate([c_closed, np.zeros(len(o_idx), np.int64)])[order]
    outcome = np.concatenate([np.where(won, "won", "lost"), np.full(len(o_idx), "")])[order]
    # Deal size grows sub-linearly with company size.
    amount = np.round(12_000 * (acc.employees[idx] / 100) ** 0.45 * rng.lognormal(0, 0.4, len(idx)), -2)

    k = len(idx)
    ids = np.arange(ctx.next_opportunity, ctx.next_opportunity + k)
    ctx.next_opportunity += k
    opps = pl.DataFrame(
        {
            "opportunity_id": _ids("O", ids, 7),
            "domain": acc.domain.gather(idx),
            "created_at": _dates(ctx, created),
            "closed_at": _masked(_dates(ctx, closed_day), ~is_closed),
            "outcome": _masked(pl.Series(outcome, dtype=pl.String), ~is_closed),
            "amount": pl.Series(amount, dtype=pl.Float64),
        }
    )

    legacy = _pick(rng, n, EXTRA_CUSTOMER_SHARE) & eligible
    customer = legacy.copy()
    customer[c_idx[won]] = True
    customers = pl.DataFrame({"domain": acc.domain.filter(customer)})

    latest = np.full(n, -(10**6), dtype=np.int64)
    np.maximum.at(latest, idx, created)
    return opps, customers, latest


# ==========================================================================
# Contacts
# ==========================================================================
@dataclass
class _People:
    """Who can generate events: account contacts first, then orphans (one group each)."""

    group: np.ndarray  # per contact: account position (0..n-1) or n + orphan index
    number: np.ndarray  # per contact: numeric contact id
    engaged: np.ndarray  # per contact: float weight for picking event actors
    n_groups: int


def _contacts(ctx: _Ctx, batch: int, acc: _Accounts) -> tuple[pl.DataFrame, _People]:
    rng = ctx.rng(batch, _S_CONTACTS)
    n = acc.n
    # Buying groups grow with company size and with how actively they are buying.
    lam = 0.9 * np.log10(acc.employees) + 2.5 * acc.propensity + 1.1
    low, high = CONTACTS_RANGE
    # contacts_scale multiplies the (unclipped) mean low + lam and the cap; at 1.0
    # lam + 0.0 == lam exactly, so the draws are unchanged.  The cap stays within
    # len(FIRST_NAMES), which keeps e-mail addresses unique per account.
    scale = ctx.contacts_scale
    lam = np.maximum(lam + (scale - 1.0) * (lam + low), 0.0)
    high = min(len(FIRST_NAMES), max(low, round(high * scale)))
    per_account = np.clip(low + rng.poisson(lam), low, high)
    account_of = np.repeat(np.arange(n), per_account)
    total = len(account_of)
    rank = np.arange(total) - np.repeat(np.cumsum(per_account) - per_account, per_account)
    # A stride coprime to len(FIRST_NAMES) keeps first names (hence e-mails) unique per account.
    first = (rng.integers(0, len(FIRST_NAMES), n)[account_of] + 7 * rank) % len(FIRST_NAMES)
    last = rng.integers(0, len(LAST_NAMES), total)
    title = rng.choice(len(TITLES), size=total, p=_TITLE_P)
    domain = acc.domain.gather(account_of)
    # A few e-mail addresses carry the domain in another case ("ACME.COM", "Acme.com").
    recased = pl.select(
        pl.when(pl.lit(pl.Series(rng.random(total) < 0.5)))
        .then(pl.lit(domain).str.to_uppercase())
        .otherwise(pl.lit(domain).str.slice(0, 1).str.to_uppercase() + pl.lit(domain).str.slice(1))
    ).to_series()
    email_domain = _masked_with(domain, _pick(rng, total, CONTACT_EMAIL_DOMAIN_CASE_SHARE), recased)

    n_orphans = max(1, round(ORPHAN_CONTACT_SHARE * total))
    o_first = rng.integers(0, len(FIRST_NAMES), n_orphans)
    o_last = rng.integers(0, len(LAST_NAMES), n_orphans)
    o_domain = _orphan_domains(rng, n_orphans)
    size = total + n_orphans
    numbers = np.arange(ctx.next_contact, ctx.next_contact + size)
    ctx.next_contact += size
    # Digits in the local part keep free-mail addresses distinct: reuse the unique id.
    o_tag = pl.Series(numbers[total:]).cast(pl.String)

    first_s = pl.concat([_FIRST_S.gather(first), _FIRST_S.gather(o_first)])
    last_s = pl.concat([_LAST_S.gather(last), _LAST_S.gather(o_last)])
    tag = pl.concat([pl.repeat("", total, dtype=pl.String, eager=True), o_tag])
    all_domain = pl.concat([email_domain, o_domain])
    title_all = np.concatenate([title, rng.choice(len(TITLES), size=n_orphans, p=_TITLE_P)])
    email = (
        pl.DataFrame({"f": first_s, "l": last_s, "t": tag, "d": all_domain})
        .select(pl.concat_str(pl.col("f").str.to_lowercase(), pl.lit("."), pl.col("l").str.to_lowercase(), "t", pl.lit("@"), "d"))
        .to_series()
    )
    contacts = pl.DataFrame(
        {
            "contact_id": _ids("C", numbers, 7),
            "email": email,
            "first_name": first_s,
            "last_name": last_s,
            "title": _TITLE_S.gather(title_all),
            "department": _masked(_TITLE_DEPT_S.gather(title_all), _pick(rng, size, CONTACT_DEPT_NULL_SHARE)),
            "seniority": _masked(_TITLE_SEN_S.gather(title_all), _pick(rng, size, CONTACT_SENIORITY_NULL_SHARE)),
            "domain": _masked(pl.concat([domain, o_domain]), _pick(rng, size, CONTACT_DOMAIN_NULL_SHARE)),
        }
    )

    # Engaged buying-group members do most of the clicking; more of them when in market.
    engaged_p = np.concatenate([0.25 + 0.6 * acc.propensity[account_of], np.ones(n_orphans)])
    weight = np.where(rng.random(size) < engaged_p, 1.0, 0.15)
    group = np.concatenate([account_of, n + np.arange(n_orphans)])
    return contacts, _People(group, numbers, weight, n + n_orphans)


def _orphan_domains(rng: np.random.Generator, k: int) -> pl.Series:
    """Free-mail or unknown-company domains that match no account."""
    free = _FREE_MAIL_S.gather(rng.integers(0, len(FREE_MAIL_DOMAINS), k))
    unknown = (
        pl.DataFrame(
            {
                "p": _PREFIX_S.gather(rng.integers(0, len(PREFIXES), k)),
                "s": _STEM_S.gather(rng.integers(0, len(STEMS), k)),
            }
        )
        .select(pl.concat_str(pl.col("p").str.to_lowercase(), "s", pl.lit(".biz")))
        .to_series()
    )
    return _masked_with(free, rng.random(k) < 0.5, unknown)


# ==========================================================================
# Technographics and intent
# ==========================================================================
def _technographics(ctx: _Ctx, batch: int, acc: _Accounts) -> pl.DataFrame:
    rng = ctx.rng(batch, _S_TECH)
    n = acc.n
    k = rng.integers(TECHS_PER_ACCOUNT[0], TECHS_PER_ACCOUNT[1] + 1, n)
    # Good-fit accounts run more of the revenue stack (CRM, MAP, ABM).
    weights = _TECH_BASE[None, :] + acc.fit[:, None] * _TECH_FIT_BONUS[None, :]
    account_of, tech = _weighted_top_k(rng, weights, k)
    m = len(tech)
    first = -rng.integers(30, 1800, m)
    churned = rng.random(m) < TECH_CHURN_SHARE
    recent = -np.minimum(np.floor(rng.exponential(7.0, m)), 29).astype(np.int64)
    # Churned tools were last seen somewhere between adoption and two months ago.
    old = first + np.floor(rng.random(m) * (-60 - first)).astype(np.int64)
    last = np.clip(np.where(churned, old, recent), first, 0)
    return pl.DataFrame(
        {
            "domain": acc.domain.gather(account_of),
            "technology": _TECH_S.gather(tech),
            "category": _TECH_CAT_S.gather(tech),
            "first_seen": _dates(ctx, first),
            "last_seen": _dates(ctx, last),
        }
    )


def _intent(ctx: _Ctx, batch: int, acc: _Accounts) -> pl.DataFrame:
    rng = ctx.rng(batch, _S_INTENT)
    n, p = acc.n, acc.propensity
    has = acc.in_market | (rng.random(n) < INTENT_BASE_SHARE + INTENT_PROPENSITY_SLOPE * p)
    accounts = np.flatnonzero(has)
    k = 1 + rng.binomial(4, np.clip(0.1 + 0.6 * p[accounts], 0, 1))
    pos, topic = _weighted_top_k(rng, np.broadcast_to(_TOPIC_W, (len(accounts), len(_TOPIC_W))), k)
    account_of = accounts[pos]
    pairs = len(topic)
    # In-market accounts surge on their top topic and often on others too.
    first_topic = np.r_[True, pos[1:] != pos[:-1]] if pairs else np.zeros(0, bool)
    surging = acc.in_market[account_of] & (first_topic | (rng.random(pairs) < 0.5))
    surge_weeks = rng.integers(*INTENT_SURGE_WEEKS, pairs)
    base = rng.normal(INTENT_BASE_MEAN, INTENT_TOPIC_SD, pairs)

    # Expand pairs x weeks; week_back 0 is the Monday on or before as_of.
    pair = np.repeat(np.arange(pairs), INTENT_WEEKS)
    week_back = np.tile(np.arange(INTENT_WEEKS), pairs)
    rows = len(pair)
    score = base[pair] + rng.normal(0, INTENT_WEEK_SD, rows)
    in_surge = surging[pair] & (week_back < surge_weeks[pair])
    # Surges ramp up towards the latest week.
    surge_score = rng.uniform(*INTENT_SURGE_RANGE, rows) - 4 * week_back
    spike = _pick(rng, rows, INTENT_NOISE_SPIKE_SHARE)
    score = np.where(spike, rng.uniform(55, 80, rows), score)
    score = np.where(in_surge, np.maximum(surge_score, INTENT_SURGE_RANGE[0]), score)
    score = np.clip(np.rint(score), 0, 100).astype(np.int64)
    keep = in_surge | (rng.random(rows) >= INTENT_GAP_SHARE)

    last_monday = -ctx.as_of.weekday()
    pair, week_back, score = pair[keep], week_back[keep], score[keep]
    order = np.lexsort((-week_back, pair))  # per account/topic, weeks ascending
    pair, week_back, score = pair[order], week_back[order], score[order]
    return pl.DataFrame(
        {
            "domain": acc.domain.gather(account_of[pair]),
            "topic": _TOPIC_S.gather(topic[pair]),
            "week": _dates(ctx, last_monday - 7 * week_back),
            "score": pl.Series(score, dtype=pl.Int64),
        }
    )


def _weighted_top_k(rng: np.random.Generator, weights: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, k[row] distinct columns drawn with probability ~ weights (Gumbel top-k).

    Returns (row, column) pairs, rows ascending.
    """
    keys = np.log(weights) + rng.gumbel(size=weights.shape)
    order = np.argsort(-keys, axis=1, kind="stable")
    take = np.arange(weights.shape[1])[None, :] < k[:, None]
    rows = np.broadcast_to(np.arange(len(k))[:, None], order.shape)
    return rows[take], order[take]


# ==========================================================================
# Events
# ==========================================================================
def _events(ctx: _Ctx, batch: int, acc: _Accounts, people: _People, burst_day: np.ndarray) -> pl.DataFrame:
    rng = ctx.rng(batch, _S_EVENTS)
    group, day, buying = _event_days(ctx, rng, acc, people, burst_day)
    m = len(group)
    contact = _pick_contacts(rng, people, group, rng.random(m))
    etype = _draw_event_types(rng, buying)

    # Wrap-around at midnight keeps the date: simpler, and harmless for sample data.
    region = np.concatenate([acc.region, np.zeros(people.n_groups - acc.n, np.int64)])[group]
    hour = _REGION_HOUR[region] + rng.normal(0, EVENT_HOUR_SD, m)
    micros = np.floor(np.mod(hour, 24.0) * 3_600_000_000).astype(np.int64)
    day = np.where(_pick(rng, m, FUTURE_EVENT_SHARE), rng.integers(*FUTURE_EVENT_DAYS, m), day)
    occurred = (ctx.as_of_day + day) * _US_PER_DAY + micros

    detail_idx = _DETAIL_OFFSET[etype] + (rng.random(m) * _DETAIL_COUNT[etype]).astype(np.int64)
    frame = pl.DataFrame(
        {
            "contact": people.number[contact],
            "event_type": _EVENT_TYPE_S.gather(etype),
            "occurred_at": pl.Series(occurred).cast(pl.Datetime("us", "UTC")),
            "detail": _masked(_DETAIL_S.gather(detail_idx), _pick(rng, m, EVENT_DETAIL_NULL_SHARE)),
        }
    ).sort("occurred_at", maintain_order=True)

    ids = np.arange(ctx.next_event, ctx.next_event + m)
    ctx.next_event += m
    frame = frame.select(
        event_id=_ids("E", ids, 9),
        contact_id=pl.lit("C") + pl.col("contact").cast(pl.String).str.zfill(7),
        event_type="event_type",
        occurred_at="occurred_at",
        detail="detail",
    )
    # Re-delivered tracking events: exact copies, next to their original.
    dup_rows = np.flatnonzero(_pick(rng, m, DUPLICATE_EVENT_SHARE))
    return pl.concat([frame, frame[dup_rows]]).sort("occurred_at", maintain_order=True)


def _event_days(
    ctx: _Ctx, rng: np.random.Generator, acc: _Accounts, people: _People, burst_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event: group, day offset from as_of (<= 0), and whether it is buying activity.

    Three components: routine activity spread over the year, a recent ramp for
    in-market accounts (rising over the last RECENT_WINDOW_DAYS), and a burst in
    the BURST_WINDOW_DAYS before an opportunity is created.
    """
    n, n_orph = acc.n, people.n_groups - acc.n
    size = np.bincount(people.group[: len(people.group) - n_orph], minlength=n)
    # Group size relative to its expected size: contacts_scale alone leaves events per
    # account unchanged; events_scale multiplies every rate (x * 1.0 == x exactly).
    activity = (0.35 + 1.3 * acc.propensity) * np.sqrt(size / (6.0 * ctx.contacts_scale)) * rng.gamma(2.0, 0.5, n)
    es = ctx.events_scale
    routine = rng.poisson(np.concatenate([EVENTS_ROUTINE_MEAN * activity, np.full(n_orph, EVENTS_PER_ORPHAN)]) * es)
    recent = rng.poisson(np.where(acc.in_market, EVENTS_RECENT_MEAN * acc.propensity, 0.0) * es)
    in_window = burst_day > -EVENT_WINDOW_DAYS
    burst = rng.poisson(np.where(in_window, EVENTS_BURST_MEAN, 0.0) * es)

    g_routine = np.repeat(np.arange(n + n_orph), routine)
    g_recent = np.repeat(np.arange(n), recent)
    g_burst = np.repeat(np.arange(n), burst)
    d_routine = -rng.integers(0, EVENT_WINDOW_DAYS, len(g_routine))
    # 1 - sqrt(u) has density falling linearly from 0 days back: engagement rises.
    d_recent = -np.floor(RECENT_WINDOW_DAYS * (1 - np.sqrt(rng.random(len(g_recent))))).astype(np.int64)
    d_burst = burst_day[g_burst] - np.floor(BURST_WINDOW_DAYS * rng.random(len(g_burst)) ** 1.3).astype(np.int64)
    d_burst = np.maximum(d_burst, -(EVENT_WINDOW_DAYS - 1))

    group = np.concatenate([g_routine, g_recent, g_burst])
    day = np.concatenate([d_routine, d_recent, d_burst])
    buying = np.concatenate([np.zeros(len(g_routine), bool), np.ones(len(g_recent) + len(g_burst), bool)])
    weekday = (ctx.as_of_day + day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    keep = (weekday < 5) | (rng.random(len(day)) >= WEEKEND_DROP_SHARE)
    return group[keep], day[keep], buying[keep]


def _pick_contacts(rng: np.random.Generator, people: _People, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Contact index per event, chosen within its group proportionally to engagement.

    Group g's contacts own the interval [g, g+1) on a number line, each a slice
    sized by its normalised weight; one searchsorted maps every event at once.
    """
    totals = np.bincount(people.group, weights=people.engaged, minlength=people.n_groups)
    cum = np.cumsum(people.engaged / totals[people.group])
    first_of_group = np.r_[True, people.group[1:] != people.group[:-1]]
    starts = np.flatnonzero(first_of_group)
    before = np.where(starts > 0, cum[starts - 1], 0.0)
    upper = people.group + cum - np.repeat(before, np.diff(np.r_[starts, len(cum)]))
    last_of_group = np.r_[people.group[1:] != people.group[:-1], True]
    upper[last_of_group] = people.group[last_of_group] + 1.0  # close each group exactly
    return np.searchsorted(upper, group + u, side="right")


def _draw_event_types(rng: np.random.Generator, buying: np.ndarray) -> np.ndarray:
    cum = np.cumsum(np.array([EVENT_MIX_ROUTINE, EVENT_MIX_BUYING]), axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(buying))
    return (u[:, None] >= cum[buying.astype(np.int64), :-1]).sum(axis=1)


# ==========================================================================
# Output
# ==========================================================================
class _Sink:
    """Appends frames batch by batch to one file of the contract; writes an empty file if never fed."""

    def __init__(self, path: Path, schema: dict[str, pl.DataType], fmt: str) -> None:
        self.path, self.schema, self.fmt, self.rows = path, schema, fmt, 0
        empty = pl.DataFrame(schema=schema)
        self._writer: pq.ParquetWriter | None = None
        self._fh: IO[bytes] | None = None
        if fmt == "parquet":
            self._arrow_schema: pa.Schema = empty.to_arrow().schema
            self._writer = pq.ParquetWriter(path, self._arrow_schema)
        else:
            self._fh = open(path, "wb")
            empty.write_csv(self._fh)  # header once

    def write(self, frame: pl.DataFrame) -> None:
        frame = frame.select([pl.col(c).cast(t, strict=True) for c, t in self.schema.items()])
        if frame.height == 0:
            return
        if self._writer is not None:
            # One row group per batch keeps reads bounded, too.
            self._writer.write_table(frame.to_arrow().cast(self._arrow_schema), row_group_size=frame.height)
        else:
            frame.write_csv(self._fh, include_header=False, datetime_format=CSV_DATETIME_FORMAT)
        self.rows += frame.height

    @property
    def name(self) -> str:
        return self.path.name

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class _DailySink:
    """Events as one file per UTC day of occurred_at: ``events/<YYYY-MM-DD>.<fmt>``.

    ``write`` splits each batch by day and appends the pieces to a hidden
    hive-style spill area, ``.events_tmp/day=<date>/events.arrow`` -- one open
    Arrow IPC writer per day (lz4; cheap to append to, lossless; at most about
    EVENT_WINDOW_DAYS + FUTURE_EVENT_DAYS files are open).  ``compact`` then
    loads one day at a time, sorts it by (occurred_at, event_id) -- a total order
    up to exact duplicate rows, so the files do not depend on spill order -- and
    writes it through a ``_Sink``, so csv conventions match the single file.
    ``close`` removes the spill area.  Peak memory: one batch, or one day of
    events if that is larger.
    """

    def __init__(self, out_dir: Path, schema: dict[str, pl.DataType], fmt: str) -> None:
        self.schema, self.fmt, self.rows = schema, fmt, 0
        self.dir = out_dir / "events"
        self.tmp = out_dir / _EVENTS_TMP
        self._arrow_schema: pa.Schema = pl.DataFrame(schema=schema).to_arrow().schema
        self._spill: dict[int, pa.ipc.RecordBatchFileWriter] = {}
        shutil.rmtree(self.tmp, ignore_errors=True)  # leftovers of an interrupted run
        self.tmp.mkdir(parents=True)
        _remove_daily_files(self.dir, fmt)  # stale days of an earlier run would join the union
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def name(self) -> str:
        return f"events/*.{self.fmt}"

    def _spill_path(self, day: int) -> Path:
        return self.tmp / f"day={_EPOCH + dt.timedelta(days=day)}" / "events.arrow"

    def write(self, frame: pl.DataFrame) -> None:
        frame = frame.select([pl.col(c).cast(t, strict=True) for c, t in self.schema.items()])
        if frame.height == 0:
            return
        day = frame["occurred_at"].to_physical().to_numpy() // _US_PER_DAY
        if np.any(day[1:] < day[:-1]):  # batches arrive sorted by occurred_at; stay correct if not
            order = np.argsort(day, kind="stable")
            frame, day = frame[order], day[order]
        table = frame.to_arrow().cast(self._arrow_schema)
        bounds = np.r_[0, np.flatnonzero(day[1:] != day[:-1]) + 1, len(day)]
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            d = int(day[lo])
            writer = self._spill.get(d)
            if writer is None:
                path = self._spill_path(d)
                path.parent.mkdir()
                options = pa.ipc.IpcWriteOptions(compression="lz4")
                writer = self._spill[d] = pa.ipc.new_file(path, self._arrow_schema, options=options)
            writer.write_table(table.slice(lo, hi - lo))

    def compact(self, progress: bool = False) -> None:
        """Turn the spill area into the final one-file-per-day layout (one day in memory at a time)."""
        for writer in self._spill.values():
            writer.close()
        columns = [TextColumn("[bold]sample data"), BarColumn(), MofNCompleteColumn(), TextColumn("event days"), TimeElapsedColumn()]
        with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
            task = bar.add_task("days", total=len(self._spill))
            for day in sorted(self._spill):
                path = self._spill_path(day)
                with pa.ipc.open_file(path) as reader:
                    frame = pl.from_arrow(reader.read_all()).sort("occurred_at", "event_id")
                sink = _Sink(self.dir / f"{_EPOCH + dt.timedelta(days=day)}.{self.fmt}", self.schema, self.fmt)
                try:
                    sink.write(frame)
                finally:
                    sink.close()
                self.rows += sink.rows
                del frame
                shutil.rmtree(path.parent)
                bar.advance(task)

    def close(self) -> None:
        for writer in self._spill.values():
            writer.close()  # a no-op if compact already closed it
        self._spill.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _remove_daily_files(folder: Path, fmt: str) -> None:
    """Delete ``<YYYY-MM-DD>.<fmt>`` files of an earlier daily run (and the folder if that empties it)."""
    if not folder.is_dir():
        return
    for path in folder.glob(f"????-??-??.{fmt}"):
        path.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


# ==========================================================================
# Small helpers
# ==========================================================================
def _pick(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """Mask with exactly round(share * n) random True entries: dirt shares are exact."""
    mask = np.zeros(n, bool)
    k = min(n, int(round(share * n)))
    if k:
        mask[rng.choice(n, k, replace=False)] = True
    return mask


def _masked(values: pl.Series, null: np.ndarray) -> pl.Series:
    """values with nulls where `null` is True."""
    frame = pl.DataFrame({"v": values, "m": pl.Series(null, dtype=pl.Boolean)})
    return frame.select(pl.when("m").then(None).otherwise("v").alias(values.name)).to_series()


def _masked_with(values: pl.Series, mask: np.ndarray, other: pl.Series) -> pl.Series:
    """values, replaced by other (same length) where mask is True."""
    frame = pl.DataFrame({"v": values, "o": other, "m": pl.Series(mask, dtype=pl.Boolean)})
    return frame.select(pl.when("m").then("o").otherwise("v").alias(values.name)).to_series()


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """'A0000123'-style ids."""
    digits = pl.Series(numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + pl.lit(digits)).to_series()


def _dates(ctx: _Ctx, day_offsets: np.ndarray) -> pl.Series:
    """Day offsets from as_of -> Date series."""
    return pl.Series(np.asarray(ctx.as_of_day + day_offsets, dtype=np.int32)).cast(pl.Date)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _norm(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


# Lookup tables derived from the constants above (module level: built once).
_INDUSTRY_P = _norm([w for _, w in INDUSTRIES])
_INDUSTRY_S = pl.Series([i for i, _ in INDUSTRIES], dtype=pl.String)
_INDUSTRY_INDEX = {name: i for i, (name, _) in enumerate(INDUSTRIES)}
_INDUSTRY_ICP = np.array([name in ICP_INDUSTRIES for name, _ in INDUSTRIES], dtype=float)
_COUNTRY_P = _norm([c[1] for c in COUNTRIES])
_COUNTRY_S = pl.Series([c[0] for c in COUNTRIES], dtype=pl.String)
_COUNTRY_INDEX = {c[0]: i for i, c in enumerate(COUNTRIES)}
_COUNTRY_REGION = np.array([REGIONS.index(c[2]) for c in COUNTRIES])
_COUNTRY_TLD = np.array([c[3] for c in COUNTRIES])
_COUNTRY_ICP = np.array([c[0] in ICP_COUNTRIES for c in COUNTRIES], dtype=float)
_REGION_S = pl.Series(REGIONS, dtype=pl.String)
_REGION_HOUR = np.array([REGION_UTC_HOUR[r] for r in REGIONS])
_REP_S = pl.Series([rep for r in REGIONS for rep in REPS[r]], dtype=pl.String)
_REP_COUNT = np.array([len(REPS[r]) for r in REGIONS])
_REP_OFFSET = np.cumsum(_REP_COUNT) - _REP_COUNT
_PREFIX_S = pl.Series(PREFIXES, dtype=pl.String)
_STEM_S = pl.Series(STEMS, dtype=pl.String)
_SUFFIX_S = pl.Series([s for s, _ in SUFFIXES], dtype=pl.String)
_SLUG_S = pl.Series([s for _, s in SUFFIXES], dtype=pl.String)
_TITLE_P = _norm([t[3] for t in TITLES])
_TITLE_S = pl.Series([t[0] for t in TITLES], dtype=pl.String)
_TITLE_SEN_S = pl.Series([t[1] for t in TITLES], dtype=pl.String)
_TITLE_DEPT_S = pl.Series([t[2] for t in TITLES], dtype=pl.String)
_FIRST_S = pl.Series(FIRST_NAMES, dtype=pl.String)
_LAST_S = pl.Series(LAST_NAMES, dtype=pl.String)
_FREE_MAIL_S = pl.Series(FREE_MAIL_DOMAINS, dtype=pl.String)
_TECH_S = pl.Series([t[0] for t in TECHNOLOGIES], dtype=pl.String)
_TECH_CAT_S = pl.Series([t[1] for t in TECHNOLOGIES], dtype=pl.String)
_TECH_BASE = np.array([t[2] for t in TECHNOLOGIES])
_TECH_FIT_BONUS = np.array([t[3] for t in TECHNOLOGIES])
_TOPIC_S = pl.Series([t for t, _ in INTENT_TOPICS], dtype=pl.String)
_TOPIC_W = np.array([w for _, w in INTENT_TOPICS])
_EVENT_TYPE_S = pl.Series(GENERATED_EVENT_TYPES, dtype=pl.String)
_DETAIL_S = pl.Series([d for t in GENERATED_EVENT_TYPES for d in EVENT_DETAILS[t]], dtype=pl.String)
_DETAIL_COUNT = np.array([len(EVENT_DETAILS[t]) for t in GENERATED_EVENT_TYPES])
_DETAIL_OFFSET = np.cumsum(_DETAIL_COUNT) - _DETAIL_COUNT

assert set(t[1] for t in TITLES) <= set(SENIORITIES) and set(t[2] for t in TITLES) <= set(DEPARTMENTS)
assert sorted(GENERATED_EVENT_TYPES) == sorted(EVENT_TYPES)
assert len(set(PREFIXES)) == len(PREFIXES) and len(set(STEMS)) == len(STEMS)
