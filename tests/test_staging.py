"""Staging: canonical domains, casts that report bad values, roles derived from titles."""

import polars as pl
import pytest

from abmq.tasks.sources import SOURCES
from abmq.tasks.staging import canonical_domain, cast_to_contract, email_domain, normalise_department, normalise_seniority


@pytest.mark.parametrize(
    "given, expected",
    [
        ("https://www.Acme.com/", "acme.com"),
        ("WWW.acme.com", "acme.com"),
        ("acme.com/", "acme.com"),
        ("http://acme.com:8080/pricing?x=1", "acme.com"),
        ("  Acme.COM.  ", "acme.com"),
        ("www2.acme.co.uk", "acme.co.uk"),
        ("sales@acme.com", "acme.com"),
        ("", None),
        (None, None),
    ],
)
def test_canonical_domain(given, expected):
    frame = pl.DataFrame({"d": [given]}, schema={"d": pl.String})
    assert frame.select(canonical_domain(pl.col("d")))["d"][0] == expected


def test_email_domain():
    frame = pl.DataFrame({"e": ["ugo@UMBRELLA.COM", "no-at-sign", None]})
    assert frame.select(email_domain(pl.col("e")))["e"].to_list() == ["umbrella.com", None, None]


@pytest.mark.parametrize(
    "title, seniority, department",
    [
        ("Vice President, Finance", "vp", "finance"),
        ("Chief Information Security Officer", "c_level", "security"),
        ("CFO", "c_level", "finance"),
        ("Director of IT", "director", "it"),
        ("Head of Revenue Operations", "director", "sales"),
        ("IT Manager", "manager", "it"),
        ("Senior Software Engineer", "individual_contributor", "engineering"),
        ("Demand Generation Manager", "manager", "marketing"),
        (None, "individual_contributor", "other"),
    ],
)
def test_roles_derived_from_title_when_missing(title, seniority, department):
    frame = pl.DataFrame({"title": [title], "seniority": [None], "department": [None]}, schema={c: pl.String for c in ("title", "seniority", "department")})
    derived = frame.select(
        normalise_seniority(pl.col("seniority"), pl.col("title")).alias("s"),
        normalise_department(pl.col("department"), pl.col("title")).alias("d"),
    ).row(0)
    assert derived == (seniority, department)


def test_given_roles_are_normalised_and_win_over_the_title():
    frame = pl.DataFrame({"title": ["Engineer", "Engineer"], "seniority": ["Vice President", "C-Level"], "department": ["Information Technology", "Finance"]})
    result = frame.select(
        normalise_seniority(pl.col("seniority"), pl.col("title")).alias("s"),
        normalise_department(pl.col("department"), pl.col("title")).alias("d"),
    )
    assert result.rows() == [("vp", "it"), ("c_level", "finance")]


def test_casts_keep_the_row_and_describe_the_bad_value():
    raw = pl.DataFrame(
        {
            "domain": ["a.com", "b.com", "c.com"],
            "name": ["A", "B", "C"],
            "industry": ["Software"] * 3,
            "employees": ["1200", "1,200", "350.0"],
            "annual_revenue": ["1.5e8", "n/a", ""],
            "country": ["US", "US", "US"],
        }
    ).with_row_index("_row")
    typed = cast_to_contract(raw.lazy(), SOURCES["accounts"]).collect()
    assert typed["employees"].to_list() == [1200, None, 350]
    assert typed["annual_revenue"].to_list() == [1.5e8, None, None]
    assert typed["_cast_error"].to_list() == [None, "employees=1,200; annual_revenue=n/a", None]


def test_timestamps_in_common_iso_forms_become_utc():
    raw = pl.DataFrame(
        {
            "event_id": ["1", "2", "3", "4"],
            "contact_id": ["c"] * 4,
            "event_type": ["web_visit"] * 4,
            "occurred_at": ["2026-11-20T10:00:00Z", "2026-11-20 10:00:00", "2026-11-20T12:00:00+02:00", "yesterday"],
        }
    ).with_row_index("_row")
    typed = cast_to_contract(raw.lazy(), SOURCES["events"]).collect()
    stamps = typed["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M").to_list()
    assert stamps == ["2026-11-20T10:00", "2026-11-20T10:00", "2026-11-20T10:00", None]
    assert typed["_cast_error"].to_list()[3] == "occurred_at=yesterday"
