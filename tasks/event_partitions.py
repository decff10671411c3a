"""Events delivered as one file per day (`events/YYYY-MM-DD.parquet|csv`), validated once.

A daily file's verdict depends only on the file itself (the `events_partition` suite), so it
is remembered in a state store in the output folder (`state/events/`): the validated rows,
the quarantined rows and the outcomes, keyed by the file's content hash. A run validates only
the files of its scoring window it has not seen (or whose content changed), then checks the
whole window against today's contacts, freshness and volume. Cached or not, the window's rows
are assembled in file order, so the scores equal a full recompute.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from abmq.tasks import catalog, rollup, staging, validate
from abmq.tasks.sources import SOURCES, UTC_TIMESTAMP

STATE_DIR = "state/events"
MANIFEST = "_partitions.json"
SUITE = "events_partition"
DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
CONTACT_CHECK = "expect_column_values_to_be_in_set(contact_found)"


@dataclass(frozen=True)
class EventFile:
    """One daily events file."""

    path: Path
    day: dt.date

    @property
    def name(self) -> str:
        return f"events/{self.path.name}"


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


def in_window(files: list[EventFile], config, as_of: dt.date) -> tuple[list[EventFile], list[EventFile]]:
    """(files the run scores, files dated after the as-of date, left for later runs). An
    event is never later than its file's day, so older files cannot reach into the window."""
    start = rollup.first_day_read(config, as_of)
    return [f for f in files if start <= f.day <= as_of], [f for f in files if f.day > as_of]


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the state store -------------------------------------------------------------------------


def state_folder(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR


def read_state(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The published manifest: {file name: entry}. A file listed here was validated by a run
    that published; its rows are in the entry's `kept` / `quarantined` files."""
    path = state_folder(out_dir) / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise catalog.SourceError(f"{path}: unreadable event state ({exc}); delete {state_folder(out_dir)} to rebuild it") from None


def suite_hash(suite: dict[str, Any]) -> str:
    """A changed suite (or severity override) makes every remembered verdict stale."""
    return hashlib.sha256(json.dumps(suite, sort_keys=True).encode()).hexdigest()[:16]


def cached_entry(state: dict[str, dict[str, Any]], file: EventFile, sha256: str, suite: dict[str, Any], out_dir: Path) -> dict[str, Any] | None:
    entry = state.get(file.name)
    if entry is None or entry["sha256"] != sha256 or entry["suite"] != suite_hash(suite):
        return None
    folder = state_folder(out_dir)
    if not (folder / entry["kept"]).exists() or (entry["quarantined"] and not (folder / entry["quarantined"]).exists()):
        return None  # the store was tampered with: validate the file again
    return entry


def manifest_text(entries: dict[str, dict[str, Any]]) -> str:
    return json.dumps({"files": dict(sorted(entries.items()))}, indent=2, sort_keys=True, default=str) + "\n"


def remove_unlisted(out_dir: Path) -> int:
    """State files no published manifest refers to (a killed run's, or a replaced file's).
    Only called while holding the output lock."""
    folder = state_folder(out_dir)
    if not folder.is_dir():
        return 0
    listed = {MANIFEST}
    for entry in read_state(out_dir).values():
        listed.update(name for name in (entry["kept"], entry["quarantined"]) if name)
    removed = 0
    for path in folder.iterdir():
        if path.name not in listed:
            path.unlink()
            removed += 1
    return removed


def partition_suite(quality) -> dict[str, Any]:
    """The daily-file suite; severity overrides written for `events` apply to the same
    checks here (the window checks take theirs in `window_checks`)."""
    suite = validate.load_suite(SUITE)
    overrides = dict(quality.severity_overrides.get("events", {})) if quality is not None else {}
    for entry in suite["expectations"]:
        label = validate.ExpectationOutcome("events", entry["type"], entry["kwargs"], "", "", True, None, None).label
        if label in overrides:
            entry.setdefault("meta", {})["severity"] = overrides[label]
    return suite


# --- one daily file --------------------------------------------------------------------------


def stage_file(file: EventFile) -> pl.DataFrame:
    """The file cast to the contract, with the end of its day for the `file_day_end` check."""
    spec = SOURCES["events"]
    scan = catalog.scan_files([file.path])
    typed = staging.stage_events(staging.cast_to_contract(scan, spec), None)
    day_end = dt.datetime.combine(file.day, dt.time.max, tzinfo=dt.timezone.utc)
    try:
        return typed.with_columns(pl.lit(day_end, UTC_TIMESTAMP).alias("file_day_end")).collect(engine="streaming")
    except Exception as exc:  # an unreadable file surfaces when the scan runs
        raise catalog.read_error("events", [file.name], exc) from None


def validate_file(
    file: EventFile, sha256: str, staged: pl.DataFrame, suite: dict[str, Any], max_quarantine_share: float, out_dir: Path
) -> tuple[dict[str, Any], validate.SourceValidation]:
    """Validate one daily file and write its rows into the state store (content-addressed
    names, so an unpublished run's files never shadow a published one's). Returns the
    manifest entry; it is published with the run's outputs."""
    unknown = [c for c in staged.columns if c not in SOURCES["events"].columns and not c.startswith("_") and c != "file_day_end"]
    fingerprint = suite_hash(suite)  # before GX, which adds ids to the suite it is given
    validation = validate.run_suite("events", staged, copy.deepcopy(suite), {}, [file.name], unknown, max_quarantine_share)
    entry: dict[str, Any] = {
        "day": file.day.isoformat(),
        "sha256": sha256,
        "suite": fingerprint,
        "rows": staged.height,
        "outcomes": validation.to_dict()["expectations"],
        "blocking": validation.error_message() if validation.blocking_failures else None,
        "examples": {},
        "kept": f"{file.path.stem}.{sha256[:16]}.parquet",
        "quarantined": None,
    }
    if validation.blocking_failures:
        return entry, validation
    kept, quarantined = validate.split_quarantine(staged, validation, {})
    entry["examples"] = validate.quarantine_examples(quarantined, validation, {})
    folder = state_folder(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(kept.drop("file_day_end"), folder / entry["kept"])
    if quarantined.height:
        entry["quarantined"] = f"{file.path.stem}.{sha256[:16]}.quarantine.parquet"
        _write_atomically(quarantined.drop("file_day_end"), folder / entry["quarantined"])
    entry["kept_rows"], entry["quarantined_rows"] = kept.height, quarantined.height
    return entry, validation


def _write_atomically(frame: pl.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    frame.write_parquet(temporary, statistics=False)
    os.replace(temporary, path)


# --- the window ------------------------------------------------------------------------------


def read_window(entries: list[tuple[EventFile, dict[str, Any]]], out_dir: Path, which: str) -> pl.DataFrame:
    """The window's kept (or quarantined) rows in file order; `_row` numbers rows across the
    window as if the files were one export, so ties break the same cached or not."""
    folder = state_folder(out_dir)
    frames, offset = [], 0
    for file, entry in entries:
        if entry[which]:
            frames.append(
                pl.read_parquet(folder / entry[which])
                .with_columns((pl.col("_row") + offset).alias("_row"), pl.lit(file.name).alias("file"))
            )
        offset += entry["rows"]
    if not frames:
        schema = {"_row": pl.UInt32, **SOURCES["events"].required, "file": pl.String}
        if which == "quarantined":
            schema["quarantine_reasons"] = pl.String
        return pl.DataFrame(schema=schema)
    return pl.concat(frames, how="diagonal_relaxed")


def summed_outcomes(entries: list[tuple[EventFile, dict[str, Any]]], suite: dict[str, Any]) -> list[validate.ExpectationOutcome]:
    """One outcome per expectation over the window's files (counts added up)."""
    outcomes = []
    for position, expectation in enumerate(suite["expectations"]):
        results = [entry["outcomes"][position] for _, entry in entries]
        meta = expectation.get("meta") or {}
        counted = [r["unexpected_count"] for r in results if r["unexpected_count"] is not None]
        # a warning that failed on most of one file's rows was escalated for that file
        escalated = [r for r in results if r["escalated"] and not r["success"]]
        outcomes.append(
            validate.ExpectationOutcome(
                source="events",
                expectation=expectation["type"],
                kwargs=dict(expectation["kwargs"]),
                severity="blocking" if escalated else meta.get("severity", "blocking"),
                why=escalated[0]["why"] if escalated else meta.get("why", ""),
                success=all(r["success"] for r in results),
                unexpected_count=sum(counted) if counted else None,
                element_count=sum(r["element_count"] or 0 for r in results) if results else None,
                escalated=bool(escalated),
                error=next((r["error"] for r in results if r["error"]), None),
            )
        )
    return outcomes


def window_examples(entries: list[tuple[EventFile, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Example rows per rule from the earliest files that had some."""
    examples: dict[str, list[dict[str, Any]]] = {}
    for file, entry in entries:
        for label, rows in entry["examples"].items():
            have = examples.setdefault(label, [])
            have.extend({**row, "file": file.name} for row in rows[: validate.EXAMPLES_PER_RULE - len(have)])
    return {label: rows for label, rows in examples.items() if rows}


def window_checks(
    kept: pl.DataFrame, contact_ids: pl.Series, rows_in: int, parameters: dict[str, Any]
) -> tuple[list[validate.ExpectationOutcome], pl.DataFrame, pl.Series]:
    """Checks of the window as a whole, every run: events naming no known contact (set aside,
    as in a single export), freshness and volume (blocking). Returns (outcomes, orphaned
    rows with their reason, mask of the orphans)."""
    orphan = ~kept.get_column("contact_id").is_in(contact_ids.implode())
    contact_check = validate.ExpectationOutcome(
        source="events", expectation="expect_column_values_to_be_in_set", kwargs={"column": "contact_found", "value_set": [True]},
        severity="warning", why="no contact with this contact_id", success=not orphan.any(),
        unexpected_count=int(orphan.sum()), element_count=kept.height,
    )
    newest = kept.get_column("occurred_at").max()
    fresh_from = parameters["events_fresh_from"]
    freshness = validate.ExpectationOutcome(
        source="events", expectation="expect_column_max_to_be_between",
        kwargs={"column": "occurred_at", "min_value": {"$PARAMETER": "events_fresh_from"}},
        severity="blocking", why="events are stale: the newest is older than the freshness limit",
        success=newest is not None and newest >= fresh_from, unexpected_count=None, element_count=kept.height,
        observed_value=newest, resolved={"min_value": fresh_from},
    )
    floor = parameters["volume_floors"].get("events", 0)
    volume = validate.ExpectationOutcome(
        source="events", expectation="expect_table_row_count_to_be_between", kwargs={"min_value": {"$PARAMETER": "volume_floor"}},
        severity="blocking", why="row count of the scoring window collapsed since the last good run",
        success=rows_in >= floor and rows_in > 0, unexpected_count=None, element_count=rows_in,
        observed_value=rows_in, resolved={"min_value": max(floor, 1)},
    )
    orphans = kept.filter(orphan).with_columns(pl.lit(f"{contact_check.label}: {contact_check.why}").alias("quarantine_reasons"))
    return [contact_check, freshness, volume], orphans, orphan
