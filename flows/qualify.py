"""The qualification flow: ingest → validate → normalise → roll up → score → select → render,
then write and publish.

Wiring only: the steps and their order are `tasks.pipeline`'s, run as the Prefect tasks of
`tasks.flow_tasks`; the flow adds the output lock, publishing, the artifacts and the alert.
Remote locations (`s3://…`) are handled at the edge (`tasks.object_store`): the run reads and
writes local folders, fetched before and uploaded after.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner

from abmq.tasks import catalog, object_store, pipeline, source_store
from abmq.tasks.flow_tasks import (
    STEPS,
    alert_new_sql_ready,
    fetch_from_object_store,
    load_p_convert_model,
    load_scoring_config,
    publish_outputs,
    publish_run_summary,
    publish_to_object_store,
    read_run_history,
    record_failure,
    start_writing_scores,
    write_outputs,
)


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
    p_convert_model: str | None = None,
    mapping_path: str | None = None,
    presets: list[str] | None = None,
    work_dir: str | None = None,
) -> dict:
    """Score every account in `input_dir` and publish the report and target list to `out_dir`.
    `shards` > 1 scores contacts in that many ranges of contact ids as parallel tasks: on
    the flow's task runner, e.g. a Dask cluster (`flows.task_runners`). `p_convert_model` is
    the p_convert_model.json of `abmq calibrate` (the likelihood to convert; empty without it).
    `mapping_path`: a YAML file with a `sources:` section, replacing the config's mappings;
    `presets`: ready-made mappings laid under them ("hubspot", "intent=bombora"; abmq/presets.py).
    `input_dir` and `out_dir` may be `s3://…` URLs; their local copies live under `work_dir`
    (default $ABMQ_WORK_DIR or ~/.cache/abmq; tasks/object_store.py)."""
    if shards < 1:
        raise ValueError(f"shards must be 1 or more, not {shards}")
    as_of_date = resolve_as_of(as_of)
    get_run_logger().info("qualifying accounts from %s as of %s", object_store.display(input_dir), as_of_date.isoformat())
    holder = f"as of {as_of_date.isoformat()}"
    with object_store.local_view(input_dir, out_dir, work_dir, lock_wait_seconds, holder) as view:
        with catalog.output_lock(Path(view.out_dir), lock_wait_seconds, holder, cleanup=source_store.remove_leftovers):
            synced = fetch_from_object_store(view) if view.remote else {}
            result = _qualify(view.input_dir, view.out_dir, config_path, as_of_date, shards, p_convert_model, mapping_path, presets, view)
            return {**result, **({"inputs_fetched": synced["fetched"]} if view.remote_input else {})}


def _spill(outputs: catalog.RunOutputs, daily_files: bool) -> pipeline.Spill | None:
    """Where the scoring window's parts and the lead scores wait on disk: the run's staging
    folder, when the shards run in this process (threads), and the shards' own inputs too when
    they run in worker processes that see this folder: a local Dask cluster's, or any cluster's
    when events come as daily files (its workers read the state store's files in the output
    folder already). The flow process then holds scans of the lead scores, not the scores.
    Otherwise workers are sent their rows and send their scores back."""
    context = FlowRunContext.get()
    if context is None:
        return None
    runner = context.task_runner
    if isinstance(runner, ThreadPoolTaskRunner):
        return outputs.spill()
    return outputs.spill(for_workers=True) if getattr(runner, "shares_disk", False) or daily_files else None


def _qualify(
    input_dir: str,
    out_dir: str,
    config_path: str | None,
    as_of_date: dt.date,
    shards: int,
    p_convert_model: str | None,
    mapping_path: str | None = None,
    presets: list[str] | None = None,
    view: object_store.LocalView | None = None,
) -> dict:
    config = load_scoring_config(config_path, mapping_path, presets)
    model = load_p_convert_model(p_convert_model, config)
    history = read_run_history(out_dir)
    outputs = catalog.RunOutputs(Path(out_dir))
    checked = None
    try:
        checked = pipeline.check_inputs(input_dir, out_dir, config, as_of_date, history, STEPS)
        # the validated rows let go once normalised (`checked` keeps the verdicts for
        # record_failure), the normalised ones once the report has what it reads of them
        spill = _spill(outputs, daily_files=bool(checked.event_files))
        assessment = pipeline.assess(
            checked.sources, config, as_of_date, STEPS, shards, out_dir, model=model, release_rows=True, spill=spill
        )
        details = pipeline.report_details(assessment, config, as_of_date, STEPS)
        start_writing_scores(outputs, assessment.accounts, assessment.contacts)
        assessment = assessment.without_rows()
        rendered = pipeline.render_run(assessment, history, config, as_of_date, STEPS, details)
        accounts, assessment = assessment.accounts, None  # the contact scores live on only in the bundle, until written
        write_outputs(outputs, rendered.bundle, as_of_date)
        published = publish_outputs(outputs)
        remote = publish_to_object_store(view, as_of_date) if view is not None and view.remote_out else None
    except Exception as exc:
        outputs.discard()
        record_failure(out_dir, exc, checked.sources if checked else {}, as_of_date)
        raise
    # after publishing: a summary for the Prefect UI and an alert for the account owners
    changes = rendered.changes
    publish_run_summary(accounts, rendered.bundle.quality, config, as_of_date)
    alert = alert_new_sql_ready(changes, accounts, as_of_date, return_state=True)
    if alert.is_failed():  # the outputs are published; a failed alert must not hide that
        get_run_logger().error("the new-SQL-ready alert failed after its retries: %s", alert.message)
    return {
        "out_dir": published,
        "report": str(Path(published) / "report.html"),
        "targets": str(Path(published) / "targets.csv"),
        "accounts": accounts.height,
        "targets_count": int(accounts["tier"].is_not_null().sum()),
        "new_sql_ready": len(changes.get("new_sql_ready", [])),
        **({"event_files": checked.event_files} if checked.event_files else {}),
        # exports unchanged since a published run: read back, not staged or validated again
        **({"exports_remembered": remembered} if (remembered := [n for n, d in checked.sources.items() if d.recalled]) else {}),
        **({"published": remote} if remote else {}),
    }
