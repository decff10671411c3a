"""Mappings (the config's `sources:`): CRM exports as they come, reshaped onto the input
contract at staging. Inputs are hand-written CSV text shaped like HubSpot exports; every
expected value is worked out by hand in the comments."""

import datetime as dt
import textwrap

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from abmq.cli import app
from abmq.config import ConfigError, SourceMapping, TimestampFormat, load_config
from abmq.tasks import gate, mapping
from abmq.tasks.scoring import firmographic_matches
from abmq.tasks.sources import SOURCES
from abmq.tasks.staging import cast_to_contract
from tests.steps import run_steps, stage_and_validate

AS_OF = dt.date(2026, 11, 25)

# A HubSpot-like companies export: its own headers, employees and revenue as bands,
# countries as names, an industry label of its own.
HUBSPOT_COMPANIES = """\
Record ID,Company name,Company Domain Name,Industry,Number of Employees,Annual Revenue,Country/Region
101,Acme Software,www.acme.com,Computer Software,200-499,$10M-$50M,United States
102,Globex Bank,globex.de,Financial Services,"1,000-4,999",$1B+,Deutschland
103,Initech,initech.co.uk,Computer Software,50-249,$100M-$500M,UK
104,Narnia Ltd,narnia.example,Computer Software,"5,001-10,000",$10M-$50M,Narnia
"""
HUBSPOT_CONTACTS = """\
Contact ID,Email,First Name,Last Name,Job Title,Department,Seniority
c1,dee@acme.com,Dee,Dir,Director of Engineering,Eng,Director
c2,gil@globex.de,Gil,Vp,VP Finance,Fin,Vice President
c3,ian@initech.co.uk,Ian,Mgr,IT Manager,IT,Manager
"""
# US-format local times in New York; e3 is a bare date (midnight in New York).
HUBSPOT_EVENTS = """\
Event ID,Contact ID,Activity,Activity Date
e1,c1,demo_request,11/20/2026 3:05 PM
e2,c1,pricing_page_visit,11/24/2026 9:30 AM
e3,c2,content_download,11/21/2026
e4,c3,email_open,11/22/2026 10:00 PM
"""
TECHNOGRAPHICS = "domain,technology,category,first_seen,last_seen\nacme.com,Salesforce,CRM,2026-01-05,2026-11-02\n"
INTENT = "domain,topic,week,score\nacme.com,Intent Data,2026-11-23,72\n"

MAPPING = {
    "sources": {
        "accounts": {
            "columns": {
                "Record ID": "account_id",
                "Company name": "name",
                "Company Domain Name": "domain",
                "Number of Employees": "employees",
                "Country/Region": "country",
            },
            "values": {"industry": {"Computer Software": "Software"}},
            "formats": {"employees": "band", "annual_revenue": "band", "country": "iso_country"},
        },
        "contacts": {"columns": {"Job Title": "title"}, "values": {"department": {"Eng": "engineering", "Fin": "finance"}}},
        "events": {
            "columns": {"Activity": "event_type", "Activity Date": "occurred_at"},
            "formats": {"occurred_at": {"format": "%m/%d/%Y %I:%M %p", "timezone": "America/New_York"}},
        },
    }
}

# The same data written in the contract's format, by hand: employees are the bands'
# midpoints rounded down ((200 + 499) / 2 = 349; (1,000 + 4,999) / 2 = 2,999), revenue the
# midpoint or an open band's lower bound (USD 30M; 1B), times in UTC (New York is UTC-5 in
# November: 3:05 PM -> 20:05Z, 9:30 AM -> 14:30Z, the bare date -> 05:00Z, 10:00 PM on the
# 22nd -> 03:00Z on the 23rd).
CONTRACT_ACCOUNTS = """\
account_id,name,domain,industry,employees,annual_revenue,country
101,Acme Software,www.acme.com,Software,349,30000000,US
102,Globex Bank,globex.de,Financial Services,2999,1000000000,DE
"""
CONTRACT_CONTACTS = """\
contact_id,email,first_name,last_name,title,department,seniority
c1,dee@acme.com,Dee,Dir,Director of Engineering,engineering,director
c2,gil@globex.de,Gil,Vp,VP Finance,finance,vp
"""
CONTRACT_EVENTS = """\
event_id,contact_id,event_type,occurred_at
e1,c1,demo_request,2026-11-20T20:05:00Z
e2,c1,pricing_page_visit,2026-11-24T14:30:00Z
e3,c2,content_download,2026-11-21T05:00:00Z
"""


def write_folder(folder, files: dict[str, str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def hubspot_dir(tmp_path):
    return write_folder(
        tmp_path / "hubspot",
        {
            "accounts": HUBSPOT_COMPANIES,
            "contacts": HUBSPOT_CONTACTS,
            "events": HUBSPOT_EVENTS,
            "technographics": TECHNOGRAPHICS,
            "intent": INTENT,
        },
    )


@pytest.fixture
def mapping_file(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(MAPPING))
    return path


def frame_of(values, dtype=pl.String):
    return pl.DataFrame({"v": values}, schema={"v": dtype})


# --- bands ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, integer, value, low, high, band",
    [
        ("200-499", True, 349, 200, 499, "200-499"),  # (200 + 499) / 2 = 349.5, rounded down
        ("1,000-4,999", True, 2999, 1000, 4999, "1,000-4,999"),
        ("5001+", True, 5001, 5001, None, "5001+"),  # open: the lower bound
        ("10k+", True, 10000, 10000, None, "10k+"),
        ("1-10", True, 5, 1, 10, "1-10"),
        ("10,001+", True, 10001, 10001, None, "10,001+"),
        ("1 to 10", True, 5, 1, 10, "1 to 10"),
        ("1200", True, 1200, 1200, 1200, None),  # a plain number is its own one-point band
        ("$10M-$50M", False, 30e6, 10e6, 50e6, "$10M-$50M"),
        ("$1B+", False, 1e9, 1e9, None, "$1B+"),
        ("$2.5M - $5M", False, 3.75e6, 2.5e6, 5e6, "$2.5M - $5M"),
        ("lots", True, None, None, None, None),
        ("500-200", True, None, None, None, None),  # reversed bounds: not a band
    ],
)
def test_bands_parse_into_bounds_text_and_the_value_used(text, integer, value, low, high, band):
    parsed = mapping.parse_band(pl.col("v"), integer)
    row = frame_of([text]).select(*(parsed[k].alias(k) for k in ("value", "min", "max", "band"))).row(0)
    assert row == (value, low, high, band)


def test_a_band_matches_the_icp_when_it_overlaps_the_range():
    # ICP 200-5,000 employees (inclusive): 50-249 overlaps; 5001+ and 10-199 do not; 5000-9999
    # touches the upper bound; a plain number (no band) uses the point rule.
    config = load_config()
    accounts = pl.DataFrame(
        {
            "employees": [149, 5001, 104, 7499, 300, 100],
            "employees_min": [50, 5001, 10, 5000, None, 100],
            "employees_max": [249, None, 199, 9999, None, 100],
        }
    )
    matched = accounts.select(firmographic_matches(config, accounts.columns)["employees"].alias("match"))["match"]
    assert matched.to_list() == [True, False, False, True, True, False]


# --- countries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, code",
    [
        ("United States", "US"),
        ("united states of america", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("Deutschland", "DE"),
        ("Germany", "DE"),
        ("DEU", "DE"),
        ("fr", "FR"),
        ("  Netherlands ", "NL"),
        ("Narnia", None),
    ],
)
def test_countries_become_iso_alpha_2(given, code):
    assert frame_of([given]).select(mapping.iso_country(pl.col("v").str.strip_chars()))["v"][0] == code


def test_an_unmatched_country_is_quarantined_with_its_value(hubspot_dir, mapping_file):
    sources = stage_and_validate(hubspot_dir, AS_OF, load_config(None, mapping_file))
    accounts = sources["accounts"]
    assert sorted(accounts.kept["country"].to_list()) == ["DE", "GB", "US"]
    bad = accounts.quarantined
    assert bad["domain"].to_list() == ["narnia.example"]
    assert bad["_cast_error"].to_list() == ["country=Narnia (not a country name or ISO 3166 code)"]
    assert "expect_column_values_to_be_null(_cast_error)" in bad["quarantine_reasons"][0]


# --- dates and timestamps -------------------------------------------------------------------


def test_timestamps_in_an_explicit_format_and_zone_become_utc():
    fmt = TimestampFormat(format="%m/%d/%Y %I:%M %p", timezone="America/New_York")
    texts = ["11/20/2026 3:05 PM", "11/20/2026", "07/04/2026 12:00 AM", "03/08/2026 2:30 AM", "2026-11-20"]
    parsed = frame_of(texts).select(mapping.parse_temporal(pl.col("v"), fmt, pl.Datetime("us", "UTC")))["v"]
    # EST is UTC-5, EDT UTC-4; a bare date is midnight in New York; 2:30 AM on 8 March 2026
    # does not exist there (clocks jump from 2:00 to 3:00); an ISO date is not this format.
    assert [None if v is None else v.strftime("%Y-%m-%dT%H:%M") for v in parsed] == [
        "2026-11-20T20:05",
        "2026-11-20T05:00",
        "2026-07-04T04:00",
        None,
        None,
    ]


def test_day_first_format_reads_both_readable_orders_as_told():
    fmt = TimestampFormat(format="%d/%m/%Y", timezone="Europe/Berlin")
    parsed = frame_of(["03/04/2026"]).select(mapping.parse_temporal(pl.col("v"), fmt, pl.Datetime("us", "UTC")))["v"][0]
    assert parsed.strftime("%Y-%m-%dT%H:%M") == "2026-04-02T22:00"  # 3 April, midnight in Berlin (UTC+2)


def test_epoch_milliseconds_and_iso_with_or_without_offset():
    stamp = pl.Datetime("us", "UTC")
    epoch = frame_of(["1795205100000"]).select(mapping.parse_temporal(pl.col("v"), TimestampFormat(format="epoch_ms"), stamp))["v"][0]
    assert epoch.strftime("%Y-%m-%dT%H:%M") == "2026-11-20T20:05"  # 1,795,205,100 s after 1970-01-01
    iso = TimestampFormat(format="iso", timezone="America/New_York")
    parsed = frame_of(["2026-11-20T15:05:00", "2026-11-20T15:05:00+01:00", "2026-11-20"]).select(
        mapping.parse_temporal(pl.col("v"), iso, stamp)
    )["v"]
    assert [v.strftime("%Y-%m-%dT%H:%M") for v in parsed] == ["2026-11-20T20:05", "2026-11-20T14:05", "2026-11-20T05:00"]


def test_without_a_format_a_bare_date_is_midnight_utc_and_slashes_are_refused():
    raw = pl.DataFrame(
        {"event_id": ["1", "2"], "contact_id": ["c", "c"], "event_type": ["web_visit"] * 2, "occurred_at": ["2026-11-20", "03/04/2026"]}
    ).with_row_index("_row")
    typed = cast_to_contract(raw.lazy(), SOURCES["events"]).collect()
    assert typed["occurred_at"][0] == dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
    assert typed["_cast_error"][0] is None
    note = typed["_cast_error"][1]
    assert note.startswith("occurred_at=03/04/2026 (not ISO 8601 and the day/month order is ambiguous")
    assert "sources.<source>.formats.occurred_at" in note


def test_ambiguous_dates_without_a_format_stop_the_run_naming_column_values_and_fix(tmp_path, hubspot_dir):
    events = "event_id,contact_id,event_type,occurred_at\ne1,c1,demo_request,03/04/2026\ne2,c1,web_visit,11/24/2026\n"
    folder = write_folder(tmp_path / "ambiguous", {"accounts": CONTRACT_ACCOUNTS, "contacts": CONTRACT_CONTACTS, "events": events})
    for name in ("technographics", "intent"):
        (folder / f"{name}.csv").write_text((hubspot_dir / f"{name}.csv").read_text())
    messages = gate.blocking_messages(stage_and_validate(folder, AS_OF))
    cast = [m for m in messages if m.startswith("events")][0]
    assert "expect_column_values_to_be_null(_cast_error) failed on 2 of 2 rows" in cast
    assert "occurred_at on 2 rows: '03/04/2026', '11/24/2026'" in cast
    assert "day/month order is ambiguous" in cast and "formats.occurred_at" in cast


def test_a_bare_date_event_is_no_longer_three_failures(tmp_path, hubspot_dir):
    events = "event_id,contact_id,event_type,occurred_at\ne1,c1,demo_request,2026-11-24\n"
    folder = write_folder(tmp_path / "bare", {"accounts": CONTRACT_ACCOUNTS, "contacts": CONTRACT_CONTACTS, "events": events})
    for name in ("technographics", "intent"):
        (folder / f"{name}.csv").write_text((hubspot_dir / f"{name}.csv").read_text())
    sources = stage_and_validate(folder, AS_OF)
    assert gate.blocking_messages(sources) == []
    assert sources["events"].kept["occurred_at"].to_list() == [dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)]


# --- the config -----------------------------------------------------------------------------


def write_mapping(tmp_path, sources):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"sources": sources}))
    return path


@pytest.mark.parametrize(
    "sources, message",
    [
        (
            {"accounts": {"columns": {"Company Size": "company_size"}}},
            "sources.accounts.columns['Company Size']: 'company_size' is not a column of accounts",
        ),
        (
            {"accounts": {"columns": {"Company Domain Name": "domain", "Website URL": "domain"}}},
            "sources.accounts.columns: 'Company Domain Name' and 'Website URL' are both mapped onto 'domain'",
        ),
        ({"accounts": {"values": {"segment": {"Ent": "enterprise"}}}}, "sources.accounts.values: 'segment' is not a column"),
        ({"companies": {"columns": {"Name": "name"}}}, "sources.companies: no source called 'companies'"),
        ({"contacts": {"formats": {"title": "band"}}}, "sources.contacts.formats.title: 'band' applies to employees and annual_revenue"),
        ({"events": {"formats": {"occurred_at": "band"}}}, "sources.events.formats.occurred_at: 'band' applies to"),
        (
            {"accounts": {"formats": {"employees": {"format": "%Y"}}}},
            "sources.accounts.formats.employees: a date/time format, but employees is not a date",
        ),
    ],
)
def test_mapping_mistakes_are_config_errors(tmp_path, sources, message):
    with pytest.raises(ConfigError) as error:
        mapping.check_mappings(load_config(None, write_mapping(tmp_path, sources)).sources)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "sources, message",
    [
        ({"events": {"formats": {"occurred_at": {"format": "US"}}}}, "'US' is not a format"),
        ({"events": {"formats": {"occurred_at": {"timezone": "Eastern"}}}}, "'Eastern' is not an IANA time zone"),
        ({"accounts": {"colums": {}}}, "sources.accounts.colums: Extra inputs are not permitted"),
    ],
)
def test_mapping_model_mistakes_are_named(tmp_path, sources, message):
    with pytest.raises(ConfigError, match="with mapping") as error:
        load_config(None, write_mapping(tmp_path, sources))
    assert message in str(error.value)


def test_a_mapping_file_holds_only_sources(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("sources: {}\nicp: {}\n")
    with pytest.raises(ConfigError, match="holds only a `sources:` section"):
        load_config(None, path)


def test_fingerprint_without_sources_is_unchanged_and_with_sources_differs(tmp_path, mapping_file):
    default = load_config()
    assert default.fingerprint() == "d103a56cadea"  # the fingerprint before mappings existed
    assert "sources" not in default.model_dump()
    assert load_config(None, write_mapping(tmp_path, {})).fingerprint() == default.fingerprint()
    mapped = load_config(None, mapping_file)
    assert mapped.fingerprint() != default.fingerprint()
    assert mapped.sources["accounts"] == SourceMapping(**MAPPING["sources"]["accounts"])


# --- end to end -----------------------------------------------------------------------------


def test_a_mapped_export_scores_like_the_same_data_in_the_contract_format(tmp_path, hubspot_dir, mapping_file):
    mapped = run_steps(hubspot_dir, AS_OF, load_config(None, mapping_file))
    contract_dir = write_folder(
        tmp_path / "contract",
        {
            "accounts": CONTRACT_ACCOUNTS,
            "contacts": CONTRACT_CONTACTS,
            "events": CONTRACT_EVENTS,
            "technographics": TECHNOGRAPHICS,
            "intent": INTENT,
        },
    )
    plain = run_steps(contract_dir, AS_OF)
    columns = ["domain", "score", "fit_points", "engagement_points", "points_employees", "points_annual_revenue", "points_country"]
    pick = pl.col("domain").is_in(["acme.com", "globex.de"])
    assert (
        mapped["accounts"].filter(pick).select(columns).sort("domain").equals(plain["accounts"].filter(pick).select(columns).sort("domain"))
    )
    # Acme: Software +15, 200-499 employees +10, USD 10M-50M +10, US +5, Salesforce +5 = fit 45
    acme = mapped["accounts"].filter(pl.col("domain") == "acme.com").row(0, named=True)
    assert (acme["fit_points"], acme["employees_band"], acme["employees_min"], acme["employees_max"]) == (45, "200-499", 200, 499)
    # Initech: 50-249 overlaps the ICP's 200-5,000 though its midpoint (149) does not: +10
    initech = mapped["accounts"].filter(pl.col("domain") == "initech.co.uk").row(0, named=True)
    assert (initech["employees"], initech["points_employees"], initech["country"]) == (149, 10, "GB")
    events = mapped["clean"].events.sort("occurred_at")["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M").to_list()
    assert events == ["2026-11-20T20:05", "2026-11-21T05:00", "2026-11-23T03:00", "2026-11-24T14:30"]
    departments = dict(mapped["clean"].contacts.select("contact_id", "department").iter_rows())
    assert departments == {"c1": "engineering", "c2": "finance", "c3": "it"}


def test_check_command_takes_a_mapping(hubspot_dir, mapping_file, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["check", "--input", str(hubspot_dir), "--as-of", "2026-11-25", "--mapping", str(mapping_file)])
    assert ok.exit_code == 0, ok.output
    assert "data-quality gate: passes" in ok.output
    bad = write_mapping(tmp_path, {"accounts": {"columns": {"Company Size": "company_size"}}})
    refused = runner.invoke(app, ["check", "--input", str(hubspot_dir), "--as-of", "2026-11-25", "--mapping", str(bad)])
    assert refused.exit_code == 2
    assert "'company_size' is not a column of accounts" in refused.output


def test_explanation_and_account_page_show_the_band(hubspot_dir, mapping_file):
    from abmq.tasks.report import target_rows

    accounts = run_steps(hubspot_dir, AS_OF, load_config(None, mapping_file))["accounts"]
    acme = accounts.filter(pl.col("domain") == "acme.com").row(0, named=True)
    assert "company size +10 (200-499) · revenue +10 ($10M-$50M)" in acme["explanation"]
    page = next(row for row in target_rows(accounts) if row["domain"] == "acme.com")
    assert (page["employees_band"], page["revenue_text"]) == ("200-499", "$10M-$50M revenue")
    assert {"label": "company size (200-499)", "value": 10} in page["points"]


def test_numbers_in_a_parquet_export_take_a_format_as_they_are():
    """Epoch times and banded columns that arrive as numbers (Parquet) convert directly, the
    same values as their text, and never fail."""
    events = pl.LazyFrame({"contact_id": ["c1", "c2"], "occurred_at": [1795205100000, None]})
    mapped = mapping.apply(events, SOURCES["events"], SourceMapping(formats={"occurred_at": TimestampFormat(format="epoch_ms")})).collect()
    assert mapped["occurred_at"][0].strftime("%Y-%m-%dT%H:%M") == "2026-11-20T20:05"
    assert mapped["occurred_at"][1] is None and mapped[mapping.MAPPING_ERROR].null_count() == 2
    accounts = pl.LazyFrame({"employees": [250, None], "annual_revenue": [2.5e7, 1e9]})
    banded = mapping.apply(accounts, SOURCES["accounts"], SourceMapping(formats={"employees": "band", "annual_revenue": "band"})).collect()
    assert banded.select("employees", "employees_min", "employees_max", "employees_band").rows() == [
        (250, 250, 250, None),
        (None, None, None, None),
    ]
    assert banded["annual_revenue_max"].to_list() == [2.5e7, 1e9]


def test_a_daily_file_is_the_exports_own_day_in_its_zone(tmp_path):
    """A CRM exporting New York days puts an 8 PM event (01:18 UTC the next day) in that day's
    file: it is not "dated after the file's day", which ends at midnight New York time."""
    from abmq.tasks import event_partitions, event_store

    assert event_store.file_day_end(dt.date(2026, 10, 31)) == dt.datetime(2026, 10, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc)
    new_york = SourceMapping(
        columns={"Activity Date": "occurred_at"},
        formats={"occurred_at": TimestampFormat(format="%m/%d/%Y %I:%M %p", timezone="America/New_York")},
    )
    assert event_store.file_day_end(dt.date(2026, 10, 31), new_york) == dt.datetime(2026, 11, 1, 3, 59, 59, 999999, tzinfo=dt.timezone.utc)

    (tmp_path / "events").mkdir()
    path = tmp_path / "events" / "2026-10-31.csv"
    path.write_text(
        "event_id,contact_id,event_type,Activity Date\nE1,C1,web_visit,10/31/2026 08:18 PM\nE2,C1,web_visit,11/01/2026 09:00 AM\n"
    )
    file = event_store.daily_files(tmp_path)[0]
    staged = event_store.stage_file(file, None, new_york)
    validated = event_partitions.validate_file(file, "sha", staged, event_partitions.partition_suite(load_config()), 1.0)
    # the evening event is kept; the next morning's is set aside as after the file's day
    assert validated.kept["event_id"].to_list() == ["E1"]
    assert validated.quarantined["event_id"].to_list() == ["E2"]


def test_value_keys_with_surrounding_spaces_match_as_the_values_do(tmp_path):
    """Values are compared trimmed, so a YAML key written with spaces matches too; two keys
    that trim to one value must agree."""
    sources = {"events": {"values": {"event_type": {" Web Visit ": "web_visit", "Demo Request": "demo_request"}}}}
    table = load_config(None, write_mapping(tmp_path, sources)).sources["events"].values["event_type"]
    assert table == {"Web Visit": "web_visit", "Demo Request": "demo_request"}
    mapped = frame_of(["Web Visit", "  Web Visit", "web visit", "Demo Request ", None]).select(mapping.map_values(pl.col("v"), table))
    assert mapped["v"].to_list() == ["web_visit", "web_visit", "web visit", "demo_request", None]

    agreeing = {"events": {"values": {"event_type": {"Web Visit": "web_visit", "Web Visit ": "web_visit"}}}}
    assert load_config(None, write_mapping(tmp_path, agreeing)).sources["events"].values["event_type"] == {"Web Visit": "web_visit"}
    clashing = {"events": {"values": {"event_type": {"Web Visit": "web_visit", " Web Visit": "demo_request"}}}}
    with pytest.raises(
        ConfigError, match=r"event_type: ' Web Visit' and 'Web Visit' are one value .* map onto 'demo_request' and 'web_visit'"
    ):
        load_config(None, write_mapping(tmp_path, clashing))
