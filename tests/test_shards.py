"""Account shards: scored apart (threads, or a 2-worker Dask cluster) they give the same
outputs as one piece."""

import asyncio
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from steps import split_by_day, stage_and_validate, tree_digest

from abmq.config import load_config
from abmq.flows.qualify import qualify
from abmq.flows.task_runners import with_task_runner
from abmq.sample_data import generate
from abmq.tasks import catalog, rollup, shards
from abmq.tasks.clean import normalise_sources

AS_OF = dt.date(2026, 11, 25)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shards") / "input"
    generate(folder, 400, seed=9, as_of=AS_OF, fmt="parquet", progress=False)
    return folder


@pytest.fixture(scope="module")
def clean(generated):
    config = load_config()
    sources = stage_and_validate(generated, AS_OF, config)
    return normalise_sources(sources).clean, config


def summaries(data, config) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The intent surges and technology matches the split carries, as `pipeline.split_into_shards` works them out."""
    week = rollup.latest_intent_week(data.intent, config, AS_OF)
    return rollup.intent_surges(data.intent, config, AS_OF, week), rollup.technology_matches(data.technographics, config, AS_OF)


@pytest.mark.parametrize("count", [2, 3, 7])
def test_shards_add_up_to_the_whole(clean, monkeypatch, tmp_path, count):
    data, config = clean
    args = (data.accounts, data.contacts, data.events, *summaries(data, config))
    whole = shards.combine([shards.score(shards.split(*args, 1)[0], config, AS_OF)])
    parts = shards.split(*args, count)
    assert len(parts) == count
    assert sum(p.accounts.height for p in parts) == data.accounts.height
    assert sum(p.events.height for p in parts) == data.events.height
    # every account's rows are in exactly one shard, with its contacts and their events
    for part in parts:
        assert set(part.contacts["domain"]) <= set(part.accounts["domain"])
        assert set(part.events["contact_id"]) <= set(part.contacts["contact_id"])
    combined = shards.combine([shards.score(p, config, AS_OF) for p in parts])
    assert combined[0].equals(whole[0])
    assert combined[1].equals(whole[1])
    # each shard's lead scores kept on disk (threads, a local Dask cluster's workers), in
    # slices: merged in contact id order as they are read, never sorted in memory
    monkeypatch.setattr(shards, "CONTACTS_PER_SLICE", 97)
    spill = catalog.SpilledRows(tmp_path / "spilled")
    on_disk = shards.combine([shards.score(p, config, AS_OF, spill) for p in parts])
    assert isinstance(on_disk[0], pl.LazyFrame)
    assert len(list((tmp_path / "spilled").glob("part-*.arrow"))) > count  # shards of several slices
    assert on_disk[0].collect().equals(whole[0])
    assert on_disk[1].equals(whole[1])


@pytest.mark.parametrize("events_as", ["daily files", "one export", "a contact id twice"])
def test_shards_kept_on_disk_for_workers_give_the_scores_of_one_piece(clean, tmp_path, events_as):
    # a local Dask cluster's workers get scans of their accounts, contacts and events, parted
    # on disk by the flow process, not the rows (nor each a query of the whole window). Events
    # find their contact's shard by the id's hash, or by the id when two contacts' hashes are
    # the same: as here, where one contact is there twice
    data, config = clean
    events, contacts = data.events, data.contacts
    if events_as == "daily files":
        data.events.write_parquet(tmp_path / "events.parquet")
        events = pl.scan_parquet(tmp_path / "events.parquet")
    if events_as == "a contact id twice":
        busiest = events.group_by("contact_id").len().sort("len", "contact_id", descending=True).item(0, "contact_id")
        contacts = pl.concat([contacts, contacts.filter(pl.col("contact_id") == busiest)])
        assert contacts.height == data.contacts.height + 1
        assert shards.event_key(contacts).meta.eq(pl.col("contact_id"))
    else:
        assert shards.event_key(contacts).meta.eq(pl.col("contact_id").hash(seed=0))
    args = (data.accounts, contacts, events, *summaries(data, config))
    whole = shards.combine([shards.score(shards.split(*args, 1)[0], config, AS_OF)])
    in_memory = shards.split(*args, 3)
    on_disk = shards.split(*args, 3, catalog.SpilledRows(tmp_path / "spilled", for_workers=True))
    assert isinstance(shards.split(*args, 3, catalog.SpilledRows(tmp_path / "threads"))[0].contacts, pl.DataFrame)  # threads share them
    for memory, disk in zip(in_memory, on_disk, strict=True):
        assert isinstance(disk.accounts, pl.LazyFrame) and isinstance(disk.contacts, pl.LazyFrame)
        assert disk.accounts.collect().equals(memory.accounts)  # the same rows, in the same order
        assert disk.contacts.collect().equals(memory.contacts)
        # the columns scoring reads of them (in no particular order)
        scored_columns = memory.events.lazy().select(rollup.EVENT_COLUMNS_READ).collect()
        assert isinstance(disk.events, pl.LazyFrame) and disk.events.collect().sort(pl.all()).equals(scored_columns.sort(pl.all()))
        assert disk.intent_surges.equals(memory.intent_surges) and disk.technology_matches.equals(memory.technology_matches)
    combined = shards.combine([shards.score(part, config, AS_OF) for part in on_disk])
    if events_as == "a contact id twice":  # normalising leaves no such contact: as the shards in memory
        whole = shards.combine([shards.score(part, config, AS_OF) for part in in_memory])
    assert combined[0].equals(whole[0])
    assert combined[1].equals(whole[1])


@pytest.mark.parametrize("per_slice", [7, 97, 1_000])
def test_contacts_scored_in_slices_give_the_scores_of_one_slice(clean, monkeypatch, tmp_path, per_slice):
    # each slice has its own events, engagement, lead scores and roll-up sums, merged after;
    # with 7 contacts a slice most accounts' totals and lists are merged from pieces
    data, config = clean
    (shard,) = shards.split(data.accounts, data.contacts, data.events, *summaries(data, config), 1)
    whole = shards.score(shard, config, AS_OF)
    assert data.contacts.height > 2_000 > 1_000  # in slices below
    monkeypatch.setattr(shards, "CONTACTS_PER_SLICE", per_slice)
    sliced = shards.score(shard, config, AS_OF)
    assert sliced[0].n_chunks() > 1  # it was sliced
    assert sliced[0].equals(whole[0])
    assert sliced[1].equals(whole[1])
    assert whole[1]["engaged_stakeholders"].sum() > 100 and (whole[1]["engaged_stakeholders"] > 1).any()
    # as the flow on threads does: the window parted by slice on disk as it is read, and the
    # lead scores kept there until written
    spilled = shards.score(shard, config, AS_OF, catalog.SpilledRows(tmp_path / "spilled"))
    slices = -(-data.contacts.height // per_slice)
    parted = list((tmp_path / "spilled").glob("parted-*.arrow"))
    assert 0 < len(parted) <= slices and len(list((tmp_path / "spilled").glob("part-*.arrow"))) == slices
    if per_slice == 7:
        assert len(parted) < slices  # slices whose contacts have no events in the window
    assert spilled[0].collect().equals(whole[0])
    assert spilled[1].equals(whole[1])


def test_contacts_in_no_order_give_the_scores_of_contacts_in_id_order(clean, monkeypatch, tmp_path):
    # exports seldom come in contact id order: the slices are then taken by the ids' order,
    # without sorting the contacts
    data, config = clean
    (shard,) = shards.split(data.accounts, data.contacts, data.events, *summaries(data, config), 1)
    assert shard.contacts["contact_id"].is_sorted()
    in_order = shards.score(shard, config, AS_OF)
    shuffled = dataclasses.replace(shard, contacts=shard.contacts.sample(fraction=1.0, shuffle=True, seed=1))
    assert not shuffled.contacts["contact_id"].is_sorted()
    monkeypatch.setattr(shards, "CONTACTS_PER_SLICE", 97)
    for spill in (None, catalog.SpilledRows(tmp_path / "spilled")):
        scores, accounts = shards.score(shuffled, config, AS_OF, spill)
        assert (scores if spill is None else scores.collect()).equals(in_order[0])
        assert accounts.equals(in_order[1])


@pytest.mark.parametrize("ids", [["c3", "c1", "c2"], ["c3", None, "c1"], ["c2", "c1", "c2"], ["b", "a", "ab", "aa", "", "a"]], ids=str)
def test_contacts_are_taken_in_id_order_as_a_sort_takes_them(ids):
    contacts = pl.DataFrame({"contact_id": ids, "n": range(len(ids))}, schema_overrides={"contact_id": pl.String})
    order = shards._id_order(contacts)
    assert contacts[order].equals(contacts.sort("contact_id", maintain_order=True))
    assert shards._id_order(contacts.sort("contact_id")) is None


def test_dask_cluster_gives_the_single_process_outputs(generated, tmp_path, prefect_harness, monkeypatch):
    """The real flow on a local 2-worker Dask cluster with 4 shards publishes byte-identical
    outputs to the default single-shard run."""
    single = tmp_path / "single"
    qualify(str(generated), str(single), None, AS_OF.isoformat())
    # the local workers keep their lead scores in the run's staging folder, the flow process
    # only scans of them: what was kept there when the run published
    kept_by_workers: list[str] = []
    parted_for_workers: list[str] = []
    publish = catalog.RunOutputs.publish

    def publish_noting_kept(outputs):
        kept_by_workers.extend(path.name for path in (outputs.staging / catalog.SPILL_DIR).glob("part-*.arrow"))
        parted_for_workers.extend(path.name for path in (outputs.staging / catalog.SPILL_DIR).glob("parted-*.arrow"))
        return publish(outputs)

    monkeypatch.setattr(catalog.RunOutputs, "publish", publish_noting_kept)
    on_dask = tmp_path / "dask"
    state = with_task_runner(qualify, "dask", workers=2)(str(generated), str(on_dask), None, AS_OF.isoformat(), shards=4, return_state=True)
    assert state.result()["accounts"] == pl.read_parquet(single / "account_scores.parquet").height
    assert tree_digest(on_dask) == tree_digest(single)
    assert len(kept_by_workers) >= 4  # every shard's, at least one slice each
    assert len(parted_for_workers) >= 8  # and their accounts and contacts, parted by the flow process
    # the shards ran on the workers and reported to the flow's own Prefect API
    runs = asyncio.run(task_runs(state.state_details.flow_run_id))
    shard_runs = {run.name: run.state.type.value for run in runs if run.name.startswith("score-shard-")}
    assert shard_runs == {f"score-shard-{n}": "COMPLETED" for n in range(4)}
    # events as daily files: each shard's events go to its worker as a query of the state
    # store's files (tasks/event_window.py), not as rows; the scores are the same
    split_by_day(generated, tmp_path / "daily")
    daily = tmp_path / "daily-dask"
    with_task_runner(qualify, "dask", workers=2)(str(tmp_path / "daily"), str(daily), None, AS_OF.isoformat(), shards=4)
    assert pl.read_parquet(daily / "account_scores.parquet").equals(pl.read_parquet(single / "account_scores.parquet"))
    assert (daily / "targets.csv").read_bytes() == (single / "targets.csv").read_bytes()


def test_a_cluster_at_an_address_reads_its_shards_from_the_output_folder(generated, tmp_path, prefect_harness, monkeypatch):
    """A Dask cluster started apart (a scheduler and two worker processes, as on other
    machines) at `--dask-address`: with daily event files its workers read the state store in
    the output folder, so they read their shards' parts there too, and keep their scores
    there. The outputs equal the run on threads."""
    from prefect.settings import get_current_settings

    split_by_day(generated, tmp_path / "daily")
    on_threads = tmp_path / "threads"
    qualify(str(tmp_path / "daily"), str(on_threads), None, AS_OF.isoformat())
    kept: list[str] = []
    publish = catalog.RunOutputs.publish

    def publish_noting_kept(outputs):
        kept.extend(path.name.split("-")[0] for path in (outputs.staging / catalog.SPILL_DIR).glob("*.arrow"))
        return publish(outputs)

    monkeypatch.setattr(catalog.RunOutputs, "publish", publish_noting_kept)
    environment = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}  # where the workers report
    scheduler_file = tmp_path / "scheduler.json"
    started = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            env=environment,
        )
    ]
    try:
        for _ in range(600):
            if scheduler_file.exists() and scheduler_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            worker = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard"]
            started.append(subprocess.Popen(worker, env=environment))
        on_cluster = tmp_path / "cluster"
        with_task_runner(qualify, "dask", address=address)(str(tmp_path / "daily"), str(on_cluster), None, AS_OF.isoformat(), shards=4)
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=30)
    assert tree_digest(on_cluster) == tree_digest(on_threads)
    assert kept.count("part") >= 4 and kept.count("parted") >= 8  # the workers' scores; their accounts, contacts and events


async def task_runs(flow_run_id):
    async with get_client() as client:
        return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def test_unknown_task_runner_is_refused():
    with pytest.raises(ValueError, match="task runner must be one of"):
        with_task_runner(qualify, "ray")
