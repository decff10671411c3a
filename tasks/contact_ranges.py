"""Contacts and their events cut by ranges of contact ids: how shards and slices are cut, and
how the state store keeps daily files for them.

Events carry the contact id, so a range of ids names a set of contacts and all their events,
whatever account each contact belongs to that day. The state store keeps each daily file's
kept rows (the columns scoring reads) in contact id order (`in_contact_order`), in row groups
whose statistics give each group's first and last id: a query for a range of ids reads only
the row groups that overlap it (`StoredEvents.scan`), and the ranges can move from run to
run, as contacts come and go, without the files being parted again. Ids compare as text,
byte by byte, as polars sorts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from abmq.tasks.rollup import EVENT_COLUMNS_READ
from abmq.tasks.sources import SOURCES

COLUMNS = ("_row", *EVENT_COLUMNS_READ)  # what a stored file keeps of each event
# Row groups per stored file, with the statistics a range of ids skips them by: at XL a quarter
# of the ids of the window's 90 files read in 0.6 s, all of them in 1.7 s
ROW_GROUPS = 64
# How stored files are laid out: a store laid out otherwise is written again (`event_store`)
LAYOUT = f"contact_id order, {ROW_GROUPS} row groups"

# A range of contact ids: from the first (None: from the lowest) up to, not including, the
# second (None: to the end). `part_of` puts a missing id in the first range.
IdRange = tuple[str | None, str | None]
EVERY_ID: IdRange = (None, None)


def in_range(ids: pl.Expr, ids_from: IdRange) -> pl.Expr:
    """Whether ids are in `ids_from` (a missing id: in none, as it names no contact), as plain
    comparisons: a Parquet scan skips the row groups they rule out."""
    first, end = ids_from
    inside = ids.is_not_null()
    if first is not None:
        inside = inside & (ids >= first)
    if end is not None:
        inside = inside & (ids < end)
    return inside


def cut(sorted_ids: pl.Series, parts: int, within: IdRange = EVERY_ID) -> list[IdRange]:
    """`within` cut into `parts` ranges holding about as many of `sorted_ids` (ids in that
    range, in order) each; an id given twice is in one range. Empty ranges when there are
    fewer distinct ids than parts."""
    if parts == 1:
        return [within]
    present = sorted_ids.drop_nulls()
    if present.is_empty():
        bounds = [within[0], *[within[1] or "" for _ in range(parts - 1)], within[1]]
    else:
        bounds = [within[0], *[present[present.len() * n // parts] for n in range(1, parts)], within[1]]
    return [(bounds[n], bounds[n + 1]) for n in range(parts)]


def part_of(ids: pl.Expr, ranges: list[IdRange]) -> pl.Expr:
    """Which of `ranges` (consecutive, as `cut` gives them) each id falls in (0, 1, …)."""
    if len(ranges) == 1:
        return pl.lit(0, pl.Int64)
    return pl.sum_horizontal([(ids >= first).fill_null(False).cast(pl.Int64) for first, _ in ranges[1:]])


def in_contact_order(kept: pl.DataFrame) -> pl.DataFrame:
    """A daily file's kept rows as the store keeps them for scoring: the columns scoring reads,
    in contact id order (and file order within a contact)."""
    return kept.select(COLUMNS).sort("contact_id", "_row", nulls_last=False)


@dataclass(frozen=True)
class StoredFile:
    """One daily file's events in contact id order, as a shard reads them."""

    path: str
    left_out: pl.Series  # the file's rows the window leaves out (`_row`, numbered in the file)


@dataclass(frozen=True)
class StoredEvents:
    """The scoring window's events in the state store's files in contact id order, less the
    rows the window leaves out (duplicates, events of no contact or of a quarantined one).
    Small to send to a worker (paths and row numbers); a shard reads only its own ids' rows."""

    files: tuple[StoredFile, ...]

    def scan(self, ids_from: IdRange) -> pl.LazyFrame:
        """Events of contacts whose id is in `ids_from`, the columns `rollup.coded_query`
        reads, in no particular order."""
        parts = []
        for file in self.files:
            rows = pl.scan_parquet(file.path)
            if ids_from != EVERY_ID:  # events with no contact id name no contact
                rows = rows.filter(in_range(pl.col("contact_id"), ids_from))
            if file.left_out.len():
                rows = rows.filter(~pl.col("_row").is_in(file.left_out.implode()))
            parts.append(rows.select(EVENT_COLUMNS_READ))
        if not parts:
            return pl.LazyFrame(schema={name: SOURCES["events"].required[name] for name in EVENT_COLUMNS_READ})
        return pl.concat(parts, how="vertical_relaxed")
