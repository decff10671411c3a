"""Run the flow's steps as plain functions (`task.fn`), without a Prefect API, for unit tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from prefect.logging import disable_run_logger

from abmq.config import Config, load_config
from abmq.tasks import backtest, pipeline
from abmq.tasks.sources import SOURCE_ORDER


def stage_and_validate(input_dir: Path, as_of: dt.date, config: Config | None = None, last_volumes: dict[str, int] | None = None) -> dict[str, pipeline.SourceData]:
    config = config or load_config()
    history = [{"as_of": "1970-01-01", "rows_in": last_volumes}] if last_volumes else []
    parameters = pipeline.gate_parameters(as_of, config, history)
    sources = backtest.stage_inputs(Path(input_dir))
    with disable_run_logger():
        for name in SOURCE_ORDER:
            sources[name] = pipeline.validate_source.fn(name, sources[name], parameters, config)
    return sources


def run_steps(input_dir: Path, as_of: dt.date, config: Config | None = None) -> dict:
    config = config or load_config()
    sources = stage_and_validate(input_dir, as_of, config)
    with disable_run_logger():
        pipeline.quality_gate.fn(sources)
        clean = pipeline.normalise_sources.fn(sources)
        contact_scores, account_scores = pipeline.score_clean(clean, config, as_of)
        accounts = pipeline.select_targets.fn(account_scores, clean, config)
    return {
        "sources": sources,
        "clean": clean,
        "contacts": contact_scores,
        "accounts": accounts,
        "quality": pipeline.quality_summary(sources),
        "config": config,
    }


def tree_digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under `folder` but those in a `skip` folder, and the lock file
    (it names its holder)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not set(skip) & set(p.relative_to(folder).parts) and p.name != ".lock"
    }
