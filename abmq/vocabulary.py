"""The domain's vocabularies, each defined once: the config validates against them, the
scoring and the report use them, and the GX suites' value sets are tested against them
(tests/test_vocabulary.py). The input contract (`tasks/sources.py`) holds the columns."""

from __future__ import annotations

import re

# Engagement events, in the order the account table lists their counts (`n_<type>`).
EVENT_TYPES = (
    "demo_request",
    "pricing_page_visit",
    "event_attendance",
    "content_download",
    "email_open",
    "email_click",
    "web_visit",
)
SENIORITIES = ("c_level", "vp", "director", "manager", "individual_contributor")
DEPARTMENTS = (
    "executive",
    "it",
    "security",
    "engineering",
    "finance",
    "marketing",
    "sales",
    "operations",
    "hr",
    "legal",
    "other",
)
# Firmographic fit signals, each scored from the account's own column of the same name.
FIT_SIGNALS = ("industry", "employees", "annual_revenue", "country")
# Every account ends with one of these.
DECISIONS = ("sql_ready", "nurture", "disqualified", "suppressed", "needs_enrichment")


def normalise_header(name: str) -> str:
    """How an export's header is compared with a contract column or a mapping's header:
    'Annual Revenue ' and 'annual-revenue' are the contract's 'annual_revenue'."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())
