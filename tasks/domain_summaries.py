"""The per-domain summaries worked out before the split into shards (`rollup.technology_matches`
of the technographics, `rollup.intent_surges` of the intent), kept beside their export in the
export store (`tasks/source_store.py`) and read back by a later run whose summary would be the
same. At XL they took 2.0 s and 1.2–1.5 s of every daily run, though the exports seldom change.

A summary is the same when its export is (the store key: files, mapping, settings and code),
the scoring settings it reads are, and the as-of date picks the same rows of it. That last part
is counted, not compared: on one export a date filter picks more rows only as the date moves, so
the technographics seen by the as-of date are the same rows when there are as many of them, and
the intent weeks in the recent window are the same when as many rows lie on or before each of
its two ends. So technology matches are worked out again only when a tool is first seen between
two runs' dates, and intent surges once a week, when the provider's week comes in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from abmq.config import Config
from abmq.tasks import rollup, source_store

# The exports' rows may come as scans (read back from the export store, `sources.READ_BACK_AS_SCANS`):
# what a summary's key counts is read of one column, and the rows only when it is made again.


def technology_matches(
    technographics: pl.DataFrame | pl.LazyFrame, config: Config, as_of: dt.date, store: SummaryStore | None
) -> pl.DataFrame:
    settings = config.account_scoring.fit.technologies.model_dump(mode="json")
    seen = technographics.lazy().select((pl.col("first_seen") <= as_of).sum()).collect().item()

    def make() -> pl.DataFrame:
        return rollup.technology_matches(_in_memory(technographics), config, as_of)

    return _recalled_or_made(store, "technographics", {"settings": settings, "seen": seen}, make)


def intent_surges(intent: pl.DataFrame | pl.LazyFrame, config: Config, as_of: dt.date, store: SummaryStore | None) -> pl.DataFrame:
    rules = config.account_scoring.intent
    since = as_of - dt.timedelta(weeks=rules.recent_weeks)
    counted = (pl.col("week") <= as_of).sum().alias("as_of"), (pl.col("week") <= since).sum().alias("since")
    on_or_before = intent.lazy().select(*counted).collect()
    reads = {"settings": rules.model_dump(mode="json"), "weeks": on_or_before.row(0, named=True)}

    def make() -> pl.DataFrame:
        rows = _in_memory(intent)
        return rollup.intent_surges(rows, config, as_of, rollup.latest_intent_week(rows, config, as_of))

    return _recalled_or_made(store, "intent", reads, make)


def _in_memory(rows: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return rows if isinstance(rows, pl.DataFrame) else rows.collect()


class SummaryStore:
    """Where the split reads and keeps summaries: the output folder's export store, and the
    store entries of the exports as this run has them (`entries`: updated with what it keeps,
    published with the run's manifest)."""

    def __init__(self, out_dir: str | Path, entries: dict[str, dict[str, Any] | None]):
        self.out_dir = Path(out_dir)
        self.entries = dict(entries)
        self.recalled: list[str] = []  # the exports whose summary was read back


def _recalled_or_made(store: SummaryStore | None, source: str, reads: dict[str, Any], make: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """The summary `make` gives, read back when the export's entry keeps one made from the same
    export and `reads`; else made, and kept under a new entry for the run's manifest."""
    entry = store.entries.get(source) if store is not None else None
    if entry is None:  # the export is not in the store (not rememberable, or it blocked)
        return make()
    key = hashlib.sha256(json.dumps({"export": entry["key"], **reads}, sort_keys=True).encode()).hexdigest()
    kept = entry.get(source_store.SUMMARY)
    if kept is not None and kept["key"] == key:
        summary = source_store.read_summary(store.out_dir, kept["file"])
        if summary is not None:
            store.recalled.append(source)
            return summary
    summary = make()
    store.entries[source] = source_store.with_summary(source, entry, key)
    source_store.write_summary(store.out_dir, store.entries[source][source_store.SUMMARY]["file"], summary)
    return summary
