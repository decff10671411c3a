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
import dataclasses
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from abmq.tasks import contact_ranges, quarantine, rollup, validate
from abmq.tasks.sources import SOURCES

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


def in_window(files: list[EventFile], config, as_of: dt.date) -> tuple[list[EventFile], list[EventFile]]:
    """(files the run scores, files dated after the as-of date, left for later runs). An
    event is never later than its file's day, so older files cannot reach into the window."""
    start = rollup.first_day_read(config, as_of)
    return [f for f in files if start <= f.day <= as_of], [f for f in files if f.day > as_of]


# --- the state store -------------------------------------------------------------------------


def suite_hash(suite: dict[str, Any]) -> str:
    """A changed suite (or severity override) makes every remembered verdict stale."""
    return hashlib.sha256(json.dumps(suite, sort_keys=True).encode()).hexdigest()[:16]


def manifest_text(entries: dict[str, dict[str, Any]]) -> str:
    return json.dumps({"files": dict(sorted(entries.items()))}, indent=2, sort_keys=True, default=str) + "\n"


def partition_suite(config) -> dict[str, Any]:
    """The daily-file suite; severity overrides written for `events` apply to the same
    checks here (the window checks take theirs in `window_checks`), and the event types are
    the config's. Both, and an events mapping (written into its meta), are in `suite_hash`:
    a changed mapping or set of categories makes remembered files stale."""
    suite = validate.load_suite("events", config.data_quality, suite_name=SUITE, value_sets=validate.config_value_sets(config))
    source_mapping = config.sources.get("events")
    if source_mapping is not None:
        suite["meta"] = {**suite.get("meta", {}), "mapping": source_mapping.model_dump(mode="json")}
    return suite


# --- daily files seen for the first time -----------------------------------------------------

# Files validated in one GX run, up to this many rows in all: GX costs ~0.25 s a run however
# small the file (90 files of a first run: 21 s at S), while the rows of a batch are held
# twice more (the concatenation and GX's pandas copy).
GX_BATCH_ROWS = 2_000_000


@dataclass(frozen=True)
class StagedFile:
    file: EventFile
    sha256: str
    staged: pl.DataFrame


@dataclass(frozen=True)
class ValidatedFile:
    """One daily file through its suite: the manifest entry (published with the run's
    outputs), the GX verdict, and the rows to store (None when the file blocks).
    `gx_days`: the first and last day of the files GX validated together, on the first
    file of a batch (whose validation holds GX's result)."""

    file: EventFile
    entry: dict[str, Any]
    validation: validate.SourceValidation
    kept: pl.DataFrame | None
    quarantined: pl.DataFrame | None
    gx_days: tuple[dt.date, dt.date] | None = None


def fits_batch(batch: list[StagedFile], staged: pl.DataFrame) -> bool:
    """Whether a file joins the batch: the same columns and types, rows in both, and not
    more than GX_BATCH_ROWS together. An empty file is validated on its own."""
    if not batch or staged.height == 0 or batch[0].staged.height == 0 or staged.schema != batch[0].staged.schema:
        return False
    return sum(b.staged.height for b in batch) + staged.height <= GX_BATCH_ROWS


def validate_files(batch: list[StagedFile], suite: dict[str, Any], max_quarantine_share: float) -> list[ValidatedFile]:
    """Validate a batch of daily files (same schema, see `fits_batch`) in one GX run. Each
    file's outcomes are what GX gives that file alone: its rows failing each row-level check
    (the quarantine rules, whose counts over the batch must equal GX's) and its row count;
    column checks are the batch's, since the columns are. Files are validated one by one when
    that cannot be worked out: one file, a check that is not row-level or has `mostly`, a
    check GX could not evaluate, or a rule that does not count what GX counted."""

    def one_by_one() -> list[ValidatedFile]:
        return [validate_file(b.file, b.sha256, b.staged, suite, max_quarantine_share) for b in batch]

    splittable = all(
        e["type"] == "expect_column_to_exist" or (e["type"] in quarantine.ROW_LEVEL and "mostly" not in e["kwargs"])
        for e in suite["expectations"]
    )
    if len(batch) == 1 or not splittable:
        return one_by_one()
    combined = pl.concat([b.staged for b in batch])
    fingerprint = suite_hash(suite)  # before GX, which adds ids to the suite it is given
    together = validate.run_suite("events", combined, copy.deepcopy(suite), {}, [b.file.name for b in batch], _unknown(combined))
    per_file = _outcomes_per_file(together, combined, [b.staged.height for b in batch])
    if per_file is None:
        return one_by_one()
    days = (batch[0].file.day, batch[-1].file.day)
    validated = []
    for position, (b, outcomes) in enumerate(zip(batch, per_file, strict=True)):
        validation = validate.SourceValidation(
            source="events",
            files=[b.file.name],
            rows_in=b.staged.height,
            unknown_columns=together.unknown_columns,
            outcomes=outcomes,
            suite=together.suite,
            gx_result=together.gx_result if position == 0 else None,
        )
        validation = validate.with_details(validate.escalate_widespread(validation, max_quarantine_share), b.staged)
        validated.append(_kept_aside(b.file, b.sha256, b.staged, validation, fingerprint, days if position == 0 else None))
    return validated


def _outcomes_per_file(
    together: validate.SourceValidation, combined: pl.DataFrame, sizes: list[int]
) -> list[list[validate.ExpectationOutcome]] | None:
    """Each file's outcomes from a GX run over the batch, or None when they cannot be split."""
    row_level = [o for o in together.outcomes if o.expectation in quarantine.ROW_LEVEL]
    if any(o.error or o.observed_value is not None for o in together.outcomes) or any(
        o.unexpected_count is None or o.element_count != combined.height for o in row_level
    ):
        return None
    file_number = pl.Series("_file", range(len(sizes)), pl.UInt32).repeat_by(pl.Series(sizes, dtype=pl.UInt32)).explode()
    failing = (
        validate.as_validated(combined)
        .select(quarantine.failing_rows(o, {}).fill_null(False).cast(pl.UInt32).alias(str(i)) for i, o in enumerate(row_level))
        .with_columns(file_number)
        .group_by("_file")
        .sum()
        .sort("_file")
    )
    if failing.height != len(sizes) or any(failing[str(i)].sum() != o.unexpected_count for i, o in enumerate(row_level)):
        return None
    counts = {id(o): failing[str(i)].to_list() for i, o in enumerate(row_level)}

    def in_file(o: validate.ExpectationOutcome, n: int, size: int) -> validate.ExpectationOutcome:
        # a new outcome per file: escalation and details are set on each file's own
        if id(o) not in counts:
            return dataclasses.replace(o)
        return dataclasses.replace(o, success=counts[id(o)][n] == 0, unexpected_count=counts[id(o)][n], element_count=size)

    return [[in_file(o, n, size) for o in together.outcomes] for n, size in enumerate(sizes)]


def _unknown(staged: pl.DataFrame) -> list[str]:
    return [c for c in staged.columns if c not in SOURCES["events"].columns and not c.startswith("_") and c != "file_day_end"]


def validate_file(file: EventFile, sha256: str, staged: pl.DataFrame, suite: dict[str, Any], max_quarantine_share: float) -> ValidatedFile:
    """Validate one daily file in a GX run of its own."""
    fingerprint = suite_hash(suite)  # before GX, which adds ids to the suite it is given
    validation = validate.with_details(
        validate.run_suite("events", staged, copy.deepcopy(suite), {}, [file.name], _unknown(staged), max_quarantine_share), staged
    )
    return _kept_aside(file, sha256, staged, validation, fingerprint)


def _kept_aside(
    file: EventFile,
    sha256: str,
    staged: pl.DataFrame,
    validation: validate.SourceValidation,
    fingerprint: str,
    gx_days: tuple[dt.date, dt.date] | None = None,
) -> ValidatedFile:
    """The file's manifest entry and its rows kept and quarantined. The stored rows get
    content-addressed names, so an unpublished run's files never shadow a published one's."""
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
        return ValidatedFile(file, entry, validation, None, None, gx_days)
    kept, quarantined = quarantine.split_quarantine(staged, validation, {})
    entry["examples"] = quarantine.quarantine_examples(quarantined, validation, {})
    if quarantined.height:
        entry["quarantined"] = f"{file.path.stem}.{sha256[:16]}.quarantine.parquet"
    entry["kept_rows"], entry["quarantined_rows"] = kept.height, quarantined.height
    entry["newest"] = newest_event(kept)
    entry["by_contact"] = by_contact_entry(file, sha256)
    return ValidatedFile(file, entry, validation, kept.drop("file_day_end"), quarantined.drop("file_day_end"), gx_days)


def by_contact_entry(file: EventFile, sha256: str) -> dict[str, str]:
    """Where a file's kept rows are stored in contact id order for the scoring
    (`contact_ranges`), and how they are laid out."""
    layout = hashlib.sha256(contact_ranges.LAYOUT.encode()).hexdigest()[:8]
    return {"layout": contact_ranges.LAYOUT, "rows": f"{file.path.stem}.{sha256[:16]}.{layout}.by_contact.parquet"}


def newest_event(kept: pl.DataFrame | pl.LazyFrame) -> int | None:
    """A file's newest kept event, in microseconds since the epoch (UTC): kept in its manifest
    entry, so that the window's freshness check reads no event (`window_summary`)."""
    return kept.lazy().select(pl.col("occurred_at").max().dt.epoch("us")).collect().item()


# --- the window ------------------------------------------------------------------------------


def window_summary(entries: list[tuple[EventFile, dict[str, Any]]]) -> tuple[int, dt.datetime | None] | None:
    """(kept rows, newest kept event) of the window, from its files' manifest entries; None
    when an entry does not say (the window is then read for them)."""
    if any("newest" not in entry or entry.get("kept_rows") is None for _, entry in entries):
        return None
    newest = [entry["newest"] for _, entry in entries if entry["newest"] is not None]
    # the value as the window's own query gives it (a polars datetime in UTC)
    latest = pl.Series([max(newest)], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")).item() if newest else None
    return sum(entry["kept_rows"] for _, entry in entries), latest


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
    kept: pl.LazyFrame | pl.DataFrame,
    contact_ids: pl.Series,
    rows_in: int,
    parameters: dict[str, Any],
    overrides: dict[str, str] | None = None,
    orphaned_rows: pl.DataFrame | None = None,
    summary: tuple[int, dt.datetime | None] | None = None,
) -> tuple[list[validate.ExpectationOutcome], pl.DataFrame]:
    """Checks of the window as a whole, every run: events naming no known contact (set aside,
    as in a single export), freshness and volume (blocking). `kept` is read by streaming
    queries, never whole; `orphaned_rows`: those events, when the caller has read them;
    `summary`: (kept rows, newest event), when the files' entries say (`window_summary`).
    With both, no event is read. Returns (outcomes, orphaned rows with their reason)."""
    kept = kept.lazy()
    # the set of ids costs 14 s at XL: built only when the orphans are not given
    orphaned = ~pl.col("contact_id").is_in(contact_ids.implode()) if orphaned_rows is None else None
    if orphaned_rows is not None and summary is not None:
        (rows, newest), orphan_count = summary, orphaned_rows.height
    else:
        counted = orphaned.sum() if orphaned is not None else pl.lit(orphaned_rows.height)
        query = kept.select(pl.len().alias("rows"), counted.alias("orphans"), pl.col("occurred_at").max().alias("newest"))
        rows, orphan_count, newest = query.collect(engine="streaming").row(0)
    contact_check = validate.ExpectationOutcome(
        source="events",
        expectation="expect_column_values_to_be_in_set",
        kwargs={"column": "contact_found", "value_set": [True]},
        severity="warning",
        why="no contact with this contact_id",
        success=orphan_count == 0,
        unexpected_count=int(orphan_count),
        element_count=rows,
    )
    fresh_from = parameters["events_fresh_from"]
    freshness = validate.ExpectationOutcome(
        source="events",
        expectation="expect_column_max_to_be_between",
        kwargs={"column": "occurred_at", "min_value": {"$PARAMETER": "events_fresh_from"}},
        severity="blocking",
        why="events are stale: the newest is older than the freshness limit",
        success=newest is not None and newest >= fresh_from,
        unexpected_count=None,
        element_count=rows,
        observed_value=newest,
        resolved={"min_value": fresh_from},
    )
    floor = parameters["volume_floors"].get("events", 0)
    volume = validate.ExpectationOutcome(
        source="events",
        expectation="expect_table_row_count_to_be_between",
        kwargs={"min_value": {"$PARAMETER": "volume_floor"}},
        severity="blocking",
        why="row count of the scoring window collapsed since the last good run",
        success=rows_in >= floor and rows_in > 0,
        unexpected_count=None,
        element_count=rows_in,
        observed_value=rows_in,
        resolved={"min_value": max(floor, 1)},
    )
    checks = [contact_check, freshness, volume]
    for check in checks:  # the same severity overrides as for one events export
        check.severity = (overrides or {}).get(check.label, check.severity)
    if contact_check.severity == "warning" and orphan_count:
        reason = pl.lit(f"{contact_check.label}: {contact_check.why}").alias("quarantine_reasons")
        if orphaned_rows is not None:
            return checks, orphaned_rows.with_columns(reason)
        return checks, kept.filter(orphaned).with_columns(reason).collect(engine="streaming")
    # none, or blocking: the gate stops the run; nothing is set aside
    return checks, kept.clear().with_columns(pl.lit(None, pl.String).alias("quarantine_reasons")).collect()
