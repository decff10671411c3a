"""Intermediate layer: merge duplicate companies and records, tie events to usable contacts.

Every row removed here is either merged into another (counted as `duplicates_merged`) or
moved to quarantine with its reason, so `rows in = used + quarantined + merged` holds.
"""

from __future__ import annotations

import polars as pl

from abmq.tasks.event_window import EventWindow, collect
from abmq.vocabulary import FIT_SIGNALS

FIRMOGRAPHICS = FIT_SIGNALS  # the columns whose absence sends an account to enrichment


def _completeness(columns: list[str]) -> pl.Expr:
    return pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in columns])


def merge_duplicate_accounts(accounts: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """One row per canonical domain; the most complete record wins, gaps filled from the rest.

    The order of rows in the export never changes the result (ties break on values). Only
    the rows whose domain may repeat (`repeated_values`) are ranked and merged: at XL that
    is ~10k of 1M, and ranking all of them took 1.8 s.
    """
    value_columns = [c for c in accounts.columns if c not in ("domain", "_row", "_cast_error", "domain_as_given")]
    repeated = repeated_values(accounts.get_column("domain"))
    alone = accounts.filter(~repeated).select(
        "domain", *value_columns, pl.concat_list("domain_as_given").list.drop_nulls().alias("domain_spellings")
    )
    merged = pl.concat([alone, _merged(accounts.filter(repeated), value_columns)], how="vertical").sort("domain")
    return merged, accounts.height - merged.height


def _merged(accounts: pl.DataFrame, value_columns: list[str]) -> pl.DataFrame:
    """`merge_duplicate_accounts` of rows whose domains may repeat."""
    ranked = accounts.with_columns(_completeness=_completeness([c for c in (*FIRMOGRAPHICS, "name") if c in accounts.columns]))
    tie_break = [c for c in ("account_id", "domain_as_given", "name") if c in accounts.columns]
    ranked = ranked.sort(
        ["domain", "_completeness", *tie_break],
        descending=[False, True, *([False] * len(tie_break))],
        nulls_last=True,
    )
    return ranked.group_by("domain", maintain_order=True).agg(
        *[pl.col(c).drop_nulls().first().alias(c) for c in value_columns],
        # an account keyed by its id has no spelling of a domain (and may have rows without one)
        pl.col("domain_as_given").drop_nulls().unique().sort().alias("domain_spellings"),
    )


def repeated_hashes(hashes: pl.Series) -> pl.Series:
    """The 64-bit hashes that occur more than once, in order: sorted and compared with their
    neighbours. At XL's 37.5M event ids polars' sort (both cores) takes 0.6 s, numpy's 3.4 s
    and a hash table (`is_duplicated`) 6.5 s."""
    ordered = hashes.sort()
    return ordered.filter(ordered == ordered.shift(1)).unique(maintain_order=True).rename("hash")


def repeated_values(values: pl.Series) -> pl.Series:
    """Which values may occur more than once, as a mask (`repeated_hashes`); a hash collision
    only adds a candidate, which the caller confirms on the values themselves."""
    hashes = values.hash(seed=0)
    return hashes.is_in(repeated_hashes(hashes).implode())


def rows_not_kept(candidates: pl.DataFrame, key: str, order_by: list[str]) -> pl.Series:
    """`_row` of the rows a de-duplication drops, from every row whose key may repeat: per
    repeated key the first by `order_by` (then `_row`) is kept."""
    repeated = candidates.filter(pl.col(key).is_duplicated())
    if repeated.is_empty():
        return pl.Series("_row", [], pl.Int64)
    kept = repeated.sort([key, *order_by, "_row"], nulls_last=True).unique(key, keep="first", maintain_order=True).get_column("_row")
    return repeated.get_column("_row").filter(~repeated.get_column("_row").is_in(kept.implode()))


def _dedupe_by_key(frame: pl.DataFrame, key: str, order_by: list[str]) -> tuple[pl.DataFrame, int]:
    """Keep one row per key. Only the (rare) repeated keys are sorted to pick the row kept,
    and the frame is filtered once: at 10M events every extra pass costs seconds."""
    maybe = repeated_values(frame.get_column(key))
    if not maybe.any():
        return frame, 0
    dropped = rows_not_kept(frame.filter(maybe), key, order_by)
    if dropped.is_empty():
        return frame, 0
    deduped = frame.filter(~pl.col("_row").is_in(dropped.implode()))
    return deduped, frame.height - deduped.height


# Of a repeated contact id's rows the most complete is kept, then by e-mail and title.
_CONTACT_RANK = ["title", "department", "seniority", "email"]
_CONTACT_ORDER = ["_completeness", "email", "title"]


def dedupe_contacts(contacts: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    scored = contacts.with_columns(_completeness=-_completeness(_CONTACT_RANK))
    deduped, merged = _dedupe_by_key(scored, "contact_id", _CONTACT_ORDER)
    return deduped.drop("_completeness"), merged


def dedupe_scanned_contacts(contacts: pl.LazyFrame, columns: list[str]) -> tuple[pl.DataFrame, int]:
    """`dedupe_contacts` of a scan, reading `columns` of it (with `contact_id` and `_row`), and
    the columns it ranks a repeated id's rows by only for those rows."""
    frame = contacts.select(list(dict.fromkeys(["_row", "contact_id", *columns]))).collect()
    maybe = repeated_values(frame.get_column("contact_id"))
    if not maybe.any():
        return frame, 0
    rows = frame.get_column("_row").filter(maybe)
    candidates = contacts.filter(pl.col("_row").is_in(rows.implode())).select("_row", "contact_id", *_CONTACT_RANK).collect()
    dropped = rows_not_kept(candidates.with_columns(_completeness=-_completeness(_CONTACT_RANK)), "contact_id", _CONTACT_ORDER)
    return frame.filter(~pl.col("_row").is_in(dropped.implode())), dropped.len()


EVENT_TIE_BREAK = ["occurred_at", "event_type", "contact_id"]  # which of two events with one id is kept


def dedupe_events(events: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    return _dedupe_by_key(events, "event_id", EVENT_TIE_BREAK)


def dedupe_window(window: EventWindow) -> tuple[EventWindow, int]:
    """`dedupe_events` on a window read where it lies: only the event ids' hashes are read in
    full (8 bytes a row), then the few rows whose hash repeats."""
    event_hash = pl.col("event_id").hash(seed=0)
    repeated = repeated_hashes(collect(window.scan().select(event_hash.alias("hash"))).get_column("hash"))
    if repeated.is_empty():
        return window, 0
    candidates = collect(window.scan().filter(event_hash.is_in(repeated.implode())).select("_row", "event_id", *EVENT_TIE_BREAK))
    dropped = rows_not_kept(candidates, "event_id", EVENT_TIE_BREAK)
    return window.without(dropped), dropped.len()


def unusable_contact_ids(contacts: pl.DataFrame | pl.LazyFrame, quarantined_contacts: pl.DataFrame | None) -> pl.Series:
    """Ids of quarantined contacts that have no usable row (de-duplication keeps one row per
    id, so `contacts` may be the kept rows before or after it). Events are compared against
    these few rather than the million usable ones."""
    if quarantined_contacts is None or quarantined_contacts.is_empty():
        return pl.Series("contact_id", [], pl.String)
    unusable = quarantined_contacts.get_column("contact_id").unique()
    # the usable ids are probed against the few quarantined ones, not the other way round:
    # a set of 10M ids took 3.5 s at XL
    usable = contacts.lazy().select("contact_id").collect().to_series()
    also_usable = usable.filter(usable.is_in(unusable.implode()))
    return unusable.filter(~unusable.is_in(also_usable.implode()))


QUARANTINED_CONTACT = "contact quarantined: see quarantine/contacts.parquet"


def events_of_usable_contacts(
    events: pl.DataFrame, contacts: pl.DataFrame, quarantined_contacts: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events kept, events quarantined because their contact was quarantined)."""
    unusable = unusable_contact_ids(contacts, quarantined_contacts)
    if unusable.is_empty():
        return events, events.clear().with_columns(pl.lit(None, pl.String).alias("quarantine_reasons"))
    orphaned = events.select(pl.col("contact_id").is_in(unusable.implode())).to_series()
    set_aside = events.filter(orphaned).with_columns(pl.lit(QUARANTINED_CONTACT).alias("quarantine_reasons"))
    return events.filter(~orphaned), set_aside


def window_of_usable_contacts(window: EventWindow) -> tuple[EventWindow, pl.DataFrame]:
    """`events_of_usable_contacts` on a window: (the window less those events, the events
    set aside, whole). Those rows were read with the window checks (`unusable_contact_ids`
    of the same contacts); only the ones still in the window are set aside."""
    still_in = window.of_quarantined_contacts.filter(~pl.col("_row").is_in(window.left_out.implode()))
    as_scanned = pl.DataFrame(schema=window.scan().collect_schema())  # the columns as `scan` gives them
    set_aside = pl.concat([as_scanned, still_in], how="diagonal_relaxed")
    set_aside = set_aside.drop("file").with_columns(pl.lit(QUARANTINED_CONTACT).alias("quarantine_reasons"))
    return window.without(set_aside.get_column("_row")), set_aside


def suppression_domains(lists: dict[str, pl.DataFrame | None]) -> dict[str, pl.Series]:
    """Canonical domains per suppression list (customers, open opportunities, competitors)."""
    return {
        name: (frame.get_column("domain").drop_nulls().unique().sort() if frame is not None else pl.Series("domain", [], pl.String))
        for name, frame in lists.items()
    }
