"""The qualification pipeline, its steps in order, written once:

    stage → validate → gate → normalise → score (in shards) → select → render

Plain functions that take values and return new values. Who runs a step is a parameter:
`PLAIN` calls the functions as they are (backtests, tests, the benchmark's yardsticks);
the Prefect flow passes `tasks.flow_tasks.STEPS`, the same functions as named tasks with
logs, retries and timeouts. The flow adds only what is not a transformation: the output
lock, writing and publishing, the artifacts and the alert.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from abmq.config import Config, Limits, SourceMapping
from abmq.tasks import (
    catalog,
    changes,
    conversion,
    domain_summaries,
    exports,
    gate,
    ingest,
    mapping,
    output_contract,
    remembered,
    render,
    rollup,
    selection,
    shards,
    source_store,
    validate,
)
from abmq.tasks.clean import CleanData, Cleaned, normalise_sources
from abmq.tasks.ingest import SourceData
from abmq.tasks.sources import SOURCE_ORDER, compacted

# --- scoring and selection steps -------------------------------------------------------------

Rows = pl.DataFrame | pl.LazyFrame  # the contact scores: in memory, or kept on disk until written
Spill = shards.Spill


@dataclass(frozen=True)
class ShardedInputs:
    parts: list[shards.Shard]
    # what the accounts are scored with once the shards' contacts are (`shards.combine`)
    accounts: pl.DataFrame
    intent_surges: pl.DataFrame  # per domain, worked out over every account
    technology_matches: pl.DataFrame
    # the store entries of the summarised exports, with the summaries kept (`domain_summaries`)
    store_entries: dict[str, dict[str, Any] | None] = dataclasses.field(default_factory=dict)
    summaries_recalled: list[str] = dataclasses.field(default_factory=list)  # the exports whose summary was read back


def split_into_shards(
    clean: CleanData,
    count: int,
    config: Config,
    as_of: dt.date,
    store: domain_summaries.SummaryStore | None = None,
    spill: Spill | None = None,
) -> ShardedInputs:
    """Contacts (with their events) in `count` shards by range of contact ids (`shards`), and
    the accounts' intent surges and technology matches, worked out here over every account:
    they judge 'new' surges against the provider's latest week, which is the same for all.
    With a `store`, a summary a published run kept is read back when it would be the same.
    A `spill` for workers keeps the shards' inputs on disk (`shards.split`)."""
    surges = domain_summaries.intent_surges(clean.intent, config, as_of, store)
    matches = domain_summaries.technology_matches(clean.technographics, config, as_of, store)
    parts = shards.split(clean.accounts, clean.contacts, clean.events, count, spill, clean.events_by_contact)
    summaries = (store.entries, store.recalled) if store is not None else ()
    return ShardedInputs(parts, clean.accounts, surges, matches, *summaries)


def score_shard(shard: shards.Shard, config: Config, as_of: dt.date, spill: Spill | None = None) -> shards.ShardScores:
    """Contact engagement → lead scores, and what they add up to per account, for one shard
    (`spill`: where its events and lead scores wait on disk, see `shards.score`)."""
    return shards.score(shard, config, as_of, spill)


def score_each(sharded: ShardedInputs, config: Config, as_of: dt.date, spill: Spill | None = None) -> list[shards.ShardScores]:
    return [score_shard(part, config, as_of, spill) for part in sharded.parts]


def combine_shards(scored: list[shards.ShardScores], sharded: ShardedInputs, config: Config) -> tuple[Rows, pl.DataFrame]:
    """(contact scores, account scores): the shards' buying-group sums merged, the accounts scored."""
    return shards.combine(scored, sharded.accounts, sharded.intent_surges, sharded.technology_matches, config)


def read_last_snapshot(out_dir: str | None, as_of: dt.date) -> tuple[str | None, pl.DataFrame | None]:
    """The account scores of the latest published as-of date before this one."""
    if out_dir is None:
        return None, None
    previous_as_of, previous = catalog.previous_snapshot(Path(out_dir), as_of.isoformat())
    return previous_as_of, changes.rekeyed(previous)  # keyed as this run's accounts are


def select_targets(
    scored: pl.DataFrame,
    clean: CleanData,
    config: Config,
    previous: pl.DataFrame | None = None,
    model: conversion.ConversionModel | None = None,
) -> pl.DataFrame:
    """p_convert (empty without a usable model), then the decision, tier, next step and
    explanation of every account."""
    decided = selection.decide(conversion.with_p_convert(scored, model), clean.suppression, config)
    previous_tiers = previous.select("domain", pl.col("tier").alias("previous_tier")) if previous is not None else None
    tiered = selection.assign_tiers(decided, config, previous_tiers)
    return exports.explained(tiered.with_columns(selection.next_step().alias("next_step")))


# --- who runs the steps ----------------------------------------------------------------------


@dataclass(frozen=True)
class Steps:
    """The step functions the pipeline calls, in the order it calls them."""

    stage_source: Callable[..., SourceData] = ingest.stage_source
    find_daily_event_files: Callable[..., ingest.DailyEventFiles | None] = ingest.find_daily_event_files
    read_event_state: Callable[..., dict] = ingest.read_event_state
    recall_event_files: Callable[..., ingest.RecalledFiles] = ingest.recall_event_files
    validate_event_files: Callable[..., list[ingest.CheckedEventFile]] = ingest.validate_event_files
    validate_source: Callable[..., SourceData] = gate.validate_source
    read_source_state: Callable[..., dict] = source_store.read_state
    recall_source: Callable[..., remembered.Recalled] = remembered.recall_source
    remember_sources: Callable[..., dict[str, SourceData]] = remembered.remember_sources
    assemble_event_window: Callable[..., SourceData] = ingest.assemble_event_window
    quality_gate: Callable[..., int] = gate.quality_gate
    normalise_sources: Callable[..., Cleaned] = normalise_sources
    split_into_shards: Callable[..., ShardedInputs] = split_into_shards
    score_each: Callable[..., list] = score_each  # the flow maps `score_shard` over the shards
    combine_shards: Callable[..., tuple] = combine_shards
    read_last_snapshot: Callable[..., tuple] = read_last_snapshot
    select_targets: Callable[..., pl.DataFrame] = select_targets
    check_account_table: Callable[..., Any] = output_contract.check_account_table
    compare_with_last_run: Callable[..., dict] = render.compare_with_last_run
    gather_report_details: Callable[..., dict] = render.gather_report_details
    render_outputs: Callable[..., render.OutputBundle] = render.render_outputs


PLAIN = Steps()


# --- the pipeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceStore:
    """Where exports are remembered across runs (`tasks/remembered.py`), the config their
    keys are made of, and the run's parameters their verdicts are judged with."""

    out_dir: str
    state: dict[str, dict[str, Any]]
    config: Config
    parameters: dict[str, Any]


def stage_all(
    input_dir: str | Path,
    steps: Steps = PLAIN,
    skip: tuple[str, ...] = (),
    limits: Limits | None = None,
    mappings: dict[str, SourceMapping] | None = None,
    store: SourceStore | None = None,
) -> dict[str, SourceData]:
    """Every source read and staged (reshaped by its entry in `mappings`, the config's
    `sources:`), each after the ones its referential checks look at (staging does not depend
    on the as-of date). With a `store`, a source whose verdict a published run left there
    is read back instead (validated, see `remembered`), and the others carry their key."""
    staged: dict[str, SourceData] = {}
    mappings = mappings or {}
    for name in SOURCE_ORDER:
        if name in skip:
            continue
        recalled = _recalled(input_dir, name, staged, store, steps)
        if recalled.data is not None:
            staged[name] = recalled.data
            continue
        keys = ingest.reference_keys(staged, name)
        if name in mappings:  # only then: a run without mappings calls the step as before
            keys["source_mapping"] = mappings[name]
        if recalled.fingerprint is not None:
            keys["fingerprint"] = recalled.fingerprint
        if recalled.parts is not None:
            keys["parts"] = recalled.parts
        data = steps.stage_source(str(input_dir), name, **keys, limits=limits)
        staged[name] = data.replace(store_key=recalled.key) if recalled.key else data
    return staged


def _recalled(
    input_dir: str | Path, name: str, staged: dict[str, SourceData], store: SourceStore | None, steps: Steps
) -> remembered.Recalled:
    if store is None or not remembered.rememberable(name, store.config):
        return remembered.Recalled(None, None)
    parameters = gate.source_parameters(store.parameters, name)
    upstream = remembered.upstream_key(name, staged)  # what it reads of the accounts, not all of them
    return steps.recall_source(str(input_dir), name, upstream, store.state, store.out_dir, store.config, parameters)


def validate_all(staged: dict[str, SourceData], parameters: dict[str, Any], config: Config, steps: Steps = PLAIN) -> dict[str, SourceData]:
    """Every staged source through its suite (the staged values are left as they are, so
    a backtest validates the same staging as of many dates)."""
    return {name: steps.validate_source(name, data, parameters, config) for name, data in staged.items()}


@dataclass(frozen=True)
class CheckedInputs:
    sources: dict[str, SourceData]  # in contract order, each through its suite
    event_files: dict[str, int]  # daily event files validated now and remembered ({} for one export)


def check_inputs(
    input_dir: str,
    out_dir: str | None,
    config: Config,
    as_of: dt.date,
    history: list[dict] | None = None,
    steps: Steps = PLAIN,
    remember_exports: bool = True,
) -> CheckedInputs:
    """Stage and validate every source; daily event files are validated once each and
    remembered in the state store under `out_dir`. Blocking failures are in the verdicts,
    not raised: `quality_gate` stops the run. `remember_exports=False`: the exports are staged
    whole, not looked up in the export store nor cut into parts for it (a check whose state
    folder is thrown away: at XL the contacts' parts cost ~3 s and 150 MB of disk for nothing)."""
    validate.check_severity_overrides(config.data_quality)
    mapping.check_mappings(config.sources)
    validate.import_gx_in_background()
    parameters = gate.gate_parameters(as_of, config, history or [])
    daily = steps.find_daily_event_files(str(input_dir), config, as_of)
    if daily and out_dir is None:
        raise ValueError(f"{input_dir}: daily event files need an output folder for the state store")
    store = SourceStore(out_dir, steps.read_source_state(out_dir), config, parameters) if out_dir is not None and remember_exports else None
    staged = stage_all(input_dir, steps, skip=("events",) if daily else (), limits=config.limits, mappings=config.sources, store=store)
    keys = ingest.reference_keys(staged)
    sources = {}
    for name in list(staged):  # each staged frame released once validated: at 10M events every copy counts
        sources[name] = steps.validate_source(name, staged.pop(name), parameters, config, take_over=True)
    event_files: dict[str, int] = {}
    if daily:
        state = steps.read_event_state(out_dir)
        recalled = steps.recall_event_files(daily.window, state, out_dir, config)
        checked = recalled.remembered + (steps.validate_event_files(recalled.new, out_dir, config) if recalled.new else [])
        event_files = {"validated": len(recalled.new), "remembered": len(recalled.remembered)}
        sources["events"] = steps.assemble_event_window(
            checked, state, out_dir, parameters, config, as_of, keys["contact_ids"], sources.get("contacts")
        )
        sources = {name: sources[name] for name in SOURCE_ORDER}  # contract order, as for one export
    return CheckedInputs(sources, event_files)


@dataclass(frozen=True)
class Assessment:
    cleaned: Cleaned  # sources as published, with what normalising did to their rows
    contacts: Rows  # contact (lead) scores (lazy: kept on disk by `assess(spill=)`)
    accounts: pl.DataFrame  # account scores with decision, tier, next step and explanation
    last: tuple[str | None, pl.DataFrame | None]  # the previous published snapshot
    model: conversion.ConversionModel = conversion.NONE  # the p_convert model used, or why there is none

    def without_rows(self) -> Assessment:
        """The assessment less the sources' rows (the normalised ones, and the validated ones
        unless `assess` let them go: at XL up to ~2.5 GiB), for a caller that has read what it
        needs of them (`report_details`): rendering reads only the scores and the verdicts."""
        return dataclasses.replace(self, cleaned=Cleaned(None, without_rows(self.cleaned.sources), self.cleaned.accounting))


def without_rows(sources: dict[str, SourceData]) -> dict[str, SourceData]:
    """The sources' verdicts, counts and quarantined rows, without the rows they kept."""
    return {name: data.replace(kept=None) for name, data in sources.items()}


def assess(
    sources: dict[str, SourceData],
    config: Config,
    as_of: dt.date,
    steps: Steps = PLAIN,
    shard_count: int = 1,
    out_dir: str | None = None,
    suppression: Callable[[dict[str, pl.Series]], dict[str, pl.Series]] | None = None,
    model: conversion.ConversionModel = conversion.NONE,
    release_rows: bool = False,
    spill: Spill | None = None,
) -> Assessment:
    """Gate → normalise → score → select. `suppression` rewrites the suppression lists (a
    backtest rebuilds them as they stood on its date); `out_dir` holds the last snapshot
    (tier hysteresis, changes) and the store where exports validated now are remembered
    (`remembered.remember_sources`); `model` gives p_convert, which orders equal scores.

    `release_rows` (the flow): once normalised, the validated rows are let go, in `sources`
    itself (its entries keep their verdicts and quarantined rows), and the normalised contacts
    keep only what later steps read (`rollup.PERSON_COLUMNS`). At XL that is 1.4 GiB less
    held through scoring, whose peak it lowers by 1.7 GiB. Once split into shards (which sums
    up intent and technographics per domain), only the intent weeks the report shows are kept,
    and no technographics. `spill` (the flow, on threads): the scoring window is parted by
    slice of contacts on disk, and the lead scores wait there to be written
    (`catalog.SpilledRows`); the assessment holds them as a lazy frame."""
    try:
        steps.quality_gate(sources)
    except Exception:  # the parts staged for the store, if the run stops here
        for data in sources.values():
            if data.parts is not None:
                source_store.discard_parts(data.parts.scratch)
        raise
    if out_dir is not None and any(data.store_key and not data.recalled for data in sources.values()):
        # past the gate: a run that stops there writes nothing into the store
        sources.update(steps.remember_sources(sources, out_dir))
    cleaned = steps.normalise_sources(sources)
    clean = cleaned.clean
    if release_rows:
        sources.update(without_rows(sources))
        clean = CleanData(**{**clean.__dict__, "contacts": clean.contacts.select(rollup.PERSON_COLUMNS)})
        cleaned = Cleaned(clean, without_rows(cleaned.sources), cleaned.accounting)
    if suppression is not None:
        clean = CleanData(**{**clean.__dict__, "suppression": suppression(clean.suppression)})
    # accounts are scored in shards: threads in the flow, Dask workers with --task-runner dask
    summarised = {name: cleaned.sources[name].store_entry for name in ("technographics", "intent")}
    store = domain_summaries.SummaryStore(out_dir, summarised) if out_dir is not None else None
    sharded = steps.split_into_shards(clean, shard_count, config, as_of, store, spill)
    if sharded.store_entries:  # published with the run's manifest: the summaries it kept
        published = {
            name: data.replace(store_entry=sharded.store_entries.get(name, data.store_entry)) for name, data in cleaned.sources.items()
        }
        cleaned = Cleaned(clean, published, cleaned.accounting)
    if release_rows:
        # summarised per domain in the split; the report reads only recent intent, and finds
        # the top accounts' contacts in the lead scores: the contacts live on in the shards
        # only (on disk for workers), and with them are let go once scored
        recent = compacted(render.recent_intent(clean.intent, as_of))
        clean = CleanData(
            **{**clean.__dict__, "intent": recent, "technographics": clean.technographics.clear(), "contacts": clean.contacts.clear()}
        )
        cleaned = Cleaned(clean, cleaned.sources, cleaned.accounting)
    scored = steps.score_each(sharded, config, as_of, spill)
    if release_rows:
        sharded = dataclasses.replace(sharded, parts=[])
    contact_scores, account_scores = steps.combine_shards(scored, sharded, config)
    last = steps.read_last_snapshot(out_dir, as_of)
    accounts = steps.select_targets(account_scores, clean, config, last[1], model)
    return Assessment(Cleaned(clean, cleaned.sources, cleaned.accounting), contact_scores, accounts, last, model)


@dataclass(frozen=True)
class Rendered:
    bundle: render.OutputBundle
    changes: dict[str, Any]


def report_details(assessment: Assessment, config: Config, as_of: dt.date, steps: Steps = PLAIN) -> dict[str, pl.DataFrame]:
    """What the report reads of the sources' rows: the top accounts' weekly engagement and the
    targets' recent intent."""
    return steps.gather_report_details(assessment.accounts, assessment.cleaned.clean, config, as_of, assessment.contacts)


def render_run(
    assessment: Assessment,
    history: list[dict],
    config: Config,
    as_of: dt.date,
    steps: Steps = PLAIN,
    details: dict[str, pl.DataFrame] | None = None,
) -> Rendered:
    """The report, target list, exports and records of an assessed run, as values, once the
    account table has passed the output contract. `details`: `report_details`, gathered
    before (then the assessment may come `without_rows`)."""
    steps.check_account_table(assessment.accounts, config)
    changes = steps.compare_with_last_run(assessment.accounts, assessment.last)
    if details is None:
        details = report_details(assessment, config, as_of, steps)
    bundle = steps.render_outputs(
        history,
        assessment.accounts,
        assessment.contacts,
        assessment.cleaned.sources,
        assessment.cleaned.accounting,
        config,
        as_of,
        changes,
        details["weekly"],
        details["intent"],
        assessment.model,
    )
    return Rendered(bundle, changes)
