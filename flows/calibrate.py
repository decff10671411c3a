"""The calibration flow: backtest the scores → fit weights → rescore held out → report.

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
def stage_backtest_inputs(input_dir: str) -> dict[str, SourceData]:
    """Every source read and canonicalised once (staging does not depend on the date)."""
    staged = backtest.stage_inputs(Path(input_dir))
    get_run_logger().info("staged %d sources from %s", sum(d.staged is not None for d in staged.values()), input_dir)
    return staged


@task(name="backtest-scores", cache_policy=NO_CACHE)
def backtest_scores(input_dir: str, staged: dict[str, SourceData], config: Config, as_of: dt.date, months: int) -> dict[str, Any]:
    """Closed opportunities, and every account's scores as of the first day of each month
    over their span (validated, gated and scored per date, as a run would have)."""
    logger = get_run_logger()
    opportunities = backtest.closed_opportunities(staged, as_of, config)
    if opportunities.is_empty():
        raise calibration.NotEnoughHistoryError(
            f"{input_dir}: no closed (won or lost) opportunities on or before {as_of.isoformat()}; "
            "calibration needs the `opportunities` source with outcomes (see README, 'Input contract')"
        )
    dates = calibration.backtest_dates(opportunities, as_of, months)
    logger.info("%d closed opportunities; backtesting %d dates, %s to %s", opportunities.height, len(dates), dates[0], dates[-1])
    scores = backtest.backtest(Path(input_dir), dates, config, staged)
    logger.info("backtest: %s account scores", f"{scores.height:,}")
    return {"opportunities": opportunities, "dates": dates, "scores": scores}


@task(name="fit-weights", cache_policy=NO_CACHE)
def fit_weights(opportunities: pl.DataFrame, scores: pl.DataFrame, config: Config) -> calibration.Calibration:
    """Training rows (scores before each opportunity), time-based split, logistic
    regression on the earlier opportunities, proposed config."""
    fitted = calibration.fit_weights(opportunities, scores, config)
    get_run_logger().info(
        "%d opportunities with an earlier snapshot: %d train (before %s), %d held out; regularisation C=%s; proposal %s",
        fitted.rows.height,
        fitted.train.height,
        fitted.cut,
        fitted.test.height,
        fitted.model.c,
        fitted.proposed.fingerprint(),
    )
    return fitted


@task(name="backtest-proposed-config", cache_policy=NO_CACHE)
def backtest_proposed_config(input_dir: str, staged: dict[str, SourceData], fitted: calibration.Calibration) -> pl.DataFrame:
    """The held-out opportunities rescored by the pipeline with the proposed config, on
    their own snapshot dates (exact: caps and decisions included)."""
    scores = backtest.backtest(Path(input_dir), fitted.held_out_dates, fitted.proposed, staged)
    rows = calibration.rescored(fitted.test, scores)
    get_run_logger().info(
        "rescored %d held-out opportunities on %d dates with the proposed config", rows.height, len(fitted.held_out_dates)
    )
    return rows


@task(name="render-calibration-report", cache_policy=NO_CACHE)
def render_calibration_report(
    outputs: catalog.RunOutputs,
    fitted: calibration.Calibration,
    proposed_rows: pl.DataFrame,
    config: Config,
    staged: dict[str, SourceData],
    as_of: dt.date,
    dates: list[dt.date],
) -> dict[str, Any]:
    """calibration.html, proposed_config.yaml, config_diff.md and calibration.json into
    the staging folder (published later, all or nothing)."""
    figures = calibration.figures(fitted, proposed_rows, config, as_of, dates)
    run = {
        "as_of": as_of.isoformat(),
        "config_fingerprint": config.fingerprint(),
        "inputs_fingerprint": catalog.combined_fingerprint({name: data.fingerprint for name, data in staged.items()}),
    }
    figures["inputs_fingerprint"] = run["inputs_fingerprint"]
    outputs.write_text("calibration.html", calibration.render_html(figures, run))
    outputs.write_text("proposed_config.yaml", calibration.proposed_yaml(fitted.proposed, figures))
    outputs.write_text(
        "config_diff.md", calibration.diff_markdown(figures["config_diff"], figures["config_fingerprint"], figures["proposed_fingerprint"])
    )
    outputs.write_json("calibration.json", figures)
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
) -> dict:
    """Backtest the scoring config on the closed opportunities in `input_dir` and publish
    the calibration report and a proposed config to `out_dir`."""
    as_of_date = resolve_as_of(as_of)
    get_run_logger().info("calibrating scores on %s as of %s", input_dir, as_of_date.isoformat())
    with catalog.output_lock(Path(out_dir), lock_wait_seconds, holder=f"calibration as of {as_of_date.isoformat()}"):
        config = load_scoring_config(config_path)
        outputs = catalog.RunOutputs(Path(out_dir))
        try:
            staged = stage_backtest_inputs(input_dir)
            history = backtest_scores(input_dir, staged, config, as_of_date, months)
            fitted = fit_weights(history["opportunities"], history["scores"], config)
            proposed_rows = backtest_proposed_config(input_dir, staged, fitted)
            figures = render_calibration_report(outputs, fitted, proposed_rows, config, staged, as_of_date, history["dates"])
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
        **figures["headline"],
    }
