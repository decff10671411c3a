"""Render: everything a run publishes, as values (relative path → frame, text or JSON), plus
what the report needs besides the scores (changes since the last run, weekly trend, intent).
Writing the bundle and building the GX Data Docs are the I/O layer's (`catalog`, `data_docs`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from abmq.config import Config
from abmq.tasks import catalog, changes, conversion, event_partitions, exports, report, rollup, source_store
from abmq.tasks.clean import CleanData
from abmq.tasks.gate import absent_sources, quality_summary
from abmq.tasks.ingest import SourceData
from abmq.tasks.sources import in_key_order, published_domain

ACCOUNT_COLUMNS_FIRST = [
    "domain",
    "account_id",
    "name",
    "decision",
    "decision_reason",
    "score",
    "p_convert",
    "fit_points",
    "engagement_points",
    "tier",
    "tier_label",
    "target_rank",
    "target_status",
    "trend",
    "next_step",
    "explanation",
]
TREND_ACCOUNTS = 10
INTENT_WEEKS_SHOWN = 8


@dataclass(frozen=True)
class OutputBundle:
    """A run's outputs before they are written: path → polars frame (Parquet), text, or a
    JSON-serialisable value; `gx_results` become the Data Docs under `data_docs/`."""

    files: dict[str, pl.DataFrame | pl.LazyFrame | str | dict | list]
    gx_results: dict[str, tuple[dict[str, Any], Any]] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)


def compare_with_last_run(accounts: pl.DataFrame, last: tuple[str | None, pl.DataFrame | None]) -> dict[str, Any]:
    """New SQL-ready accounts, dropped targets, tier moves and risers since the latest earlier run."""
    previous_as_of, previous = last
    return changes.compare(accounts, previous, previous_as_of)


def gather_report_details(
    accounts: pl.DataFrame, clean: CleanData, config: Config, as_of: dt.date, lead_scores: pl.DataFrame | pl.LazyFrame
) -> dict[str, pl.DataFrame]:
    """Weekly engagement of the top accounts and recent intent of every target account. The
    top accounts' contacts are found in the `lead_scores` (the flow lets the contacts' rows
    go once they are split into shards)."""
    targets = accounts.filter(pl.col("tier").is_not_null()).sort("target_rank")
    top = targets.head(TREND_ACCOUNTS)["domain"].to_list()
    return {
        "weekly": rollup.weekly_account_points(clean.events, lead_scores, top, config, as_of),
        "intent": recent_intent(clean.intent, as_of).filter(pl.col("domain").is_in(targets["domain"].implode())),
    }


def recent_intent(intent: pl.DataFrame | pl.LazyFrame, as_of: dt.date) -> pl.DataFrame:
    """The intent rows of the weeks the report shows, every account's: all the report reads
    of the intent rows, so a run may keep these and let the rest go once scored (read from
    the export store's file when the rows come as its scan)."""
    since = as_of - dt.timedelta(weeks=INTENT_WEEKS_SHOWN)
    return intent.lazy().filter((pl.col("week") > since) & (pl.col("week") <= as_of)).collect()


def gx_results(sources: dict[str, SourceData]) -> dict[str, tuple[dict[str, Any], Any]]:
    results = {n: (d.validation.suite, d.validation.gx_result) for n, d in sources.items() if d.validation and d.validation.gx_result}
    for data in sources.values():
        results.update(data.file_results)
    return results


def run_record(
    sources: dict[str, SourceData], config: Config, as_of: dt.date, model: conversion.ConversionModel = conversion.NONE
) -> dict[str, Any]:
    return {
        "as_of": as_of.isoformat(),
        "config_fingerprint": config.fingerprint(),
        "inputs_fingerprint": catalog.combined_fingerprint({name: data.fingerprint for name, data in sources.items()}),
        "inputs": {name: {"files": data.files, "sha256_16": data.fingerprint} for name, data in sources.items()},
        "p_convert": model.record(),
        # optional sources that gave no rows, and what that did to the scores (only when some did)
        **({"absent_sources": absent} if (absent := absent_sources(sources)) else {}),
    }


def score_tables(accounts: pl.DataFrame, contacts: pl.DataFrame | pl.LazyFrame) -> dict[str, pl.DataFrame | pl.LazyFrame]:
    """The contact and account score tables as published (`render_outputs`' first files; the
    flow starts writing them early, `RunOutputs.write_early`)."""
    # in key order; an account keyed by its account_id shows a blank domain (tasks/sources.py)
    # selection leaves them in key order already: a sort would copy 1M accounts' lists
    columns = [*ACCOUNT_COLUMNS_FIRST, *(c for c in accounts.columns if c not in ACCOUNT_COLUMNS_FIRST)]
    ordered = in_key_order(accounts.select(columns), "domain")
    # the contact scores first: written and let go before the account table's writer needs
    # its memory (`RunOutputs.write_bundle`, `write_early`)
    return {
        "contact_scores.parquet": contacts.with_columns(published_domain(pl.col("domain")).alias("domain")),
        "account_scores.parquet": ordered.with_columns(published_domain(pl.col("domain")).alias("domain")),
    }


def render_outputs(
    history: list[dict],
    accounts: pl.DataFrame,
    contacts: pl.DataFrame | pl.LazyFrame,
    sources: dict[str, SourceData],
    accounting: dict[str, dict[str, Any]],
    config: Config,
    as_of: dt.date,
    changes_since: dict[str, Any],
    weekly: pl.DataFrame,
    intent: pl.DataFrame,
    model: conversion.ConversionModel = conversion.NONE,
) -> OutputBundle:
    """Every output of the run: scores, target list and CRM exports, the report site, the
    snapshot, quality results and quarantined rows, the event state manifest, run records."""
    quality = quality_summary(sources, accounting)
    run = run_record(sources, config, as_of, model)
    files: dict[str, pl.DataFrame | pl.LazyFrame | str | dict | list] = score_tables(accounts, contacts)
    files.update(exports.export_files(exports.targets_table(accounts), model.horizon_days))
    files.update(report.render_site(accounts, quality, config, as_of, run, changes_since, weekly, intent))
    files[catalog.snapshot_name(as_of.isoformat())] = changes.published_snapshot(accounts)
    for name, data in sources.items():
        if data.validation is not None:
            files[f"dq/{name}.json"] = data.validation.to_dict()
        if data.quarantined is not None and data.quarantined.height:
            files[f"quarantine/{name}.parquet"] = data.quarantined.sort("_row")
    files["dq/summary.json"] = quality
    for data in sources.values():
        if data.event_state is not None:
            files[f"{event_partitions.STATE_DIR}/{event_partitions.MANIFEST}"] = event_partitions.manifest_text(data.event_state)
    if any(data.store_key is not None for data in sources.values()):  # the run used the store: its manifest replaces the last
        remembered = {name: data.store_entry for name, data in sources.items() if data.store_entry is not None}
        files[f"{source_store.STORE_DIR}/{source_store.MANIFEST}"] = source_store.manifest_text(remembered)
    files["run.json"] = {**run, "quality": [{k: v for k, v in s.items() if k != "failed"} for s in quality["sources"]]}
    rows_in = {s["source"]: s["rows_in"] for s in quality["sources"]}
    files[catalog.HISTORY_FILE] = catalog.with_run(history, as_of.isoformat(), rows_in)
    return OutputBundle(files, gx_results(sources), quality)
