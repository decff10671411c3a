"""Contact engagement and its roll-up to accounts (buying groups, trend, intent, technology).

All windows are counted in calendar days ending on, and including, the as-of date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import polars.selectors as cs

from abmq.config import Config
from abmq.tasks.sources import in_key_order
from abmq.tasks.staging import once_per_value_beside

WEIGHT_UNITS = 1_000_000


def window_start(as_of: dt.date, days: int) -> dt.date:
    """First day of the `days`-day window that ends on (and includes) `as_of`."""
    return as_of - dt.timedelta(days=days - 1)


REPORT_WEEKS = 12  # weekly engagement chart of the top accounts


def first_day_read(config: Config, as_of: dt.date) -> dt.date:
    """The earliest event day any step looks at: the lookback and trend windows, and the
    report's weekly chart (from the Monday REPORT_WEEKS - 1 weeks before as-of's week)."""
    chart_from = as_of - dt.timedelta(days=as_of.weekday()) - dt.timedelta(weeks=REPORT_WEEKS - 1)
    return min(
        window_start(as_of, config.lead_scoring.engagement.lookback_days),
        window_start(as_of, 2 * config.account_scoring.trend.window_days),
        chart_from,
    )


# Contact engagement adds up its events a slice of contacts at a time: each slice's per-event
# columns (~20 integers a row) are made, summed and let go before the next.
ENGAGEMENT_SLICE_ROWS = 2_000_000


def contact_engagement(events: pl.LazyFrame | pl.DataFrame, config: Config, as_of: dt.date) -> pl.DataFrame:
    """Per contact: events of each type the config knows in the lookback window, engagement
    points (capped as the reference model says), last activity, points in the two trend
    windows and the decayed engagement (`decayed_engagement`).

    Each event is read as its contact, a number for its type, its age in days and its time.
    Each contact's events are made adjacent (`_in_contact_order`), each event's contribution
    to every column is worked out, and a contact's totals are running sums read at its last
    row (maxima over the sorted groups). At XL (37.5M events by 6.4M contacts) a hash group-by
    into millions of groups over the text columns cost as much and held 1.5 GiB more. Every
    total is an integer (counts, points, decay weights in millionths), so any order adds up
    the same. Rows come out in no particular order: `contacts_with_engagement` orders them."""
    return engagement_of_coded(in_one_piece(coded_query(events, config, as_of)), config, as_of)


def _engagement_codes(config: Config, as_of: dt.date) -> tuple[dt.date, _EventCodes]:
    rules, trend = config.lead_scoring.engagement, config.account_scoring.trend
    earliest = min(window_start(as_of, rules.lookback_days), window_start(as_of, 2 * trend.window_days))
    return earliest, _EventCodes(config, as_of, (as_of - earliest).days)


EVENT_COLUMNS_READ = ("contact_id", "event_type", "occurred_at")  # what `coded_query` reads of an event


def coded_query(events: pl.LazyFrame | pl.DataFrame, config: Config, as_of: dt.date) -> pl.LazyFrame:
    """The events engagement reads (the lookback and trend windows), each as its contact, a
    number for its type (`_type`), its age in days (`_age`) and its time; not yet run."""
    earliest, coded = _engagement_codes(config, as_of)
    return (
        events.lazy()
        .filter(pl.col("occurred_at").dt.date().is_between(earliest, as_of))
        .select("contact_id", coded.type_code.alias("_type"), coded.age.alias("_age"), "occurred_at")
    )


def in_one_piece(events: pl.LazyFrame) -> pl.DataFrame:
    """`events` collected by the streaming engine, in one piece: it gives one per file read, and
    a gather across 354 pieces took 6x as long at XL."""
    return events.collect(engine="streaming").rechunk()


def engagement_of_coded(in_window: pl.DataFrame, config: Config, as_of: dt.date, by_type: bool = True) -> pl.DataFrame:
    """`contact_engagement` of `coded_query`'s rows (all of them, or every event of some contacts).
    Takes the frame over: pass it on without keeping a reference, and it is let go once in
    contact order. Without `by_type`: the weights `decayed_by_type` reads instead of it (see
    `_EngagementTotals.finished`)."""
    totals = _EngagementTotals(config, as_of)
    by_contact = _in_contact_order(in_window)
    del in_window
    counts = pl.concat(
        [
            _contact_totals(part.lazy().select("contact_id", "_last", *totals.per_event), totals.summed, totals.maxed)
            for part in _slices_of_whole_contacts(by_contact, ENGAGEMENT_SLICE_ROWS)
        ]
    ).select("contact_id", *totals.made)
    return totals.finished(counts.lazy(), by_type).collect()


def check_hash(ids: pl.Expr) -> pl.Expr:
    """An id's second hash, compared where the first pairs an event with a contact
    (`contacts_with_events`)."""
    return ids.hash(seed=1).alias("_id_check")


def contacts_with_events(contacts: pl.DataFrame, in_window: pl.DataFrame | pl.LazyFrame, config: Config, as_of: dt.date) -> pl.DataFrame:
    """`contacts_with_engagement(contacts, engagement_of_coded(in_window, config, as_of,
    by_type=False))` (`with_decayed_by_type` makes it the table with `decayed_by_type`), with
    the events added up by their contact id's 64-bit hash in a group-by on that number, and
    paired with the contacts by it. `in_window` (`coded_query`'s rows) may be lazy: the
    streaming group-by reads it a batch at a time, never whole. At XL, a slice of 9.4M events
    read from the disk: 2.5 s and +0.47 GiB, where reading them (0.3 s, +0.33 GiB), putting
    them in contact order and adding them up (3.2 s) and the join by id (0.7 s) took longer.

    A pairing is trusted when it is shown: the contacts' ids that share a hash are one id, and
    every event paired with a contact has the contact's id's hash under a second seed too (an
    event of an id that is no contact here, sharing the first hash with one, would differ in
    the second: its group's smallest and largest second hash). Two ids would have to agree in
    two 64-bit hashes to pass (~2^-128 a pair), as the state store trusts SHA-256 to tell files
    apart. Otherwise the events go by their ids, as in `engagement_of_coded`. Takes a frame in
    memory over, as that does."""
    contact = pl.col("contact_id")
    keyed = contacts.select(_key_hash(contact), check_hash(contact))
    hashes = keyed.get_column("_key_hash")
    shared = hashes.is_duplicated()
    if shared.any() and contacts.get_column("contact_id").filter(shared).n_unique() != hashes.filter(shared).n_unique():
        return _by_id(contacts, in_window, config, as_of)
    totals = _EngagementTotals(config, as_of)
    check = pl.col("_id_check")
    by_hash = _added_up_by_hash(in_window, totals, packed=True)
    if by_hash is None:  # a contact with more events than a packed count holds
        by_hash = _added_up_by_hash(in_window, totals, packed=False)
    made = by_hash.lazy().select("_key_hash", "_check_min", "_check_max", *totals.made)
    engagement = totals.finished(made, by_type=False).collect()
    del by_hash
    aligned = keyed.join(engagement, on="_key_hash", how="left", maintain_order="left")
    del engagement
    paired = aligned.select((pl.col("_check_min").is_null() | ((pl.col("_check_min") == check) & (pl.col("_check_max") == check))).all())
    if not paired.item():
        del aligned
        return _by_id(contacts, in_window, config, as_of)
    del in_window
    engaged = _zero_filled(aligned.drop("_key_hash", "_id_check", "_check_min", "_check_max"))
    return in_key_order(contacts.with_columns(engaged.get_columns()), "contact_id")


_COUNT_BITS = 16  # per count packed in a 64-bit sum: 4 counts a column, up to 65,535 events a contact


def _added_up_by_hash(in_window: pl.DataFrame | pl.LazyFrame, totals: _EngagementTotals, packed: bool) -> pl.DataFrame | None:
    """Each contact's totals (`totals.made`), keyed by its id's hash, with the smallest and
    largest second hash of its events. `packed`: the counts (one boolean per event and type)
    are added up four to a 64-bit number, 16 bits each, and taken apart after: at XL a slice's
    eight boolean sums took 0.6 s and their two packed sums 0.28 s. None when a contact has
    too many events for 16 bits (every count is at most its events)."""
    check = pl.col("_id_check")
    events = in_window.lazy().select(_key_hash(pl.col("contact_id")), check_hash(pl.col("contact_id")), *totals.per_event)
    counts = totals.counted if packed else []
    groups = [counts[start : start + 64 // _COUNT_BITS] for start in range(0, len(counts), 64 // _COUNT_BITS)]
    packs = [
        pl.sum_horizontal(pl.col(name).cast(pl.UInt64) * (1 << (_COUNT_BITS * place)) for place, name in enumerate(group)).alias(
            f"_packed_{n}"
        )
        for n, group in enumerate(groups)
    ]
    added = (
        events.with_columns(packs)
        .drop(counts)
        .group_by("_key_hash")
        .agg(
            pl.col([c for c in totals.summed if c not in counts]).sum(),
            pl.col([p.meta.output_name() for p in packs]).sum(),
            pl.col(totals.maxed).max(),
            check.min().alias("_check_min"),
            check.max().alias("_check_max"),
            *([pl.len().alias("_events")] if packed else []),
        )
        .collect(engine="streaming")
    )
    if not packed:
        return added
    if added.height and added.get_column("_events").max() >= 1 << _COUNT_BITS:
        return None
    unpacked = [
        ((pl.col(f"_packed_{n}") // (1 << (_COUNT_BITS * place))) % (1 << _COUNT_BITS))
        .cast(pl.UInt32)
        .alias(name)  # as a boolean sum gives
        for n, group in enumerate(groups)
        for place, name in enumerate(group)
    ]
    return added.with_columns(unpacked).drop(*[f"_packed_{n}" for n in range(len(groups))], "_events")


def _by_id(contacts: pl.DataFrame, in_window: pl.DataFrame | pl.LazyFrame, config: Config, as_of: dt.date) -> pl.DataFrame:
    events = in_one_piece(in_window) if isinstance(in_window, pl.LazyFrame) else in_window
    del in_window
    return contacts_with_engagement(contacts, engagement_of_coded(events, config, as_of, by_type=False))


def with_decayed_by_type(people: pl.DataFrame | pl.LazyFrame, config: Config) -> pl.DataFrame | pl.LazyFrame:
    """Contact engagement with `decayed_by_type` in place of the weights it reads (as
    `contacts_with_events` leaves them)."""
    return people.with_columns(decayed_by_type(config)).drop("_in_lookback", cs.starts_with("_weight_"))


def _key_hash(ids: pl.Expr) -> pl.Expr:
    """The ids' 64-bit hash; none for a missing id, which pairs with nothing, as in a join."""
    return pl.when(ids.is_not_null()).then(id_hash(ids)).alias("_key_hash")


class _EngagementTotals:
    """What contact engagement adds up per event, and the scores made of a contact's totals."""

    def __init__(self, config: Config, as_of: dt.date):
        rules, trend = config.lead_scoring.engagement, config.account_scoring.trend
        coded = _engagement_codes(config, as_of)[1]
        self._config, self._rules = config, rules
        type_code, age = pl.col("_type"), pl.col("_age")
        in_lookback = age < rules.lookback_days
        points = coded.points()
        self._decay = decay = _decay_per_event(config, coded, in_lookback)
        # counts as booleans: the streaming group-by holds its inputs a while, and 8 columns of
        # 8-byte integers held ~0.6 GiB more a slice at XL; each sum is made an Int64 after
        self.per_event = [
            *[((type_code == coded.of(t)) & in_lookback).alias(f"n_{t}") for t in rules.event_types],
            pl.when(in_lookback).then(pl.col("occurred_at")).alias("last_activity_at"),
            pl.when(age < trend.window_days).then(points).otherwise(0).alias("recent_points"),
            pl.when(age.is_between(trend.window_days, 2 * trend.window_days - 1)).then(points).otherwise(0).alias("previous_points"),
            in_lookback.alias("_in_lookback"),
            *decay.per_event,
        ]
        self.made = [p.meta.output_name() for p in self.per_event]  # the columns in the order they are made
        self.summed = [*[f"n_{t}" for t in rules.event_types], "recent_points", "previous_points", "_in_lookback", *decay.summed]
        self.counted = [*[f"n_{t}" for t in rules.event_types], "_in_lookback"]  # the booleans summed: counts
        self.maxed = ["last_activity_at", *decay.maxed]

    def finished(self, totals: pl.LazyFrame, by_type: bool = True) -> pl.LazyFrame:
        """A contact's engagement from its totals (`made`), the sums as Int64 (a group-by's
        count of booleans comes as UInt32). Without `by_type`, `decayed_by_type` is left to
        `engaged_rows` (for the engaged contacts only), which reads the weights kept for it."""
        rules, decay = self._rules, self._decay
        contributions = [
            pl.lit(rule.points, pl.Int64) * (pl.col(f"n_{t}").clip(upper_bound=1) if rule.count == "once" else pl.col(f"n_{t}"))
            for t, rule in rules.events.items()
        ]
        made = (
            totals.with_columns(pl.col(self.summed).cast(pl.Int64))
            .with_columns(pl.sum_horizontal(contributions).alias("engagement_raw_points"))
            .with_columns(pl.col("engagement_raw_points").clip(upper_bound=rules.cap).alias("engagement_points"))
            .with_columns(decay.points.fill_null(0.0).alias("decayed_points"))
        )
        return with_decayed_by_type(made, self._config) if by_type else made


class _EventCodes:
    """An event's type as a small number (0: a type the config does not know) and its age in
    days on the as-of date (0 to `max_age`), with what the scores read of them (points, decay
    weight) looked up in tables: the same values the expressions give on the text and the
    timestamps, worked out once per type and age instead of once per event."""

    def __init__(self, config: Config, as_of: dt.date, max_age: int):
        rules = config.lead_scoring.engagement
        self.types = list(rules.event_types)
        self.scored = [t for t in self.types if rules.events[t].points]
        self.ages = max_age + 1
        # an enum's position, not `replace_strict`: the streaming engine runs that on whole
        # columns, which held the 37M-event window 2.8 GiB over its size at XL
        self.type_code = (pl.col("event_type").cast(pl.Enum(self.types), strict=False).to_physical().cast(pl.UInt8) + 1).fill_null(0)
        self.age = (pl.lit(as_of) - pl.col("occurred_at").dt.date()).dt.total_days().cast(pl.UInt16)
        self._points = pl.Series([0, *[rules.events[t].points for t in self.types]], dtype=pl.Int64)
        grid = pl.DataFrame(
            {
                "half_life": [float(config.event_half_life(t)) for t in self.types for _ in range(self.ages)],
                "age": [a for _ in self.types for a in range(self.ages)],
            },
            schema={"half_life": pl.Float64, "age": pl.Int64},
        )
        # the table's row for type i (from 1) and age a is (i - 1) * ages + a
        self._weights = grid.select(decay_weight(pl.col("age"), pl.col("half_life"))).to_series()

    def of(self, event_type: str) -> int:
        return self.types.index(event_type) + 1

    def points(self) -> pl.Expr:
        return pl.lit(self._points).gather(pl.col("_type"))

    def weight(self) -> pl.Expr:
        """The decay weight of a known type's event (rows of unknown types are not read)."""
        row = (pl.col("_type").cast(pl.Int64) - 1).clip(lower_bound=0) * self.ages + pl.col("_age").cast(pl.Int64)
        return pl.lit(self._weights).gather(row)


def _in_contact_order(events: pl.DataFrame) -> pl.DataFrame:
    """`events` with each contact's rows adjacent (ordered by the ids' 64-bit hashes, a number
    sort; by hash and then id if two ids share a hash) and `_last` marking a contact's last row.
    Missing ids are one contact, as in a group-by."""
    contact, hashed = pl.col("contact_id"), pl.col("_hash")
    keyed = events.with_columns(id_hash(contact).alias("_hash")).sort("_hash")
    ids_share_a_hash = (hashed.eq(hashed.shift(1)) & contact.ne_missing(contact.shift(1))).any()
    if keyed.select(ids_share_a_hash).item():
        keyed = keyed.sort("_hash", "contact_id")
    is_last_row = pl.int_range(pl.len()) == pl.len() - 1
    return keyed.with_columns((contact.ne_missing(contact.shift(-1)) | is_last_row).alias("_last")).drop("_hash")


def _slices_of_whole_contacts(by_contact: pl.DataFrame, rows: int):
    """Slices of about `rows` rows (zero-copy), each ending at a contact's last row."""
    last_rows = by_contact.get_column("_last").arg_true()
    start = 0
    yield by_contact.clear()  # so that no events still give the frame its columns
    while start < by_contact.height:
        stop = last_rows[last_rows.search_sorted(min(start + rows, by_contact.height) - 1)] + 1
        yield by_contact.slice(start, stop - start)
        start = stop


def _contact_totals(per_event: pl.LazyFrame, summed: list[str], maxed: list[str]) -> pl.DataFrame:
    """Per contact of `per_event` (in contact order, `_last` on each contact's last row): the
    sums of `summed` (running sums at the last rows, less the previous contact's) and the
    maxima of `maxed` (a group-by over the contacts' numbers, which are sorted)."""
    sums = (
        per_event.select("contact_id", "_last", pl.col(summed).cast(pl.Int64).fill_null(0).cum_sum())
        .filter("_last")
        .select("contact_id", *[pl.col(c) - pl.col(c).shift(1, fill_value=0) for c in summed])
    )
    contact_number = pl.col("_last").shift(1, fill_value=False).cum_sum().set_sorted().alias("_contact")
    maxima = per_event.group_by(contact_number, maintain_order=True).agg(pl.col(maxed).max()).drop("_contact")
    return pl.concat([sums, maxima], how="horizontal").collect()


def decay_weight(age: pl.Expr, half_life: pl.Expr) -> pl.Expr:
    """An event's weight by its age in days, 0.5 ** (age / half-life), as integer millionths:
    an integer sum does not depend on the order rows arrive in (streaming chunks, account
    shards), so every split adds up the same. A half-life of 0 means no decay."""
    weight = pl.when(half_life > 0).then(pl.lit(0.5).pow(age / half_life)).otherwise(pl.lit(1.0))
    return (weight * WEIGHT_UNITS).round(0).cast(pl.Int64)


@dataclass(frozen=True)
class _Decay:
    per_event: list[pl.Expr]  # each event's weight in its category's column (null elsewhere)
    summed: list[str]  # those a contact's total adds up ('each' types: every occurrence)
    maxed: list[str]  # those it takes the largest of ('once' types: the most recent)
    points: pl.Expr  # the capped sum, once aggregated


def _decay_per_event(config: Config, coded: _EventCodes, in_lookback: pl.Expr) -> _Decay:
    """The reference engagement with each event weighted by its age, weight = 0.5 ** (age in
    days / half-life), the half-life the category's own or the people score's. 'Once' events
    count their most recent occurrence, 'each' events all of theirs; capped like the lead score."""
    rules = config.lead_scoring.engagement
    # prefixed: a category may be called anything snake_case, even `contact_id`
    per_event = [pl.when((pl.col("_type") == coded.of(t)) & in_lookback).then(coded.weight()).alias(f"_weight_{t}") for t in coded.scored]
    summed = [f"_weight_{t}" for t in coded.scored if rules.events[t].count != "once"]
    maxed = [f"_weight_{t}" for t in coded.scored if rules.events[t].count == "once"]  # the most recent
    return _Decay(
        per_event,
        summed,
        maxed,
        pl.sum_horizontal([_decayed(t, config) for t in coded.scored]).clip(upper_bound=rules.cap),
    )


def _decayed(event_type: str, config: Config) -> pl.Expr:
    """A contact's decayed points of one type, from its `_weight_<type>` total."""
    return pl.col(f"_weight_{event_type}").fill_null(0) * config.lead_scoring.engagement.events[event_type].points / WEIGHT_UNITS


def decayed_by_type(config: Config) -> pl.Expr:
    """What each type adds, before weight and cap ("demo_request 10.0 · content_download 6.2"),
    from a contact's `_weight_<type>` totals; empty (null) for a contact with no event in the
    lookback window. Written out for the engaged contacts only (`engaged_rows`): measured
    apart, 0.8–1.1 s for 1.6M contacts with events (a slice of XL's contacts has about that)."""
    rules = config.lead_scoring.engagement
    scored = [t for t in rules.event_types if rules.events[t].points]
    by_type = pl.concat_str(
        [pl.when(_decayed(t, config) > 0).then(pl.format("{} {}", pl.lit(t), _decayed(t, config).round(1))) for t in scored],
        separator=" · ",
        ignore_nulls=True,
    )
    return pl.when(pl.col("_in_lookback") > 0).then(by_type).alias("decayed_by_type")


def decayed_engagement(events: pl.LazyFrame | pl.DataFrame, config: Config, as_of: dt.date) -> pl.LazyFrame:
    """Per contact with events in the lookback window: `decayed_points` (the decayed
    reference engagement, see `_decay_per_event`) and `decayed_by_type`, as `contact_engagement`
    gives them."""
    engaged = contact_engagement(events, config, as_of).lazy().filter(pl.col("decayed_by_type").is_not_null())
    return engaged.select("contact_id", "decayed_points", "decayed_by_type")


# What the roll-up and the lead score read of a contact; the rest (e-mail, links) is not scored.
PERSON_COLUMNS = ("contact_id", "domain", "first_name", "last_name", "title", "seniority", "department")


def contacts_with_engagement(contacts: pl.DataFrame, engagement: pl.DataFrame) -> pl.DataFrame:
    """Every usable contact with its engagement (zero when it had no events in the windows),
    in contact id order. Exports often come in that order already: then the join keeps it and
    10M contacts are not sorted again (8 s at XL)."""
    # Only the ids go through the join, and the engagement is laid beside the contacts' own
    # columns: joined whole, the 10M contacts' person columns were copied (0.7 GiB at XL).
    aligned = _zero_filled(joined_by_id(contacts.select("contact_id"), engagement, "contact_id").drop("contact_id"))
    return in_key_order(contacts.with_columns(aligned.get_columns()), "contact_id")


def _zero_filled(engagement: pl.DataFrame) -> pl.DataFrame:
    """Engagement joined to contacts: zero counts and points (incl. decayed_points) for a
    contact with no events."""
    zero_fill = [c for c in engagement.columns if c.startswith("n_") or c.endswith("_points")]
    return engagement.with_columns(pl.col(zero_fill).fill_null(0))


def id_hash(ids: pl.Expr) -> pl.Expr:
    return ids.hash(seed=0)


def joined_by_id(left: pl.DataFrame, right: pl.DataFrame, key: str) -> pl.DataFrame:
    """`left.join(right, on=key, how="left", maintain_order="left")` for a text key unique in
    `right`, joined by the keys' 64-bit hashes: at XL (10M contacts, 6.4M with engagement) 6.5 s
    where the text took 13.4 s. Two keys sharing a hash would pair wrong rows; that shows as a
    key that differs from its partner's (or a row gained), and then the text join is used.
    A missing key has no hash, so it pairs with nothing, as in the join."""
    partner, found = f"_{key}_joined", f"_{key}_found"

    def hashed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(_key_hash(pl.col(key)))

    joined = hashed(left).join(
        hashed(right).rename({key: partner}).with_columns(pl.lit(True).alias(found)),
        on="_key_hash",
        how="left",
        maintain_order="left",
    )
    paired = joined.get_column(found).is_null() | (joined.get_column(partner) == joined.get_column(key)).fill_null(False)
    if joined.height == left.height and paired.all():
        return joined.drop("_key_hash", partner, found)
    return left.join(right, on=key, how="left", maintain_order="left")


def matches_role(role) -> pl.Expr:
    match = pl.lit(True)
    if role.seniorities:
        match = match & pl.col("seniority").is_in(list(role.seniorities))
    if role.departments:
        match = match & pl.col("department").is_in(list(role.departments))
    return match.fill_null(False)


def account_rollup(contacts: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Per account domain: the buying group's engagement (who, which roles and departments,
    trend). Each person's decayed engagement is weighted by seniority, then capped.

    Counts and sums are taken over every contact in one unordered group-by; only the engaged
    people, listed by their points, are sorted (at L: 1.2M contacts, a few hundred thousand
    engaged; sorting them all took most of this step's time). A shard's contacts may come in
    slices (`shards.score`): `buying_groups` merges the slices' `account_totals` and
    `engaged_rows` into what one piece gives."""
    return buying_groups([account_totals(contacts, config)], [engaged_rows(contacts, config)], config)


def _account_points(config: Config) -> pl.Expr:
    """A person's decayed engagement weighted by seniority, capped: what they add to the account."""
    people = config.account_scoring.people
    persona = pl.col("seniority").replace_strict(dict(people.persona_weights), default=1.0, return_dtype=pl.Float64)
    return (pl.col("decayed_points") * persona).clip(upper_bound=people.per_contact_cap).round(1).alias("account_points")


def _engaged(config: Config) -> pl.Expr:
    return pl.col("engagement_points") >= config.account_scoring.people.engaged_min_points


def account_totals(contacts: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Per domain of `contacts` (some or all of an account's): the counts, sums, latest
    activity and roles covered that `buying_groups` adds up, in no particular order."""
    roles = config.account_scoring.buying_group.roles
    decision_makers = list(config.icp.decision_maker_seniorities)
    fast_path = config.account_scoring.fast_path
    event_types = config.lead_scoring.engagement.event_types
    engaged = _engaged(config)
    return (
        contacts.lazy()
        .with_columns(_account_points(config))
        .select(
            "domain",
            # in tenths: an integer sum is the same in any order (and exact)
            (pl.col("account_points") * 10).round(0).cast(pl.Int64).alias("_people_tenths"),
            "engagement_raw_points",
            "last_activity_at",
            "recent_points",
            "previous_points",
            *[f"n_{t}" for t in event_types],
            engaged.cast(pl.Int64).alias("_engaged"),
            (engaged & pl.col("seniority").is_in(decision_makers)).cast(pl.Int64).alias("_decision_maker"),
            *[(engaged & matches_role(role)).alias(f"_role_{name}") for name, role in roles.items()],
            ((pl.col("n_demo_request") > 0) & pl.col("seniority").is_in(list(fast_path.seniorities))).alias("decision_maker_demo_request"),
        )
        .group_by("domain")
        .agg(
            pl.len().alias("contacts"),
            pl.col("_engaged").sum().alias("engaged_stakeholders"),
            pl.col("_decision_maker").sum().alias("decision_makers_engaged"),
            pl.col("_people_tenths").sum(),
            pl.col("engagement_raw_points").sum().cast(pl.Int64).alias("engagement_events_points"),
            pl.col("last_activity_at").max(),
            pl.col("recent_points").sum().cast(pl.Int64),
            pl.col("previous_points").sum().cast(pl.Int64),
            *[pl.col(f"n_{t}").sum().cast(pl.Int64) for t in event_types],
            *[pl.col(f"_role_{name}").any() for name in roles],
            pl.col("decision_maker_demo_request").any(),
        )
        # streaming: the ~20 per-contact columns are made and summed a batch at a time, not
        # made for all 10M contacts first (+1.6–2.0 GiB at XL)
        .collect(engine="streaming")
    )


def engaged_rows(contacts: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The engaged people of `contacts`, with what the account's lists show of them."""
    by_type = pl.col("decayed_by_type") if "decayed_by_type" in contacts.columns else decayed_by_type(config)
    return (
        contacts.lazy()
        .filter(_engaged(config))
        .select(
            "domain",
            "contact_id",
            _account_points(config),
            *PERSON_COLUMNS[2:],
            "engagement_points",
            by_type,
            "last_activity_at",
        )
        .collect()
    )


def merged_totals(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """`account_totals` of slices of contacts as those of all of them (sums, maxima, any)."""
    if len(parts) == 1:
        return parts[0]
    schema = parts[0].schema
    merge = {"last_activity_at": pl.max, **{name: pl.any for name, dtype in schema.items() if dtype == pl.Boolean}}
    return (
        pl.concat(parts, how="vertical")
        .group_by("domain")
        .agg(merge.get(name, pl.sum)(name).cast(dtype) for name, dtype in schema.items() if name != "domain")
    )


def buying_groups(totals: list[pl.DataFrame], engaged: list[pl.DataFrame], config: Config) -> pl.DataFrame:
    """`account_rollup` from the `account_totals` and `engaged_rows` of one or more slices of
    contacts (each contact in one slice); the same table whichever way they were sliced.
    Takes `engaged` over: the list is emptied once its rows are sorted, so that the slices'
    rows and their sorted copy are not alive at once."""
    roles = config.account_scoring.buying_group.roles
    event_types = config.lead_scoring.engagement.event_types
    person = pl.struct(
        pl.concat_str([pl.col("first_name"), pl.col("last_name")], separator=" ", ignore_nulls=True).alias("name"),
        pl.col("title"),
        pl.col("seniority"),
        pl.col("department"),
        pl.col("engagement_points").alias("points"),
        pl.col("account_points"),
        pl.col("decayed_by_type").alias("by_type"),
        pl.col("last_activity_at"),
    )
    summed = merged_totals(totals).with_columns((pl.col("_people_tenths") / 10).alias("people_points_raw"))
    in_order = pl.concat(engaged, how="vertical").sort(
        ["domain", "account_points", "engagement_points", "contact_id"], descending=[False, True, True, False]
    )
    engaged.clear()
    engaged_people = in_order.group_by("domain", maintain_order=True).agg(
        pl.col("department").unique().sort().alias("engaged_departments"), person.alias("engaged_people")
    )
    del in_order
    lists = {name: engaged_people.schema[name] for name in ("engaged_departments", "engaged_people")}
    # sorted before the people's lists join: sorting after gathered every list again (2.4 s at XL)
    return (
        summed.sort("domain")
        .join(engaged_people, on="domain", how="left", maintain_order="left")
        .with_columns(pl.col(name).fill_null(pl.lit([], dtype=dtype)) for name, dtype in lists.items())
        .with_columns(pl.col("engaged_departments").list.len().cast(pl.Int64).alias("departments_engaged"))
        .pipe(named_lists, {name: pl.col(f"_role_{name}") for name in roles}, "roles_covered", "roles_missing")
        .select(
            "domain",
            "contacts",
            "engaged_stakeholders",
            "decision_makers_engaged",
            "engaged_departments",
            "people_points_raw",
            "engagement_events_points",
            "last_activity_at",
            "recent_points",
            "previous_points",
            *[f"n_{t}" for t in event_types],
            "decision_maker_demo_request",
            "engaged_people",
            "departments_engaged",
            "roles_covered",
            "roles_missing",
        )
        # Each person's text is a view into the 10M contacts' buffers until the lists are
        # compacted: gathering `engaged_people` took 3 s at XL before (the join in
        # `score_accounts`, every later sort and the Parquet writer), 0.05 s after (0.07 s).
        .shrink_to_fit()
    )


def named_lists(frame: pl.DataFrame, flags: dict[str, pl.Expr], named: str, unnamed: str | None = None) -> pl.DataFrame:
    """`frame` with `named`: the names whose flag (a boolean column of `frame`) is true, in
    `flags`' order, and `unnamed` those whose flag is not. Worked out once per combination of
    flags (a few dozen) and joined back: built on each of 1M accounts' rows these lists took
    5 s at XL."""

    def names(where) -> pl.Expr:
        return pl.concat_list([pl.when(where(flag)).then(pl.lit(name)) for name, flag in flags.items()]).list.drop_nulls()

    lists = [names(lambda flag: flag).alias(named), *([names(lambda flag: ~flag).alias(unnamed)] if unnamed else [])]
    columns = [flag.meta.output_name() for flag in flags.values()]
    return once_per_value_beside(frame, columns, *lists)


def latest_intent_week(intent: pl.DataFrame, config: Config, as_of: dt.date) -> dt.date | None:
    """The provider's latest week in the recent weeks: one date for every account, so a
    shard of accounts judges 'new' surges against the same week as the whole."""
    since = as_of - dt.timedelta(weeks=config.account_scoring.intent.recent_weeks)
    return intent.filter((pl.col("week") > since) & (pl.col("week") <= as_of)).select(pl.col("week").max()).item()


def intent_surges(intent: pl.DataFrame, config: Config, as_of: dt.date, latest_week: dt.date | None = None) -> pl.DataFrame:
    """Per domain: configured topics surging (score >= surge_score) in the recent weeks, the
    clusters in market (enough of a cluster's topics surge) and topics newly surging in the
    latest week that did not surge in the weeks before."""
    rules = config.account_scoring.intent
    since = as_of - dt.timedelta(weeks=rules.recent_weeks)
    recent = intent.filter((pl.col("week") > since) & (pl.col("week") <= as_of))
    surging = (pl.col("score") >= rules.surge_score) & pl.col("topic").is_in(rules.topics)
    if latest_week is None:
        latest_week = latest_intent_week(intent, config, as_of)
    latest = pl.col("week") == latest_week if latest_week is not None else pl.lit(False)
    per_topic = recent.group_by("domain", "topic").agg(
        surging.any().alias("surges"),
        (surging & latest).any().alias("surges_latest"),
        (surging & ~latest).any().alias("surged_before"),
    )
    clusters = [
        (
            pl.col("topic").filter(pl.col("surges") & pl.col("topic").is_in(cluster.topics)).n_unique() / len(set(cluster.topics))
            >= cluster.in_market_share
        ).alias(f"_in_{name}")
        for name, cluster in rules.clusters.items()
    ]
    return (
        per_topic.sort("domain", "topic")
        .group_by("domain", maintain_order=True)
        .agg(
            pl.col("topic").filter(pl.col("surges")).alias("surging_topics"),
            pl.col("topic").filter(pl.col("surges_latest") & ~pl.col("surged_before")).alias("new_surging_topics"),
            *clusters,
        )
        .pipe(named_lists, {name: pl.col(f"_in_{name}") for name in rules.clusters}, "clusters_in_market")
        .drop([f"_in_{n}" for n in rules.clusters])
        .join(recent.group_by("domain").agg(pl.col("score").max().alias("intent_max_score")), on="domain", how="left")
        .sort("domain")
    )


def technology_matches(technographics: pl.DataFrame, config: Config, as_of: dt.date) -> pl.DataFrame:
    """Per domain: the configured technologies it runs, and competitors' tools (seen on or
    before the as-of date)."""
    tech = config.account_scoring.fit.technologies
    wanted = {name.lower(): name for name in tech.match}
    rivals = {name.lower(): name for name in tech.competitors}
    lowered = pl.col("technology").str.to_lowercase()
    # names are mapped row-wise before the group-by; per-group list work over 1M+ domains
    # was most of this step's time
    matched = lowered.replace_strict(wanted, default=None, return_dtype=pl.String)
    rival = lowered.replace_strict(rivals, default=None, return_dtype=pl.String)
    return (
        technographics.filter(pl.col("first_seen") <= as_of)
        .select("domain", matched.alias("matched"), rival.alias("rival"))
        .filter(pl.col("matched").is_not_null() | pl.col("rival").is_not_null())
        .group_by("domain")
        .agg(
            pl.col("matched").drop_nulls().unique().sort().alias("matched_technologies"),
            pl.col("rival").drop_nulls().unique().sort().alias("competitor_technologies"),
        )
        .sort("domain")
    )


def weekly_account_points(
    events: pl.DataFrame | pl.LazyFrame,
    contacts: pl.DataFrame | pl.LazyFrame,
    domains: list[str],
    config: Config,
    as_of: dt.date,
    weeks: int = REPORT_WEEKS,
) -> pl.DataFrame:
    """Engagement points per week (Monday start) of the given accounts over the last `weeks`
    weeks, every event at its reference points: the trend chart of the top accounts.
    `contacts`: any table of the usable contacts' `contact_id` and `domain` (the lead scores
    will do, on disk: only the given accounts' contacts are read)."""
    rules = config.lead_scoring.engagement.events
    first_monday = as_of - dt.timedelta(days=as_of.weekday()) - dt.timedelta(weeks=weeks - 1)
    points = pl.col("event_type").replace_strict({t: r.points for t, r in rules.items()}, default=0, return_dtype=pl.Int64)
    members = contacts.lazy().filter(pl.col("domain").is_in(domains)).select("contact_id", "domain").collect()
    return (
        events.lazy()
        # the members' events picked out first: the join alone held the window's rows (+0.8–1.4 GiB at XL)
        .filter(pl.col("contact_id").is_in(members.get_column("contact_id").implode()))
        .filter(pl.col("occurred_at").dt.date().is_between(first_monday, as_of))
        .join(members.lazy(), on="contact_id", how="inner")
        .group_by("domain", pl.col("occurred_at").dt.date().dt.truncate("1w").alias("week"))
        .agg(points.sum().alias("points"))
        .sort("domain", "week")
        .collect(engine="streaming")
    )
