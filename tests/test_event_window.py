"""Daily event files are read where the state store keeps them (tasks/event_window.py): the
window is never collected whole, yet the scores, counts and quarantined events equal those of
the same events delivered as one export, in one shard or several."""

import handbuilt
import polars as pl
import pytest

from abmq.config import load_config
from abmq.tasks import pipeline
from abmq.tasks.event_window import EventWindow, StoredFile, collect, rows_naming

AS_OF = handbuilt.AS_OF

# beside the hand-built events: one event id delivered on two days for two people (the
# earlier one is kept, whichever file it is in), and an event naming no contact at all
EXTRA_EVENTS = [
    ("e77", "h1", "demo_request", 5),
    ("e77", "h2", "demo_request", 9),
    ("e99", "nobody", "demo_request", 2),
]


def write_inputs(root, daily: bool):
    folder = handbuilt.write(root, fmt="parquet")
    extra = pl.DataFrame(
        [(eid, cid, etype, handbuilt.days_ago(days), None) for eid, cid, etype, days in EXTRA_EVENTS],
        schema=["event_id", "contact_id", "event_type", "occurred_at", "detail"],
        orient="row",
    )
    events = pl.concat([pl.read_parquet(folder / "events.parquet"), extra])
    if not daily:
        events.write_parquet(folder / "events.parquet")
        return folder
    (folder / "events.parquet").unlink()
    (folder / "events").mkdir()
    for (day,), part in events.with_columns(day=pl.col("occurred_at").str.slice(0, 10)).partition_by("day", as_dict=True).items():
        part.drop("day").write_parquet(folder / "events" / f"{day}.parquet")
    return folder


def checked_inputs(folder):
    out = folder.parent / f"{folder.name}-out"
    out.mkdir()
    return pipeline.check_inputs(str(folder), str(out), load_config(), AS_OF)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    config = load_config()
    single = checked_inputs(write_inputs(tmp_path_factory.mktemp("single"), daily=False))
    daily = checked_inputs(write_inputs(tmp_path_factory.mktemp("daily"), daily=True))
    return {
        "single": (single, pipeline.assess(single.sources, config, AS_OF)),
        "daily": (daily, pipeline.assess(daily.sources, config, AS_OF)),
        "daily, 3 shards": (daily, pipeline.assess(daily.sources, config, AS_OF, shard_count=3)),
    }


def test_daily_events_are_read_where_they_are_stored(runs):
    checked, assessment = runs["daily"]
    assert checked.sources["events"].kept is None and checked.sources["events"].window is not None
    assert isinstance(assessment.cleaned.clean.events, pl.LazyFrame)


@pytest.mark.parametrize("run", ["daily", "daily, 3 shards"])
def test_the_window_scores_like_one_export(runs, run):
    _, single = runs["single"]
    _, daily = runs[run]
    assert daily.contacts.equals(single.contacts)
    assert daily.accounts.equals(single.accounts)
    # e77 counts once, for h2 (the earlier of the two); nobody's event counts for no one
    h = daily.contacts.filter(pl.col("contact_id").is_in(["h1", "h2"])).sort("contact_id")
    assert h["n_demo_request"].to_list() == [0, 1]


def test_the_window_counts_and_sets_aside_like_one_export(runs):
    _, single = runs["single"]
    _, daily = runs["daily"]
    events = {name: run.cleaned.accounting["events"] for name, run in (("single", single), ("daily", daily))}
    # e30 is a day older than any window: one export counts it as used, daily files leave its day unread
    assert events["daily"]["used"] == events["single"]["used"] - 1 == single.cleaned.clean.events.height - 1
    assert daily.cleaned.clean.events.collect().height == events["daily"]["used"]
    assert events["daily"]["merged"] == events["single"]["merged"] == 2  # e43's copy and h1's e77
    assert [s["unexpected_count"] for s in events["daily"]["set_aside"]] == [1]  # e94, of quarantined contact x1

    def quarantined(run):
        return sorted(run.cleaned.sources["events"].quarantined["event_id"].to_list())

    # e95 is dated tomorrow: one export quarantines it; as a daily file it waits for its day
    assert quarantined(daily) == sorted(set(quarantined(single)) - {"e95"}) == ["e94", "e99"]


def test_a_window_leaves_rows_out_without_copying_the_rest():
    """Two stored files (rows 0-2 and 3-5; row 2 was quarantined when validated): each file
    leaves out its own rows."""
    first = pl.LazyFrame({"_row": [0, 1], "event_id": ["a", "b"]}, schema_overrides={"_row": pl.UInt32})
    second = pl.LazyFrame({"_row": [3, 4, 5], "event_id": ["d", "e", "f"]}, schema_overrides={"_row": pl.UInt32})
    files = (StoredFile(first, 0, 3), StoredFile(second, 3, 3))
    window = EventWindow(files, pl.concat([first, second]), 5, pl.DataFrame()).without(pl.Series([4, 0]))
    assert window.height == 3 and window.without(pl.Series([4])).height == 3
    assert collect(window.scan().select("_row", "event_id"))["event_id"].to_list() == ["b", "d", "f"]
    assert collect(window.without(pl.Series([3, 5])).scan().select("event_id"))["event_id"].sort().to_list() == ["b"]


def test_rows_naming_finds_the_events_of_given_contacts_and_of_no_contact():
    """Rows 0-6 over two stored files: "a" is a contact, "q" a quarantined one, "z" and "y"
    name none; a missing id is neither (it was set aside when its file was validated)."""
    first = pl.LazyFrame({"_row": [0, 1, 2, 3], "contact_id": ["a", "q", "z", None], "detail": ["0", "1", "2", "3"]})
    second = pl.LazyFrame({"_row": [4, 5, 6], "contact_id": ["z", "a", "y"], "detail": ["4", "5", "6"]})
    stored = pl.concat([second, first])  # the streaming engine need not keep the files' order
    quarantined, contacts = pl.Series(["q", "gone"]), pl.Series(["a", "q", "b"])
    of_quarantined, unknown = rows_naming(stored, quarantined, contacts)
    assert of_quarantined.to_dicts() == [{"_row": 1, "contact_id": "q", "detail": "1"}]
    assert unknown["_row"].to_list() == [2, 4, 6] and unknown["detail"].to_list() == ["2", "4", "6"]
    # none quarantined; no contacts at all: every event with an id names none
    of_quarantined, unknown = rows_naming(stored, pl.Series([], dtype=pl.String), pl.Series([], dtype=pl.String))
    assert of_quarantined.is_empty() and unknown["_row"].to_list() == [0, 1, 2, 4, 5, 6]
    # nothing found: empty frames with the stored columns
    of_quarantined, unknown = rows_naming(stored, pl.Series(["gone"]), pl.Series(["a", "q", "z", "y"]))
    assert of_quarantined.is_empty() and unknown.is_empty() and unknown.columns == ["_row", "contact_id", "detail"]
