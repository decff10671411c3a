"""The pipeline's steps as plain functions (`tasks.pipeline`), without a Prefect API, for unit tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
from pathlib import Path

import polars as pl

from abmq.config import Config, load_config
from abmq.tasks import gate, ingest, pipeline

# Each call's state store is a folder in this one, removed when the test process ends.
_STATE_STORES = tempfile.TemporaryDirectory(prefix="abmq-steps-")


def stage_and_validate(
    input_dir: Path, as_of: dt.date, config: Config | None = None, last_volumes: dict[str, int] | None = None
) -> dict[str, ingest.SourceData]:
    config = config or load_config()
    history = [{"as_of": "1970-01-01", "rows_in": last_volumes}] if last_volumes else []
    state_dir = tempfile.mkdtemp(dir=_STATE_STORES.name)  # the event state store, if events come as daily files
    return pipeline.check_inputs(str(input_dir), state_dir, config, as_of, history).sources


def run_steps(input_dir: Path, as_of: dt.date, config: Config | None = None) -> dict:
    config = config or load_config()
    assessment = pipeline.assess(stage_and_validate(input_dir, as_of, config), config, as_of)
    cleaned = assessment.cleaned
    return {
        "sources": cleaned.sources,
        "clean": cleaned.clean,
        "contacts": assessment.contacts,
        "accounts": assessment.accounts,
        "quality": gate.quality_summary(cleaned.sources, cleaned.accounting),
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


def split_by_day(single: Path, daily: Path) -> None:
    """The same export as `events.parquet`, delivered as events/<day>.parquet."""
    shutil.copytree(single, daily)
    (daily / "events.parquet").unlink()
    (daily / "events").mkdir()
    events = pl.read_parquet(single / "events.parquet").with_columns(day=pl.col("occurred_at").dt.date())
    for (day,), part in events.partition_by("day", as_dict=True, maintain_order=True).items():
        part.drop("day").write_parquet(daily / "events" / f"{day}.parquet")
