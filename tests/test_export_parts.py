"""A changed contacts export staged in parts (tasks/export_parts.py): only the parts whose rows
changed are staged again, the others are read back, and the rows staged are the same as
staging the whole export, so the run publishes what a full recompute does."""

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
import steps

from abmq.flows.qualify import qualify
from abmq.sample_data import generate
from abmq.tasks import account_links, export_parts, ingest, remembered, source_store, staging

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
    digest = "a" * 32
    part = export_parts.Part(0, 3, digest + "b" * 32)
    published = {"recipe": "r1", "row_recipe": "rows", "parts": [{"file": f"contacts.r1.{digest}.part.parquet", "start": 0, "rows": 3}]}
    same = export_parts.part_store("contacts", tmp_path, "r1", published, tmp_path, "rows")
    assert same.lent_file(part) == f"contacts.r1.{digest}.part.parquet" and same.relinkable_file(part) is None
    # other accounts: linked again; another mapping, limits or code: staged again
    accounts = export_parts.part_store("contacts", tmp_path, "r2", published, tmp_path, "rows")
    assert accounts.lent_file(part) is None and accounts.relinkable_file(part) == f"contacts.r1.{digest}.part.parquet"
    other = export_parts.part_store("contacts", tmp_path, "r2", published, tmp_path, "other rows")
    assert other.lent_file(part) is None and other.relinkable_file(part) is None
    assert export_parts.part_store("contacts", tmp_path, "r1", None, tmp_path).lent_file(part) is None


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


ACCOUNTS_BEFORE = """account_id,name,domain,industry,employees,annual_revenue,country
A1,Acme,acme.com,Software,1200,250000000,US
A2,Globex,https://www.globex.com/,Manufacturing,5400,900000000,Germany
A3,Initech,initech.io,Software,300,40000000,US
A4,Umbrella,umbrella.com,Healthcare,8000,1200000000,UK
A9,Vandelay,vandelay.com,Retail,150,20000000,US
"""
# a day later: Umbrella gone, Hooli new, Vandelay under a new domain, and Initrode given
# Initech's id by mistake (an id two companies have names neither)
ACCOUNTS_AFTER = """account_id,name,domain,industry,employees,annual_revenue,country
A1,Acme,acme.com,Software,1200,250000000,US
A2,Globex,https://www.globex.com/,Manufacturing,5400,900000000,Germany
A3,Initech,initech.io,Software,300,40000000,US
A3,Initrode,initrode.com,Software,90,8000000,US
A5,Hooli,hooli.com,Software,20000,9000000000,US
A9,Vandelay,vandelay-industries.com,Retail,150,20000000,US
"""
CONTACTS = """Contact ID,Email,First Name,Last Name,Job Title,Company Domain,Account ID
c01,ann@acme.com,Ann,Lee,VP Marketing,,A1
c02,bob@GLOBEX.com,Bob,Stone,Head of IT,www.globex.com,
c03,cy@initech.io,Cy,Park,Security Engineer,,
c04,di@gmail.com,Di,Ng,CFO,gmail.com,A9
c05,ed@hooli.com,Ed,Moss,Director of Sales,,
c06,fay@umbrella.com,Fay,Ruiz,IT Manager,umbrella.com,
c07,gus@yahoo.com,Gus,Berg,Consultant,,
c08,hal@vandelay.com,Hal,Ito,Purchasing Lead,,
c09,ida@hooli.com,Ida,Ford,Chief Information Officer,hooli.com,
c10,jo@acme.com,Jo,Kim,Software Engineer,acme.com,
c11,kai@outlook.com,Kai,Roe,CTO,,A5
c12,lu@umbrella.com,Lu,Chen,Head of Finance,,A4
c13,max@initech.io,Max,Diaz,Marketing Manager,initech.io,
c14,ned@mailinator.com,Ned,Voss,Analyst,,
c15,ora@globex.com,Ora,Sims,VP Engineering,,A2
c16,pat@vandelay.com,Pat,Hale,Sales Rep,vandelay.com,
c17,quinn@globex.com,Quinn,Adler,Engineer,,A3
"""
CRM_MAPPING = {
    "contacts": {
        "columns": {
            "Contact ID": "contact_id",
            "Email": "email",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Job Title": "title",
            "Company Domain": "domain",
            "Account ID": "account_id",
        }
    }
}


def stage_crm_contacts(folder: Path, parts: export_parts.PartStore | None = None) -> ingest.SourceData:
    from abmq.config import SourceMapping

    accounts = ingest.stage_source(str(folder), "accounts")
    keys = ingest.reference_keys({"accounts": accounts}, "contacts")
    mapping = SourceMapping.model_validate(CRM_MAPPING["contacts"])
    return ingest.stage_source(str(folder), "contacts", **keys, source_mapping=mapping, parts=parts)


def told(store: export_parts.PartStore, linked_against: dict | None) -> export_parts.PartStore:
    """`store` knowing what its parts were linked against (`remembered._linked_against`), or not."""
    return dataclasses.replace(store, linked_against=linked_against)


@pytest.mark.parametrize("known", [False, True], ids=["every-row-linked-again", "only-rows-reached"])
def test_contacts_linked_again_to_changed_accounts_equal_contacts_staged_again(tmp_path, monkeypatch, known):
    """An account came, one went and one changed its domain: the parts are linked to the
    accounts again (by id, by the domain each contact gave, by its e-mail's) rather than
    staged again, and the rows are those staging the export gives against the new accounts.
    Knowing the accounts the parts were linked against, only the rows the change reaches are
    linked again (`staging.reached_again`): Ed and Hal linked by their e-mail's domain, Fay by
    the one she gave, Di and Lu by their id to a domain that went, Quinn by an id that names no
    account now; the rows are the same."""
    monkeypatch.setattr(export_parts, "PART_BITS", 2)  # ~4 contacts a part
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "accounts.csv").write_text(ACCOUNTS_BEFORE)
    (folder / "contacts.csv").write_text(CONTACTS)
    keys_before = remembered.linked_keys(ingest.stage_source(str(folder), "accounts"), "contacts") if known else None
    store_folder = source_store.store_folder(tmp_path)
    first = stage_crm_contacts(folder, export_parts.part_store("contacts", store_folder, "before", None, tmp_path, "rows"))
    assert len(first.parts.parts) > 2
    assert account_links.GIVEN_DOMAIN not in first.staged.columns  # kept with the parts only
    source_store.keep_parts(first.parts, tmp_path)
    assert account_links.GIVEN_DOMAIN in pl.read_parquet_schema(store_folder / first.parts.parts[0]["file"])

    (folder / "accounts.csv").write_text(ACCOUNTS_AFTER)
    (folder / "contacts.csv").write_text(CONTACTS.replace("Jo,Kim,Software Engineer", "Jo,Kim,Chief Technology Officer"))
    published = {"recipe": "before", "row_recipe": "rows", "parts": first.parts.parts}
    again = stage_crm_contacts(
        folder, told(export_parts.part_store("contacts", store_folder, "after", published, tmp_path, "rows"), keys_before)
    )
    whole = stage_crm_contacts(folder)
    assert again.staged.equals(whole.staged) and again.staged.schema == whole.staged.schema
    # the accounts' change reached the links: Ed (hooli.com) is found now, Fay (umbrella.com)
    # no longer, Di (A9) is at Vandelay's new domain
    links = {c: (d, found) for c, d, found in whole.staged.select("contact_id", "domain", "account_found").iter_rows()}
    before = {c: (d, found) for c, d, found in first.staged.select("contact_id", "domain", "account_found").iter_rows()}
    assert before["c05"] == ("hooli.com", False) and links["c05"] == ("hooli.com", True)
    assert before["c06"] == ("umbrella.com", True) and links["c06"] == ("umbrella.com", False)
    assert before["c04"] == ("vandelay.com", True) and links["c04"] == ("vandelay-industries.com", True)
    # Quinn's id names no account now: she is linked by her e-mail's domain, which did not change
    assert before["c17"] == ("initech.io", True) and links["c17"] == ("globex.com", True)
    # the re-titled contact's part was staged; every other part linked again, and stored anew
    # only where its links changed (the contacts of Hooli, Umbrella and Vandelay)
    assert 0 < again.parts.rows_staged <= 8 and again.parts.rows_staged + again.parts.rows_relinked == whole.rows_in
    carried = [p["file"] for p in again.parts.parts if p["file"] in {q["file"] for q in first.parts.parts}]
    assert carried and len(again.parts.new) == len(again.parts.parts) - len(carried) > again.parts.parts_relinked > 0
    source_store.keep_parts(again.parts, tmp_path)
    # the next day, the same accounts: every part read back, those kept as they were included
    kept_again = {"recipe": "after", "row_recipe": "rows", "parts": again.parts.parts}
    next_day = stage_crm_contacts(folder, export_parts.part_store("contacts", store_folder, "after", kept_again, tmp_path, "rows"))
    assert not next_day.parts.new and next_day.staged.equals(whole.staged)

    # parts staged another way (mapping, limits or code) are staged again, not linked again
    other = {**published, "row_recipe": "other rows"}
    restaged = stage_crm_contacts(
        folder, told(export_parts.part_store("contacts", store_folder, "after", other, tmp_path, "rows"), keys_before)
    )
    assert restaged.parts.rows_relinked == 0 and restaged.parts.rows_staged == whole.rows_in
    assert restaged.staged.equals(whole.staged)
    source_store.discard_parts(restaged.parts.scratch)


INTENT = """domain,topic,week,score
acme.com,data security,2026-11-16,71
https://www.hooli.com,cloud migration,2026-11-16,88
umbrella.com,data security,2026-11-16,40
vandelay.com,sales engagement,2026-11-16,65
initech.io,cloud migration,2026-11-16,90
GLOBEX.com,data security,2026-11-16,55
hooli.com,data security,2026-11-09,30
umbrella.com,cloud migration,2026-11-09,77
"""


@pytest.mark.parametrize("known", [False, True], ids=["every-row-found-again", "only-rows-reached"])
def test_intent_found_again_against_changed_accounts_equals_intent_staged_again(tmp_path, monkeypatch, known):
    """Technographics and intent read of the accounts only whether each row's domain is one
    (`account_found`): against other accounts it is worked out again (knowing the accounts
    before, for the rows of a domain that came or went only), and parts where it did not
    change are kept as they are."""
    monkeypatch.setattr(export_parts, "PART_BITS", 1)  # ~2 rows a part
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "accounts.csv").write_text(ACCOUNTS_BEFORE)
    (folder / "intent.csv").write_text(INTENT)

    def stage(parts: export_parts.PartStore | None = None) -> ingest.SourceData:
        keys = ingest.reference_keys({"accounts": ingest.stage_source(str(folder), "accounts")})
        return ingest.stage_source(str(folder), "intent", account_domains=keys["account_domains"], parts=parts)

    store_folder = source_store.store_folder(tmp_path)
    first = stage(export_parts.part_store("intent", store_folder, "before", None, tmp_path, "rows"))
    keys_before = remembered.linked_keys(ingest.stage_source(str(folder), "accounts"), "intent") if known else None
    source_store.keep_parts(first.parts, tmp_path)
    (folder / "accounts.csv").write_text(ACCOUNTS_AFTER)  # Hooli in, Umbrella out
    published = {"recipe": "before", "row_recipe": "rows", "parts": first.parts.parts}
    again = stage(told(export_parts.part_store("intent", store_folder, "after", published, tmp_path, "rows"), keys_before))
    whole = stage()
    assert again.staged.equals(whole.staged) and not whole.staged.equals(first.staged)
    found = dict(whole.staged.select("_row", "account_found").iter_rows())
    assert found[1] and not found[2]  # hooli.com now found, umbrella.com no longer
    assert again.parts.rows_staged == 0 and again.parts.rows_relinked == whole.rows_in
    assert 0 < again.parts.parts_relinked < len(again.parts.parts)  # the others kept as they were
    source_store.discard_parts(again.parts.scratch)


def run(input_dir: Path, out: Path) -> dict:
    return qualify(str(input_dir), str(out), None, AS_OF.isoformat())


def assert_a_full_recomputes(input_dir: Path, out: Path) -> None:
    """`out` holds what a run from an empty state store publishes on the same inputs."""
    full = out.parent / f"{out.name}-full"
    shutil.copytree(out, full)
    shutil.rmtree(full / "state")
    run(input_dir, full)
    skip = ("data_docs", "state", "last_failure")
    assert steps.tree_digest(out, skip=skip) == steps.tree_digest(full, skip=skip)
    # the Data Docs of the exports kept in parts too, their verdicts made of their parts'
    # (tasks/part_checks.py); the events' differ: the runs validated other batches of files
    for source in export_parts.PARTED:
        pages = sorted((out / "data_docs" / "validations" / source).rglob("*.html"))
        assert pages and [p.read_bytes() for p in pages] == [(full / p.relative_to(out)).read_bytes() for p in pages], source


def test_a_run_with_a_changed_contacts_export_publishes_a_full_recomputes_outputs(tmp_path, prefect_harness, monkeypatch, caplog):
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
    with caplog.at_level("INFO"):
        again = run(tmp_path / "in", out)
    assert "contacts" not in again["exports_remembered"] and "accounts" in again["exports_remembered"]
    after = source_store.read_state(out)["contacts"]
    new_parts = {p["file"] for p in after["parts"]} - {p["file"] for p in before["parts"]}
    assert 1 <= len(new_parts) <= 2  # the parts with the removed and the re-titled rows
    # GX ran over those parts only (tasks/part_checks.py)
    validated = f"GX validated {len(new_parts)} of its {len(after['parts'])} parts"
    assert any(validated in r.getMessage() for r in caplog.records if r.getMessage().startswith("contacts:"))
    stored = {p.name for p in source_store.store_folder(out).iterdir()}
    assert stored == {source_store.MANIFEST} | {
        name for entry in source_store.read_state(out).values() for name in source_store.entry_files(entry)
    }
    assert not list(out.glob(f"{export_parts.SCRATCH_PREFIX}*"))

    assert_a_full_recomputes(tmp_path / "in", out)


def test_a_day_an_account_comes_links_the_stored_contacts_again(tmp_path, prefect_harness, monkeypatch, caplog):
    """A new account in the accounts export, one under a new domain, and a contact re-titled:
    the contacts' parts are linked to the accounts again and one staged, and the run publishes
    a full recompute's."""
    monkeypatch.setattr(export_parts, "PART_BITS", 6)
    generate(tmp_path / "in", 120, seed=12, as_of=AS_OF, fmt="parquet", progress=False)
    out = tmp_path / "out"
    run(tmp_path / "in", out)
    before = source_store.read_state(out)["contacts"]

    accounts = pl.read_parquet(tmp_path / "in" / "accounts.parquet")
    contacts = pl.read_parquet(tmp_path / "in" / "contacts.parquet")
    # and the account a contact is linked to by its e-mail moves to another domain: that
    # contact's link changes with the accounts
    by_email = contacts.filter(pl.col("domain").is_null()).get_column("email").str.extract(r"@(.+)$", 1).first()
    assert by_email in accounts.get_column("domain").to_list()
    moved = pl.when(pl.col("domain") == by_email).then(pl.lit("moved-" + by_email)).otherwise("domain").alias("domain")
    newcomer = accounts.slice(0, 1).with_columns(pl.lit("newcomer-analytics.com").alias("domain"), pl.lit("NEW-1").alias("account_id"))
    pl.concat([accounts.with_columns(moved), newcomer]).write_parquet(tmp_path / "in" / "accounts.parquet")
    retitled = pl.when(pl.int_range(pl.len()) == contacts.height // 2).then(pl.lit("Chief Revenue Officer")).otherwise("title")
    contacts.with_columns(retitled.alias("title")).write_parquet(tmp_path / "in" / "contacts.parquet")
    # the published accounts are those the parts were linked against: only the rows the change
    # reaches are linked again (`remembered._linked_against`, `staging.reached_again`)
    reached, reached_again = [], staging.reached_again
    monkeypatch.setattr(staging, "reached_again", lambda *a, **k: reached.append(reached_again(*a, **k)) or reached[-1])
    with caplog.at_level("INFO"):
        again = run(tmp_path / "in", out)
    assert "contacts" not in again["exports_remembered"] and "accounts" not in again["exports_remembered"]
    assert any("linked to them again" in r.getMessage() for r in caplog.records)
    assert reached and all(mask is not None for mask in reached)
    # what the published contacts were linked against is read only from the accounts they name
    state = source_store.read_state(out)
    assert state["contacts"]["linked_to"] == state["accounts"]["key"]
    assert remembered._linked_against("contacts", state, str(out), state["contacts"]) is not None
    assert remembered._linked_against("contacts", state, str(out), {**state["contacts"], "linked_to": "another"}) is None
    # GX ran over the parts whose links changed or that were staged, not over those kept
    kept = {p["file"] for p in source_store.read_state(out)["contacts"]["parts"]} & {p["file"] for p in before["parts"]}
    assert any(
        f"GX validated {len(source_store.read_state(out)['contacts']['parts']) - len(kept)} of its" in r.getMessage()
        for r in caplog.records
    )
    after = source_store.read_state(out)["contacts"]
    assert after["recipe"] != before["recipe"] and after["row_recipe"] == before["row_recipe"]
    # the parts whose links did not change are kept as they were
    assert {p["file"] for p in after["parts"]} & {p["file"] for p in before["parts"]}
    stored = {p.name for p in source_store.store_folder(out).iterdir()}
    assert stored == {source_store.MANIFEST} | {
        name for entry in source_store.read_state(out).values() for name in source_store.entry_files(entry)
    }

    assert_a_full_recomputes(tmp_path / "in", out)
