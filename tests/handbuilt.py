"""A small hand-built dataset whose scores are computed by hand in the comments and tests.

As-of date 2026-11-25 with the default config: the lookback window is 2026-08-28 ..
2026-11-25 (90 days), trend windows 2026-10-27 .. 11-25 and 2026-09-27 .. 10-26.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

AS_OF = dt.date(2026, 11, 25)


def days_ago(days: int, hour: int = 10) -> str:
    moment = dt.datetime.combine(AS_OF - dt.timedelta(days=days), dt.time(hour, 0), tzinfo=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


ACCOUNTS = [
    # account_id, domain, name, industry, employees, annual_revenue, country, owner
    ("A01", "acme.com", "Acme Software", "Software", 1200, 150e6, "US", "Dana Reyes"),
    ("A02", "hooli.com", "Hooli", "Software", 300, 25e6, "CA", "Sam Ortiz"),
    ("A03", "https://www.Umbrella.com/", "Umbrella Health", "Healthcare", 800, None, "GB", "Ana Silva"),
    ("A09", "umbrella.com", "Umbrella Health Inc", None, 800, 90e6, "GB", None),
    ("A04", "initech.com", "Initech Bank", "Financial Services", 6000, 900e6, "DE", "Sam Ortiz"),
    ("A05", "globex.com", "Globex Retail", "Retail", 50, 5e6, "BR", None),
    ("A06", "quiet.com", "Quiet Clinics", "Healthcare", 250, 30e6, "NL", "Ana Silva"),
    ("A07", "customer.com", "Loyal Customer", "Software", 1000, 100e6, "US", "Dana Reyes"),
    ("A08", "openopp.com", "Open Opp Corp", "Software", 1000, 100e6, "US", "Dana Reyes"),
    ("A10", "rival.com", "Rival Analytics", "Software", 500, 50e6, "US", None),
    ("A11", "nofirmo.com", "No Firmo Ltd", None, 400, 40e6, "US", None),
]

CONTACTS = [
    # contact_id, email, first, last, title, department, seniority, domain
    ("c-dir", "dee.dir@acme.com", "Dee", "Dir", "Director of Marketing", "marketing", "director", None),
    ("c-mgr", "max.mgr@acme.com", "Max", "Mgr", "Marketing Manager", "marketing", "manager", None),
    ("c-vp", "val.vp@acme.com", "Val", "Vp", "VP of IT", "it", "vp", None),
    ("c-old", "olga.old@acme.com", "Olga", "Old", "Director of Finance", "finance", "director", None),
    ("h1", "hana@hooli.com", "Hana", "One", "VP Security", "security", "vp", None),
    ("h2", "hugo@hooli.com", "Hugo", "Two", "Finance Director", "finance", "director", None),
    ("h3", "hal@hooli.com", "Hal", "Three", "Software Engineer", "engineering", "individual_contributor", None),
    ("u1", "uma@umbrella.com", "Uma", "One", "Marketing Manager", "marketing", "manager", None),
    # seniority and department left empty: derived from the title (director, operations)
    ("u2", "ugo@UMBRELLA.COM", "Ugo", "Two", "Director of Operations", None, None, None),
    ("i1", "ivy@initech.com", "Ivy", "Cfo", "Chief Financial Officer", "finance", "c_level", None),
    ("g1", "gus@globex.com", "Gus", "Ic", "Store Analyst", "operations", "individual_contributor", None),
    ("k1", "kim@customer.com", "Kim", "Cust", "VP Marketing", "marketing", "vp", None),
    ("o1", "oli@openopp.com", "Oli", "Opp", "Director IT", "it", "director", None),
    ("r1", "ray@rival.com", "Ray", "Rival", "CEO", "executive", "c_level", None),
    ("n1", "nia@nofirmo.com", "Nia", "NoFirmo", "VP Sales", "sales", "vp", None),
    # orphan: no account with this domain -> quarantined, and so is its event
    ("x1", "xavier@unknown-co.org", "Xavier", "Orphan", "CTO", "engineering", "c_level", None),
]

EVENTS = [
    # event_id, contact_id, event_type, days before as-of
    ("e01", "c-dir", "demo_request", 3),
    ("e02", "c-dir", "pricing_page_visit", 5),
    ("e03", "c-dir", "pricing_page_visit", 6),  # counts once
    ("e04", "c-dir", "web_visit", 6),  # scores 0
    *[(f"e1{i}", "c-mgr", "email_open", 10 + i) for i in range(5)],
    ("e20", "c-vp", "demo_request", 2),
    ("e21", "c-vp", "demo_request", 40),
    ("e22", "c-vp", "pricing_page_visit", 4),
    ("e23", "c-vp", "event_attendance", 20),
    ("e24", "c-vp", "content_download", 7),
    ("e25", "c-vp", "content_download", 8),
    ("e26", "c-vp", "content_download", 9),
    ("e30", "c-old", "demo_request", 90),  # one day before the 90-day window: not counted
    ("e31", "c-old", "pricing_page_visit", 89),  # first day of the window: counted
    ("e40", "h1", "event_attendance", 12),
    ("e41", "h1", "content_download", 14),
    ("e42", "h2", "pricing_page_visit", 15),
    ("e43", "h3", "email_open", 16),
    ("e50", "u1", "content_download", 20),
    ("e51", "u1", "email_click", 21),
    ("e52", "u1", "email_click", 22),
    ("e53", "u2", "email_open", 23),
    ("e54", "u2", "pricing_page_visit", 24),
    ("e60", "i1", "demo_request", 30),
    ("e70", "g1", "email_click", 3),
    ("e71", "g1", "email_click", 4),
    *[(f"e8{i}", "g1", "web_visit", 5 + i) for i in range(10)],
    ("e90", "k1", "demo_request", 1),
    ("e91", "o1", "demo_request", 1),
    ("e92", "r1", "pricing_page_visit", 1),
    ("e93", "n1", "demo_request", 1),
    ("e94", "x1", "demo_request", 1),  # its contact is an orphan
    ("e95", "h3", "demo_request", -1),  # dated tomorrow: quarantined
    ("e43", "h3", "email_open", 16),  # exact duplicate of e43: merged
]

TECHNOGRAPHICS = [
    ("acme.com", "Salesforce", "CRM", "2024-01-01", "2026-11-01"),
    ("acme.com", "Snowflake", "Data Warehouse", "2025-03-01", "2026-11-01"),
    ("quiet.com", "HubSpot", "Marketing Automation", "2023-05-01", "2026-10-01"),
    ("hooli.com", "Zendesk", "Support", "2023-05-01", "2026-10-01"),  # not a configured match
]

INTENT = [
    ("acme.com", "Intent Data", "2026-11-16", 75),
    ("acme.com", "Intent Data", "2026-11-09", 55),
    ("www.umbrella.com", "Lead Scoring", "2026-11-23", 80),
    ("umbrella.com", "Revenue Operations", "2026-11-16", 61),
    ("umbrella.com", "Data Quality", "2026-11-16", 90),  # surging, but not a configured topic
    ("initech.com", "Intent Data", "2026-10-12", 95),  # older than the 4 recent weeks
]


def frames() -> dict[str, pl.DataFrame]:
    return {
        "accounts": pl.DataFrame(
            ACCOUNTS,
            schema=["account_id", "domain", "name", "industry", "employees", "annual_revenue", "country", "owner"],
            orient="row",
        ),
        "contacts": pl.DataFrame(
            CONTACTS,
            schema=["contact_id", "email", "first_name", "last_name", "title", "department", "seniority", "domain"],
            orient="row",
        ),
        "events": pl.DataFrame(
            [(eid, cid, etype, days_ago(days), None) for eid, cid, etype, days in EVENTS],
            schema=["event_id", "contact_id", "event_type", "occurred_at", "detail"],
            orient="row",
        ),
        "technographics": pl.DataFrame(
            TECHNOGRAPHICS, schema=["domain", "technology", "category", "first_seen", "last_seen"], orient="row"
        ),
        "intent": pl.DataFrame(INTENT, schema=["domain", "topic", "week", "score"], orient="row"),
        "crm_customers": pl.DataFrame({"domain": ["customer.com"]}),
        "crm_open_opportunities": pl.DataFrame({"domain": ["OpenOpp.com"]}),
        "competitors": pl.DataFrame({"domain": ["www.rival.com"], "name": ["Rival Analytics"]}),
    }


def write(directory: Path, fmt: str = "csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames().items():
        if fmt == "csv":
            frame.write_csv(directory / f"{name}.csv")
        else:
            frame.write_parquet(directory / f"{name}.parquet")
    return directory
