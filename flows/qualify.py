"""The qualification flow: ingest → validate → normalise → roll up → score → select → render.

Wiring only: every step is a task in `tasks.pipeline` around plain polars functions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, unmapped

from abmq.tasks import catalog
from abmq.tasks.pipeline import (
    alert_new_sql_ready,
    assemble_event_window,
    compare_with_last_run,
    gather_report_details,
    find_daily_event_files,
    gate_parameters,
    load_scoring_config,
    combine_shards,
    normalise_sources,
    publish_outputs,
    publish_run_summary,
    quality_gate,
    read_event_state,
    recall_event_files,
    read_last_snapshot,
    read_run_history,
    record_failure,
    reference_keys,
    score_shard,
    select_targets,
    split_into_shards,
    stage_source,
    validate_event_file,
    validate_source,
    write_outputs,
)
from abmq.tasks.sources import SOURCE_ORDER


def resolve_as_of(as_of: str | dt.date | None) -> dt.date:
    """The scoring clock. Scheduled runs pass none and score as of the run's UTC date;
    everything below receives the date explicitly."""
    if as_of is None:
        return dt.datetime.now(dt.timezone.utc).date()
    if isinstance(as_of, dt.date):
        return as_of
    return dt.date.fromisoformat(as_of)


@flow(name="qualify-accounts", flow_run_name="qualify-{as_of}", log_prints=False)
def qualify(
    input_dir: str,
    out_dir: str,
    config_path: str | None = None,
    as_of: str | None = None,
    lock_wait_seconds: float = 600,
    shards: int = 1,
) -> dict:
    """Score every account in `input_dir` and publish the report and target list to `out_dir`.
    `shards` > 1 scores accounts in that many slices (hash of domain) as parallel tasks: on
    the flow's task runner, e.g. a Dask cluster (`flows.task_runners`)."""
    if shards < 1:
        raise ValueError(f"shards must be 1 or more, not {shards}")
    as_of_date = resolve_as_of(as_of)
    get_run_logger().info("qualifying accounts from %s as of %s", input_dir, as_of_date.isoformat())
    with catalog.output_lock(Path(out_dir), lock_wait_seconds, holder=f"as of {as_of_date.isoformat()}"):
        return _qualify(input_dir, out_dir, config_path, as_of_date, shards)


def _qualify(input_dir: str, out_dir: str, config_path: str | None, as_of_date: dt.date, shards: int) -> dict:
    config = load_scoring_config(config_path)
    history = read_run_history(out_dir)
    parameters = gate_parameters(as_of_date, config, history)
    outputs = catalog.RunOutputs(Path(out_dir))
    sources: dict = {}
    event_files: dict[str, int] = {}
    try:
        # events as daily files are validated file by file, remembering what earlier runs saw
        daily_events = find_daily_event_files(input_dir, config, as_of_date)
        exports_in_one = [n for n in SOURCE_ORDER if not (n == "events" and daily_events)]
        # ingest: each source is staged after the ones its referential checks look at
        for name in exports_in_one:
            sources[name] = stage_source(input_dir, name, **reference_keys(sources))
        keys = reference_keys(sources)
        # validate
        for name in exports_in_one:
            sources[name] = validate_source(name, sources[name], parameters, config)
        if daily_events:
            state = read_event_state(out_dir)
            remembered, new = recall_event_files(daily_events.window, state, out_dir, config)
            checked = remembered + [validate_event_file(file, sha256, out_dir, config) for file, sha256 in new]
            event_files = {"validated": len(new), "remembered": len(remembered)}
            sources["events"] = assemble_event_window(checked, state, out_dir, parameters, config, as_of_date, keys["contact_ids"])
            for name in SOURCE_ORDER:  # report sources in contract order, as for one export
                sources[name] = sources.pop(name)
        quality_gate(sources)
        # normalise → roll up → score → select
        clean = normalise_sources(sources)
        # accounts are scored in shards: threads here, Dask workers with --task-runner dask
        parts, latest_intent_week = split_into_shards(clean, shards, config, as_of_date)
        scored = score_shard.map(parts, unmapped(config), unmapped(as_of_date), unmapped(latest_intent_week))
        contact_scores, account_scores = combine_shards(scored)
        last = read_last_snapshot(out_dir, as_of_date)
        account_scores = select_targets(account_scores, clean, config, last[1])
        # render and publish
        changes = compare_with_last_run(account_scores, last)
        details = gather_report_details(account_scores, clean, config, as_of_date)
        quality = write_outputs(
            outputs, history, account_scores, contact_scores, sources, config, as_of_date,
            changes, details["weekly"], details["intent"],
        )
        published = publish_outputs(outputs)
    except Exception as exc:
        outputs.discard()
        record_failure(out_dir, exc, sources, as_of_date)
        raise
    # after publishing: a summary for the Prefect UI and an alert for the account owners
    publish_run_summary(account_scores, quality, config, as_of_date)
    alert = alert_new_sql_ready(changes, account_scores, as_of_date, return_state=True)
    if alert.is_failed():  # the outputs are published; a failed alert must not hide that
        get_run_logger().error("the new-SQL-ready alert failed after its retries: %s", alert.message)
    return {
        "out_dir": published,
        "report": str(Path(published) / "report.html"),
        "targets": str(Path(published) / "targets.csv"),
        "accounts": account_scores.height,
        "targets_count": int(account_scores["tier"].is_not_null().sum()),
        "new_sql_ready": len(changes.get("new_sql_ready", [])),
        **({"event_files": event_files} if event_files else {}),
    }
