"""Prefect tasks: the pipeline's steps as named tasks, with their logs, retries and timeouts,
and the flow's I/O (config, run history, writing, publishing, artifacts, alert). Nothing
here transforms data: each step task calls the plain function `tasks/pipeline.py` orders.

Frames are passed in memory, so input hashing is off (`NO_CACHE`): hashing a 10M-row frame
costs more than the step it would skip. For the same reason Prefect does not walk into a
task's arguments (`FrameTask`).
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from prefect import Task, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import BaseAnnotation, opaque
from prefect.utilities.engine import get_state_for_result

from abmq.config import Config, load_config
from abmq.tasks import (
    alerts,
    catalog,
    conversion,
    event_store,
    exports,
    gate,
    ingest,
    mapping,
    object_store,
    output_contract,
    pipeline,
    remembered,
    render,
    report,
    shards,
    source_store,
)
from abmq.tasks.sources import height

LogResult = Callable[[logging.Logger, Any, dict[str, Any]], None]


class FrameTask(Task):
    """A Prefect task that links to the tasks whose results it is given, without walking into
    them: each argument, or each item of an argument that is a list, tuple or dict (the
    sources by name, the shards' results), is passed `opaque`. Walking everything (the
    sources are dataclasses holding GX results, frames and dicts of lists) before each task
    cost ~2.5 s of an XL run's ~55 s, in the gaps between tasks."""

    def __call__(self, *args: Any, return_state: bool = False, wait_for: Any = None, **kwargs: Any) -> Any:
        return super().__call__(
            *map(_taken_as_is, args),
            return_state=return_state,
            wait_for=wait_for,
            **{name: _taken_as_is(value) for name, value in kwargs.items()},
        )


def _taken_as_is(value: Any, opened: bool = False) -> Any:
    """`value` as `opaque`, or a plain list, tuple or dict of `opaque` items (once: their own
    items are not opened), unless it is itself a task's result."""
    if isinstance(value, BaseAnnotation):
        return value
    if not opened and type(value) in (list, tuple, dict) and get_state_for_result(value) is None:
        if type(value) is dict:
            return {key: _taken_as_is(item, opened=True) for key, item in value.items()}
        return type(value)(_taken_as_is(item, opened=True) for item in value)
    return opaque(value)


def frame_task(**options: Any) -> Callable[[Callable], FrameTask]:
    """`@task(**options)` without input hashing (`NO_CACHE`), as a `FrameTask`."""
    return lambda fn: FrameTask(fn=fn, cache_policy=NO_CACHE, **options)


def step_task(fn: Callable, name: str, log: LogResult | None = None, **options: Any):
    """`fn` as a Prefect task named `name`; `log(logger, result, arguments)` says what it did."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if log is not None:
            log(get_run_logger(), result, signature.bind(*args, **kwargs).arguments)
        return result

    return frame_task(name=name, **options)(run)


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


# --- what each step logs -----------------------------------------------------------------------


def _rows(count: int) -> str:
    return f"{count:,}"


def log_staged(logger, data: ingest.SourceData, args) -> None:
    if data.staged is None:
        logger.info("%s: not supplied (optional)", data.name)
    else:
        logger.info("%s: %s rows from %s", data.name, _rows(data.rows_in), ", ".join(data.files))
    parts = data.parts
    if parts is not None and parts.rows_relinked:
        logger.info(
            "%s: the accounts changed since a published run: %s rows linked to them again, %s staged; %d of %d parts changed, stored anew",
            data.name,
            _rows(parts.rows_relinked),
            _rows(parts.rows_staged),
            len(parts.new),
            len(parts.parts),
        )
    elif parts is not None and len(parts.new) < len(parts.parts):
        logger.info(
            "%s: %d of %d parts staged (%s rows), the others unchanged since a published run: read back",
            data.name,
            len(parts.new),
            len(parts.parts),
            _rows(parts.rows_staged),
        )


def log_daily_files(logger, daily: ingest.DailyEventFiles | None, args) -> None:
    if daily is not None:
        logger.info(
            "events: %d daily files, %d in the scoring window from %s; %d dated after %s left for later runs",
            daily.total,
            len(daily.window),
            daily.first_day.isoformat(),
            len(daily.later),
            args["as_of"].isoformat(),
        )


def log_validated(logger, data: ingest.SourceData, args) -> None:
    if data.validation is None:
        return
    if data.validation.blocking_failures:
        logger.error("%s: blocking data-quality failure: %s", data.name, data.validation.error_message())
        return
    for outcome in data.validation.warnings:
        if outcome.unexpected_count is None:  # a table-level check downgraded to a warning
            logger.warning("%s: %s failed (%s); the run goes on (warning)", data.name, outcome.label, outcome.explained_why)
        else:
            logger.warning(
                "%s: %s failed on %s rows (%s): rows quarantined",
                data.name,
                outcome.label,
                _rows(outcome.unexpected_count),
                outcome.explained_why,
            )
    recalled = " (as a published run validated it: the export is unchanged)" if data.recalled else ""
    if data.parts is not None and data.validation.part_checks and data.validation.parts_validated < len(data.parts.parts):
        recalled = f" (GX validated {data.validation.parts_validated} of its {len(data.parts.parts)} parts; the others' verdicts as a published run gave them)"
    logger.info("%s: %s rows pass, %s quarantined%s", data.name, _rows(height(data.kept)), _rows(data.quarantined.height), recalled)


def log_event_files(logger, checked: list[ingest.CheckedEventFile], args) -> None:
    for one in checked:
        if one.entry["blocking"]:
            logger.error("%s: blocking data-quality failure: %s", one.file.name, one.entry["blocking"])
        else:
            logger.info("%s: %s rows, %s quarantined", one.file.name, _rows(one.entry["rows"]), _rows(one.entry["quarantined_rows"]))
    gx_runs = sum(one.validation is not None and one.validation.gx_result is not None for one in checked)
    files, runs = ("file" if len(checked) == 1 else "files"), ("run" if gx_runs == 1 else "runs")
    logger.info("events: %d new daily %s validated in %d GX %s", len(checked), files, gx_runs, runs)


def log_window(logger, data: ingest.SourceData, args) -> None:
    if data.window is None:  # a blocking file: the gate says why
        return
    checked = args["checked"]
    logger.info(
        "events: %s rows in %d daily files (%d validated now, %d remembered), %s pass, %s quarantined",
        _rows(data.rows_in),
        len(checked),
        sum(c.validation is not None for c in checked),
        sum(c.validation is None for c in checked),
        _rows(data.window.height),
        _rows(data.quarantined.height),
    )


def log_normalised(logger, cleaned, args) -> None:
    clean, counts = cleaned.clean, cleaned.accounting
    logger.info(
        "normalised: %s accounts (%s duplicates merged), %s contacts, %s events (%s events of quarantined contacts set aside)",
        _rows(clean.accounts.height),
        _rows(counts["accounts"]["merged"]),
        _rows(clean.contacts.height),
        _rows(counts["events"]["used"]),
        _rows(cleaned.orphaned_events),
    )


def log_shards(logger, sharded: pipeline.ShardedInputs, args) -> None:
    for source in sharded.summaries_recalled:
        logger.info("%s: its per-domain summary unchanged since a published run: read back", source)
    if len(sharded.parts) > 1:
        logger.info("%d shards of %s contacts", len(sharded.parts), "/".join(_rows(height(s.contacts)) for s in sharded.parts))


def log_shard(logger, scored, args) -> None:
    shard = args["shard"]
    contacts, sql_ready = scored.contacts.lazy().select(pl.len(), pl.col("sql_ready").sum()).collect().row(0)  # may be on disk
    logger.info(
        "shard %d of %d: %s contacts (%s SQL-ready), %s engaged, at %s accounts",
        shard.number,
        shard.of,
        _rows(contacts),
        _rows(sql_ready),
        _rows(scored.engaged.height),
        _rows(scored.totals.height),
    )


def log_selected(logger, accounts: pl.DataFrame, args) -> None:
    counts = dict(accounts.group_by("decision").len().sort("decision").iter_rows())
    logger.info("decisions: %s; targets: %s", counts, _rows(accounts["tier"].is_not_null().sum()))


def log_changes(logger, changes: dict[str, Any], args) -> None:
    previous_as_of = args["last"][0]
    if previous_as_of:
        logger.info(
            "since %s: %d newly SQL-ready, %d dropped, %d tier moves",
            previous_as_of,
            len(changes["new_sql_ready"]),
            len(changes["dropped"]),
            len(changes["tier_moves"]),
        )


# --- the steps as tasks --------------------------------------------------------------------------

stage_source = step_task(
    ingest.stage_source, "stage-source", log_staged, task_run_name="stage-{source}", timeout_seconds=3600, **READ_RETRIES
)
find_daily_event_files = step_task(ingest.find_daily_event_files, "find-daily-event-files", log_daily_files)
read_event_state = step_task(
    ingest.read_event_state,
    "read-event-state",
    lambda logger, state, args: logger.info("event state: %d daily files remembered", len(state)),
)
recall_event_files = step_task(
    ingest.recall_event_files,
    "recall-event-files",
    lambda logger, r, args: logger.info("events: %d daily files in the window remembered, %d to validate", len(r.remembered), len(r.new)),
)
validate_event_files = step_task(
    ingest.validate_event_files,
    "validate-event-files",
    log_event_files,
    task_run_name="validate-new-event-files",
    timeout_seconds=3600,
    **READ_RETRIES,
)
validate_source = step_task(gate.validate_source, "validate-source", log_validated, task_run_name="validate-{source}", timeout_seconds=3600)
read_source_state = step_task(
    source_store.read_state,
    "read-source-state",
    lambda logger, state, args: logger.info("source state: %d exports remembered", len(state)),
)
recall_source = step_task(
    remembered.recall_source,
    "recall-source",
    lambda logger, r, args: (
        logger.info(
            "%s: %s",
            args["source"],
            "unchanged since a published run: read back, not staged or validated" if r.data else "staged and validated",
        )
        if r.key
        else None
    ),
    task_run_name="recall-{source}",
)
remember_sources = step_task(
    remembered.remember_sources,
    "remember-sources",
    lambda logger, sources, args: logger.info(
        "remembered for later runs: %s", ", ".join(n for n, d in sources.items() if d.store_entry and not d.recalled) or "none"
    ),
)
assemble_event_window = step_task(ingest.assemble_event_window, "assemble-event-window", log_window)
quality_gate = step_task(
    gate.quality_gate, "data-quality-gate", lambda logger, passed, args: logger.info("data-quality gate passed for %d sources", passed)
)
normalise_sources = step_task(pipeline.normalise_sources, "normalise-sources", log_normalised)
split_into_shards = step_task(pipeline.split_into_shards, "split-into-shards", log_shards)
score_shard = step_task(pipeline.score_shard, "score-shard", log_shard, task_run_name="score-shard-{shard.number}")
combine_shards = step_task(
    pipeline.combine_shards,
    "combine-shards",
    lambda logger, scored, args: logger.info(
        "scores: %s contacts, %s accounts from %d shard(s)",
        # counted per shard: the merged scores kept on disk would be merged to count them
        _rows(sum(height(shard.contacts) for shard in args["scored"])),
        _rows(scored[1].height),
        len(args["scored"]),
    ),
)
read_last_snapshot = step_task(
    pipeline.read_last_snapshot,
    "read-last-snapshot",
    lambda logger, last, args: logger.info("last snapshot before %s: %s", args["as_of"].isoformat(), last[0] or "none"),
)
select_targets = step_task(pipeline.select_targets, "select-targets", log_selected)
check_account_table = step_task(
    output_contract.check_account_table,
    "check-output-contract",
    lambda logger, v, args: logger.info("output contract: %d checks passed on %s accounts", len(v.outcomes), _rows(v.rows_in)),
)
compare_with_last_run = step_task(render.compare_with_last_run, "compare-with-last-run", log_changes)
gather_report_details = step_task(render.gather_report_details, "gather-report-details")
render_outputs = step_task(render.render_outputs, "render-outputs")


def score_on_task_runner(
    sharded: pipeline.ShardedInputs, config: Config, as_of: dt.date, spill: pipeline.Spill | None = None
) -> list[shards.ShardScores]:
    """One `score-shard-<n>` task per shard on the flow's task runner (threads, or Dask)."""
    futures = score_shard.map(sharded.parts, unmapped(config), unmapped(as_of), unmapped(spill))
    return [future.result() for future in futures]


STEPS = pipeline.Steps(
    stage_source=stage_source,
    find_daily_event_files=find_daily_event_files,
    read_event_state=read_event_state,
    recall_event_files=recall_event_files,
    validate_event_files=validate_event_files,
    validate_source=validate_source,
    read_source_state=read_source_state,
    recall_source=recall_source,
    remember_sources=remember_sources,
    assemble_event_window=assemble_event_window,
    quality_gate=quality_gate,
    normalise_sources=normalise_sources,
    split_into_shards=split_into_shards,
    score_each=score_on_task_runner,
    combine_shards=combine_shards,
    read_last_snapshot=read_last_snapshot,
    select_targets=select_targets,
    check_account_table=check_account_table,
    compare_with_last_run=compare_with_last_run,
    gather_report_details=gather_report_details,
    render_outputs=render_outputs,
)


# --- the flow's I/O --------------------------------------------------------------------------------


@frame_task(name="load-config")
def load_scoring_config(path: str | None, mapping_path: str | None = None, presets: list[str] | None = None) -> Config:
    """The scoring config; `mapping_path` (a YAML `sources:` section) replaces its mappings,
    `presets` are laid under them (abmq/presets.py)."""
    config = load_config(path, mapping_path, presets)
    mapping.check_mappings(config.sources)
    mapped = f" with mapping {mapping_path}" if mapping_path else ""
    mapped += f" with preset {', '.join(presets)}" if presets else ""
    get_run_logger().info("scoring config %s%s (fingerprint %s)", path or "config/default.yaml", mapped, config.fingerprint())
    return config


@frame_task(name="load-p-convert-model")
def load_p_convert_model(path: str | None, config: Config) -> conversion.ConversionModel:
    """The calibration's p_convert model, if one is given and fits this config."""
    model = conversion.usable_model(catalog.read_p_convert_model(path) if path else None, config, path)
    if model.model is not None:
        get_run_logger().info("p_convert: %s, from %s", model.title, path)
    else:
        get_run_logger().info("p_convert left empty: %s", model.why_not)
    return model


@frame_task(name="read-run-history")
def read_run_history(out_dir: str) -> list[dict]:
    """Row counts of earlier published runs, for the volume checks."""
    history = catalog.read_history(Path(out_dir))
    get_run_logger().info("run history: %d earlier as-of dates", len(history))
    return history


@frame_task(name="start-writing-scores")
def start_writing_scores(outputs: catalog.RunOutputs, accounts: pl.DataFrame, contacts: pipeline.Rows) -> None:
    """The contact and account score tables written into the staging folder on a thread of
    their own, while the output contract is checked and the pages are rendered (one core);
    `write-outputs` waits for them (`RunOutputs.write_early`)."""
    tables = render.score_tables(accounts, contacts)
    get_run_logger().info("writing %s on a thread while the report is made (write-outputs waits for them)", " and ".join(tables))
    outputs.write_early(tables)


@frame_task(name="write-outputs")
def write_outputs(outputs: catalog.RunOutputs, bundle: render.OutputBundle, as_of: dt.date) -> None:
    """Write every output into the run's staging folder (published later, all or nothing)."""
    outputs.write_bundle(bundle.files, bundle.gx_results, as_of)
    get_run_logger().info("outputs written to staging folder %s", outputs.staging.name)


@frame_task(name="publish-outputs")
def publish_outputs(outputs: catalog.RunOutputs) -> str:
    published = outputs.publish()
    forgotten = event_store.remove_unlisted(Path(published))  # days that left the window
    source_store.remove_unlisted(Path(published))  # exports that changed
    get_run_logger().info(
        "published report and target list in %s%s", published, f"; {forgotten} stored event files forgotten" if forgotten else ""
    )
    return str(published)


@frame_task(name="fetch-from-object-store", **READ_RETRIES)
def fetch_from_object_store(view: object_store.LocalView) -> dict[str, dict[str, int]]:
    """Remote inputs mirrored into the local cache (only new or changed objects fetched), and
    the local working folder made equal to the remote output's published manifest."""
    logger = get_run_logger()
    fetched, pulled = view.fetch(), view.pull()
    if view.remote_input:
        logger.info(
            "inputs from %s: %d objects fetched, %d unchanged, %d removed locally",
            object_store.display(view.input_location),
            fetched["fetched"],
            fetched["unchanged"],
            fetched["removed"],
        )
    if view.remote_out:
        logger.info(
            "last published outputs of %s: %d files downloaded, %d already here, %d local files removed",
            object_store.display(str(view.out_location)),
            pulled["downloaded"],
            pulled["unchanged"],
            pulled["removed"],
        )
    return {"fetched": fetched, "pulled": pulled}


@frame_task(name="publish-to-object-store")
def publish_to_object_store(view: object_store.LocalView, as_of: dt.date) -> dict[str, Any]:
    """Upload the published outputs (what changed), then the manifest, then delete objects no
    manifest lists."""
    published = view.publish(as_of)
    get_run_logger().info(
        "published run %s to %s: %d files uploaded, %d unchanged, %d unlisted objects removed",
        published["run_id"],
        published["location"],
        published["uploaded"],
        published["unchanged"],
        published["removed"],
    )
    if published["cleanup_error"]:
        get_run_logger().warning("unlisted objects not removed (the next run tries again): %s", published["cleanup_error"])
    return published


def record_failure(out_dir: str, error: BaseException, sources: dict[str, ingest.SourceData], as_of: dt.date) -> Path:
    """Keep the error, the GX results and their Data Docs in OUT/last_failure/."""
    dq = {name: data.validation.to_dict() for name, data in sources.items() if data.validation is not None}
    return catalog.record_failure(Path(out_dir), error, dq, render.gx_results(sources), as_of)


@frame_task(name="publish-run-summary")
def publish_run_summary(accounts: pl.DataFrame, quality: dict[str, Any], config: Config, as_of: dt.date) -> None:
    """Prefect artifacts for data engineers: counts, data quality, top targets (no contacts)."""
    create_markdown_artifact(
        key="abm-qualification-summary",
        markdown=report.markdown_summary(accounts, quality, config, as_of),
        description=f"ABM qualification as of {as_of.isoformat()}",
    )
    top = (
        exports.targets_table(accounts)
        .head(25)
        .select("rank", "tier", "account_name", "domain", "owner", "score", "fit_points", "engagement_points", "decision_reason")
    )
    create_table_artifact(
        key="abm-top-targets",
        table=[{k: ("" if v is None else str(v)) for k, v in row.items()} for row in top.to_dicts()],
        description="Top 25 target accounts",
    )


@frame_task(name="alert-new-sql-ready", retries=2, retry_delay_seconds=[2, 10])
def alert_new_sql_ready(changes: dict[str, Any], accounts: pl.DataFrame, as_of: dt.date) -> dict[str, Any] | None:
    """Emit a Prefect event for newly SQL-ready accounts (a Prefect automation can route it)
    and post it to the webhook, if one is configured."""
    payload = alerts.alert_payload(changes, as_of.isoformat(), alerts.owners_of_new(changes, accounts))
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
