"""The calibration flow: backtest table → label → fit → proposal rescored → report.

Wiring only: the steps are tasks around `tasks.backtest` (the scoring pipeline as of past
dates, in-process) and `tasks.calibration` (plain polars / scikit-learn functions).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from abmq.config import Config
from abmq.flows.qualify import resolve_as_of
from abmq.tasks import backtest, calibration, catalog
from abmq.tasks.flow_tasks import load_scoring_config
from abmq.tasks.ingest import SourceData

ARTIFACT_KEY = "abm-scoring-calibration"


@task(name="stage-backtest-inputs", cache_policy=NO_CACHE)
def stage_backtest_inputs(input_dir: str, mappings: dict | None = None) -> dict[str, SourceData]:
    """Every source read, reshaped by the config's `sources:` and canonicalised once (staging
    does not depend on the date)."""
    staged = backtest.stage_inputs(Path(input_dir), mappings)
    get_run_logger().info("staged %d sources from %s", sum(d.staged is not None for d in staged.values()), input_dir)
    return staged


@task(name="build-backtest-table", cache_policy=NO_CACHE)
def build_backtest_table(
    staged: dict[str, SourceData], config: Config, as_of: dt.date, months: int, frequency: str, horizon_days: int, label: str
) -> pl.DataFrame:
    """Every unsuppressed account on every backtest date with its signals then, labelled by
    what its opportunities did in the `horizon_days` after the date."""
    rows, counts = backtest.labelled_backtest(staged, config, as_of, months, frequency, horizon_days, label)
    get_run_logger().info(
        "%d opportunities on or before %s; %d %s dates; backtest table: %s rows, %s positive (%s within %d days)",
        counts["opportunities"],
        as_of,
        counts["dates"],
        frequency,
        f"{counts['rows']:,}",
        f"{counts['positives']:,}",
        label,
        horizon_days,
    )
    return rows


@task(name="fit-calibration", cache_policy=NO_CACHE)
def fit_calibration(rows: pl.DataFrame, config: Config, horizon_days: int, label: str) -> calibration.Calibration:
    """Time-ordered split (horizon purged), the models the training rows support, the proposal."""
    fitted = calibration.fit(rows, config, horizon_days, label)
    get_run_logger().info(
        "train %s (%d positive), test %s; fit: %s; proposal %s",
        fitted.split["train"],
        fitted.positives_train,
        fitted.split["test"],
        fitted.mode,
        fitted.proposed.fingerprint(),
    )
    return fitted


@task(name="backtest-proposed-config", cache_policy=NO_CACHE)
def backtest_proposed_config(staged: dict[str, SourceData], fitted: calibration.Calibration) -> pl.DataFrame | None:
    """The held-out dates rescored by the pipeline with the proposed config (exact: caps,
    decisions and tiers included)."""
    if fitted.mode == "none":
        return None
    table = backtest.backtest_table(staged, fitted.split["test"], fitted.proposed, with_features=False)
    get_run_logger().info("rescored %d held-out dates with the proposed config: %s rows", len(fitted.split["test"]), f"{table.height:,}")
    return table


@task(name="render-calibration-report", cache_policy=NO_CACHE)
def render_calibration_report(
    outputs: catalog.RunOutputs,
    fitted: calibration.Calibration,
    proposed_rows: pl.DataFrame | None,
    config: Config,
    staged: dict[str, SourceData],
    as_of: dt.date,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """calibration.html, calibration.json, proposed_config.yaml, config_diff.md and
    p_convert_model.json into the staging folder (published later, all or nothing)."""
    inputs_fingerprint = catalog.combined_fingerprint({name: data.fingerprint for name, data in staged.items()})
    files, figures = calibration.calibration_files(fitted, proposed_rows, config, as_of, settings, inputs_fingerprint)
    for name, content in files.items():
        if isinstance(content, str):
            outputs.write_text(name, content)
        else:
            outputs.write_json(name, content)
    return figures


@task(name="publish-calibration", cache_policy=NO_CACHE)
def publish_calibration(outputs: catalog.RunOutputs) -> str:
    published = outputs.publish()
    get_run_logger().info("published the calibration report and proposed config in %s", published)
    return str(published)


@task(name="publish-calibration-summary", cache_policy=NO_CACHE)
def publish_calibration_summary(figures: dict[str, Any]) -> None:
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=calibration.markdown_summary(figures),
        description=f"Scoring calibration as of {figures['as_of']}",
    )


@flow(name="calibrate-scoring", flow_run_name="calibrate-{as_of}", log_prints=False)
def calibrate(
    input_dir: str,
    out_dir: str,
    config_path: str | None = None,
    as_of: str | None = None,
    months: int = calibration.DEFAULT_BACKTEST_MONTHS,
    lock_wait_seconds: float = 600,
    label: str = "created",
    horizon_days: int = calibration.HORIZON_DAYS,
    frequency: str = "monthly",
) -> dict:
    """Backtest the scoring config on every account and date in `input_dir`, label each
    (account, date) by what its opportunities did in the next `horizon_days`, and publish
    the calibration report, a proposed config and the p_convert model to `out_dir`."""
    as_of_date = resolve_as_of(as_of)
    get_run_logger().info("calibrating scores on %s as of %s", input_dir, as_of_date.isoformat())
    settings = {"label": label, "horizon_days": horizon_days, "frequency": frequency, "months": months}
    with catalog.output_lock(Path(out_dir), lock_wait_seconds, holder=f"calibration as of {as_of_date.isoformat()}"):
        config = load_scoring_config(config_path)
        outputs = catalog.RunOutputs(Path(out_dir))
        try:
            staged = stage_backtest_inputs(input_dir, config.sources)
            rows = build_backtest_table(staged, config, as_of_date, months, frequency, horizon_days, label)
            fitted = fit_calibration(rows, config, horizon_days, label)
            proposed_rows = backtest_proposed_config(staged, fitted)
            figures = render_calibration_report(outputs, fitted, proposed_rows, config, staged, as_of_date, settings)
            published = publish_calibration(outputs)
        except Exception:
            outputs.discard()
            raise
    publish_calibration_summary(figures)
    return {
        "out_dir": published,
        "report": str(Path(published) / "calibration.html"),
        "proposed_config": str(Path(published) / "proposed_config.yaml"),
        "config_diff": str(Path(published) / "config_diff.md"),
        "p_convert_model": str(Path(published) / "p_convert_model.json"),
        **figures["headline"],
    }
