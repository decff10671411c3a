"""The qualification flow: ingest → validate → normalise → roll up → score → select → render.

Wiring only: every step is a task in `tasks.pipeline` around plain polars functions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger

from tasks import catalog
from tasks.pipeline import (
    alert_new_sql_ready,
    compare_with_last_run,
    gather_report_details,
    engagement_by_contact,
    gate_parameters,
    load_scoring_config,
    normalise_sources,
    publish_outputs,
    publish_run_summary,
    quality_gate,
    read_last_snapshot,
    read_run_history,
    record_failure,
    reference_keys,
    roll_up_accounts,
    score_accounts,
    score_contacts,
    select_targets,
    stage_source,
    validate_source,
    write_outputs,
)
from tasks.sources import SOURCE_ORDER


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
) -> dict:
    """Score every account in `input_dir` and publish the report and target list to `out_dir`."""
    as_of_date = resolve_as_of(as_of)
    get_run_logger().info("qualifying accounts from %s as of %s", input_dir, as_of_date.isoformat())
    with catalog.output_lock(Path(out_dir), lock_wait_seconds, holder=f"as of {as_of_date.isoformat()}"):
        return _qualify(input_dir, out_dir, config_path, as_of_date)


def _qualify(input_dir: str, out_dir: str, config_path: str | None, as_of_date: dt.date) -> dict:
    config = load_scoring_config(config_path)
    history = read_run_history(out_dir)
    parameters = gate_parameters(as_of_date, config, history)
    outputs = catalog.RunOutputs(Path(out_dir))
    sources: dict = {}
    try:
        # ingest: each source is staged after the ones its referential checks look at
        for name in SOURCE_ORDER:
            sources[name] = stage_source(input_dir, name, **reference_keys(sources))
        # validate
        for name in SOURCE_ORDER:
            sources[name] = validate_source(name, sources[name], parameters, config)
        quality_gate(sources)
        # normalise → roll up → score → select
        clean = normalise_sources(sources)
        contacts_engaged = engagement_by_contact(clean, config, as_of_date)
        contact_scores = score_contacts(contacts_engaged, clean, config)
        rolled = roll_up_accounts(contacts_engaged, clean, config, as_of_date)
        last = read_last_snapshot(out_dir, as_of_date)
        account_scores = select_targets(score_accounts(clean, rolled, config), clean, config, last[1])
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
    }
