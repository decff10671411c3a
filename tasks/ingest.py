"""Ingest: each source read, cast to its contract and staged; daily event files found,
remembered or validated (several to a GX run), and assembled into the scoring window.

Plain functions that take values and return new ones; the Prefect tasks in
`tasks/flow_tasks.py` wrap them (names, logs, retries) and `tasks/pipeline.py` orders them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from abmq.config import Config, Limits, SourceMapping
from abmq.tasks import (
    account_links,
    catalog,
    event_partitions,
    event_store,
    event_window,
    export_parts,
    mapping,
    normalise,
    quarantine,
    rollup,
    source_store,
    staging,
    validate,
)
from abmq.tasks.sources import ACCOUNT_KEY, SOURCES, derived_columns

EMPTY_KEYS = pl.Series("domain", [], pl.String)


@dataclass(frozen=True)
class SourceData:
    """One source through the gate: rows staged, kept and quarantined, and the GX verdict.
    Each step returns a new SourceData (`dataclasses.replace`), never changes one."""

    name: str
    files: list[str]
    fingerprint: str
    staged: pl.DataFrame | None  # dropped once validated: at 10M events every copy counts
    rows_in: int = 0
    unknown_columns: list[str] = field(default_factory=list)  # in the export, not in the contract
    # a scan of the export store's file for some exports read back (`sources.READ_BACK_AS_SCANS`)
    kept: pl.DataFrame | pl.LazyFrame | None = None
    quarantined: pl.DataFrame | None = None
    validation: validate.SourceValidation | None = None
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Daily event files: GX results of the files validated in this run, and the state
    # store's manifest to publish with the outputs.
    file_results: dict[str, tuple[dict[str, Any], Any]] = field(default_factory=dict)
    event_state: dict[str, dict[str, Any]] | None = None
    # Daily event files: the kept rows, read where they are stored (`kept` stays None)
    window: event_window.EventWindow | None = None
    # An export remembered across runs (tasks/remembered.py): the key of what its verdict
    # depends on, its entry in the store's manifest, and whether it was read back from there
    store_key: str | None = None
    store_entry: dict[str, Any] | None = None
    recalled: bool = False
    # An export staged in parts (`tasks/export_parts.py`): its parts, and those staged now
    parts: export_parts.StagedParts | None = None

    def replace(self, **changes: Any) -> SourceData:
        return dataclasses.replace(self, **changes)


def reference_keys(staged: dict[str, SourceData], for_source: str | None = None) -> dict[str, Any]:
    """Keys of the sources staged so far that later sources are checked against."""

    def column(source: str, name: str) -> pl.Series | None:
        rows = staged_rows(staged.get(source), [name])
        return rows[name] if rows is not None else None

    # accounts are matched by their key: the canonical domain, or "id:<account_id>" for an
    # account without one (only contacts linked by account_id can name such a key)
    account_keys = column("accounts", ACCOUNT_KEY)
    keys: dict[str, Any] = {
        "account_domains": account_keys.drop_nulls() if account_keys is not None else column("accounts", "domain"),
        "contact_ids": column("contacts", "contact_id"),
    }
    if for_source == "contacts":  # contacts link to accounts by id first (tasks/account_links.py)
        accounts = staged.get("accounts")
        keys["accounts_by_id"] = account_links.accounts_by_id(staged_rows(accounts, ["account_id", ACCOUNT_KEY, "domain"]))
    return keys


def staged_rows(data: SourceData | None, columns: list[str]) -> pl.DataFrame | None:
    """The columns of `columns` a source's staged rows have (None: none of them, or no rows):
    of a source read back from the store (`tasks/source_store.py`), its kept and quarantined
    rows together, which are the rows it staged."""
    if data is None:
        return None
    if data.recalled:
        kept = data.kept.lazy()  # read back whole, or as a scan of the store's file
        present = [c for c in columns if c in kept.collect_schema()]
        parts = [kept.select(present).collect(), data.quarantined.select(c for c in present if c in data.quarantined.columns)]
        frame = pl.concat(parts, how="diagonal_relaxed") if present else None
    else:
        frame = data.staged.select(c for c in columns if c in data.staged.columns) if data.staged is not None else None
    return frame if frame is not None and frame.width else None


def stage_source(
    input_dir: str,
    source: str,
    account_domains: pl.Series | None = None,
    contact_ids: pl.Series | None = None,
    limits: Limits | None = None,
    source_mapping: SourceMapping | None = None,
    accounts_by_id: pl.DataFrame | None = None,
    fingerprint: str | None = None,
    parts: export_parts.PartStore | None = None,
) -> SourceData:
    """Read one source (lazy scan), reshape it as its `source_mapping` says (the config's
    `sources:` entry, tasks/mapping.py), cast it to the contract and stage it; CSV files beyond
    the size `limits` (default: the config's defaults) are refused, naming file, line, column.
    Contacts link to accounts by `accounts_by_id` (`reference_keys`), then by domain.
    `fingerprint`: the files' content hash, when the caller has worked it out. `parts`: the
    export is staged in parts (`tasks/export_parts.py`), those the store has read back."""
    spec = SOURCES[source]
    limits = limits or Limits()
    found = (source_mapping.files, tuple(source_mapping.columns)) if source_mapping else ((), ())
    scan, files = catalog.scan_source(Path(input_dir), spec, limits, *found)
    names = [f.name if f.parent == Path(input_dir) else f"{f.parent.name}/{f.name}" for f in files]
    if scan is None:
        return SourceData(source, [], "", None)

    linked_to = account_domains if account_domains is not None else EMPTY_KEYS

    def staged_rows(raw: pl.LazyFrame) -> pl.DataFrame:
        mapped = mapping.apply(raw, spec, source_mapping)
        typed = staging.cast_to_contract(mapped, spec, limits.max_field_bytes)
        if source == "accounts":
            staged = staging.stage_accounts(typed)
        elif source == "contacts":
            staged = staging.stage_contacts(typed, linked_to, accounts_by_id, keep_given=parts is not None)
        elif source == "events":
            staged = staging.stage_events(typed, contact_ids if contact_ids is not None else EMPTY_KEYS)
        else:
            staged = staging.stage_domain_list(typed, account_domains if source in ("technographics", "intent") else None)
        try:
            return staged.collect(engine="streaming")
        except Exception as exc:  # an unreadable file surfaces when the scan runs
            raise catalog.read_error(source, names, exc) from None

    in_parts = None
    if parts is not None:
        try:
            planned = export_parts.plan(scan)
        except Exception as exc:  # the rows as read, hashed: a file as unreadable as when staged
            raise catalog.read_error(source, names, exc) from None
        # what staging reads of the accounts, worked out again for rows staged against others
        links_again = {
            "contacts": functools.partial(staging.links_again, account_domains=linked_to, accounts_by_id=accounts_by_id),
            "technographics": functools.partial(staging.found_again, account_domains=linked_to),
            "intent": functools.partial(staging.found_again, account_domains=linked_to),
        }.get(source)
        reached = None
        if links_again is not None and parts.linked_against is not None:
            # only the rows an account change can reach are linked again (`staging.reached_again`),
            # worked out once for the parts' columns
            @functools.cache
            def reached(columns: tuple[str, ...]) -> pl.Expr | None:
                return staging.reached_again(source, list(columns), parts.linked_against, linked_to, accounts_by_id)

        frame, in_parts = _staged_in_parts(scan, staged_rows, parts, planned, links_again, reached)
        if in_parts is not None and in_parts.store.linked_against is not None:  # 1M account keys, read no more
            in_parts = dataclasses.replace(in_parts, store=dataclasses.replace(in_parts.store, linked_against=None))
        frame = frame.drop(account_links.GIVEN_DOMAIN, strict=False)  # kept with the parts only
    else:
        frame = staged_rows(scan)
    mapped_names = mapping.apply(scan, spec, source_mapping).collect_schema().names()
    unknown = [c for c in mapped_names[1:] if c not in {*spec.columns, *derived_columns(spec), mapping.MAPPING_ERROR}]
    fingerprint = fingerprint or catalog.fingerprint_files(files)
    return SourceData(source, names, fingerprint, frame, rows_in=frame.height, unknown_columns=unknown, parts=in_parts)


def _staged_in_parts(
    raw: pl.LazyFrame,
    staged_rows: Callable[[pl.LazyFrame], pl.DataFrame],
    store: export_parts.PartStore,
    parts: list[export_parts.Part],
    links_again: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
    reached: Callable[[tuple[str, ...]], pl.Expr | None] | None = None,
) -> tuple[pl.DataFrame, export_parts.StagedParts | None]:
    """An export staged in parts (`tasks/export_parts.py`): the parts the store has read back,
    those it has staged against other accounts linked to these again (`links_again`: the link
    columns of the rows of a scan), the others staged (the whole export when the store has
    none of them), and the new ones written to the store's scratch folder. (staged rows,
    parts), or parts None when the staged rows do not line up with the rows as read, one for
    one (they are then not kept in parts)."""
    stored = source_store.stored_parts(parts, store)
    kept = [store.lent_file(part) if rows is not None else None for part, rows in zip(parts, stored, strict=True)]
    relinkable = source_store.relinkable_files(parts, store, [rows is not None for rows in stored]) if links_again else [None] * len(parts)
    linked_again = [file is not None for file in relinkable]
    if any(linked_again):
        _link_again(store, parts, relinkable, links_again, stored, kept, reached)
        linked_again = [again and rows is not None for again, rows in zip(linked_again, stored, strict=True)]
    frame = None
    if any(rows is not None for rows in stored):
        new = [part for part, rows in zip(parts, stored, strict=True) if rows is None]
        staged_new = staged_rows(pl.concat([raw.slice(part.start, part.rows) for part in new])) if new else pl.DataFrame()
        frame = export_parts.assembled(parts, stored, staged_new)
    del stored
    if frame is None:
        frame, kept, linked_again = staged_rows(raw), [None] * len(parts), [False] * len(parts)
    if not export_parts.one_for_one(frame, sum(part.rows for part in parts)):
        return frame, None
    return frame, source_store.write_new_parts(frame, parts, kept, store, linked_again)


def _link_again(
    store: export_parts.PartStore,
    parts: list[export_parts.Part],
    relinkable: list[str | None],
    links_again: Callable[[pl.LazyFrame], pl.LazyFrame],
    stored: list[pl.DataFrame | None],
    kept: list[str | None],
    reached: Callable[[tuple[str, ...]], pl.Expr | None] | None = None,
) -> None:
    """The `relinkable` parts' rows linked to the accounts again, into `stored`: each part's
    stored rows with the link columns worked out now (one streaming query over all of them).
    A part whose links come out as stored is kept as it is (its file, into `kept`): a new
    account reaches the contacts of its own domain only. `reached(columns)`: the rows an
    account change can reach (`staging.reached_again`), when it can tell; only they are
    linked again (at XL 0.6 s to find among 9M rows, where linking them all took 1.7–2 s)."""
    rows = {
        n: source_store.read_part(store.folder, file, part.start).collect()
        for n, (part, file) in enumerate(zip(parts, relinkable, strict=True))
        if file
    }
    masks = {n: _reached_rows(part_rows, reached) for n, part_rows in rows.items()}
    picked = {n: part_rows if masks[n] is None else part_rows[masks[n]] for n, part_rows in rows.items()}
    query = (
        pl.concat([rows_now.lazy() for rows_now in picked.values() if rows_now.height]) if any(r.height for r in picked.values()) else None
    )
    links, taken = (links_again(query).collect(engine="streaming") if query is not None else None), 0
    for n, part_rows in rows.items():
        at, size = masks[n], picked[n].height
        now = links.slice(taken, size) if size else None
        taken += size
        if now is None:  # no row of it reached: as it was
            stored[n], kept[n] = part_rows, relinkable[n]
            continue
        if now.height != size:  # not one for one: staged again
            continue
        before = part_rows.select(now.columns) if at is None else part_rows.select(now.columns)[at]
        if before.equals(now):
            stored[n], kept[n] = part_rows, relinkable[n]
        elif at is None:
            stored[n] = part_rows.with_columns(now.get_columns())
        else:
            stored[n] = part_rows.with_columns(part_rows.get_column(c).clone().scatter(at, now.get_column(c)) for c in now.columns)


def _reached_rows(part_rows: pl.DataFrame, reached: Callable[[tuple[str, ...]], pl.Expr | None] | None) -> pl.Series | None:
    """The positions of a stored part's rows an account change can reach, or None: all of them."""
    mask = reached(tuple(part_rows.columns)) if reached is not None else None
    if mask is None:
        return None
    return part_rows.select(mask.fill_null(False)).to_series().arg_true()


# --- events as daily files -----------------------------------------------------------------


@dataclass(frozen=True)
class DailyEventFiles:
    window: list[event_partitions.EventFile]  # the files this run scores, oldest first
    later: list[event_partitions.EventFile]  # dated after the as-of date: for later runs
    first_day: dt.date  # of the scoring window
    total: int  # daily files found


def find_daily_event_files(input_dir: str, config: Config, as_of: dt.date) -> DailyEventFiles | None:
    """Daily files under `events/`, if events come that way (None: one export)."""
    files = event_store.daily_files(Path(input_dir))
    if files is None:
        return None
    window, later = event_partitions.in_window(files, config, as_of)
    return DailyEventFiles(window, later, rollup.first_day_read(config, as_of), len(files))


def read_event_state(out_dir: str) -> dict[str, dict[str, Any]]:
    """Daily event files validated by earlier published runs."""
    return event_store.read_state(Path(out_dir))


@dataclass(frozen=True)
class CheckedEventFile:
    file: event_partitions.EventFile
    entry: dict[str, Any]
    validation: validate.SourceValidation | None  # None: remembered from an earlier run
    gx_days: tuple[dt.date, dt.date] | None = None  # first file of a GX batch: the batch's days


@dataclass(frozen=True)
class RecalledFiles:
    remembered: list[CheckedEventFile]  # content an earlier run validated
    new: list[tuple[event_partitions.EventFile, str]]  # (file, sha256) still to validate


def recall_event_files(
    files: list[event_partitions.EventFile], state: dict[str, dict[str, Any]], out_dir: str, config: Config
) -> RecalledFiles:
    suite = event_partitions.partition_suite(config)
    remembered, new = [], []
    # hashlib lets go of the GIL: the window's 90 files at XL (2 GB) took 0.49 s one after
    # another and 0.25 s on two threads (more from a cold page cache)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        hashes = list(pool.map(event_store.file_hash, [file.path for file in files]))
    for file, sha256 in zip(files, hashes, strict=True):
        cached = event_store.cached_entry(state, file, sha256, suite, Path(out_dir))
        if cached is None:
            new.append((file, sha256))
        else:
            remembered.append(CheckedEventFile(file, cached, None))
    return RecalledFiles(remembered, new)


def validate_event_files(new: list[tuple[event_partitions.EventFile, str]], out_dir: str, config: Config) -> list[CheckedEventFile]:
    """Daily files seen for the first time, in day order: each staged, run through the
    `events_partition` suite (in GX runs of several files together, `validate_files`), and
    its rows kept in the state store. Files are staged one batch at a time, so a first run
    holds at most `GX_BATCH_ROWS` staged rows."""
    suite = event_partitions.partition_suite(config)
    checked: list[CheckedEventFile] = []
    batch: list[event_partitions.StagedFile] = []

    def validate_batch() -> None:
        for validated in event_partitions.validate_files(batch, suite, config.data_quality.max_quarantine_share):
            event_store.store_file(validated, Path(out_dir))
            checked.append(CheckedEventFile(validated.file, validated.entry, validated.validation, validated.gx_days))
        batch.clear()

    for file, sha256 in sorted(new, key=lambda pair: pair[0].day):
        staged = event_store.stage_file(file, config.limits, config.sources.get("events"))
        if batch and not event_partitions.fits_batch(batch, staged):
            validate_batch()
        batch.append(event_partitions.StagedFile(file, sha256, staged))
    if batch:
        validate_batch()
    return checked


def assemble_event_window(
    checked: list[CheckedEventFile],
    state: dict[str, dict[str, Any]],
    out_dir: str,
    parameters: dict[str, Any],
    config: Config,
    as_of: dt.date,
    contact_ids: pl.Series | None = None,
    contacts: SourceData | None = None,
) -> SourceData:
    """The scoring window's events from the state store, checked as a whole against today's
    contacts, freshness and volume: the same SourceData a single export gives, with the
    events left where they are stored (`window`). `contacts`, validated: the events of
    quarantined contacts are read in the same pass as those naming no contact."""
    suite = event_partitions.partition_suite(config)
    checked = sorted(checked, key=lambda c: c.file.day)
    entries = [(c.file, c.entry) for c in checked]
    by_name = {c.file.name: c.entry for c in checked}
    rows_in = sum(entry["rows"] for entry in by_name.values())
    data = SourceData(
        "events",
        list(by_name),
        catalog.combined_fingerprint({n: e["sha256"] for n, e in by_name.items()}),
        None,
        rows_in=rows_in,
        file_results=dict(_gx_result(c) for c in checked if c.validation is not None and c.validation.gx_result is not None),
    )
    failing = [c for c in checked if c.entry["blocking"]]  # only ever files validated now
    if failing:
        # the gate stops the run with each failing file's own message
        return data.replace(
            validation=validate.SourceValidation(
                source="events",
                files=[c.file.name for c in failing],
                rows_in=rows_in,
                suite=suite,
                outcomes=[o for c in failing for o in c.validation.blocking_failures],
                parts=[c.validation for c in failing],
            )
        )
    # kept in contact id order for the scoring (`contact_ranges`), and with the newest event
    # the freshness check reads: the files of a store from before are completed so now, once
    entries = [
        (file, event_store.with_newest(event_store.with_contact_order(file, entry, Path(out_dir)), Path(out_dir)))
        for file, entry in entries
    ]
    by_name = {file.name: entry for file, entry in entries}
    validation = validate.SourceValidation(
        source="events", files=list(by_name), rows_in=rows_in, suite=suite, outcomes=event_partitions.summed_outcomes(entries, suite)
    )
    contact_ids = contact_ids if contact_ids is not None else EMPTY_KEYS
    files = event_store.stored_files(entries, Path(out_dir), "kept")
    stored = event_store.one_scan(files, "kept")
    quarantined = event_store.read_window(entries, Path(out_dir), "quarantined")
    # no kept contacts (they blocked): the gate stops the run before anything is set aside
    unusable = normalise.unusable_contact_ids(contacts.kept, contacts.quarantined) if contacts and contacts.kept is not None else EMPTY_KEYS
    ids_key = contact_ids_key(contact_ids, unusable) if contacts is not None and contacts.kept is not None else None
    of_quarantined_contacts, orphaned, named = rows_naming_by_file(entries, files, stored, unusable, contact_ids, ids_key, out_dir)
    by_name.update(named)
    window_outcomes, orphans = event_partitions.window_checks(
        stored,
        contact_ids,
        rows_in,
        parameters,
        config.data_quality.severity_overrides.get("events", {}),
        orphaned,
        event_partitions.window_summary(entries),
    )
    validation.outcomes.extend(window_outcomes)
    examples = event_partitions.window_examples(entries)
    if orphans.height:
        examples[window_outcomes[0].label] = quarantine.example_rows(orphans.drop("quarantine_reasons"))
    window = event_window.EventWindow(tuple(files), stored, window_outcomes[0].element_count, of_quarantined_contacts)
    window = window.without(orphans.get_column("_row"))
    # remembered from now on: what a run as of this date or later can use
    start = rollup.first_day_read(config, as_of).isoformat()
    return data.replace(
        validation=validation,
        window=window,
        quarantined=pl.concat([quarantined, orphans], how="diagonal_relaxed").sort("_row"),
        examples=examples,
        event_state={name: entry for name, entry in {**state, **by_name}.items() if entry["day"] >= start},
    )


NAMING_QUARANTINED, NAMING_NO_CONTACT = "quarantined contact", "no contact"


def rows_naming_by_file(
    entries: list[tuple[event_partitions.EventFile, dict[str, Any]]],
    files: list[event_window.StoredFile],
    stored: pl.LazyFrame,
    unusable: pl.Series,
    contact_ids: pl.Series,
    ids_key: str | None,
    out_dir: str,
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, dict[str, Any]]]:
    """`event_window.rows_naming` over the window: (rows naming a quarantined contact, rows
    naming no contact, the entries of files whose rows were found now and remembered);
    `stored`: `files` as one scan (`event_store.one_scan`). Which
    of a file's rows name no contact or a quarantined one follows from the file and the
    contact ids alone (`ids_key`, `contact_ids_key`): while no contact comes, goes or is
    quarantined anew, a file's rows found by an earlier run are read back, even when the
    contacts export changed otherwise (a re-titled contact), and only the new files are
    scanned (at XL the whole window's ids against 10M contacts took ~5.7 s)."""
    folder = Path(out_dir)
    schema = stored.collect_schema()
    known = {i for i, (_, entry) in enumerate(entries) if event_store.remembered_naming(entry, ids_key, folder)}
    if len(files) != len(entries):  # a file without kept rows: number them all afresh
        known = set()
    fresh = [i for i in range(len(entries)) if i not in known]
    parts = pl.collect_all([event_store.read_naming(*entries[i], files[i].first_row, folder, schema) for i in sorted(known)])
    remembered_now: dict[str, dict[str, Any]] = {}
    if fresh:
        scanned = stored if not known else event_store.one_scan([files[i] for i in fresh], "kept")
        quarantined_contact, no_contact = event_window.rows_naming(scanned, unusable, contact_ids)
        found = pl.concat(
            [quarantined_contact.with_columns(naming=pl.lit(NAMING_QUARANTINED)), no_contact.with_columns(naming=pl.lit(NAMING_NO_CONTACT))]
        )
        parts.append(found)
        by_file = found.partition_by("file", as_dict=True, include_key=False) if ids_key is not None else {}
        for i in fresh if ids_key is not None else ():
            file, entry = entries[i]
            own = by_file.get((file.name,), found.clear().drop("file"))
            own = own.with_columns((pl.col("_row") - files[i].first_row).cast(schema["_row"]))
            remembered_now[file.name] = event_store.naming_entry(file, entry, ids_key, own, folder)
    if not parts:
        empty = pl.DataFrame(schema=schema)
        return empty, empty, remembered_now
    everything = pl.concat([_as_in(schema, part) for part in parts]).sort("_row")
    naming = everything.get_column("naming")
    return (
        everything.filter(naming == NAMING_QUARANTINED).drop("naming"),
        everything.filter(naming == NAMING_NO_CONTACT).drop("naming"),
        remembered_now,
    )


def contact_ids_key(contact_ids: pl.Series, unusable: pl.Series) -> str:
    """What the rows naming no contact or a quarantined one depend on: the contact ids and
    the unusable ones (`normalise.unusable_contact_ids`), as multisets (`catalog.multiset_bytes`:
    the same key in any row order), and the code. 0.3 s at XL (10M ids).
    A wrong answer needs an id that came and one that went in the same run to share a 64-bit
    hash (~5e-10 for 1,000 new ids among 10M)."""
    digest = hashlib.sha256(catalog.code_fingerprint().encode())
    for ids in (contact_ids, unusable):
        digest.update(catalog.multiset_bytes(ids))
    return digest.hexdigest()


def _as_in(schema: pl.Schema, part: pl.DataFrame) -> pl.DataFrame:
    """Rows of some of the window's files with the whole window's columns and types (files may
    differ in their optional columns)."""
    columns = [(pl.col(name) if name in part.columns else pl.lit(None)).cast(dtype).alias(name) for name, dtype in schema.items()]
    return part.select(*columns, "naming")


def _gx_result(checked: CheckedEventFile) -> tuple[str, tuple[dict[str, Any], Any]]:
    """(label, (suite, GX result)) of one GX run over daily files, for the run's Data Docs."""
    first, last = checked.gx_days or (checked.file.day, checked.file.day)
    days = first.isoformat() if first == last else f"{first.isoformat()}_to_{last.isoformat()}"
    return f"events {days}", ({**checked.validation.suite, "name": f"events_partition_{days}"}, checked.validation.gx_result)
