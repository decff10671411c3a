"""The event state store (`OUT/state/events/`): daily event files found and read, their
validated rows written and read back (I/O of `tasks/event_partitions.py`).

Files are written in place under content-addressed names and become part of the outputs only
when the run's manifest is published; `remove_unlisted` drops what no published manifest
lists (a killed run's files, days that left the window).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from pathlib import Path
from typing import Any

import polars as pl

from abmq.config import Limits, SourceMapping, TimestampFormat
from abmq.tasks import catalog, contact_ranges, event_partitions, input_limits, mapping, staging
from abmq.tasks.event_partitions import DAY_IN_NAME, MANIFEST, STATE_DIR, EventFile, ValidatedFile, suite_hash
from abmq.tasks.event_window import StoredFile
from abmq.tasks.sources import SOURCES, UTC_TIMESTAMP


def daily_files(input_dir: Path) -> list[EventFile] | None:
    """The dated files of `events/`, oldest first, or None when events come as one export
    (`events.parquet`, `events.csv`, or a folder of undated parts)."""
    files = catalog.source_files(Path(input_dir), "events")
    if not files or files[0].parent.name != "events":
        return None
    found = {path: DAY_IN_NAME.search(path.name) for path in files}
    if not any(found.values()):
        return None
    undated = sorted(path.name for path, match in found.items() if match is None)
    if undated:
        raise catalog.SourceError(
            f"events/: {len(undated)} file(s) without a date in the name ({', '.join(undated[:3])}) beside daily "
            "files; name every daily file by its day, e.g. events/2026-11-24.parquet"
        )
    dated: dict[dt.date, Path] = {}
    for path, match in found.items():
        try:
            day = dt.date.fromisoformat(match.group(1))
        except ValueError:
            raise catalog.SourceError(f"events/{path.name}: '{match.group(1)}' is not a calendar date (YYYY-MM-DD)") from None
        if day in dated:
            raise catalog.SourceError(f"events/: two files for {day}: {dated[day].name} and {path.name}; keep one per day")
        dated[day] = path
    return [EventFile(path, day) for day, path in sorted(dated.items())]


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_folder(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR


def read_state(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The published manifest: {file name: entry}. A file listed here was validated by a run
    that published; its rows are in the entry's `kept` / `quarantined` files."""
    return catalog.read_state_manifest(state_folder(out_dir) / MANIFEST, "files", "event state")


def cached_entry(
    state: dict[str, dict[str, Any]], file: EventFile, sha256: str, suite: dict[str, Any], out_dir: Path
) -> dict[str, Any] | None:
    entry = state.get(file.name)
    if entry is None or entry["sha256"] != sha256 or entry["suite"] != suite_hash(suite):
        return None
    folder = state_folder(out_dir)
    if not (folder / entry["kept"]).exists() or (entry["quarantined"] and not (folder / entry["quarantined"]).exists()):
        return None  # the store was tampered with: validate the file again
    return entry


def remove_unlisted(out_dir: Path) -> int:
    """State files no published manifest refers to (a killed run's, or a replaced file's).
    Only called while holding the output lock."""
    listed = {MANIFEST}
    for entry in read_state(out_dir).values():
        stored = (entry["kept"], entry["quarantined"], entry.get("naming", {}).get("rows"), entry.get("by_contact", {}).get("rows"))
        listed.update(name for name in stored if name)
    return catalog.remove_files_not_listed(state_folder(out_dir), listed)


def stage_file(file: EventFile, limits: Limits | None = None, source_mapping: SourceMapping | None = None) -> pl.DataFrame:
    """The file reshaped by the events mapping (if any) and cast to the contract, with the end
    of its day for the `file_day_end` check (`day_end`)."""
    spec = SOURCES["events"]
    limits = limits or Limits()
    scan = mapping.apply(input_limits.scan([file.path], catalog.scan_files, spec, limits), spec, source_mapping)
    typed = staging.stage_events(staging.cast_to_contract(scan, spec, limits.max_field_bytes), None)
    day_end = file_day_end(file.day, source_mapping)
    try:
        return typed.with_columns(pl.lit(day_end, UTC_TIMESTAMP).alias("file_day_end")).collect(engine="streaming")
    except Exception as exc:  # an unreadable file surfaces when the scan runs
        raise catalog.read_error("events", [file.name], exc) from None


def file_day_end(day: dt.date, source_mapping: SourceMapping | None = None) -> dt.datetime:
    """The last moment of a daily file's day, in UTC. The day is the export's own: in the zone
    its mapping reads `occurred_at` in (a CRM exporting New York days puts an 8 PM event, 01:00
    UTC the next day, in that day's file), else UTC."""
    written = source_mapping.formats.get("occurred_at") if source_mapping is not None else None
    zone = zoneinfo.ZoneInfo(written.timezone) if isinstance(written, TimestampFormat) else dt.timezone.utc
    return dt.datetime.combine(day, dt.time.max, tzinfo=zone).astimezone(dt.timezone.utc)


def store_file(validated: ValidatedFile, out_dir: Path) -> None:
    """Write a validated file's rows into the store (a blocking file writes nothing)."""
    if validated.kept is None:
        return
    folder = state_folder(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(validated.kept, folder / validated.entry["kept"])
    if validated.entry["quarantined"]:
        _write_atomically(validated.quarantined, folder / validated.entry["quarantined"])
    write_in_contact_order(validated.kept, folder / validated.entry["by_contact"]["rows"])


def with_contact_order(file: EventFile, entry: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """`entry`, its kept rows stored in contact id order for the scoring (`contact_ranges`):
    as they are, or written now when the store has none laid out the current way (a store
    from before). At XL 0.17 s a file."""
    if not entry["kept"]:
        return entry
    folder = state_folder(out_dir)
    stored = _in_contact_order(file, entry)
    if stored is not None and (folder / stored).exists():
        return entry
    wanted = event_partitions.by_contact_entry(file, entry["sha256"])
    write_in_contact_order(pl.read_parquet(folder / entry["kept"], columns=list(contact_ranges.COLUMNS)), folder / wanted["rows"])
    return {**entry, "by_contact": wanted}


def with_newest(entry: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """`entry` with its newest kept event (`event_partitions.newest_event`): as it is, or read
    now from its kept rows when a store from before has none."""
    if "newest" in entry or not entry["kept"]:
        return entry
    return {**entry, "newest": event_partitions.newest_event(pl.scan_parquet(state_folder(out_dir) / entry["kept"]))}


def _in_contact_order(file: EventFile, entry: dict[str, Any]) -> str | None:
    """The name of the entry's kept rows in contact id order, when laid out the current way."""
    stored = entry.get("by_contact")
    return stored["rows"] if stored is not None and stored == event_partitions.by_contact_entry(file, entry["sha256"]) else None


def write_in_contact_order(kept: pl.DataFrame, path: Path) -> None:
    """A daily file's kept rows as the scoring reads them (`contact_ranges`): in contact id
    order, in ROW_GROUPS row groups with statistics. lz4: a slice's engagement read and added
    up in 3.9–4.1 s at XL where zstd took 4.4–4.6 s (586 MiB against 428 MiB for 90 files)."""
    rows = contact_ranges.in_contact_order(kept)
    size = max(1, -(-rows.height // contact_ranges.ROW_GROUPS))
    catalog.write_atomically(path, lambda temporary: rows.write_parquet(temporary, compression="lz4", statistics=True, row_group_size=size))


def _write_atomically(frame: pl.DataFrame, path: Path) -> None:
    catalog.write_atomically(path, lambda temporary: frame.write_parquet(temporary, statistics=False))


def stored_files(entries: list[tuple[EventFile, dict[str, Any]]], out_dir: Path, which: str) -> list[StoredFile]:
    """The window's kept (or quarantined) rows, file by file in file order; `_row` numbers rows
    across the window as if the files were one export, so ties break the same cached or not,
    and `file` names each row's daily file. No row is read until a query collects it."""
    folder = state_folder(out_dir)
    files, offset = [], 0
    for file, entry in entries:
        if entry[which]:
            stored = _in_contact_order(file, entry) if which == "kept" else None
            by_contact = str(folder / stored) if stored is not None else None
            files.append(StoredFile(in_window(pl.scan_parquet(folder / entry[which]), file, offset), offset, entry["rows"], by_contact))
        offset += entry["rows"]
    return files


def in_window(rows: pl.LazyFrame, file: EventFile, first_row: int) -> pl.LazyFrame:
    """A daily file's stored rows as the window has them: `_row` numbered across the window
    (the file's first is `first_row`), and `file` naming it."""
    return rows.with_columns((pl.col("_row") + first_row).alias("_row"), pl.lit(file.name).alias("file"))


# --- the rows of each file naming no contact, or a quarantined one ---------------------------
# They depend on the file and on the contact ids (their key, `ingest.contact_ids_key`): kept
# beside the file's rows for the runs after, while no contact comes, goes or is quarantined.


def naming_entry(file: EventFile, entry: dict[str, Any], ids_key: str, rows: pl.DataFrame, out_dir: Path) -> dict[str, Any]:
    """`entry` with its rows naming no contact or a quarantined one (`rows`, numbered in the
    file, with `naming`) written beside its kept rows."""
    name = None
    if rows.height:
        name = f"{file.path.stem}.{entry['sha256'][:16]}.{ids_key[:16]}.naming.parquet"
        folder = state_folder(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(rows, folder / name)
    return {**entry, "naming": {"contact_ids": ids_key, "rows": name}}


def remembered_naming(entry: dict[str, Any], ids_key: str | None, out_dir: Path) -> bool:
    naming = entry.get("naming")
    if ids_key is None or naming is None or naming.get("contact_ids") != ids_key:
        return False
    return naming["rows"] is None or (state_folder(out_dir) / naming["rows"]).exists()


def read_naming(file: EventFile, entry: dict[str, Any], first_row: int, out_dir: Path, schema: pl.Schema) -> pl.LazyFrame:
    """A file's remembered rows naming no contact or a quarantined one, as the window has them
    (a query: the caller collects every file's at once)."""
    name = entry["naming"]["rows"]
    if name is None:
        return pl.LazyFrame(schema={**schema, "naming": pl.String})
    return in_window(pl.scan_parquet(state_folder(out_dir) / name), file, first_row)


def one_scan(files: list[StoredFile], which: str) -> pl.LazyFrame:
    """`stored_files` as one lazy scan."""
    if not files:
        schema = {"_row": pl.UInt32, **SOURCES["events"].required, "file": pl.String}
        if which == "quarantined":
            schema["quarantine_reasons"] = pl.String
        return pl.LazyFrame(schema=schema)
    return pl.concat([f.scan for f in files], how="diagonal_relaxed")


def read_window(entries: list[tuple[EventFile, dict[str, Any]]], out_dir: Path, which: str) -> pl.DataFrame:
    """The window's stored rows, read (the quarantined rows: few)."""
    return one_scan(stored_files(entries, out_dir, which), which).collect()


def remove_leftovers(out_dir: Path) -> None:
    """What killed runs left behind: staging folders and unlisted state files (only called
    while holding the output lock)."""
    catalog.remove_leftovers(out_dir)
    remove_unlisted(out_dir)
