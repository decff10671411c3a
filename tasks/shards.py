"""Shards: the contacts of a range of contact ids (`contact_ranges`), scored apart, on
threads or Dask workers; the accounts scored once, from what their contacts add up to.

A contact's engagement and lead score depend only on its own events and its account's
firmographics; an account's buying group only on integer sums, maxima, `any` and lists over
its contacts (`rollup.account_totals`, `rollup.engaged_rows`), the same however its contacts
are cut. So a shard scores its contacts and adds up what each account needs of them, and the
process that runs the flow merges those and scores the accounts (`combine`): the same table
as one piece. Shards are cut by contact, not by account, because events carry the contact
id: the state store keeps each daily file in contact id order, once, when it is validated,
and a shard reads only its own ids' rows, whatever account each contact belongs to that day.
Selection (tiers, capacities) looks across accounts and runs after `combine`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from abmq.config import Config
from abmq.tasks import rollup, scoring
from abmq.tasks.contact_ranges import EVERY_ID, IdRange, StoredEvents, cut, part_of

Events = pl.DataFrame | pl.LazyFrame | StoredEvents


@dataclass
class Shard:
    number: int
    of: int
    contact_ids: IdRange  # the range of contact ids it scores
    # lazy: kept on disk by `split` for workers in other processes (`Spill.for_workers`)
    firmographics: pl.DataFrame | pl.LazyFrame  # what a lead score reads of every account
    contacts: pl.DataFrame | pl.LazyFrame  # `rollup.PERSON_COLUMNS`
    # its contacts' events: the state store's files in contact id order (daily files: the
    # shard reads its own ids' rows), or rows (one export: parted by `split`)
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
    events_by_contact: StoredEvents | None = None,
) -> list[Shard]:
    """`count` shards of contacts, each a range of contact ids holding about as many contacts
    (in id order: each shard's lead scores follow the one before's). With `events_by_contact`
    (daily files, as the state store keeps them) each shard is given the files and reads its
    own ids' rows; otherwise `events` are parted by their contact id here. Contacts go with
    only the columns scoring reads: every later join copies what it is given (at XL, 10M
    e-mails and link notes twice over).

    With a `spill` for workers in other processes (`Spill.for_workers`), the shards' contacts
    (and events, unless stored in contact order) are written to disk as they are parted, and
    the firmographics once, and each shard carries scans of them: a worker reads its own
    part, and the flow process sends it a query, not rows. One export's events (the columns
    scoring reads) are parted in one streaming pass, in no particular order (every engagement
    total is an integer sum or a maximum: any order adds up the same)."""
    if count < 1:
        raise ValueError(f"shards must be 1 or more, not {count}")
    firmographics = scoring.firmographics(accounts)
    contacts = contacts.select(rollup.PERSON_COLUMNS)
    if count == 1:
        return [Shard(0, 1, EVERY_ID, firmographics, contacts, events_by_contact or events)]
    ranges = cut(_sorted_ids(contacts), count)
    number = part_of(pl.col("contact_id"), ranges)
    workers = spill is not None and spill.for_workers
    if workers:
        firmographics, contacts_in = spill.keep(firmographics), spill.parted(contacts.lazy(), number, count)
    else:
        contacts_in = _parts(contacts, number, count)
    if events_by_contact is not None:
        events_in: list[Events] = [events_by_contact] * count
    elif workers:
        events_in = spill.parted(events.lazy().select(rollup.EVENT_COLUMNS_READ), number, count)
    elif isinstance(events, pl.DataFrame):
        events_in = _parts(events, number, count)
    else:  # a lazy query: each shard's reads only its contacts' events
        events_in = [events.filter(number == n) for n in range(count)]
    return [Shard(n, count, ranges[n], firmographics, contacts_in[n], events_in[n]) for n in range(count)]


def _sorted_ids(contacts: pl.DataFrame) -> pl.Series:
    ids = contacts.get_column("contact_id")
    return ids if ids.is_sorted() else ids.sort()


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


# A shard's contacts are scored this many at a time (a slice: a range of ids): the
# contact-level frames (engagement, contacts with their engagement, the roll-up's working
# columns) live for one slice only. At XL, all in one, they took ~3.5 GiB at once.
CONTACTS_PER_SLICE = 2_500_000


def score(shard: Shard, config: Config, as_of: dt.date, spill: Spill | None = None) -> ShardScores:
    """A shard's lead scores and what its contacts add up to per account. Its contacts are
    taken in slices, ranges of ids, each with its own events: engagement, lead scores and the
    roll-up's sums per slice, merged after. With a `spill` (the flow), each slice's lead
    scores wait on disk to be written, and so do one export's events, parted by slice as they
    are read; daily files' events are read where the state store keeps them, each slice its
    own ids' rows."""
    contacts = shard.contacts.collect() if isinstance(shard.contacts, pl.LazyFrame) else shard.contacts
    fit = shard.firmographics.collect() if isinstance(shard.firmographics, pl.LazyFrame) else shard.firmographics
    order = _id_order(contacts)
    ids = contacts.get_column("contact_id") if order is None else contacts.get_column("contact_id").gather(order)
    slices = cut(ids, max(1, -(-contacts.height // CONTACTS_PER_SLICE)), shard.contact_ids)
    starts = [0, *ids.search_sorted(pl.Series([first for first, _ in slices[1:]], dtype=pl.String), side="left").to_list(), ids.len()]
    del ids
    windows = _events_by_slice(shard.events, slices, config, as_of, spill)
    lead_scores, totals, engaged = [], [], []
    for number in range(len(slices)):
        own = _in_id_order(contacts, order, starts[number], starts[number + 1] - starts[number])
        people = rollup.contacts_with_events(own, windows.pop(number), config, as_of)
        del own
        # merged as they come: most accounts have contacts in every slice
        totals = [rollup.merged_totals([*totals, rollup.account_totals(people, config)])]
        engaged.append(rollup.engaged_rows(people, config))
        scored = scoring.score_contacts(people, fit, config)
        lead_scores.append(scored if spill is None else spill.keep(scored))
        del people, scored  # kept on disk, the last slice's scores need not live on
    return ShardScores(one_after_another(lead_scores), totals[0], pl.concat(engaged, how="vertical", rechunk=False))


def _id_order(contacts: pl.DataFrame) -> pl.Series | None:
    """The contacts' positions in contact id order; None when they come in it. Exports seldom
    do, and sorting a shuffled XL export's contacts took 6.7 s and a copy of every column
    (+2 GiB) alive through scoring. The ids are sorted alone and found by a join: `arg_sort`
    on 10M text ids took 6.1 s, this 3.1 s."""
    ids = contacts.get_column("contact_id")
    if ids.is_sorted():
        return None
    positions = (
        ids.sort()
        .to_frame()
        .join(contacts.select("contact_id").with_row_index("_position"), on="contact_id", how="left", maintain_order="left")
    )
    if positions.height != contacts.height or positions.get_column("_position").null_count():  # ids missing or repeated
        return ids.arg_sort()
    return positions.get_column("_position")


def _in_id_order(contacts: pl.DataFrame, order: pl.Series | None, start: int, length: int) -> pl.DataFrame:
    """Rows `start` to `start + length` of `contacts` in contact id order (`_id_order`)."""
    return contacts.slice(start, length) if order is None else contacts[order.slice(start, length)]


def _events_by_slice(events: Events, slices: list[IdRange], config: Config, as_of: dt.date, spill: Spill | None) -> dict:
    """Each slice's events, coded (`rollup.coded_query`). Stored in contact order, a slice's
    query reads the row groups of its own ids. Otherwise they are parted by their contact id:
    on disk with a `spill` (the window and its parts are never whole in memory), else in
    memory. An event of no contact of the shard matches none in its slice either, as in one
    piece."""
    if isinstance(events, StoredEvents):
        return {n: rollup.coded_query(events.scan(ids_from), config, as_of) for n, ids_from in enumerate(slices)}
    coded = rollup.coded_query(events, config, as_of)
    if len(slices) == 1:  # read as it is added up (`rollup.contacts_with_events`)
        return {0: coded}
    number = part_of(pl.col("contact_id"), slices)
    if spill is not None:
        return dict(enumerate(spill.parted(coded, number, len(slices))))
    return dict(enumerate(_parts(rollup.in_one_piece(coded), number, len(slices))))


def one_after_another(lead_scores: list[pl.DataFrame | pl.LazyFrame]) -> pl.DataFrame | pl.LazyFrame:
    """Lead scores of consecutive ranges of contact ids (slices, or shards), each in id order,
    as one table in id order: one after the other. Kept on disk, they are read as they are
    written, never all in memory."""
    return lead_scores[0] if len(lead_scores) == 1 else pl.concat(lead_scores, how="vertical")


def combine(
    scored: list[ShardScores], accounts: pl.DataFrame, intent_surges: pl.DataFrame, technology_matches: pl.DataFrame, config: Config
) -> tuple[pl.DataFrame | pl.LazyFrame, pl.DataFrame]:
    """(lead scores, account scores) of every shard: the shards' totals and engaged people
    merged into each account's buying group (`rollup.buying_groups`), and the accounts scored
    with their intent surges and technology matches (worked out over every account). Takes
    the totals and engaged people over, as `buying_groups` does with its lists: the shards'
    results live on in the flow's task futures, and at XL the 1M accounts' totals and 2.8M
    engaged people lived on through selection, where the flow process peaked."""
    totals, engaged = [s.totals for s in scored], [s.engaged for s in scored]
    for shard in scored:
        shard.totals, shard.engaged = shard.totals.clear(), shard.engaged.clear()
    groups = rollup.buying_groups(totals, engaged, config)
    del totals
    return one_after_another([s.contacts for s in scored]), scoring.score_accounts(
        accounts, groups, intent_surges, technology_matches, config
    )
