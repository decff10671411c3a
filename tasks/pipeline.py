"""Prefect tasks: thin wrappers that name each step, log its row counts and call the plain
polars functions of the other modules. Frames are passed in memory, so input hashing is
off (`NO_CACHE`): hashing a 10M-row frame costs more than the step it would skip."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.tasks import exponential_backoff
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from abmq.config import Config, load_config
from abmq.tasks import alerts, catalog, data_docs, event_partitions, exports, normalise, report, rollup, selection, shards, staging, validate
from abmq.tasks import changes as changes_module
from abmq.tasks.sources import SOURCES

EMPTY_DOMAINS = pl.Series("domain", [], pl.String)


@dataclass
class SourceData:
    """One source through the gate: rows kept, rows quarantined, and the GX verdict."""

    name: str
    files: list[str]
    fingerprint: str
    staged: pl.DataFrame | None  # released once validated: at 10M events every copy counts
    rows_in: int = 0
    unknown_columns: list[str] = field(default_factory=list)  # in the export, not in the contract
    kept: pl.DataFrame | None = None
    quarantined: pl.DataFrame | None = None
    validation: validate.SourceValidation | None = None
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Rows set aside after validation by rules outside GX (e.g. events of quarantined contacts).
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    used: int = 0
    merged: int = 0
    # Daily event files: GX results of the files validated in this run, and the state
    # store's manifest to publish with the outputs.
    file_results: dict[str, tuple[dict[str, Any], Any]] = field(default_factory=dict)
    event_state: dict[str, dict[str, Any]] | None = None


@dataclass
class CleanData:
    accounts: pl.DataFrame
    contacts: pl.DataFrame
    events: pl.DataFrame
    technographics: pl.DataFrame
    intent: pl.DataFrame
    suppression: dict[str, pl.Series]


def gate_parameters(as_of: dt.date, config: Config, history: list[dict] | None = None) -> dict[str, Any]:
    """Values the suites' $PARAMETERs take for this run (dates as UTC timestamps, see
    validate.as_validated)."""
    quality = config.data_quality

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=dt.timezone.utc)

    def fresh_from(source: str) -> dt.datetime:
        days = quality.freshness_days.get(source)
        return midnight(as_of - dt.timedelta(days=days)) if days is not None else midnight(dt.date(1900, 1, 1))

    return {
        "as_of_date": midnight(as_of),
        "as_of_end": dt.datetime.combine(as_of, dt.time.max, tzinfo=dt.timezone.utc),
        "events_fresh_from": fresh_from("events"),
        "intent_fresh_from": fresh_from("intent"),
        "volume_floors": {
            source: math.ceil(rows * (1 - quality.max_volume_drop))
            for source, rows in catalog.volumes_before(history or [], as_of.isoformat()).items()
        },
    }


def source_parameters(parameters: dict[str, Any], source: str) -> dict[str, Any]:
    return {**parameters, "volume_floor": parameters["volume_floors"].get(source, 0)}


def reference_keys(staged: dict[str, SourceData]) -> dict[str, pl.Series | None]:
    """Keys of the sources staged so far that later sources are checked against."""

    def column(source: str, name: str) -> pl.Series | None:
        data = staged.get(source)
        if data is None or data.staged is None or name not in data.staged.columns:
            return None
        return data.staged[name]

    return {"account_domains": column("accounts", "domain"), "contact_ids": column("contacts", "contact_id")}


@task(name="read-run-history", cache_policy=NO_CACHE)
def read_run_history(out_dir: str) -> list[dict]:
    """Row counts of earlier published runs, for the volume checks."""
    history = catalog.read_history(Path(out_dir))
    get_run_logger().info("run history: %d earlier as-of dates", len(history))
    return history


@task(name="load-config", cache_policy=NO_CACHE)
def load_scoring_config(path: str | None) -> Config:
    config = load_config(path)
    get_run_logger().info("scoring config %s (fingerprint %s)", path or "config/default.yaml", config.fingerprint())
    return config


def transient_io_error(task, task_run, state) -> bool:
    """Retry a read only for errors that may pass (a network filesystem hiccup), never for
    a file that is missing or malformed: those fail at once with their message."""
    try:
        state.result()
    except catalog.SourceError:
        return False
    except OSError:
        return True
    except Exception:
        return False
    return False


# Reads of input files: retried with backoff, for transient I/O errors only.
READ_RETRIES = {"retries": 3, "retry_delay_seconds": exponential_backoff(backoff_factor=2), "retry_condition_fn": transient_io_error}


@task(name="stage-source", task_run_name="stage-{source}", cache_policy=NO_CACHE, timeout_seconds=3600, **READ_RETRIES)
def stage_source(input_dir: str, source: str, account_domains: pl.Series | None = None, contact_ids: pl.Series | None = None) -> SourceData:
    """Read one source (lazy scan), cast it to the contract and stage it."""
    spec = SOURCES[source]
    scan, files = catalog.scan_source(Path(input_dir), spec)
    names = [f.name if f.parent == Path(input_dir) else f"{f.parent.name}/{f.name}" for f in files]
    if scan is None:
        get_run_logger().info("%s: not supplied (optional)", source)
        return SourceData(source, [], "", None)
    typed = staging.cast_to_contract(scan, spec)
    if source == "accounts":
        staged = staging.stage_accounts(typed)
    elif source == "contacts":
        staged = staging.stage_contacts(typed, account_domains if account_domains is not None else EMPTY_DOMAINS)
    elif source == "events":
        staged = staging.stage_events(typed, contact_ids if contact_ids is not None else EMPTY_DOMAINS)
    else:
        staged = staging.stage_domain_list(typed, account_domains if source in ("technographics", "intent") else None)
    try:
        frame = staged.collect(engine="streaming")
    except Exception as exc:  # an unreadable file surfaces when the scan runs
        raise catalog.read_error(source, names, exc) from None
    get_run_logger().info("%s: %s rows from %s", source, f"{frame.height:,}", ", ".join(names))
    return SourceData(source, names, catalog.fingerprint_files(files), frame, rows_in=frame.height, unknown_columns=[c for c in scan.collect_schema().names()[1:] if c not in spec.columns])


@dataclass(frozen=True)
class DailyEventFiles:
    window: list[event_partitions.EventFile]  # the files this run scores, oldest first
    later: list[event_partitions.EventFile]  # dated after the as-of date: for later runs


@task(name="find-daily-event-files", cache_policy=NO_CACHE)
def find_daily_event_files(input_dir: str, config: Config, as_of: dt.date) -> DailyEventFiles | None:
    """Daily files under `events/`, if events come that way (None: one export)."""
    files = event_partitions.daily_files(Path(input_dir))
    if files is None:
        return None
    window, later = event_partitions.in_window(files, config, as_of)
    get_run_logger().info(
        "events: %d daily files, %d in the scoring window from %s; %d dated after %s left for later runs",
        len(files), len(window), rollup.first_day_read(config, as_of).isoformat(), len(later), as_of.isoformat(),
    )
    return DailyEventFiles(window, later)


@task(name="read-event-state", cache_policy=NO_CACHE)
def read_event_state(out_dir: str) -> dict[str, dict[str, Any]]:
    """Daily event files validated by earlier published runs."""
    state = event_partitions.read_state(Path(out_dir))
    get_run_logger().info("event state: %d daily files remembered", len(state))
    return state


@dataclass
class CheckedEventFile:
    file: event_partitions.EventFile
    entry: dict[str, Any]
    validation: validate.SourceValidation | None  # None: remembered from an earlier run


@task(name="recall-event-files", cache_policy=NO_CACHE)
def recall_event_files(files: list[event_partitions.EventFile], state: dict[str, dict[str, Any]], out_dir: str, config: Config) -> tuple[list[CheckedEventFile], list[tuple[event_partitions.EventFile, str]]]:
    """(files whose content an earlier run validated, [(file, sha256) still to validate])."""
    suite = event_partitions.partition_suite(config.data_quality)
    remembered, new = [], []
    for file in files:
        sha256 = event_partitions.file_hash(file.path)
        cached = event_partitions.cached_entry(state, file, sha256, suite, Path(out_dir))
        if cached is None:
            new.append((file, sha256))
        else:
            remembered.append(CheckedEventFile(file, cached, None))
    get_run_logger().info("events: %d daily files in the window remembered, %d to validate", len(remembered), len(new))
    return remembered, new


@task(name="validate-event-file", task_run_name="validate-events-{file.day}", cache_policy=NO_CACHE, timeout_seconds=1800, **READ_RETRIES)
def validate_event_file(file: event_partitions.EventFile, sha256: str, out_dir: str, config: Config) -> CheckedEventFile:
    """One daily file seen for the first time: staged, run through the `events_partition`
    suite, its rows kept in the state store."""
    suite = event_partitions.partition_suite(config.data_quality)
    staged = event_partitions.stage_file(file)
    entry, validation = event_partitions.validate_file(file, sha256, staged, suite, config.data_quality.max_quarantine_share, Path(out_dir))
    logger = get_run_logger()
    if entry["blocking"]:
        logger.error("%s: blocking data-quality failure: %s", file.name, entry["blocking"])
    else:
        logger.info("%s: %s rows, %s quarantined", file.name, f"{entry['rows']:,}", f"{entry['quarantined_rows']:,}")
    return CheckedEventFile(file, entry, validation)


@task(name="assemble-event-window", cache_policy=NO_CACHE)
def assemble_event_window(
    checked: list[CheckedEventFile], state: dict[str, dict[str, Any]], out_dir: str, parameters: dict[str, Any],
    config: Config, as_of: dt.date, contact_ids: pl.Series | None = None,
) -> SourceData:
    """The scoring window's events from the state store, checked as a whole against today's
    contacts, freshness and volume: the same SourceData a single export gives."""
    suite = event_partitions.partition_suite(config.data_quality)
    checked = sorted(checked, key=lambda c: c.file.day)
    entries = [(c.file, c.entry) for c in checked]
    by_name = {c.file.name: c.entry for c in checked}
    rows_in = sum(entry["rows"] for entry in by_name.values())
    data = SourceData("events", list(by_name), catalog.combined_fingerprint({n: e["sha256"] for n, e in by_name.items()}), None, rows_in=rows_in)
    data.file_results = {
        f"events {c.file.day.isoformat()}": ({**c.validation.suite, "name": f"events_partition_{c.file.day.isoformat()}"}, c.validation.gx_result)
        for c in checked if c.validation is not None and c.validation.gx_result is not None
    }
    failing = [c for c in checked if c.entry["blocking"]]  # only ever files validated now
    if failing:
        # the gate stops the run with each failing file's own message
        data.validation = validate.SourceValidation(
            source="events", files=[c.file.name for c in failing], rows_in=rows_in, suite=suite,
            outcomes=[o for c in failing for o in c.validation.blocking_failures],
        )
        return data
    data.validation = validate.SourceValidation(
        source="events", files=list(by_name), rows_in=rows_in, suite=suite, outcomes=event_partitions.summed_outcomes(entries, suite)
    )
    kept = event_partitions.read_window(entries, Path(out_dir), "kept")
    quarantined = event_partitions.read_window(entries, Path(out_dir), "quarantined")
    window_outcomes, orphans, orphan = event_partitions.window_checks(
        kept, contact_ids if contact_ids is not None else EMPTY_DOMAINS, rows_in, source_parameters(parameters, "events")
    )
    data.validation.outcomes.extend(window_outcomes)
    data.kept = kept.filter(~orphan).drop("file")
    data.quarantined = pl.concat([quarantined, orphans], how="diagonal_relaxed").sort("_row")
    data.examples = event_partitions.window_examples(entries)
    if orphans.height:
        data.examples[window_outcomes[0].label] = validate.example_rows(orphans.drop("quarantine_reasons"))
    # remembered from now on: what a run as of this date or later can use
    start = rollup.first_day_read(config, as_of).isoformat()
    data.event_state = {name: entry for name, entry in {**state, **by_name}.items() if entry["day"] >= start}
    get_run_logger().info(
        "events: %s rows in %d daily files (%d validated now, %d remembered), %s pass, %s quarantined",
        f"{rows_in:,}", len(checked), sum(c.validation is not None for c in checked), sum(c.validation is None for c in checked),
        f"{data.kept.height:,}", f"{data.quarantined.height:,}",
    )
    return data


@task(name="validate-source", task_run_name="validate-{source}", cache_policy=NO_CACHE, timeout_seconds=3600)
def validate_source(source: str, data: SourceData, parameters: dict[str, Any], config: Config) -> SourceData:
    """Run the source's GX suite; quarantine rows failing warning-level expectations."""
    logger = get_run_logger()
    if data.staged is None:
        data.kept = None
        return data
    suite = validate.load_suite(source, config.data_quality)
    parameters = source_parameters(parameters, source)
    data.validation = validate.run_suite(
        source, data.staged, suite, parameters, data.files, data.unknown_columns, config.data_quality.max_quarantine_share
    )
    if data.validation.blocking_failures:
        logger.error("%s: blocking data-quality failure: %s", source, data.validation.error_message())
        return data
    data.kept, data.quarantined = validate.split_quarantine(data.staged, data.validation, parameters)
    data.examples = validate.quarantine_examples(data.quarantined, data.validation, parameters)
    data.staged = None
    for outcome in data.validation.warnings:
        logger.warning("%s: %s failed on %s rows (%s): rows quarantined", source, outcome.label, f"{outcome.unexpected_count:,}", outcome.why)
    logger.info("%s: %s rows pass, %s quarantined", source, f"{data.kept.height:,}", f"{data.quarantined.height:,}")
    return data


@task(name="data-quality-gate", cache_policy=NO_CACHE)
def quality_gate(sources: dict[str, SourceData]) -> None:
    """Stop the run, naming every blocking failure, before anything is scored or published."""
    messages = [d.validation.error_message() for d in sources.values() if d.validation and d.validation.blocking_failures]
    if messages:
        raise validate.DataQualityError("blocking data-quality failure: " + " | ".join(messages))
    get_run_logger().info("data-quality gate passed for %d sources", sum(d.validation is not None for d in sources.values()))


@task(name="normalise-sources", cache_policy=NO_CACHE)
def normalise_sources(sources: dict[str, SourceData]) -> CleanData:
    """Merge duplicate companies, dedupe contacts and events, drop events of quarantined contacts."""
    logger = get_run_logger()
    accounts, sources["accounts"].merged = normalise.merge_duplicate_accounts(sources["accounts"].kept)
    contacts, sources["contacts"].merged = normalise.dedupe_contacts(sources["contacts"].kept)
    events, sources["events"].merged = normalise.dedupe_events(sources["events"].kept)
    events, orphaned = normalise.events_of_usable_contacts(events, contacts, sources["contacts"].quarantined)
    if orphaned.height:
        events_source = sources["events"]
        events_source.quarantined = pl.concat([events_source.quarantined, orphaned], how="diagonal_relaxed")
        events_source.set_aside.append(
            {
                "label": "events of quarantined contacts",
                "severity": "warning",
                "unexpected_count": orphaned.height,
                "why": "their contact was quarantined",
                "examples": validate.example_rows(orphaned.drop("quarantine_reasons")),
            }
        )
    for name, frame in (("accounts", accounts), ("contacts", contacts), ("events", events)):
        sources[name].used = frame.height
        sources[name].kept = None
    for name in ("technographics", "intent", "crm_customers", "crm_open_opportunities", "competitors", "opportunities"):
        sources[name].used = sources[name].kept.height if sources[name].kept is not None else 0
    logger.info(
        "normalised: %s accounts (%s duplicates merged), %s contacts, %s events (%s events of quarantined contacts set aside)",
        f"{accounts.height:,}", f"{sources['accounts'].merged:,}", f"{contacts.height:,}", f"{events.height:,}", f"{orphaned.height:,}",
    )

    def kept(name: str, columns: list[str]) -> pl.DataFrame:
        frame = sources[name].kept
        return frame.select(columns) if frame is not None else pl.DataFrame(schema={c: SOURCES[name].columns[c] for c in columns})

    return CleanData(
        accounts=accounts,
        contacts=contacts,
        events=events.select("contact_id", "event_type", "occurred_at"),
        technographics=kept("technographics", ["domain", "technology", "first_seen"]),
        intent=kept("intent", ["domain", "topic", "week", "score"]),
        suppression=normalise.suppression_domains(
            {
                "customers": sources["crm_customers"].kept,
                "open_opportunities": sources["crm_open_opportunities"].kept,
                "competitors": sources["competitors"].kept,
            }
        ),
    )


@task(name="split-into-shards", cache_policy=NO_CACHE)
def split_into_shards(clean: CleanData, count: int, config: Config, as_of: dt.date) -> tuple[list[shards.Shard], dt.date | None]:
    """Accounts (with their contacts, events, technographics and intent) in `count` shards by
    hash of domain, plus the intent provider's latest week that every shard judges by."""
    parts = shards.split(clean.accounts, clean.contacts, clean.events, clean.technographics, clean.intent, count)
    if count > 1:
        get_run_logger().info("%d shards of %s accounts", count, "/".join(f"{s.accounts.height:,}" for s in parts))
    return parts, rollup.latest_intent_week(clean.intent, config, as_of)


@task(name="score-shard", task_run_name="score-shard-{shard.number}", cache_policy=NO_CACHE)
def score_shard(shard: shards.Shard, config: Config, as_of: dt.date, latest_intent_week: dt.date | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Contact engagement → lead scores, buying-group roll-up → account scores, for one shard."""
    contact_scores, account_scores = shards.score(shard, config, as_of, latest_intent_week)
    get_run_logger().info(
        "shard %d of %d: %s contacts (%s SQL-ready), %s accounts (%s at or above %d)",
        shard.number, shard.of, f"{contact_scores.height:,}", f"{contact_scores['sql_ready'].sum():,}",
        f"{account_scores.height:,}", f"{(account_scores['score'] >= config.account_scoring.threshold).sum():,}", config.account_scoring.threshold,
    )
    return contact_scores, account_scores


@task(name="combine-shards", cache_policy=NO_CACHE)
def combine_shards(scored: list[tuple[pl.DataFrame, pl.DataFrame]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    contact_scores, account_scores = shards.combine(scored)
    get_run_logger().info("scores: %s contacts, %s accounts from %d shard(s)", f"{contact_scores.height:,}", f"{account_scores.height:,}", len(scored))
    return contact_scores, account_scores


def score_clean(clean: CleanData, config: Config, as_of: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(contact scores, account scores) in one piece, for callers outside the flow (backtests)."""
    (shard,) = shards.split(clean.accounts, clean.contacts, clean.events, clean.technographics, clean.intent, 1)
    return shards.score(shard, config, as_of, rollup.latest_intent_week(clean.intent, config, as_of))


@task(name="read-last-snapshot", cache_policy=NO_CACHE)
def read_last_snapshot(out_dir: str, as_of: dt.date) -> tuple[str | None, pl.DataFrame | None]:
    """The account scores of the latest published as-of date before this one."""
    previous_as_of, previous = catalog.previous_snapshot(Path(out_dir), as_of.isoformat())
    get_run_logger().info("last snapshot before %s: %s", as_of.isoformat(), previous_as_of or "none")
    return previous_as_of, previous


@task(name="select-targets", cache_policy=NO_CACHE)
def select_targets(scored: pl.DataFrame, clean: CleanData, config: Config, previous: pl.DataFrame | None = None) -> pl.DataFrame:
    decided = selection.decide(scored, clean.suppression, config)
    previous_tiers = previous.select("domain", pl.col("tier").alias("previous_tier")) if previous is not None else None
    tiered = selection.assign_tiers(decided, config, previous_tiers)
    final = tiered.with_columns(selection.next_step().alias("next_step")).with_columns(exports.explanation().alias("explanation"))
    counts = dict(final.group_by("decision").len().sort("decision").iter_rows())
    get_run_logger().info("decisions: %s; targets: %s", counts, f"{final['tier'].is_not_null().sum():,}")
    return final


def account_match_rate(data: SourceData) -> float | None:
    """Share of a source's rows whose domain matched an account (contacts, intent, technographics)."""
    if data.validation is None:
        return None
    for outcome in data.validation.outcomes:
        if outcome.kwargs.get("column") == "account_found" and "mostly" not in outcome.kwargs and outcome.element_count:
            return round(1 - (outcome.unexpected_count or 0) / outcome.element_count, 4)
    return None


def quality_summary(sources: dict[str, SourceData]) -> dict[str, Any]:
    rows = []
    for data in sources.values():
        outcomes = data.validation.outcomes if data.validation else []
        rows.append(
            {
                "source": data.name,
                "files": data.files,
                "rows_in": data.rows_in,
                "rows_used": data.used,
                "rows_quarantined": data.quarantined.height if data.quarantined is not None else 0,
                "duplicates_merged": data.merged,
                "match_rate": account_match_rate(data),
                "expectations_total": len(outcomes),
                "expectations_passed": sum(o.success for o in outcomes),
                "failed": [
                    {
                        "label": o.label,
                        "severity": o.severity,
                        "unexpected_count": o.unexpected_count,
                        "why": o.why,
                        "examples": data.examples.get(o.label, []),
                    }
                    for o in outcomes
                    if not o.success
                ]
                + data.set_aside,
            }
        )
    return {"sources": rows}


ACCOUNT_COLUMNS_FIRST = [
    "domain", "account_id", "name", "decision", "decision_reason", "score", "fit_points", "engagement_points",
    "tier", "tier_label", "target_rank", "target_status", "trend", "next_step", "explanation",
]


@task(name="compare-with-last-run", cache_policy=NO_CACHE)
def compare_with_last_run(accounts: pl.DataFrame, last: tuple[str | None, pl.DataFrame | None]) -> dict[str, Any]:
    """New SQL-ready accounts, dropped targets, tier moves and risers since the latest earlier run."""
    previous_as_of, previous = last
    changes = changes_module.compare(accounts, previous, previous_as_of)
    if previous_as_of:
        get_run_logger().info(
            "since %s: %d newly SQL-ready, %d dropped, %d tier moves",
            previous_as_of, len(changes["new_sql_ready"]), len(changes["dropped"]), len(changes["tier_moves"]),
        )
    return changes


TREND_ACCOUNTS = 10
INTENT_WEEKS_SHOWN = 8


@task(name="gather-report-details", cache_policy=NO_CACHE)
def gather_report_details(accounts: pl.DataFrame, clean: CleanData, config: Config, as_of: dt.date) -> dict[str, pl.DataFrame]:
    """Weekly engagement of the top accounts and recent intent of every target account."""
    targets = accounts.filter(pl.col("tier").is_not_null()).sort("target_rank")
    top = targets.head(TREND_ACCOUNTS)["domain"].to_list()
    since = as_of - dt.timedelta(weeks=INTENT_WEEKS_SHOWN)
    return {
        "weekly": rollup.weekly_account_points(clean.events, clean.contacts, top, config, as_of),
        "intent": clean.intent.filter(
            pl.col("domain").is_in(targets["domain"].implode()) & (pl.col("week") > since) & (pl.col("week") <= as_of)
        ),
    }


@task(name="write-outputs", cache_policy=NO_CACHE)
def write_outputs(
    outputs: catalog.RunOutputs,
    history: list[dict],
    accounts: pl.DataFrame,
    contacts: pl.DataFrame,
    sources: dict[str, SourceData],
    config: Config,
    as_of: dt.date,
    changes: dict[str, Any],
    weekly: pl.DataFrame,
    intent: pl.DataFrame,
) -> dict[str, Any]:
    """Write every output into the run's staging folder (published later, all or nothing)."""
    quality = quality_summary(sources)
    run = {
        "as_of": as_of.isoformat(),
        "config_fingerprint": config.fingerprint(),
        "inputs_fingerprint": catalog.combined_fingerprint({name: data.fingerprint for name, data in sources.items()}),
        "inputs": {name: {"files": data.files, "sha256_16": data.fingerprint} for name, data in sources.items()},
    }
    ordered = accounts.select([*ACCOUNT_COLUMNS_FIRST, *(c for c in accounts.columns if c not in ACCOUNT_COLUMNS_FIRST)]).sort("domain")
    outputs.write_parquet("account_scores.parquet", ordered)
    outputs.write_parquet("contact_scores.parquet", contacts)
    for path, text in exports.export_files(exports.targets_table(accounts)).items():
        outputs.write_text(path, text)
    for path, html in report.render_site(accounts, quality, config, as_of, run, changes, weekly, intent).items():
        outputs.write_text(path, html)
    outputs.write_parquet(catalog.snapshot_name(as_of.isoformat()), changes_module.snapshot(accounts))
    for name, data in sources.items():
        if data.validation is not None:
            outputs.write_json(f"dq/{name}.json", data.validation.to_dict())
        if data.quarantined is not None and data.quarantined.height:
            outputs.write_parquet(f"quarantine/{name}.parquet", data.quarantined.sort("_row"))
    outputs.write_json("dq/summary.json", quality)
    for data in sources.values():
        if data.event_state is not None:
            outputs.write_text(f"{event_partitions.STATE_DIR}/{event_partitions.MANIFEST}", event_partitions.manifest_text(data.event_state))
    data_docs.build(gx_results(sources), outputs.path("data_docs"), as_of)
    outputs.write_json("run.json", {**run, "quality": [{k: v for k, v in s.items() if k != "failed"} for s in quality["sources"]]})
    rows_in = {s["source"]: s["rows_in"] for s in quality["sources"]}
    outputs.write_json(catalog.HISTORY_FILE, catalog.with_run(history, as_of.isoformat(), rows_in))
    get_run_logger().info("outputs written to staging folder %s", outputs.staging.name)
    return quality


@task(name="publish-outputs", cache_policy=NO_CACHE)
def publish_outputs(outputs: catalog.RunOutputs) -> str:
    published = outputs.publish()
    forgotten = event_partitions.remove_unlisted(published)  # days that left the window
    get_run_logger().info("published report and target list in %s%s", published, f"; {forgotten} stored event files forgotten" if forgotten else "")
    return str(published)


@task(name="publish-run-summary", cache_policy=NO_CACHE)
def publish_run_summary(accounts: pl.DataFrame, quality: dict[str, Any], config: Config, as_of: dt.date) -> None:
    """Prefect artifacts for data engineers: counts, data quality, top targets (no contacts)."""
    create_markdown_artifact(
        key="abm-qualification-summary",
        markdown=report.markdown_summary(accounts, quality, config, as_of),
        description=f"ABM qualification as of {as_of.isoformat()}",
    )
    top = exports.targets_table(accounts).head(25).select(
        "rank", "tier", "account_name", "domain", "owner", "score", "fit_points", "engagement_points", "decision_reason"
    )
    create_table_artifact(
        key="abm-top-targets",
        table=[{k: ("" if v is None else str(v)) for k, v in row.items()} for row in top.to_dicts()],
        description="Top 25 target accounts",
    )


def gx_results(sources: dict[str, SourceData]) -> dict[str, tuple[dict[str, Any], Any]]:
    results = {n: (d.validation.suite, d.validation.gx_result) for n, d in sources.items() if d.validation and d.validation.gx_result}
    for data in sources.values():
        results.update(data.file_results)
    return results


def record_failure(out_dir: str, error: BaseException, sources: dict[str, SourceData], as_of: dt.date) -> Path:
    """Keep the error, the GX results and their Data Docs in OUT/last_failure/ (the last good
    outputs are not touched)."""
    folder = catalog.failure_folder(Path(out_dir))
    (folder / "error.txt").write_text(f"{error}\n", encoding="utf-8")
    for name, data in sources.items():
        if data.validation is not None:
            (folder / "dq" / f"{name}.json").write_text(
                json.dumps(data.validation.to_dict(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
            )
    results = gx_results(sources)
    if results:
        data_docs.build(results, folder / "data_docs", as_of)
    return folder


@task(name="alert-new-sql-ready", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def alert_new_sql_ready(changes: dict[str, Any], accounts: pl.DataFrame, as_of: dt.date) -> dict[str, Any] | None:
    """Emit a Prefect event for newly SQL-ready accounts (a Prefect automation can route it)
    and post it to the webhook, if one is configured."""
    owners = dict(accounts.select("domain", "owner").iter_rows())
    payload = alerts.alert_payload(changes, as_of.isoformat(), owners)
    logger = get_run_logger()
    if payload is None:
        logger.info("no newly SQL-ready accounts to alert on")
        return None
    emit_event(
        event=alerts.EVENT_NAME,
        resource={"prefect.resource.id": f"abm-qualify.as-of.{as_of.isoformat()}", "prefect.resource.name": "abm-qualify"},
        payload=payload,
    )
    url = alerts.webhook_url()
    if url:
        status = alerts.post_webhook(url, payload)
        logger.info("alert for %d newly SQL-ready accounts posted to the webhook (HTTP %d)", payload["count"], status)
    else:
        logger.info("alert event for %d newly SQL-ready accounts emitted (no webhook configured)", payload["count"])
    return payload
