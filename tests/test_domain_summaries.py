"""Per-domain summaries kept beside their export (tasks/domain_summaries.py): the technology
matches and intent surges a published run worked out are read back when they would come out
the same (same export, same settings, the as-of date picking the same rows), and worked out
again, equal to what `rollup` gives, when any of that changed."""

import datetime as dt

import handbuilt
import polars as pl
import pytest

from abmq.config import load_config
from abmq.tasks import domain_summaries, pipeline, rollup, source_store

CONFIG = load_config()
AS_OF = handbuilt.AS_OF  # a Wednesday

TECHNOGRAPHICS = pl.DataFrame(
    {
        "domain": ["acme.com", "acme.com", "quiet.com", "hooli.com"],
        "technology": ["Salesforce", "Snowflake", "HubSpot", "6sense"],
        "first_seen": [dt.date(2024, 1, 1), dt.date(2025, 3, 1), dt.date(2023, 5, 1), AS_OF + dt.timedelta(days=3)],
    }
)
INTENT = pl.DataFrame(
    {
        "domain": ["acme.com", "acme.com", "umbrella.com", "initech.com"],
        "topic": ["Intent Data", "Intent Data", "Lead Scoring", "Intent Data"],
        "week": [dt.date(2026, 11, 16), dt.date(2026, 11, 30), dt.date(2026, 11, 23), dt.date(2026, 10, 26)],
        "score": [75, 80, 80, 95],
    }
)
ENTRIES = {
    "technographics": {"key": "t" * 64, "kept": "technographics.tttt.kept.parquet"},
    "intent": {"key": "i" * 64, "kept": "intent.iiii.kept.parquet"},
}


def summarise(out, entries, as_of=AS_OF, config=CONFIG, technographics=TECHNOGRAPHICS):
    """The split's two summaries with a store over `out` and `entries`: (store, matches, surges)."""
    store = domain_summaries.SummaryStore(out, entries)
    matches = domain_summaries.technology_matches(technographics, config, as_of, store)
    surges = domain_summaries.intent_surges(INTENT, config, as_of, store)
    return store, matches, surges


def assert_as_rollup_gives(matches, surges, as_of=AS_OF, config=CONFIG, technographics=TECHNOGRAPHICS):
    expected_matches = rollup.technology_matches(technographics, config, as_of)
    expected_surges = rollup.intent_surges(INTENT, config, as_of, rollup.latest_intent_week(INTENT, config, as_of))
    assert matches.schema == expected_matches.schema and matches.equals(expected_matches)
    assert surges.schema == expected_surges.schema and surges.equals(expected_surges)


@pytest.fixture()
def first(tmp_path):
    store, matches, surges = summarise(tmp_path, ENTRIES)
    return {"out": tmp_path, "store": store}


def test_a_first_run_works_both_out_and_keeps_them_beside_their_export(first):
    store = first["store"]
    assert store.recalled == []
    for source in ("technographics", "intent"):
        kept = store.entries[source]["summary"]
        assert kept["file"].startswith(f"{source}.") and (source_store.store_folder(first["out"]) / kept["file"]).exists()
    assert ENTRIES["intent"].get("summary") is None  # the caller's entries are not changed in place


@pytest.mark.parametrize("days", [0, 1, 2])
def test_a_later_date_picking_the_same_rows_reads_both_back(first, days):
    """Wednesday to Friday: no tool first seen (the 6sense row is seen on Saturday) and no new
    intent week in the recent window."""
    as_of = AS_OF + dt.timedelta(days=days)
    store, matches, surges = summarise(first["out"], first["store"].entries, as_of)
    assert store.recalled == ["technographics", "intent"]
    assert store.entries == first["store"].entries
    assert_as_rollup_gives(matches, surges, as_of)


def test_a_tool_first_seen_between_the_runs_works_the_matches_out_again(first):
    as_of = AS_OF + dt.timedelta(days=3)
    store, matches, surges = summarise(first["out"], first["store"].entries, as_of)
    assert store.recalled == ["intent"]
    assert matches.filter(pl.col("domain") == "hooli.com").get_column("competitor_technologies").to_list() == [["6sense"]]
    assert store.entries["technographics"]["summary"] != first["store"].entries["technographics"]["summary"]
    assert_as_rollup_gives(matches, surges, as_of)


@pytest.mark.parametrize(
    "as_of",
    [
        dt.date(2026, 11, 30),  # the provider's week of Nov 30 comes into the recent window (Oct 27 to Nov 30)
        dt.date(2026, 11, 22),  # the week of Oct 26 is in it, that of Nov 23 not yet (Oct 26 to Nov 22)
    ],
)
def test_a_date_that_moves_an_intent_week_in_or_out_works_the_surges_out_again(first, as_of):
    store, matches, surges = summarise(first["out"], first["store"].entries, as_of)
    assert "intent" not in store.recalled
    assert_as_rollup_gives(matches, surges, as_of)


def test_changed_settings_or_a_changed_export_are_not_answered_by_the_store(first):
    raw = CONFIG.model_dump()
    raw["account_scoring"]["fit"]["technologies"]["competitors"]["HubSpot"] = -5
    raw["account_scoring"]["intent"]["surge_score"] = 78
    config = type(CONFIG).model_validate(raw)
    store, matches, surges = summarise(first["out"], first["store"].entries, config=config)
    assert store.recalled == []
    assert_as_rollup_gives(matches, surges, config=config)
    assert matches.filter(pl.col("domain") == "quiet.com").get_column("competitor_technologies").to_list() == [["HubSpot"]]

    changed = {name: {**entry, "key": entry["key"][::-1] + "x"} for name, entry in first["store"].entries.items()}
    store, matches, surges = summarise(first["out"], changed)
    assert store.recalled == []


def test_a_missing_summary_file_is_worked_out_again(first):
    kept = first["store"].entries["technographics"]["summary"]["file"]
    (source_store.store_folder(first["out"]) / kept).unlink()
    store, matches, surges = summarise(first["out"], first["store"].entries)
    assert store.recalled == ["intent"]
    assert_as_rollup_gives(matches, surges)


def test_an_export_outside_the_store_is_summarised_every_run(tmp_path):
    store, matches, surges = summarise(tmp_path, {"technographics": None, "intent": None})
    assert store.entries == {"technographics": None, "intent": None} and not any(tmp_path.iterdir())
    assert_as_rollup_gives(matches, surges)


def test_a_run_reads_the_summaries_a_published_run_kept_and_the_replaced_ones_are_removed(tmp_path, monkeypatch):
    """Through `pipeline.assess`, as the flow: the published manifest lists the summaries; the
    next day's run reads them back (working them out would fail here) and scores the same."""
    inputs, out = handbuilt.write(tmp_path / "input"), tmp_path / "out"

    def run(as_of, config=CONFIG):
        sources = pipeline.check_inputs(str(inputs), str(out), config, as_of, []).sources
        assessment = pipeline.assess(sources, config, as_of, out_dir=str(out))
        entries = {name: data.store_entry for name, data in assessment.cleaned.sources.items() if data.store_entry is not None}
        (source_store.store_folder(out) / source_store.MANIFEST).write_text(source_store.manifest_text(entries))
        return assessment

    first = run(AS_OF)
    summaries = {name: first.cleaned.sources[name].store_entry["summary"]["file"] for name in ("technographics", "intent")}

    def must_not_run(*args, **kwargs):
        raise AssertionError("worked out again")

    with monkeypatch.context() as patched:
        patched.setattr(rollup, "technology_matches", must_not_run)
        patched.setattr(rollup, "intent_surges", must_not_run)
        again = run(AS_OF + dt.timedelta(days=1))
    fresh = pipeline.assess(
        pipeline.check_inputs(str(inputs), None, CONFIG, AS_OF + dt.timedelta(days=1), []).sources, CONFIG, AS_OF + dt.timedelta(days=1)
    )
    assert again.accounts.equals(fresh.accounts)

    # a new surge score: the surges are worked out again, and the summary they replace goes
    raw = CONFIG.model_dump()
    raw["account_scoring"]["intent"]["surge_score"] = 78
    run(AS_OF, type(CONFIG).model_validate(raw))
    assert source_store.remove_unlisted(out) == 1
    folder = source_store.store_folder(out)
    assert (folder / summaries["technographics"]).exists() and not (folder / summaries["intent"]).exists()


def test_summaries_of_rows_read_back_as_scans_are_those_of_the_rows(tmp_path):
    """A summarised export read back from the store comes as a scan of its file: the key's
    counts and, when it is made again, the summary are those of the rows in memory."""
    technographics, intent = tmp_path / "t.parquet", tmp_path / "i.parquet"
    TECHNOGRAPHICS.write_parquet(technographics)
    INTENT.write_parquet(intent)
    store = domain_summaries.SummaryStore(tmp_path / "scanned", ENTRIES)
    matches = domain_summaries.technology_matches(pl.scan_parquet(technographics), CONFIG, AS_OF, store)
    surges = domain_summaries.intent_surges(pl.scan_parquet(intent), CONFIG, AS_OF, store)
    assert_as_rollup_gives(matches, surges)
    in_memory, _, _ = summarise(tmp_path / "in-memory", ENTRIES)
    assert store.entries == in_memory.entries  # the same keys: the same counts were read
