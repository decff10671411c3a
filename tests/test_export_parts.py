"""A changed contacts export staged in parts (tasks/export_parts.py): only the parts whose rows
changed are staged again, the others are read back, and the rows staged are the same as
staging the whole export, so the run publishes what a full recompute does."""

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
import steps

from abmq.flows.qualify import qualify
from abmq.sample_data import generate
from abmq.tasks import export_parts, ingest, source_store

AS_OF = dt.date(2026, 11, 25)


@pytest.fixture
def small_parts(monkeypatch):
    """~16 rows a part, so a small export has many."""
    monkeypatch.setattr(export_parts, "PART_BITS", 4)


def raw_rows(n: int) -> pl.DataFrame:
    return pl.DataFrame({"contact_id": [f"c{i}" for i in range(n)], "title": [f"Title {i % 7}" for i in range(n)]})


def planned(frame: pl.DataFrame) -> list[export_parts.Part]:
    return export_parts.plan(frame.lazy().with_row_index("_row"))


def test_a_changed_added_or_removed_row_changes_only_the_part_it_is_in(small_parts):
    """The row chosen neither ends its part nor comes to end one when changed (a row that does
    merges its part with the next, or splits it: two parts change)."""
    rows = raw_rows(400)
    before = planned(rows)
    assert len(before) > 10 and sum(p.rows for p in before) == 400
    assert [p.start for p in before] == [0] + [sum(p.rows for p in before[:i]) for i in range(1, len(before))]
    middle = next(n for n, p in enumerate(before) if p.start > 200)
    at = before[middle].start + 1  # a row inside that part, not its last

    changed = planned(rows.with_columns(pl.when(pl.int_range(pl.len()) == at).then(pl.lit("CEO")).otherwise("title").alias("title")))
    assert [p.digest for p in changed] != [p.digest for p in before]
    differ = [n for n, (a, b) in enumerate(zip(before, changed, strict=True)) if a.digest != b.digest]
    assert differ == [middle] and [p.start for p in changed] == [p.start for p in before]

    added = planned(pl.concat([rows.slice(0, at), pl.DataFrame({"contact_id": ["new"], "title": ["CFO"]}), rows.slice(at)]))
    assert [p.digest for p in added[:middle]] == [p.digest for p in before[:middle]]
    assert [(p.digest, p.start) for p in added[-3:]] == [(p.digest, p.start + 1) for p in before[-3:]]  # moved by one

    removed = planned(rows.filter(pl.int_range(pl.len()) != at))
    assert [p.digest for p in removed[:middle]] == [p.digest for p in before[:middle]]
    assert [(p.digest, p.start) for p in removed[-3:]] == [(p.digest, p.start - 1) for p in before[-3:]]

    # the same rows under other column names are other parts
    assert {p.digest for p in planned(rows.rename({"title": "job_title"}))}.isdisjoint(p.digest for p in before)


def test_parts_are_lent_only_by_an_entry_staged_the_same_way(tmp_path):
    published = {"recipe": "r1", "parts": [{"file": "contacts.r1.a.part.parquet", "start": 0, "rows": 3}]}
    assert export_parts.part_store("contacts", tmp_path, "r1", published, tmp_path).stored == {"contacts.r1.a.part.parquet"}
    assert not export_parts.part_store("contacts", tmp_path, "r2", published, tmp_path).stored  # new accounts, mapping or code
    assert not export_parts.part_store("contacts", tmp_path, "r1", None, tmp_path).stored


def stage_contacts(folder: Path, parts: export_parts.PartStore | None = None) -> ingest.SourceData:
    accounts = ingest.stage_source(str(folder), "accounts")
    keys = ingest.reference_keys({"accounts": accounts}, "contacts")
    return ingest.stage_source(str(folder), "contacts", **keys, parts=parts)


def test_staged_in_parts_equals_staged_whole(tmp_path, small_parts):
    """A CRM export edited as CRMs are: a title changed, a contact added in the middle, one
    deleted, and a row with bytes to clean. The rows staged from the stored parts and the
    changed ones are the rows staged from the whole export, in its order."""
    generate(tmp_path / "in", 40, seed=3, as_of=AS_OF, fmt="csv", progress=False)
    store_folder = source_store.store_folder(tmp_path)
    first = stage_contacts(tmp_path / "in", export_parts.part_store("contacts", store_folder, "recipe", None, tmp_path))
    assert first.parts is not None and first.parts.rows_staged == first.rows_in  # nothing stored yet
    source_store.keep_parts(first.parts, tmp_path)
    assert not first.parts.scratch.exists()

    contacts = pl.read_csv(tmp_path / "in" / "contacts.csv", infer_schema=False)
    n = contacts.height
    edited = contacts.with_columns(
        pl.when(pl.int_range(pl.len()) == n // 3).then(pl.lit("VP Sales")).otherwise("title").alias("title"),
        pl.when(pl.int_range(pl.len()) == n // 4).then(pl.lit("Ana\x00\u202e")).otherwise("first_name").alias("first_name"),
    )
    added = contacts.slice(n // 2, 1).with_columns(contact_id=pl.lit("crm-new-1"), email=pl.lit("new.person@gmail.com"))
    edited = pl.concat([edited.slice(0, n // 2), added, edited.slice(n // 2)]).filter(pl.int_range(pl.len()) != 2 * n // 3)
    edited.write_csv(tmp_path / "in" / "contacts.csv")

    published = {"recipe": "recipe", "parts": first.parts.parts}
    again = stage_contacts(tmp_path / "in", export_parts.part_store("contacts", store_folder, "recipe", published, tmp_path))
    whole = stage_contacts(tmp_path / "in")
    assert again.staged.equals(whole.staged) and again.staged.schema == whole.staged.schema
    assert again.rows_in == whole.rows_in == n
    # the parts with the four edits were staged; the others were read back
    assert 0 < len(again.parts.new) <= 4 and again.parts.rows_staged < n / 2
    kept_files = {p["file"] for p in first.parts.parts}
    assert sum(p["file"] in kept_files for p in again.parts.parts) >= len(again.parts.parts) - 4
    source_store.discard_parts(again.parts.scratch)


def test_a_stored_part_that_is_gone_is_staged_again(tmp_path, small_parts):
    generate(tmp_path / "in", 20, seed=4, as_of=AS_OF, fmt="parquet", progress=False)
    store_folder = source_store.store_folder(tmp_path)
    first = stage_contacts(tmp_path / "in", export_parts.part_store("contacts", store_folder, "recipe", None, tmp_path))
    source_store.keep_parts(first.parts, tmp_path)
    gone = first.parts.parts[1]["file"]
    (store_folder / gone).unlink()
    published = {"recipe": "recipe", "parts": first.parts.parts}
    again = stage_contacts(tmp_path / "in", export_parts.part_store("contacts", store_folder, "recipe", published, tmp_path))
    assert set(again.parts.new) == {gone} and again.staged.equals(first.staged)
    source_store.discard_parts(again.parts.scratch)


def run(input_dir: Path, out: Path) -> dict:
    return qualify(str(input_dir), str(out), None, AS_OF.isoformat())


def test_a_run_with_a_changed_contacts_export_publishes_a_full_recomputes_outputs(tmp_path, prefect_harness, monkeypatch):
    monkeypatch.setattr(export_parts, "PART_BITS", 6)  # ~64 contacts a part
    generate(tmp_path / "in", 150, seed=9, as_of=AS_OF, fmt="parquet", progress=False)
    out = tmp_path / "out"
    run(tmp_path / "in", out)
    before = source_store.read_state(out)["contacts"]
    assert "kept" not in before and len(before["parts"]) > 5

    contacts = pl.read_parquet(tmp_path / "in" / "contacts.parquet")
    n = contacts.height
    retitled = pl.when(pl.int_range(pl.len()) == n // 2).then(pl.lit("Chief Revenue Officer")).otherwise("title").alias("title")
    contacts.with_columns(retitled).filter(pl.int_range(pl.len()) != n // 5).write_parquet(tmp_path / "in" / "contacts.parquet")
    again = run(tmp_path / "in", out)
    assert "contacts" not in again["exports_remembered"] and "accounts" in again["exports_remembered"]
    after = source_store.read_state(out)["contacts"]
    new_parts = {p["file"] for p in after["parts"]} - {p["file"] for p in before["parts"]}
    assert 1 <= len(new_parts) <= 2  # the parts with the removed and the re-titled rows
    stored = {p.name for p in source_store.store_folder(out).iterdir()}
    assert stored == {source_store.MANIFEST} | {
        name for entry in source_store.read_state(out).values() for name in source_store.entry_files(entry)
    }
    assert not list(out.glob(f"{export_parts.SCRATCH_PREFIX}*"))

    full = tmp_path / "out-full"
    shutil.copytree(out, full)
    shutil.rmtree(full / "state")
    run(tmp_path / "in", full)
    skip = ("data_docs", "state", "last_failure")
    assert steps.tree_digest(out, skip=skip) == steps.tree_digest(full, skip=skip)
