"""Account shards: the roll-up and scoring of one slice of accounts (hash of the domain).

Every account's engagement, roll-up and score depends only on its own rows and the as-of
date, so shards can be scored apart, on threads or on Dask workers, and concatenated into
the single-process result. The intent surges and technology matches, per domain, are worked
out before the split (they share the intent provider's latest week) and split with the
accounts. Selection (tiers, capacities) looks across accounts and runs after the concat.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from abmq.config import Config
from abmq.tasks import rollup, scoring


@dataclass
class Shard:
    number: int
    of: int
    # lazy: kept on disk by `split` for workers in other processes (`Spill.for_workers`)
    accounts: pl.DataFrame | pl.LazyFrame
    contacts: pl.DataFrame | pl.LazyFrame
    events: pl.DataFrame | pl.LazyFrame  # lazy: read from the state store by the shard's own query
    # per domain, worked out over every account before the split (`rollup.intent_surges`,
    # `rollup.technology_matches`): the sources' rows need not live on through scoring
    intent_surges: pl.DataFrame
    technology_matches: pl.DataFrame


def shard_number(count: int) -> pl.Expr:
    """Which shard a domain's rows go to. Only the driver assigns shards, so the hash need
    not be stable across polars versions; results never depend on the assignment."""
    return (pl.col("domain").hash(seed=0) % count).cast(pl.Int64)


def split(
    accounts: pl.DataFrame,
    contacts: pl.DataFrame,
    events: pl.DataFrame | pl.LazyFrame,
    intent_surges: pl.DataFrame,
    technology_matches: pl.DataFrame,
    count: int,
    spill: Spill | None = None,
) -> list[Shard]:
    """`count` shards; events follow their contact's account. Lazy events (daily files) stay
    lazy: each shard's query reads only its contacts' events. Contacts go with only the
    columns scoring reads: every later join copies what it is given (at XL, 10M e-mails and
    link notes twice over).

    With a `spill` for workers in other processes (`Spill.for_workers`), each shard's
    accounts, contacts and events are written to disk as they are parted, and the shard
    carries scans of them: each worker reads its own part, and the flow process sends it a
    query, not rows (at XL on a local Dask cluster it held every shard's rows and their
    serialised copies at once). The events (the columns scoring reads) are parted in one
    streaming pass over the window, in no particular order (every engagement total is an
    integer sum or a maximum: any order adds up the same); a query of the window per shard
    made each worker read all of it (at XL 8 shards read 8 windows: the same time on 2
    workers, ~1 GiB more a worker). Every event names a usable contact by now, so when no two
    contacts' ids share a 64-bit hash, the hash finds an event's contact (`event_key`): at XL
    a join on it took 7.0 s, on the text ids 10.7 s, and keeping the window's order 16.2 s."""
    contacts = contacts.select(rollup.PERSON_COLUMNS)
    if count == 1:
        return [Shard(0, 1, accounts, contacts, events, intent_surges, technology_matches)]
    number = shard_number(count)
    surges, matches = _parts(intent_surges, number, count), _parts(technology_matches, number, count)
    if spill is not None and spill.for_workers:
        accounts_in, contacts_in = spill.parted(accounts.lazy(), number, count), spill.parted(contacts.lazy(), number, count)
        key = event_key(contacts)
        contact_shard = contacts.select(key.alias("_key"), number.alias("_shard"))
        events_keyed = events.lazy().select(rollup.EVENT_COLUMNS_READ).with_columns(key.alias("_key")).join(contact_shard.lazy(), on="_key")
        events_in = [part.drop("_key", "_shard") for part in spill.parted(events_keyed, pl.col("_shard"), count)]
    else:
        accounts_in, contacts_in = _parts(accounts, number, count), _parts(contacts, number, count)
        contact_shard = contacts.select("contact_id", number.alias("_shard"))
        if isinstance(events, pl.DataFrame):
            # events follow their contact (every event's contact is a usable contact by now)
            events_in = _parts(events.join(contact_shard, on="contact_id", how="inner", maintain_order="left"), pl.col("_shard"), count)
        else:
            events_in = [
                events.join(contact_shard.filter(pl.col("_shard") == n).select("contact_id").lazy(), on="contact_id", how="semi")
                for n in range(count)
            ]
    return [Shard(n, count, accounts_in[n], contacts_in[n], events_in[n], surges[n], matches[n]) for n in range(count)]


def event_key(contacts: pl.DataFrame) -> pl.Expr:
    """What an event is paired with its contact by, to follow it to its shard: the contact id's
    64-bit hash, or the id itself when two of `contacts` share a hash (or an id)."""
    hashed = pl.col("contact_id").hash(seed=0)
    return hashed if contacts.select(hashed.n_unique()).item() == contacts.height else pl.col("contact_id")


def _parts(frame: pl.DataFrame, number: pl.Expr, count: int) -> list[pl.DataFrame]:
    """`frame` parted by shard `number`, in its rows' order (without the number); an empty frame
    for a shard with none."""
    parts = frame.with_columns(number.alias("_shard")).partition_by("_shard", as_dict=True, include_key=False, maintain_order=True)
    none = frame.drop("_shard", strict=False).clear()
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


# A shard's contacts are scored this many at a time: the contact-level frames (engagement,
# contacts with their engagement, the roll-up's working columns) live for one slice only.
CONTACTS_PER_SLICE = 2_500_000


def score(shard: Shard, config: Config, as_of: dt.date, spill: Spill | None = None) -> tuple[pl.DataFrame | pl.LazyFrame, pl.DataFrame]:
    """(contact lead scores, account scores) of one shard's accounts. Its contacts are taken
    in slices of contact ids, each with its own events: engagement, lead scores and the
    roll-up's sums per slice, merged after (`rollup.buying_groups`). At XL, all in one slice,
    the contact-level frames took ~3.5 GiB at once. With a `spill` (the flow on threads), the
    window's events are parted by slice on disk as they are read, and each slice's lead scores
    wait there to be written; then the scores come back as one lazy frame."""
    if isinstance(shard.contacts, pl.LazyFrame):  # kept on disk by `split` for workers
        shard = dataclasses.replace(shard, accounts=shard.accounts.collect(), contacts=shard.contacts.collect())
    contacts, order = shard.contacts, _id_order(shard.contacts)  # a slice is a range of ids
    slices = _contact_slices(contacts.height, CONTACTS_PER_SLICE)
    first_ids = [_in_id_order(contacts, order, start, 1).item(0, "contact_id") for start, _ in slices[1:]]
    windows = _events_by_slice(rollup.coded_query(shard.events, config, as_of), first_ids, spill)
    contact_scores, totals, engaged = [], [], []
    for number, (start, length) in enumerate(slices):
        people = rollup.contacts_with_events(_in_id_order(contacts, order, start, length), windows.pop(number), config, as_of)
        # merged as they come: most accounts have contacts in every slice
        totals = [rollup.merged_totals([*totals, rollup.account_totals(people, config)])]
        engaged.append(rollup.engaged_rows(people, config))
        scored = scoring.score_contacts(people, shard.accounts, config)
        contact_scores.append(scored if spill is None else spill.keep(scored))
        del people, scored  # kept on disk, the last slice's scores need not live through the roll-up
    buying_groups = rollup.buying_groups(totals, engaged, config)
    account_scores = scoring.score_accounts(shard.accounts, buying_groups, shard.intent_surges, shard.technology_matches, config)
    return pl.concat(contact_scores, how="vertical"), account_scores


def _contact_slices(contacts: int, per_slice: int) -> list[tuple[int, int]]:
    """(start, length) of each slice of `contacts` rows; one (empty) slice for none."""
    count = max(1, -(-contacts // per_slice))
    bounds = [contacts * n // count for n in range(count + 1)]
    return [(bounds[n], bounds[n + 1] - bounds[n]) for n in range(count)]


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


def _events_by_slice(events: pl.LazyFrame, first_ids: list[str], spill: Spill | None) -> dict[int, pl.DataFrame | pl.LazyFrame]:
    """`events` (coded) parted by the slice of contacts whose range of ids their contact id
    falls in (`first_ids`: the first id of each slice after the first; a missing id: the
    first). An event of no contact of the shard matches none in its slice either, as in one
    piece. Parted in memory, the whole window and its parts lived at once (at XL ~1 GiB each);
    parted on disk, neither does."""
    if not first_ids:  # one slice: read as it is added up (`rollup.contacts_with_events`)
        return {0: events}
    number = pl.sum_horizontal([(pl.col("contact_id") >= first).fill_null(False).cast(pl.Int32) for first in first_ids])
    if spill is not None:
        return dict(enumerate(spill.parted(events, number, len(first_ids) + 1)))
    whole = rollup.in_one_piece(events)
    none = whole.clear()
    parts = whole.with_columns(number.alias("_slice")).partition_by("_slice", as_dict=True, include_key=False, maintain_order=True)
    del whole
    return {n: parts.pop((n,), none) for n in range(len(first_ids) + 1)}


def combine(scored: list[tuple[pl.DataFrame | pl.LazyFrame, pl.DataFrame]]) -> tuple[pl.DataFrame | pl.LazyFrame, pl.DataFrame]:
    """The shards' results as one table each, in the single-process order."""
    if len(scored) == 1:  # already in that order; a concat and sort would copy 10M contacts
        return scored[0]
    contact_scores = [c for c, _ in scored]
    if all(isinstance(c, pl.LazyFrame) for c in contact_scores):
        # kept on disk, each shard's in contact id order (`score`): merged as they are written,
        # never all in memory (a sort holds them all, at XL 10M contacts' scores twice over)
        contacts = functools.reduce(lambda merged, shard: merged.merge_sorted(shard, key="contact_id"), contact_scores)
    else:
        contacts = pl.concat(contact_scores, how="vertical").sort("contact_id")
    accounts = pl.concat([a for _, a in scored], how="vertical").sort("domain")
    return contacts, accounts
