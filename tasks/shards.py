"""Shards: the contacts of a range of buckets (a hash of the contact id, `event_buckets`),
scored apart, on threads or Dask workers; the accounts scored once from what they add up.

A contact's engagement and lead score depend only on its own events and its account's
firmographics; an account's buying group only on integer sums, maxima, `any` and lists over
its contacts (`rollup.account_totals`, `rollup.engaged_rows`), the same however its contacts
are cut. So a shard scores its contacts and adds up what each account needs of them, and the
process that runs the flow merges those and scores the accounts (`combine`): the same table
as one piece. Shards are cut by contact, not by account, because events carry the contact
id: the state store parts each daily file by bucket once, when it is validated, and a shard
reads only its own buckets' rows, whatever account each contact belongs to that day.
Selection (tiers, capacities) looks across accounts and runs after `combine`.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from abmq.config import Config
from abmq.tasks import rollup, scoring
from abmq.tasks.event_buckets import BUCKETS, BucketedEvents, bucket, part_of, ranges
from abmq.tasks.sources import in_key_order

Events = pl.DataFrame | pl.LazyFrame | BucketedEvents


@dataclass
class Shard:
    number: int
    of: int
    buckets: tuple[int, int]  # its contacts' buckets: the first, and the last + 1
    # lazy: kept on disk by `split` for workers in other processes (`Spill.for_workers`)
    firmographics: pl.DataFrame | pl.LazyFrame  # what a lead score reads of every account
    contacts: pl.DataFrame | pl.LazyFrame  # `rollup.PERSON_COLUMNS` and `_bucket`
    # its contacts' events: the state store's files by bucket (daily files: the shard reads
    # its own buckets), or rows (one export: parted by `split`)
    events: Events


@dataclass
class ShardScores:
    """What a shard gives back: what the accounts need of its contacts, not account scores."""

    contacts: pl.DataFrame | pl.LazyFrame  # lead scores in contact id order (lazy: kept on disk)
    totals: pl.DataFrame  # `rollup.account_totals` of its contacts, per account
    engaged: pl.DataFrame  # `rollup.engaged_rows` of them


def split(
    accounts: pl.DataFrame,
    contacts: pl.DataFrame,
    events: pl.DataFrame | pl.LazyFrame,
    count: int,
    spill: Spill | None = None,
    event_buckets: BucketedEvents | None = None,
) -> list[Shard]:
    """`count` shards of contacts, each a range of buckets. With `event_buckets` (daily files,
    as the state store keeps them) each shard is given the files and reads its own buckets;
    otherwise `events` are parted by their contact's bucket here. Contacts go with only the
    columns scoring reads: every later join copies what it is given (at XL, 10M e-mails and
    link notes twice over).

    With a `spill` for workers in other processes (`Spill.for_workers`), the shards' contacts
    (and events, unless stored by bucket) are written to disk as they are parted, and the
    firmographics once, and each shard carries scans of them: a worker reads its own part,
    and the flow process sends it a query, not rows. One export's events (the columns scoring
    reads) are parted in one streaming pass, in no particular order (every engagement total
    is an integer sum or a maximum: any order adds up the same)."""
    if not 1 <= count <= BUCKETS:
        raise ValueError(f"shards: from 1 to {BUCKETS}, not {count}")
    cut = ranges(count)
    firmographics = scoring.firmographics(accounts)
    contacts = contacts.select(rollup.PERSON_COLUMNS).with_columns(bucket(pl.col("contact_id")).alias("_bucket"))
    if count == 1:
        return [Shard(0, 1, cut[0], firmographics, contacts, event_buckets or events)]
    number, event_number = part_of(pl.col("_bucket"), cut), part_of(bucket(pl.col("contact_id")), cut)
    workers = spill is not None and spill.for_workers
    if workers:
        firmographics, contacts_in = spill.keep(firmographics), spill.parted(contacts.lazy(), number, count)
    else:
        contacts_in = _parts(contacts, number, count)
    if event_buckets is not None:
        events_in: list[Events] = [event_buckets] * count
    elif workers:
        events_in = spill.parted(events.lazy().select(rollup.EVENT_COLUMNS_READ), event_number, count)
    elif isinstance(events, pl.DataFrame):
        events_in = _parts(events, event_number, count)
    else:  # a lazy query: each shard's reads only its contacts' events
        events_in = [events.filter(event_number == n) for n in range(count)]
    return [Shard(n, count, cut[n], firmographics, contacts_in[n], events_in[n]) for n in range(count)]


def _parts(frame: pl.DataFrame, number: pl.Expr, count: int) -> list[pl.DataFrame]:
    """`frame` parted by `number` (0 to `count` - 1), in its rows' order (without the number);
    an empty frame for a part with none."""
    parts = frame.with_columns(number.alias("_part")).partition_by("_part", as_dict=True, include_key=False, maintain_order=True)
    none = frame.clear()
    return [parts.get((n,), none) for n in range(count)]


class Spill(Protocol):
    """Where frames wait on disk while a shard is scored (the flow: `catalog.SpilledRows`)."""

    # True when the shards are scored in other processes that share this disk (a local Dask
    # cluster): the split keeps their inputs on disk too (`split`)
    for_workers: bool

    def keep(self, frame: pl.DataFrame) -> pl.LazyFrame:
        """`frame` off to disk, back as a lazy frame."""
        ...

    def parted(self, rows: pl.LazyFrame, part: pl.Expr, parts: int) -> list[pl.LazyFrame]:
        """`rows` written to disk as they are read, parted by `part` (0 to `parts` - 1), each
        part in the rows' order and back as a lazy frame."""
        ...


# A shard's contacts are scored about this many at a time (a slice: one or more of its
# buckets): the contact-level frames (engagement, contacts with their engagement, the
# roll-up's working columns) live for one slice only. At XL, all in one, they took ~3.5 GiB.
CONTACTS_PER_SLICE = 2_500_000


def score(shard: Shard, config: Config, as_of: dt.date, spill: Spill | None = None) -> ShardScores:
    """A shard's lead scores and what its contacts add up to per account. Its contacts are
    taken in slices of buckets, each with its own events: engagement, lead scores and the
    roll-up's sums per slice, merged after. With a `spill` (the flow), each slice's lead
    scores wait on disk to be written, and so do one export's events, parted by slice as they
    are read; daily files' events are read where the state store keeps them by bucket."""
    contacts = shard.contacts.collect() if isinstance(shard.contacts, pl.LazyFrame) else shard.contacts
    fit = shard.firmographics.collect() if isinstance(shard.firmographics, pl.LazyFrame) else shard.firmographics
    cut = ranges(_slice_count(contacts.height, shard.buckets), *shard.buckets)
    windows = _events_by_slice(shard.events, cut, config, as_of, spill)
    lead_scores, totals, engaged = [], [], []
    for number, (first, end) in enumerate(cut):
        own = contacts if len(cut) == 1 else contacts.filter(pl.col("_bucket").is_between(first, end - 1))
        # in contact id order before engagement is added: a sort then moves fewer columns
        people = rollup.contacts_with_events(in_key_order(own.drop("_bucket"), "contact_id"), windows.pop(number), config, as_of)
        del own
        # merged as they come: most accounts have contacts in every slice
        totals = [rollup.merged_totals([*totals, rollup.account_totals(people, config)])]
        engaged.append(rollup.engaged_rows(people, config))
        scored = scoring.score_contacts(people, fit, config)
        lead_scores.append(scored if spill is None else spill.keep(scored))
        del people, scored  # kept on disk, the last slice's scores need not live on
    return ShardScores(in_id_order(lead_scores), totals[0], pl.concat(engaged, how="vertical"))


def _slice_count(contacts: int, buckets: tuple[int, int]) -> int:
    """Slices of a shard's buckets: about CONTACTS_PER_SLICE contacts each, a bucket at least."""
    return max(1, min(buckets[1] - buckets[0], -(-contacts // CONTACTS_PER_SLICE)))


def _events_by_slice(events: Events, cut: list[tuple[int, int]], config: Config, as_of: dt.date, spill: Spill | None) -> dict:
    """Each slice's events, coded (`rollup.coded_query`). Stored by bucket, a slice's query
    reads its own buckets. Otherwise they are parted by their contact's bucket: on disk with a
    `spill` (the window and its parts are never whole in memory), else in memory. An event of
    no contact of the shard matches none in its slice either, as in one piece."""
    if isinstance(events, BucketedEvents):
        return {n: rollup.coded_query(events.scan(buckets), config, as_of) for n, buckets in enumerate(cut)}
    coded = rollup.coded_query(events, config, as_of)
    if len(cut) == 1:  # read as it is added up (`rollup.contacts_with_events`)
        return {0: coded}
    number = part_of(bucket(pl.col("contact_id")), cut)
    if spill is not None:
        return dict(enumerate(spill.parted(coded, number, len(cut))))
    whole = rollup.in_one_piece(coded)
    return dict(enumerate(_parts(whole, number, len(cut))))


def in_id_order(lead_scores: list[pl.DataFrame | pl.LazyFrame]) -> pl.DataFrame | pl.LazyFrame:
    """Lead scores of several slices or shards (each in contact id order) as one table in
    contact id order. Kept on disk, they are merged as they are written, never all in memory
    (a sort holds them all: at XL 10M contacts' scores twice over)."""
    if len(lead_scores) == 1:
        return lead_scores[0]
    if all(isinstance(part, pl.LazyFrame) for part in lead_scores):
        return functools.reduce(lambda merged, part: merged.merge_sorted(part, key="contact_id"), lead_scores)
    return pl.concat([part.lazy() for part in lead_scores], how="vertical").collect().sort("contact_id", maintain_order=True)


def combine(
    scored: list[ShardScores], accounts: pl.DataFrame, intent_surges: pl.DataFrame, technology_matches: pl.DataFrame, config: Config
) -> tuple[pl.DataFrame | pl.LazyFrame, pl.DataFrame]:
    """(lead scores, account scores) of every shard: the shards' totals and engaged people
    merged into each account's buying group (`rollup.buying_groups`), and the accounts scored
    with their intent surges and technology matches (worked out over every account)."""
    groups = rollup.buying_groups([s.totals for s in scored], [s.engaged for s in scored], config)
    return in_id_order([s.contacts for s in scored]), scoring.score_accounts(accounts, groups, intent_surges, technology_matches, config)
