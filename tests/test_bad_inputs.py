"""The bad-input corpus: each broken export and the outcome it must get.

Every case starts from the hand-built dataset (tests/handbuilt.py), which already carries
three faults of its own: one orphan contact (x1) whose one event is set aside with it, one
event dated tomorrow (e95) and one exact duplicate event row (e43). Counts below include
them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl
import pytest
from steps import stage_and_validate

from abmq.config import load_config
from abmq.tasks import gate
from abmq.tasks.catalog import SourceError
from abmq.tasks.clean import normalise_sources
from abmq.tasks.validate import DataQualityError

BASE_QUARANTINE = {"contacts": 1, "events": 2}  # x1; e95 and x1's event e94


@dataclass
class Case:
    name: str
    breakage: Callable[[Path], None]
    # one of: ("source_error", text) | ("blocking", text) | ("quarantine", source, rule, count)
    # | ("merged", source, duplicates merged) | ("clean", source, rows_in)
    outcome: tuple
    config: dict | None = None
    last_volumes: dict | None = None


def edit(source: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / f"{source}.csv"
        change(pl.read_csv(path, infer_schema=False)).write_csv(path)

    return apply


def set_where(column: str, match: str, key: str, value: str | None) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.with_columns(pl.when(pl.col(key) == match).then(pl.lit(value)).otherwise(pl.col(column)).alias(column))


def append_rows(source: str, rows: list[dict]) -> Callable[[Path], None]:
    return edit(source, lambda f: pl.concat([f, pl.DataFrame(rows, schema={c: pl.String for c in f.columns})], how="diagonal"))


def rewrite_bytes(source: str, transform: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / f"{source}.csv"
        path.write_bytes(transform(path.read_bytes()))

    return apply


def to_parquet(source: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        csv = folder / f"{source}.csv"
        change(pl.read_csv(csv)).write_parquet(folder / f"{source}.parquet")
        csv.unlink()

    return apply


def event(event_id: str, contact_id: str, event_type: str, occurred_at: str) -> dict:
    return {"event_id": event_id, "contact_id": contact_id, "event_type": event_type, "occurred_at": occurred_at}


CASES = [
    # --- unreadable input: one line naming the file, the problem and the fix -----------------
    Case(
        "missing-file", lambda d: (d / "events.csv").unlink(), ("source_error", "events: no events.parquet, events.csv or events/ folder")
    ),
    Case(
        "zero-byte-file",
        lambda d: (d / "contacts.csv").write_bytes(b""),
        ("source_error", "contacts.csv: the file is empty (0 bytes); export it again with a header row"),
    ),
    Case(
        "semicolon-delimiter",
        rewrite_bytes("accounts", lambda b: b.replace(b",", b";")),
        ("source_error", "accounts.csv: the header is semicolon-separated"),
    ),
    Case(
        "tab-delimiter",
        rewrite_bytes("intent", lambda b: b.replace(b",", b"\t")),
        ("source_error", "intent.csv: the header is tab-separated"),
    ),
    Case(
        "latin-1-encoding",
        rewrite_bytes("accounts", lambda b: b.replace(b"name", "n\u00e4me".encode("latin-1"))),
        ("source_error", "accounts.csv: not UTF-8 text"),
    ),
    Case(
        "latin-1-in-a-row",
        rewrite_bytes("accounts", lambda b: b.replace(b"Quiet Clinics", "Qui\u00e9t Clinics".encode("latin-1"))),
        ("source_error", "accounts: cannot read accounts.csv: not UTF-8 text"),
    ),
    Case(
        "two-exports-of-one-source",
        lambda d: pl.read_csv(d / "intent.csv").write_parquet(d / "intent.parquet"),
        ("source_error", "intent: found several exports"),
    ),
    Case(
        "corrupt-parquet",
        lambda d: ((d / "intent.csv").unlink(), (d / "intent.parquet").write_bytes(b"PAR1 not really")),
        ("source_error", "intent.parquet: cannot be read as parquet"),
    ),
    # --- blocking: the run stops before scoring --------------------------------------------
    Case(
        "header-only-file",
        edit("accounts", lambda f: f.clear()),
        ("blocking", "accounts (accounts.csv): expect_table_row_count_to_be_between(min_value=1) failed: the source has no data rows"),
    ),
    Case(
        "column-renamed",
        edit("accounts", lambda f: f.rename({"country": "country_code"})),
        ("blocking", "required column 'country' is missing (found 'country_code': rename it to 'country')"),
    ),
    Case(
        "null-keys",
        edit("contacts", set_where("contact_id", "h1", "contact_id", None)),
        ("blocking", "contacts (contacts.csv): expect_column_values_to_not_be_null(contact_id) failed on 1 of 16 rows"),
    ),
    Case(
        "accounts-without-domain-and-account-id-columns",
        edit("accounts", lambda f: f.drop("domain", "account_id")),
        ("blocking", "accounts (accounts.csv): neither 'domain' nor 'account_id' is in the export; an account needs one of them"),
    ),
    Case(
        "parquet-wrong-type",
        to_parquet("events", lambda f: f.with_columns(pl.lit("last tuesday").alias("occurred_at"))),
        ("blocking", "events (events.parquet): expect_column_values_to_be_null(_cast_error) failed on 47 of 47 rows (100%)"),
    ),
    Case(
        "volume-drop",
        edit("events", lambda f: f.head(20)),
        (
            "blocking",
            "events (events.csv): expect_table_row_count_to_be_between(volume_floor) failed: 20 rows, fewer than 50 (row count collapsed since the last good run)",
        ),
        last_volumes={"events": 100},
    ),
    Case(
        "stale-intent",
        edit("intent", lambda f: f.with_columns(pl.lit("2026-09-07").alias("week"))),
        ("blocking", "intent (intent.csv): expect_column_max_to_be_between(week) failed: newest value 2026-09-07"),
    ),
    Case(
        "stale-events",
        edit(
            "events",
            lambda f: f.filter(
                ~pl.col("event_id").is_in(["e90", "e91", "e92", "e93", "e94", "e95", "e20", "e01", "e70", "e71"])
            ).with_columns(pl.lit("2026-11-01T10:00:00Z").alias("occurred_at")),
        ),
        ("blocking", "events (events.csv): expect_column_max_to_be_between(occurred_at) failed: newest value 2026-11-01"),
    ),
    Case(
        "contact-match-rate-below-floor",
        edit(
            "contacts",
            lambda f: f.with_columns(
                pl.when(pl.int_range(pl.len()) < 8).then(pl.lit("someone@nowhere.example")).otherwise(pl.col("email")).alias("email")
            ),
        ),
        ("blocking", "expect_column_values_to_be_in_set(account_found, mostly=0.9) failed on 9 of 16 rows (56%)"),
    ),
    Case(
        "severity-override",
        edit("events", set_where("event_type", "e70", "event_id", "phone_call")),
        ("blocking", "expect_column_values_to_be_in_set(event_type) failed on 1 of 47 rows"),
        config={"severity_overrides": {"events": {"expect_column_values_to_be_in_set(event_type)": "blocking"}}},
    ),
    # --- warnings: rows quarantined with their reason, the run goes on -----------------------
    Case(
        "event-dated-tomorrow",
        append_rows("events", [event("e99", "c-dir", "demo_request", "2026-11-26T09:00:00Z")]),
        ("quarantine", "events", "expect_column_values_to_be_between(occurred_at)", 2),
    ),
    Case(
        "contact-without-account",
        append_rows(
            "contacts", [{"contact_id": "z1", "email": "zoe@nowhere.example", "first_name": "Zoe", "last_name": "Z", "title": "CEO"}]
        ),
        ("quarantine", "contacts", "expect_column_values_to_be_in_set(account_found)", 2),
        config={"contact_account_match_floor": 0.8},
    ),
    Case(
        "event-for-unknown-contact",
        append_rows("events", [event("e98", "ghost", "email_open", "2026-11-20T09:00:00Z")]),
        ("quarantine", "events", "expect_column_values_to_be_in_set(contact_found)", 1),
    ),
    Case(
        "intent-score-140",
        edit("intent", set_where("score", "Lead Scoring", "topic", "140")),
        ("quarantine", "intent", "expect_column_values_to_be_between(score)", 1),
    ),
    Case(
        "intent-week-in-future",
        edit("intent", set_where("week", "Lead Scoring", "topic", "2026-11-30")),
        ("quarantine", "intent", "expect_column_values_to_be_between(week)", 1),
    ),
    Case(
        "account-without-domain-or-account-id",
        edit(
            "accounts", lambda f: set_where("domain", "quiet.com", "domain", None)(set_where("account_id", "quiet.com", "domain", None)(f))
        ),
        ("quarantine", "accounts", "expect_column_values_to_not_be_null(account_key)", 1),
    ),
    Case(
        "many-accounts-without-any-key",
        edit(
            "accounts",
            lambda f: f.with_columns(
                pl.when(pl.int_range(pl.len()) < 8).then(None).otherwise(pl.col(c)).alias(c) for c in ("domain", "account_id")
            ),
        ),
        ("blocking", "expect_column_values_to_not_be_null(account_key) failed on 8 of 11 rows (73%)"),
    ),
    # an account without a domain but with its account_id is keyed by the id (README, "Input contract")
    Case("account-keyed-by-id", edit("accounts", set_where("domain", "quiet.com", "domain", None)), ("clean", "accounts", 11)),
    Case(
        "negative-revenue",
        edit("accounts", set_where("annual_revenue", "globex.com", "domain", "-5000000")),
        ("quarantine", "accounts", "expect_column_values_to_be_between(annual_revenue)", 1),
    ),
    Case(
        "zero-employees",
        edit("accounts", set_where("employees", "globex.com", "domain", "0")),
        ("quarantine", "accounts", "expect_column_values_to_be_between(employees)", 1),
    ),
    Case(
        "unknown-event-type",
        edit("events", set_where("event_type", "e70", "event_id", "phone_call")),
        ("quarantine", "events", "expect_column_values_to_be_in_set(event_type)", 1),
    ),
    Case(
        "mixed-types-in-a-column",
        edit("accounts", set_where("employees", "quiet.com", "domain", "about 250")),
        ("quarantine", "accounts", "expect_column_values_to_be_null(_cast_error)", 1),
    ),
    Case(
        "unparseable-timestamp",
        edit("events", set_where("occurred_at", "e70", "event_id", "yesterday")),
        ("quarantine", "events", "expect_column_values_to_be_null(_cast_error)", 1),
    ),
    Case(
        "country-not-iso",
        edit("accounts", set_where("country", "quiet.com", "domain", "Netherlands")),
        ("quarantine", "accounts", "expect_column_values_to_be_in_set(country)", 1),
    ),
    Case(
        "invalid-domain",
        edit("accounts", set_where("domain", "globex.com", "domain", "globex retail!")),
        ("quarantine", "accounts", "expect_column_values_to_match_regex(domain)", 1),
        config={"contact_account_match_floor": 0.8},
    ),
    Case(
        "first-seen-after-last-seen",
        edit("technographics", set_where("first_seen", "HubSpot", "technology", "2026-10-15")),
        ("quarantine", "technographics", "expect_column_pair_values_a_to_be_greater_than_b(last_seen/first_seen)", 1),
    ),
    Case(
        "intent-for-unknown-domain",
        append_rows("intent", [{"domain": "nobody.example", "topic": "Intent Data", "week": "2026-11-16", "score": "70"}]),
        ("quarantine", "intent", "expect_column_values_to_be_in_set(account_found)", 1),
    ),
    # --- merged, not lost --------------------------------------------------------------------
    Case(
        "account-under-three-spellings",
        append_rows(
            "accounts",
            [
                {"account_id": "A21", "domain": "https://www.Acme.com/", "name": "Acme Software Inc", "industry": "Software"},
                {"account_id": "A22", "domain": "ACME.COM/", "name": "ACME", "employees": "1200"},
            ],
        ),
        ("merged", "accounts", 3),
    ),  # Umbrella's second spelling + Acme's two
    Case(
        "conflicting-duplicate-event-ids",
        append_rows("events", [event("e01", "c-dir", "web_visit", "2026-11-01T09:00:00Z")]),
        ("merged", "events", 2),
    ),  # e43's copy + e01's
    # --- accepted as they are ----------------------------------------------------------------
    Case("csv-with-bom", rewrite_bytes("contacts", lambda b: b"\xef\xbb\xbf" + b), ("clean", "contacts", 16)),
    Case(
        "header-case-and-spaces",
        edit("accounts", lambda f: f.rename({"annual_revenue": "Annual Revenue", "country": " Country "})),
        ("clean", "accounts", 11),
    ),
    Case("optional-source-header-only", edit("competitors", lambda f: f.clear()), ("clean", "competitors", 0)),
    # technographics and intent are optional sources (issue 10): absent or header-only, nothing blocks
    Case("intent-header-only", edit("intent", lambda f: f.clear()), ("clean", "intent", 0), last_volumes={"intent": 6}),
    Case("technographics-absent", lambda d: (d / "technographics.csv").unlink(), ("clean", "technographics", 0)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, handbuilt_dir, tmp_path, as_of):
    data = tmp_path / "input"
    shutil.copytree(handbuilt_dir, data)
    case.breakage(data)
    config = load_config()
    if case.config:
        config = config.model_validate({**config.model_dump(), "data_quality": {**config.data_quality.model_dump(), **case.config}})
    kind = case.outcome[0]
    if kind == "source_error":
        with pytest.raises(SourceError) as error:
            stage_and_validate(data, as_of, config, case.last_volumes)
        assert case.outcome[1] in str(error.value)
        assert "\n" not in str(error.value)
        return
    sources = stage_and_validate(data, as_of, config, case.last_volumes)
    if kind == "blocking":
        with pytest.raises(DataQualityError) as error:
            gate.quality_gate(sources)
        assert case.outcome[1] in str(error.value)
        return
    gate.quality_gate(sources)
    cleaned = normalise_sources(sources)
    clean, sources = cleaned.clean, cleaned.sources
    summary = {s["source"]: s for s in gate.quality_summary(sources, cleaned.accounting)["sources"]}
    for row in summary.values():  # nothing is lost, whatever the case
        assert row["rows_in"] == row["rows_used"] + row["rows_quarantined"] + row["duplicates_merged"], row
    if kind == "quarantine":
        _, source, rule, count = case.outcome
        failed = {f["label"]: f for f in summary[source]["failed"]}
        assert failed[rule]["unexpected_count"] == count
        reasons = sources[source].quarantined["quarantine_reasons"]
        assert reasons.str.contains(rule, literal=True).sum() == count
        assert failed[rule]["examples"], "the report shows examples of each rule"
    elif kind == "merged":
        _, source, count = case.outcome
        assert summary[source]["duplicates_merged"] == count
        if source == "accounts":
            acme = clean.accounts.filter(domain="acme.com")
            assert acme.height == 1 and len(acme["domain_spellings"][0]) == 3
    elif kind == "clean":
        _, source, rows = case.outcome
        assert summary[source]["rows_in"] == rows
        assert summary[source]["rows_quarantined"] == BASE_QUARANTINE.get(source, 0)
        assert not summary[source]["failed"] or source in BASE_QUARANTINE


def test_corpus_is_large_enough():
    assert len(CASES) >= 25
