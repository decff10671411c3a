"""Normalise the gated sources: duplicate companies merged, contacts and events deduped,
events of quarantined contacts set aside; the frames the scoring reads, and the count of
what happened to each source's rows (returned, for the quality summary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from abmq.tasks import account_links, normalise, quarantine
from abmq.tasks.contact_ranges import StoredEvents
from abmq.tasks.ingest import SourceData
from abmq.tasks.rollup import EVENT_COLUMNS_READ, PERSON_COLUMNS
from abmq.tasks.sources import ACCOUNT_KEY, SOURCES, height, is_id_key

LIST_SOURCES = ("technographics", "intent", "crm_customers", "crm_open_opportunities", "competitors", "opportunities")


@dataclass
class CleanData:
    accounts: pl.DataFrame
    contacts: pl.DataFrame
    events: pl.DataFrame | pl.LazyFrame  # daily files: a lazy scan of the state store (tasks/event_window.py)
    # a scan when read back from the export store: the split reads their per-domain summaries
    technographics: pl.DataFrame | pl.LazyFrame
    intent: pl.DataFrame | pl.LazyFrame
    suppression: dict[str, pl.Series]
    # daily files: `events` as the state store keeps them in contact id order, for the shards
    events_by_contact: StoredEvents | None = None


@dataclass(frozen=True)
class Cleaned:
    clean: CleanData | None  # None once released (`pipeline.Assessment.without_rows`)
    # the sources as published: kept rows released, events set aside here added to quarantine
    sources: dict[str, SourceData]
    # per source: rows used, duplicates merged, rows set aside by rules outside GX
    accounting: dict[str, dict[str, Any]]

    @property
    def orphaned_events(self) -> int:
        return sum(entry["unexpected_count"] for entry in self.accounting["events"]["set_aside"])


def with_optional_columns(frame: pl.DataFrame | pl.LazyFrame, source: str) -> pl.DataFrame | pl.LazyFrame:
    """The source's optional columns an export left out, as empty (typed) columns: every step
    after this one may read them, and the outputs show blanks (an export without owners has
    an empty owner column)."""
    columns = frame.columns if isinstance(frame, pl.DataFrame) else frame.collect_schema().names()
    missing = {name: dtype for name, dtype in SOURCES[source].optional.items() if name not in columns}
    return frame.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in missing.items()) if missing else frame


def keyed_accounts(kept: pl.DataFrame) -> pl.DataFrame:
    """The accounts with their key in `domain` (tasks/sources.py, ACCOUNT_KEY): from here on
    every join, shard and rank is by it; the outputs show the real domain (`published_domain`)."""
    kept = with_optional_columns(kept, "accounts")
    if ACCOUNT_KEY not in kept.columns:
        return kept
    return kept.with_columns(pl.col(ACCOUNT_KEY).alias("domain")).drop(ACCOUNT_KEY)


def usable_events(
    source: SourceData, contacts: pl.DataFrame, quarantined_contacts: pl.DataFrame | None
) -> tuple[pl.DataFrame | pl.LazyFrame, int, int, pl.DataFrame, StoredEvents | None]:
    """(events the scoring reads, their count, duplicates merged, events of quarantined
    contacts set aside, whole, and the same events stored in contact id order, or None). Daily files'
    events stay where they are stored: a lazy scan less the rows taken out, read by each step
    that needs them."""
    if source.window is not None:
        window, merged = normalise.dedupe_window(source.window)
        window, set_aside = normalise.window_of_usable_contacts(window)
        return window.scan().select(EVENT_COLUMNS_READ), window.height, merged, set_aside, window.by_contact()
    # the text no step reads (detail) is left out before 10M rows are filtered twice;
    # set-aside rows are quarantined whole
    events_kept = with_optional_columns(source.kept, "events")
    events, merged = normalise.dedupe_events(events_kept.select("_row", "event_id", "contact_id", "event_type", "occurred_at"))
    events, set_aside = normalise.events_of_usable_contacts(events, contacts, quarantined_contacts)
    if set_aside.height:
        set_aside = events_kept.join(set_aside.select("_row", "quarantine_reasons"), on="_row", how="inner", maintain_order="left")
    return events.select(EVENT_COLUMNS_READ), events.height, merged, set_aside, None


# What the steps after normalising read of a contact: scoring and the roll-up, the links' counts
CONTACT_COLUMNS_READ = (*PERSON_COLUMNS, "account_link")


def usable_contacts(kept: pl.DataFrame | pl.LazyFrame) -> tuple[pl.DataFrame, int]:
    """(contacts de-duplicated, duplicates merged). Read back from the export store as a scan
    (`sources.READ_BACK_AS_SCANS`), only the columns the steps after read are read."""
    if isinstance(kept, pl.DataFrame):
        return normalise.dedupe_contacts(with_optional_columns(kept, "contacts"))
    present = kept.collect_schema().names()
    contacts, merged = normalise.dedupe_scanned_contacts(kept, [c for c in CONTACT_COLUMNS_READ if c in present])
    return with_optional_columns(contacts, "contacts"), merged


def normalise_sources(sources: dict[str, SourceData]) -> Cleaned:
    """Merge duplicate companies, dedupe contacts and events, drop events of quarantined contacts."""
    accounts, accounts_merged = normalise.merge_duplicate_accounts(keyed_accounts(sources["accounts"].kept))
    contacts, contacts_merged = usable_contacts(sources["contacts"].kept)
    events, events_used, events_merged, orphaned, events_by_contact = usable_events(
        sources["events"], contacts, sources["contacts"].quarantined
    )
    published = dict(sources)
    events_set_aside = []
    if orphaned.height:
        events_source = sources["events"]
        published["events"] = events_source.replace(quarantined=pl.concat([events_source.quarantined, orphaned], how="diagonal_relaxed"))
        events_set_aside.append(
            {
                "label": "events of quarantined contacts",
                "severity": "warning",
                "unexpected_count": orphaned.height,
                "why": "their contact was quarantined",
                "examples": quarantine.example_rows(orphaned.drop("quarantine_reasons")),
            }
        )
    accounting: dict[str, dict[str, Any]] = {
        "accounts": {
            "used": accounts.height,
            "merged": accounts_merged,
            "set_aside": [],
            # accounts without a domain, keyed by account_id: lists keyed by domain cannot match them
            "keyed_by_id": accounts.select(is_id_key(pl.col("domain")).sum()).item(),
        },
        "contacts": {"used": contacts.height, "merged": contacts_merged, "set_aside": [], "links": account_links.link_counts(contacts)},
        "events": {"used": events_used, "merged": events_merged, "set_aside": events_set_aside},
    }
    for name in LIST_SOURCES:
        kept = sources[name].kept
        accounting[name] = {"used": height(kept) if kept is not None else 0, "merged": 0, "set_aside": []}
    for name in ("accounts", "contacts", "events"):
        published[name] = published[name].replace(kept=None, window=None)

    def kept(name: str, columns: list[str]) -> pl.DataFrame | pl.LazyFrame:
        frame = sources[name].kept
        if frame is None:
            return pl.DataFrame(schema={c: SOURCES[name].columns[c] for c in columns})
        return with_optional_columns(frame, name).select(columns)

    clean = CleanData(
        accounts=accounts,
        contacts=contacts,
        events=events,
        events_by_contact=events_by_contact,
        technographics=kept("technographics", ["domain", "technology", "first_seen"]),
        intent=kept("intent", ["domain", "topic", "week", "score"]),
        suppression=normalise.suppression_domains(
            {
                "customers": sources["crm_customers"].kept,
                "open_opportunities": sources["crm_open_opportunities"].kept,
                "competitors": sources["competitors"].kept,
            }
        ),
    )
    return Cleaned(clean, published, accounting)
