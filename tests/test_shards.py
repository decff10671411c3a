"""Shards of contacts: scored apart (threads, or a 2-worker Dask cluster) they give the same
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
from abmq.tasks import catalog, contact_ranges, event_store, rollup, shards
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
    """The intent surges and technology matches, as `pipeline.split_into_shards` works them out."""
    week = rollup.latest_intent_week(data.intent, config, AS_OF)
    return rollup.intent_surges(data.intent, config, AS_OF, week), rollup.technology_matches(data.technographics, config, AS_OF)


def scores_of(parts, data, config, spill=None):
    """(lead scores, account scores) of shards scored apart and combined, as the flow does."""
    return combined([shards.score(p, config, AS_OF, spill) for p in parts], data, config)


def combined(scored: list[shards.ShardScores], data, config):
    return shards.combine(scored, data.accounts, *summaries(data, config), config)


def one_piece(data, config, contacts=None, events=None):
    (whole,) = shards.split(data.accounts, data.contacts if contacts is None else contacts, data.events if events is None else events, 1)
    return scores_of([whole], data, config)


@pytest.mark.parametrize(
    "ids", [["c1", "c2", "c3", "c4", "c5"], ["a", "a", "a", "b"], ["x"], [], ["b", "a", "b", "c", "a", "c", "d"]], ids=str
)
@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_contact_id_ranges_hold_every_id_once_and_an_id_given_twice_in_one(ids, parts):
    ids = pl.Series("contact_id", ids, pl.String)
    ranges = contact_ranges.cut(ids.sort(), parts)
    assert len(ranges) == parts and ranges[0][0] is None and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # consecutive
    numbered = ids.to_frame().with_columns(n=contact_ranges.part_of(pl.col("contact_id"), ranges))
    for n, ids_from in enumerate(ranges):
        inside = numbered.filter(contact_ranges.in_range(pl.col("contact_id"), ids_from))
        assert inside.get_column("n").eq(n).all()  # the part an id is given is the range it is in
    assert numbered.group_by("contact_id").agg(pl.col("n").n_unique()).get_column("n").eq(1).all()
    if ids.n_unique() >= parts * 2:  # about as many ids each
        assert numbered.group_by("n").len().get_column("len").min() >= 1
    # a missing id (no contact has one) is in the first range, and in no range's scan
    assert pl.select(contact_ranges.part_of(pl.lit(None, pl.String), ranges)).item() == 0
    assert not any(pl.select(contact_ranges.in_range(pl.lit(None, pl.String), r)).item() for r in ranges)


@pytest.mark.parametrize("count", [2, 3, 7])
def test_shards_add_up_to_the_whole(clean, monkeypatch, tmp_path, count):
    data, config = clean
    # the generator numbers an account's contacts one after another; a CRM's ids seldom are
    scrambled = pl.col("contact_id").hash(seed=7).cast(pl.String)
    data = dataclasses.replace(data, contacts=data.contacts.with_columns(scrambled), events=data.events.with_columns(scrambled))
    whole = one_piece(data, config)
    parts = shards.split(data.accounts, data.contacts, data.events, count)
    assert len(parts) == count
    assert sum(p.contacts.height for p in parts) == data.contacts.height
    assert sum(p.events.height for p in parts) == data.events.height
    # every contact in exactly one shard, by its id's range, with its events; an account's
    # contacts are in several
    for part in parts:
        assert part.contacts.select(contact_ranges.in_range(pl.col("contact_id"), part.contact_ids).all()).item()
        assert set(part.events["contact_id"]) <= set(part.contacts["contact_id"])
        assert part.firmographics.height == data.accounts.height
    shards_of_account = pl.concat([p.contacts.select("domain").unique() for p in parts]).group_by("domain").len()
    assert (shards_of_account["len"] > 1).sum() > 10
    combined = scores_of(parts, data, config)
    assert combined[0].equals(whole[0])
    assert combined[1].equals(whole[1])
    # each shard's lead scores kept on disk (threads, a local Dask cluster's workers), in
    # slices: merged in contact id order as they are read, never sorted in memory
    monkeypatch.setattr(shards, "CONTACTS_PER_SLICE", 97)
    on_disk = scores_of(parts, data, config, catalog.SpilledRows(tmp_path / "spilled"))
    assert isinstance(on_disk[0], pl.LazyFrame)
    assert len(list((tmp_path / "spilled").glob("part-*.arrow"))) > count  # shards of several slices
    assert on_disk[0].collect().equals(whole[0])
    assert on_disk[1].equals(whole[1])


@pytest.mark.parametrize("events_as", ["a query", "one export", "a contact id twice"])
def test_shards_kept_on_disk_for_workers_give_the_scores_of_one_piece(clean, tmp_path, events_as):
    # a local Dask cluster's workers get scans of their contacts and events, parted on disk by
    # the flow process, and of the firmographics, not the rows (nor each a query of the whole
    # window). A contact id given twice falls in one range: its rows are scored together, as
    # in one piece
    data, config = clean
    events, contacts = data.events, data.contacts
    if events_as == "a query":
        data.events.write_parquet(tmp_path / "events.parquet")
        events = pl.scan_parquet(tmp_path / "events.parquet")
    if events_as == "a contact id twice":
        busiest = events.group_by("contact_id").len().sort("len", "contact_id", descending=True).item(0, "contact_id")
        contacts = pl.concat([contacts, contacts.filter(pl.col("contact_id") == busiest)])
        assert contacts.height == data.contacts.height + 1
    whole = one_piece(data, config, contacts, events)
    in_memory = shards.split(data.accounts, contacts, events, 3)
    on_disk = shards.split(data.accounts, contacts, events, 3, catalog.SpilledRows(tmp_path / "spilled", for_workers=True))
    threads = shards.split(data.accounts, contacts, events, 3, catalog.SpilledRows(tmp_path / "threads"))
    assert isinstance(threads[0].contacts, pl.DataFrame)  # threads share them
    for memory, disk in zip(in_memory, on_disk, strict=True):
        assert isinstance(disk.firmographics, pl.LazyFrame) and isinstance(disk.contacts, pl.LazyFrame)
        assert disk.firmographics.collect().equals(memory.firmographics)
        assert disk.contacts.collect().equals(memory.contacts)  # the same rows, in the same order
        # the columns scoring reads of them (in no particular order)
        scored_columns = memory.events.lazy().select(rollup.EVENT_COLUMNS_READ).collect()
        assert isinstance(disk.events, pl.LazyFrame) and disk.events.collect().sort(pl.all()).equals(scored_columns.sort(pl.all()))
    for parts in (in_memory, on_disk):
        combined = scores_of(parts, data, config)
        assert combined[0].equals(whole[0])
        assert combined[1].equals(whole[1])


def stored_by_contact(events: pl.DataFrame, folder: Path, files: int, left_out: list[int]) -> contact_ranges.StoredEvents:
    """`events` as the state store keeps daily files for the scoring: `files` files, each in
    contact id order with its rows numbered in the file, less the `left_out` rows (numbered
    across them)."""
    folder.mkdir()
    numbered = events.with_row_index("_row")
    stored, bounds = [], [events.height * n // files for n in range(files + 1)]
    for n in range(files):
        own = numbered.slice(bounds[n], bounds[n + 1] - bounds[n]).with_columns(pl.col("_row") - bounds[n])
        path = folder / f"file-{n}.parquet"
        event_store.write_in_contact_order(own, path)
        gone = pl.Series("_row", [r - bounds[n] for r in left_out if bounds[n] <= r < bounds[n + 1]], pl.UInt32)
        stored.append(contact_ranges.StoredFile(str(path), gone))
    return contact_ranges.StoredEvents(tuple(stored))


@pytest.mark.parametrize("count", [1, 3])
def test_shards_read_their_contacts_rows_of_the_stored_files(clean, monkeypatch, tmp_path, count):
    # daily files as the state store keeps them: each shard (and slice) reads the rows of its
    # own range of contact ids of every file, less the rows the window leaves out (numbered in
    # each file)
    data, config = clean
    left_out = list(range(0, data.events.height, 5))
    kept = data.events.with_row_index("_row").filter(~pl.col("_row").is_in(left_out)).drop("_row")
    whole = one_piece(data, config, events=kept)
    stored = stored_by_contact(data.events, tmp_path / "store", 4, left_out)
    assert stored.scan(contact_ranges.EVERY_ID).collect().sort(pl.all()).equals(kept.sort(pl.all()))
    # a range's scan gives its own ids' events only, all of them
    ranges = contact_ranges.cut(data.contacts["contact_id"].sort(), 3)
    for ids_from in ranges:
        own = kept.filter(contact_ranges.in_range(pl.col("contact_id"), ids_from))
        assert 0 < own.height < kept.height
        assert stored.scan(ids_from).collect().sort(pl.all()).equals(own.sort(pl.all()))
    monkeypatch.setattr(shards, "CONTACTS_PER_SLICE", 97)
    for spill in (None, catalog.SpilledRows(tmp_path / "spilled", for_workers=True)):
        parts = shards.split(data.accounts, data.contacts, kept, count, spill, events_by_contact=stored)
        assert all(part.events is stored for part in parts)  # sent as paths, read where they are
        combined = scores_of(parts, data, config, spill)
        assert combined[0].lazy().collect().equals(whole[0])
        assert combined[1].equals(whole[1])
    assert len(list((tmp_path / "spilled").glob("parted-*.arrow"))) == (count if count > 1 else 0)  # the contacts only


@pytest.mark.parametrize("per_slice", [7, 97, 1_000])
def test_contacts_scored_in_slices_give_the_scores_of_one_slice(clean, monkeypatch, tmp_path, per_slice):
    # each slice (a range of ids) has its own events, engagement, lead scores and roll-up
    # sums, merged after; with 7 contacts a slice most accounts' totals and lists are merged
    # from pieces
    data, config = clean
    (shard,) = shards.split(data.accounts, data.contacts, data.events, 1)
    whole = shards.score(shard, config, AS_OF)
    assert data.contacts.height > 2_000 > 1_000  # in slices below
    monkeypatch.setattr(shards, "CONTACTS_PER_SLICE", per_slice)
    sliced = shards.score(shard, config, AS_OF)
    assert sliced.contacts.equals(whole.contacts)
    assert rollup.merged_totals([sliced.totals]).sort("domain").equals(whole.totals.sort("domain"))
    assert sliced.engaged.sort("contact_id").equals(whole.engaged.sort("contact_id"))
    assert whole.engaged.height > 100 and (whole.totals["engaged_stakeholders"] > 1).any()
    # as the flow on threads does: one export's events parted by slice on disk as they are
    # read, and the lead scores kept there until written
    spilled = shards.score(shard, config, AS_OF, catalog.SpilledRows(tmp_path / "spilled"))
    slices = -(-data.contacts.height // per_slice)
    parted = list((tmp_path / "spilled").glob("parted-*.arrow"))
    assert 0 < len(parted) <= slices and len(list((tmp_path / "spilled").glob("part-*.arrow"))) == slices
    assert spilled.contacts.collect().equals(whole.contacts)
    whole_accounts = scores_of_one(whole, data, config)
    assert whole.engaged.is_empty()  # taken over by `combine`
    for part in (sliced, spilled):
        assert scores_of_one(part, data, config).equals(whole_accounts)


def scores_of_one(scored: shards.ShardScores, data, config) -> pl.DataFrame:
    return combined([scored], data, config)[1]


def test_contacts_in_no_order_give_the_scores_of_contacts_in_id_order(clean, monkeypatch, tmp_path):
    # exports seldom come in contact id order: the slices are then taken by the ids' order,
    # without sorting the contacts
    data, config = clean
    (shard,) = shards.split(data.accounts, data.contacts, data.events, 1)
    assert shard.contacts["contact_id"].is_sorted()
    in_order = shards.score(shard, config, AS_OF)
    in_order_accounts = scores_of_one(in_order, data, config)
    shuffled = dataclasses.replace(shard, contacts=shard.contacts.sample(fraction=1.0, shuffle=True, seed=1))
    assert not shuffled.contacts["contact_id"].is_sorted()
    monkeypatch.setattr(shards, "CONTACTS_PER_SLICE", 97)
    for spill in (None, catalog.SpilledRows(tmp_path / "spilled")):
        scored = shards.score(shuffled, config, AS_OF, spill)
        assert scored.contacts.lazy().collect().equals(in_order.contacts)
        assert scores_of_one(scored, data, config).equals(in_order_accounts)


@pytest.mark.parametrize("ids", [["c3", "c1", "c2"], ["c2", "c1", "c2"], ["b", "a", "ab", "aa", "", "a"]], ids=str)
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
    assert len(parted_for_workers) >= 8  # and their contacts and events, parted by the flow process
    # the shards ran on the workers and reported to the flow's own Prefect API
    runs = asyncio.run(task_runs(state.state_details.flow_run_id))
    shard_runs = {run.name: run.state.type.value for run in runs if run.name.startswith("score-shard-")}
    assert shard_runs == {f"score-shard-{n}": "COMPLETED" for n in range(4)}
    # events as daily files: each shard's worker reads its own ids' rows of the state store's
    # files (tasks/contact_ranges.py), not rows sent to it; the scores are the same
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
    # the workers' scores; their contacts (their events they read from the state store)
    assert kept.count("part") >= 4 and kept.count("parted") >= 4


async def task_runs(flow_run_id):
    async with get_client() as client:
        return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def test_unknown_task_runner_is_refused():
    with pytest.raises(ValueError, match="task runner must be one of"):
        with_task_runner(qualify, "ray")
