"""Events as one file per day: each file is validated once and remembered in the output
folder's state store; the scores equal a full recompute on the same files."""

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import steps

from abmq.flows.qualify import qualify
from abmq.sample_data import generate
from abmq.tasks import contact_ranges, event_partitions, event_store, event_window, ingest, normalise, source_store
from abmq.tasks.catalog import SourceError
from abmq.tasks.validate import DataQualityError

AS_OF = dt.date(2026, 11, 25)
DAY_BEFORE = AS_OF - dt.timedelta(days=1)


def outputs_digest(folder: Path) -> dict[str, str]:
    """Every published output except the Data Docs, which show the GX runs this run made
    (a remembered file is not validated again)."""
    return steps.tree_digest(folder, skip=("data_docs", "state", "last_failure"))


def run(input_dir: Path, out: Path, as_of: dt.date) -> dict:
    return qualify(str(input_dir), str(out), None, as_of.isoformat())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("incremental")
    generate(root / "single", 300, seed=5, as_of=AS_OF, fmt="parquet", progress=False)
    steps.split_by_day(root / "single", root / "daily")
    return {"single": root / "single", "daily": root / "daily", "root": root}


@pytest.fixture(scope="module")
def incremental(inputs, prefect_harness) -> dict:
    """Yesterday's run, then today's with one new daily file: only that file is validated."""
    out = inputs["root"] / "out-incremental"
    yesterday = run(inputs["daily"], out, DAY_BEFORE)  # an empty state store: a full run
    shutil.copytree(out, inputs["root"] / "out-yesterday")
    state_before = event_store.read_state(out)
    today = run(inputs["daily"], out, AS_OF)
    return {"out": out, "yesterday": yesterday, "today": today, "state_before": state_before}


def test_today_validates_only_the_new_daily_file(incremental):
    assert incremental["yesterday"]["event_files"] == {"validated": 90, "remembered": 0}
    # the exports are the same as yesterday's: those whose checks do not read the date are read back
    assert "exports_remembered" not in incremental["yesterday"]
    assert incremental["today"]["exports_remembered"] == [
        "accounts",
        "technographics",
        "intent",
        "contacts",
        "crm_customers",
        "crm_open_opportunities",
        "competitors",
        "opportunities",
    ]
    assert incremental["today"]["event_files"] == {"validated": 1, "remembered": 89}
    state = event_store.read_state(incremental["out"])
    assert f"events/{AS_OF}.parquet" in state and f"events/{AS_OF}.parquet" not in incremental["state_before"]
    # the day that left the window is forgotten, with its stored rows
    gone = f"events/{AS_OF - dt.timedelta(days=90)}.parquet"
    assert gone in incremental["state_before"] and gone not in state
    stored = {p.name for p in event_store.state_folder(incremental["out"]).iterdir()}
    named = {e["naming"]["rows"] for e in state.values() if e["naming"]["rows"]}
    assert (
        stored
        == {event_partitions.MANIFEST}
        | {e["kept"] for e in state.values()}
        | {e["quarantined"] for e in state.values() if e["quarantined"]}
        | named
        | {e["by_contact"]["rows"] for e in state.values()}  # its kept rows in contact id order, for the shards
    )
    assert {e["by_contact"]["layout"] for e in state.values()} == {contact_ranges.LAYOUT}
    # each file's rows naming no contact or a quarantined one, found against today's contact ids
    assert named and len({e["naming"]["contact_ids"] for e in state.values()}) == 1


def test_rows_naming_no_contact_are_read_back_as_the_whole_window_finds_them(inputs, incremental, tmp_path):
    """The window's events naming no contact or a quarantined one: read back file by file
    (today's store), found in one scan of every file (no key), and found anew for a changed
    contacts key give the same rows, in the same order."""
    out = incremental["out"]
    sources = steps.stage_and_validate(inputs["daily"], AS_OF)
    contacts = sources["contacts"]
    state = event_store.read_state(out)
    entries = sorted(
        ((event_partitions.EventFile(Path(name), dt.date.fromisoformat(e["day"])), e) for name, e in state.items()), key=lambda p: p[0].day
    )
    files = event_store.stored_files(entries, out, "kept")
    ids = pl.concat([contacts.kept["contact_id"], contacts.quarantined["contact_id"]])
    unusable = normalise.unusable_contact_ids(contacts.kept, contacts.quarantined)
    whole = event_window.rows_naming(event_store.one_scan(files, "kept"), unusable, ids)
    key = ingest.contact_ids_key(ids, unusable)
    assert {e["naming"]["contact_ids"] for e in state.values()} == {key}  # the key the run stored
    # the same ids in another order, the same key; one id fewer, another
    assert ingest.contact_ids_key(ids.reverse(), unusable) == key != ingest.contact_ids_key(ids.slice(1), unusable)
    shutil.copytree(out, tmp_path / "out")
    copied = event_store.stored_files(entries, tmp_path / "out", "kept")
    read_back = ingest.rows_naming_by_file(entries, copied, event_store.one_scan(copied, "kept"), unusable, ids, key, str(tmp_path / "out"))
    assert read_back[2] == {}  # nothing found anew: every file's rows were remembered
    stored = event_store.one_scan(files, "kept")
    anew = ingest.rows_naming_by_file(entries, files, stored, unusable, ids, "another contacts key", str(tmp_path / "out"))
    assert sorted(anew[2]) == sorted(state)
    for found in (read_back, anew, ingest.rows_naming_by_file(entries, files, stored, unusable, ids, None, str(tmp_path / "out"))):
        assert whole[0].height and found[0].equals(whole[0]) and found[1].equals(whole[1])


def test_incremental_run_equals_a_full_recompute(inputs, incremental, prefect_harness):
    """Today's run with the state store deleted first (every file validated afresh), in a
    copy of yesterday's outputs (a full run itself, from an empty state store). Scores,
    targets, report, quarantine and snapshots are byte-identical."""
    out = inputs["root"] / "out-full"
    shutil.copytree(inputs["root"] / "out-yesterday", out)
    shutil.rmtree(out / "state")  # daily files and exports alike
    full = run(inputs["daily"], out, AS_OF)
    assert full["event_files"] == {"validated": 90, "remembered": 0}
    assert "exports_remembered" not in full and "exports_remembered" in incremental["today"]
    assert outputs_digest(out) == outputs_digest(incremental["out"])


def test_daily_files_score_like_one_export(inputs, incremental, prefect_harness):
    """The same events as one events.parquet, run on the same two days, give the same
    account scores and target list."""
    out = inputs["root"] / "out-single"
    run(inputs["single"], out, DAY_BEFORE)
    run(inputs["single"], out, AS_OF)
    assert pl.read_parquet(out / "account_scores.parquet").equals(pl.read_parquet(incremental["out"] / "account_scores.parquet"))
    assert (out / "targets.csv").read_bytes() == (incremental["out"] / "targets.csv").read_bytes()


@pytest.fixture()
def later_day(inputs, incremental, tmp_path) -> dict[str, Path]:
    """A copy of the inputs and of today's published outputs, for another run to change."""
    shutil.copytree(inputs["daily"], tmp_path / "input")
    shutil.copytree(incremental["out"], tmp_path / "out")
    return {"input": tmp_path / "input", "out": tmp_path / "out", "today": tmp_path / "input" / "events" / f"{AS_OF}.parquet"}


def test_a_changed_daily_file_is_validated_again(later_day, prefect_harness):
    # the provider re-sends today's file with one event more: a demo request
    day = pl.read_parquet(later_day["today"])
    extra = day.head(1).with_columns(event_id=pl.lit("late-demo-1"), event_type=pl.lit("demo_request"))
    contact = extra["contact_id"][0]
    before = pl.read_parquet(later_day["out"] / "contact_scores.parquet").filter(pl.col("contact_id") == contact)
    pl.concat([day, extra]).write_parquet(later_day["today"])
    again = run(later_day["input"], later_day["out"], AS_OF)
    assert again["event_files"] == {"validated": 1, "remembered": 89}
    after = pl.read_parquet(later_day["out"] / "contact_scores.parquet").filter(pl.col("contact_id") == contact)
    assert after["n_demo_request"].to_list() == [before["n_demo_request"][0] + 1]


def test_a_changed_contacts_export_is_validated_again_and_its_old_rows_forgotten(later_day, prefect_harness):
    """A CRM export with one contact re-titled: the contacts are staged and validated again
    (the accounts are read back), the new title scores, and the store keeps only the rows
    its published manifest lists."""
    before = source_store.read_state(later_day["out"])["contacts"]
    events_state_before = event_store.read_state(later_day["out"])
    contacts = pl.read_parquet(later_day["input"] / "contacts.parquet")
    contact = contacts["contact_id"][0]
    contacts.with_columns(
        pl.when(pl.col("contact_id") == contact).then(pl.lit("Chief Executive Officer")).otherwise("title").alias("title"),
        pl.when(pl.col("contact_id") == contact).then(pl.lit(None, pl.String)).otherwise("seniority").alias("seniority"),
    ).write_parquet(later_day["input"] / "contacts.parquet")
    again = run(later_day["input"], later_day["out"], AS_OF)
    assert "contacts" not in again["exports_remembered"] and "accounts" in again["exports_remembered"]
    scored = pl.read_parquet(later_day["out"] / "contact_scores.parquet").filter(pl.col("contact_id") == contact)
    assert scored["seniority"].to_list() == ["c_level"]
    state = source_store.read_state(later_day["out"])
    assert state["contacts"]["key"] != before["key"]
    # no contact came, went or was quarantined: each file's rows naming none were read back
    assert event_store.read_state(later_day["out"]) == events_state_before
    stored = {p.name for p in source_store.store_folder(later_day["out"]).iterdir()}
    # kept in parts (tasks/export_parts.py): the part with the re-titled contact is replaced
    replaced = {p["file"] for p in before["parts"]} - {p["file"] for p in state["contacts"]["parts"]}
    assert replaced and not replaced & stored and {p["file"] for p in state["contacts"]["parts"]} <= stored
    assert stored == {source_store.MANIFEST} | {name for entry in state.values() for name in source_store.entry_files(entry)}
    assert outputs_digest(later_day["out"]) == full_recompute(later_day)


def full_recompute(later_day: dict[str, Path]) -> dict[str, str]:
    """The outputs of the same run in a copy of the folder with its state store deleted."""
    out = later_day["out"].parent / "out-full"
    shutil.copytree(later_day["out"], out)
    shutil.rmtree(out / "state")
    run(later_day["input"], out, AS_OF)
    return outputs_digest(out)


def test_a_contact_gone_from_the_export_orphans_its_events(later_day, prefect_harness):
    """A contact deleted in the CRM: the contact ids changed, so every file's events are checked
    again; the contact's events are set aside as naming no contact, as a full recompute finds."""
    events_state_before = event_store.read_state(later_day["out"])
    scored = pl.read_parquet(later_day["out"] / "contact_scores.parquet")
    contact = scored.filter(pl.col("engagement_points") > 0)["contact_id"][0]
    contacts = pl.read_parquet(later_day["input"] / "contacts.parquet")
    contacts.filter(pl.col("contact_id") != contact).write_parquet(later_day["input"] / "contacts.parquet")
    run(later_day["input"], later_day["out"], AS_OF)
    state = event_store.read_state(later_day["out"])
    keys_before = {e["naming"]["contact_ids"] for e in events_state_before.values()}
    keys_after = {e["naming"]["contact_ids"] for e in state.values()}
    assert len(keys_after) == 1 and keys_after != keys_before
    orphans = pl.read_parquet(later_day["out"] / "quarantine" / "events.parquet").filter(pl.col("contact_id") == contact)
    assert orphans.height and orphans["quarantine_reasons"].str.contains("contact").all()
    assert outputs_digest(later_day["out"]) == full_recompute(later_day)


def test_a_renamed_account_is_validated_again_and_its_contacts_are_read_back(later_day, prefect_harness):
    """A CRM export with one account renamed and grown: the accounts are staged and validated
    again; the contacts, technographics and intent read only the account keys and ids of it,
    so they are read back; the new size scores, as a full recompute scores it."""
    accounts = pl.read_parquet(later_day["input"] / "accounts.parquet")
    domain = accounts["domain"][0]
    accounts.with_columns(
        pl.when(pl.col("domain") == domain).then(pl.lit("Renamed Holdings")).otherwise("name").alias("name"),
        pl.when(pl.col("domain") == domain).then(pl.lit(2500)).otherwise("employees").alias("employees"),
    ).write_parquet(later_day["input"] / "accounts.parquet")
    again = run(later_day["input"], later_day["out"], AS_OF)
    assert "accounts" not in again["exports_remembered"]
    assert {"contacts", "technographics", "intent"} <= set(again["exports_remembered"])
    scored = pl.read_parquet(later_day["out"] / "account_scores.parquet")
    assert scored.filter(pl.col("name") == "Renamed Holdings")["employees"].to_list() == [2500]
    assert outputs_digest(later_day["out"]) == full_recompute(later_day)


def test_bad_rows_in_a_daily_file_are_quarantined_with_their_file(later_day, prefect_harness):
    day = pl.read_parquet(later_day["today"])
    bad = pl.concat(
        [
            day.head(2).with_columns(event_id=pl.Series(["bad-type-1", "bad-type-2"]), event_type=pl.lit("fax_received")),
            # an event dated after the day its file is named for
            day.head(1).with_columns(event_id=pl.lit("too-late-1"), occurred_at=pl.col("occurred_at") + pl.duration(days=1)),
            day.head(1).with_columns(event_id=pl.lit("orphan-1"), contact_id=pl.lit("nobody-0001")),
        ]
    )
    pl.concat([day, bad]).write_parquet(later_day["today"])
    out = later_day["out"]
    run(later_day["input"], out, AS_OF)
    quarantine = pl.read_parquet(out / "quarantine" / "events.parquet")
    reasons = dict(zip(quarantine["event_id"], quarantine["quarantine_reasons"], strict=True))
    assert "event_type" in reasons["bad-type-1"] and "event_type" in reasons["bad-type-2"]
    assert "after the day its daily file" in reasons["too-late-1"]
    assert "no contact with this contact_id" in reasons["orphan-1"]
    today = f"events/{AS_OF}.parquet"
    assert set(quarantine.filter(pl.col("event_id").is_in(["bad-type-1", "too-late-1", "orphan-1"]))["file"]) == {today}
    summary = {s["source"]: s for s in json.loads((out / "dq" / "summary.json").read_text())["sources"]}
    events = summary["events"]
    assert events["rows_in"] == events["rows_used"] + events["rows_quarantined"] + events["duplicates_merged"]
    failed = {f["label"]: f for f in events["failed"]}
    assert failed["expect_column_values_to_be_in_set(event_type)"]["unexpected_count"] == 2
    assert failed["expect_column_pair_values_a_to_be_greater_than_b(file_day_end/occurred_at)"]["unexpected_count"] == 1
    assert failed["expect_column_values_to_be_in_set(contact_found)"]["unexpected_count"] >= 1
    assert {e["file"] for e in failed["expect_column_values_to_be_in_set(event_type)"]["examples"]} == {today}


def test_a_blocking_failure_names_the_file_and_publishes_nothing(later_day, prefect_harness):
    out = later_day["out"]
    before = outputs_digest(out)
    manifest = (event_store.state_folder(out) / event_partitions.MANIFEST).read_bytes()
    pl.read_parquet(later_day["today"]).with_columns(event_id=pl.lit(None, pl.String)).write_parquet(later_day["today"])
    with pytest.raises(DataQualityError, match=rf"events/{AS_OF}\.parquet.*event_id"):
        run(later_day["input"], out, AS_OF)
    assert outputs_digest(out) == before
    assert (event_store.state_folder(out) / event_partitions.MANIFEST).read_bytes() == manifest
    assert "event_id" in (out / "last_failure" / "error.txt").read_text()


def test_stored_rows_no_run_published_are_removed(later_day, prefect_harness):
    """A run killed after validating a file but before publishing leaves its stored rows;
    the next run (holding the lock) removes them."""
    stray = event_store.state_folder(later_day["out"]) / f"{AS_OF}.0123456789abcdef.parquet"
    stray.write_bytes(b"killed mid-write")
    again = run(later_day["input"], later_day["out"], AS_OF)
    assert again["event_files"] == {"validated": 0, "remembered": 90}
    assert not stray.exists()


def test_a_store_from_before_is_written_in_contact_order_again(later_day, prefect_harness):
    """A store written before files were kept in contact id order for the scoring, or laid out
    another way: the run writes each file's kept rows so, once, and scores the same; the old
    files are forgotten."""
    folder = event_store.state_folder(later_day["out"])
    manifest = folder / event_partitions.MANIFEST
    entries = json.loads(manifest.read_text())["files"]
    current = [folder / e["by_contact"]["rows"] for e in entries.values()]
    newest = {name: entry["newest"] for name, entry in entries.items()}
    for position, entry in enumerate(entries.values()):
        del entry["newest"]  # nor the newest event the freshness check reads
        if position % 2:
            del entry["by_contact"]
        else:  # laid out as an older version would have
            entry["by_contact"] = {
                "layout": "another layout",
                "rows": entry["by_contact"]["rows"].replace(".by_contact", ".old.by_contact"),
            }
            (folder / entry["by_contact"]["rows"]).write_bytes(b"laid out another way")
    manifest.write_text(event_partitions.manifest_text(entries))
    for path in current:
        path.unlink()
    before = outputs_digest(later_day["out"])
    again = run(later_day["input"], later_day["out"], AS_OF)
    assert again["event_files"] == {"validated": 0, "remembered": 90}
    state = event_store.read_state(later_day["out"])
    assert {e["by_contact"]["layout"] for e in state.values()} == {contact_ranges.LAYOUT}
    assert all((folder / e["by_contact"]["rows"]).exists() for e in state.values())
    assert not list(folder.glob("*.old.by_contact.parquet"))
    assert {name: entry["newest"] for name, entry in state.items()} == newest
    assert outputs_digest(later_day["out"]) == before


def test_the_window_checks_read_the_files_entries_not_the_events(later_day):
    """Each file's entry says how many rows it kept and its newest event; the window's
    freshness and row count are made of those, equal to reading every event."""
    entries = [
        (event_partitions.EventFile(Path(name), dt.date.fromisoformat(entry["day"])), entry)
        for name, entry in event_store.read_state(later_day["out"]).items()
    ]
    folder = event_store.state_folder(later_day["out"])
    kept = pl.concat([pl.read_parquet(folder / entry["kept"], columns=["occurred_at"]) for _, entry in entries])
    assert event_partitions.window_summary(entries) == (kept.height, kept["occurred_at"].max())
    assert event_partitions.window_summary([*entries[:-1], (entries[-1][0], {**entries[-1][1], "newest": None})])[1] == (
        pl.concat([pl.read_parquet(folder / entry["kept"], columns=["occurred_at"]) for _, entry in entries[:-1]])["occurred_at"].max()
    )
    assert (
        event_partitions.window_summary([*entries[:-1], (entries[-1][0], {k: v for k, v in entries[-1][1].items() if k != "newest"})])
        is None
    )
    # with the summary and the orphans known, no event is read: a window that says otherwise is not
    newest = kept["occurred_at"].max()
    other = pl.LazyFrame({"contact_id": ["c1"], "occurred_at": [dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)]})
    parameters = {"events_fresh_from": newest, "volume_floors": {}}
    orphans = other.clear().with_columns(pl.lit(0, pl.Int64).alias("_row")).collect()
    checks, _ = event_partitions.window_checks(other, pl.Series(["c1"]), kept.height, parameters, None, orphans, (kept.height, newest))
    assert [c.success for c in checks] == [True, True, True]
    assert checks[1].observed_value == newest and checks[1].element_count == kept.height
    checks, _ = event_partitions.window_checks(other, pl.Series(["c1"]), kept.height, parameters, None, orphans)  # read: stale
    assert not checks[1].success and checks[1].element_count == 1


def test_stale_daily_files_stop_the_run(later_day, prefect_harness):
    for path in (later_day["input"] / "events").iterdir():
        if dt.date.fromisoformat(path.stem) > AS_OF - dt.timedelta(days=10):
            path.unlink()
    with pytest.raises(DataQualityError, match="events are stale"):
        run(later_day["input"], later_day["out"], AS_OF)


def test_daily_file_names_must_be_dates(tmp_path):
    events = tmp_path / "events"
    events.mkdir()
    pl.DataFrame({"event_id": ["e1"]}).write_parquet(events / "2026-11-24.parquet")
    pl.DataFrame({"event_id": ["e2"]}).write_parquet(events / "extra.parquet")
    with pytest.raises(SourceError, match="without a date in the name.*extra.parquet"):
        event_store.daily_files(tmp_path)
    (events / "extra.parquet").unlink()
    pl.DataFrame({"event_id": ["e3"]}).write_parquet(events / "events_2026-11-24.parquet")
    with pytest.raises(SourceError, match="two files for 2026-11-24"):
        event_store.daily_files(tmp_path)
    (events / "events_2026-11-24.parquet").unlink()
    pl.DataFrame({"event_id": ["e4"]}).write_parquet(events / "2026-02-30.parquet")
    with pytest.raises(SourceError, match="not a calendar date"):
        event_store.daily_files(tmp_path)
    # undated parts alone are one export in pieces, as before
    shutil.rmtree(events)
    events.mkdir()
    pl.DataFrame({"event_id": ["e1"]}).write_parquet(events / "part-0.parquet")
    assert event_store.daily_files(tmp_path) is None


def test_an_unreadable_daily_file_is_named(later_day, prefect_harness):
    later_day["today"].write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SourceError, match=rf"{AS_OF}\.parquet.*cannot be read as parquet"):
        run(later_day["input"], later_day["out"], AS_OF)
    assert "cannot be read" in (later_day["out"] / "last_failure" / "error.txt").read_text()


def test_files_validated_together_get_the_verdicts_each_gets_alone(inputs, tmp_path):
    """A first run validates its new daily files several to a GX run; each file's outcomes,
    quarantined rows and blocking message are what validating it alone gives. The files:
    unknown types, a late event and a null timestamp; all of one file's types unknown (more
    than the quarantine share: blocking); a null contact id (blocking); no rows; a timestamp
    that is not one; and clean files."""
    from abmq.config import load_config
    from abmq.tasks import ingest

    events = tmp_path / "input" / "events"
    shutil.copytree(inputs["daily"] / "events", events)
    files = event_store.daily_files(tmp_path / "input")[-12:]

    def rewrite(position: int, change) -> None:
        change(pl.read_parquet(files[position].path)).write_parquet(files[position].path)

    def odd_rows(day: pl.DataFrame) -> pl.DataFrame:
        late = pl.col("occurred_at") + pl.duration(days=2)
        return pl.concat(
            [
                day,
                day.head(2).with_columns(event_id=pl.Series(["fax-1", "fax-2"]), event_type=pl.lit("fax")),
                day.head(1).with_columns(event_id=pl.lit("late-1"), occurred_at=late),
                day.head(1).with_columns(event_id=pl.lit("no-time-1"), occurred_at=pl.lit(None, day.schema["occurred_at"])),
            ]
        )

    rewrite(1, odd_rows)
    rewrite(3, lambda day: day.with_columns(event_type=pl.lit("fax")))
    rewrite(5, lambda day: pl.concat([day, day.head(1).with_columns(event_id=pl.lit("nobody-1"), contact_id=pl.lit(None, pl.String))]))
    rewrite(7, lambda day: day.head(0))
    rewrite(
        9,
        lambda day: (
            day.with_columns(pl.col("occurred_at").cast(pl.String))
            .with_row_index()
            .with_columns(occurred_at=pl.when(pl.col("index") == 0).then(pl.lit("yesterday-ish")).otherwise(pl.col("occurred_at")))
            .drop("index")
        ),
    )
    config = load_config()
    new = [(f, event_store.file_hash(f.path)) for f in files]
    together = ingest.validate_event_files(new, str(tmp_path / "together"), config)
    alone = [ingest.validate_event_files([pair], str(tmp_path / "alone"), config)[0] for pair in new]

    assert [c.file for c in together] == files
    assert [c.entry for c in together] == [c.entry for c in alone]
    assert [c.validation.error_message() for c in together] == [c.validation.error_message() for c in alone]
    assert sum(c.validation.gx_result is not None for c in together) < len(files)  # fewer GX runs than files
    assert [c.file for c in together if c.entry["blocking"]] == [files[3], files[5]]
    assert "more than 50% of rows" in together[3].entry["blocking"] and "contact_id" in together[5].entry["blocking"]
    # every kept and quarantined file is the same bytes either way
    for c in together:
        for name in (c.entry["kept"], c.entry["quarantined"]):
            if name and not c.entry["blocking"]:
                assert (event_store.state_folder(tmp_path / "together") / name).read_bytes() == (
                    event_store.state_folder(tmp_path / "alone") / name
                ).read_bytes()
    reasons = dict(
        pl.read_parquet(event_store.state_folder(tmp_path / "together") / together[1].entry["quarantined"])
        .select("event_id", "quarantine_reasons")
        .iter_rows()
    )
    assert set(reasons) == {"fax-1", "fax-2", "late-1", "no-time-1"}
    assert "after the day its daily file" in reasons["late-1"]
    assert "not_be_null(occurred_at)" in reasons["no-time-1"] and "after the day" not in reasons["no-time-1"]
    assert together[7].entry["rows"] == 0 and together[9].entry["quarantined_rows"] == 1

    # the gate's message names each failing file with its own counts, not every failing file
    from abmq.tasks import gate

    window = ingest.assemble_event_window(together, {}, str(tmp_path / "together"), gate.gate_parameters(AS_OF, config, []), config, AS_OF)
    message = window.validation.error_message()
    assert message == f"{together[3].entry['blocking']}; {together[5].entry['blocking']}"
    first, second = message.split("; events (")
    assert files[3].name in first and files[5].name not in first and files[3].name not in second
