"""De-duplication and the contacts whose events are set aside (tasks/normalise.py), on frames
small enough to check by hand."""

import polars as pl

from abmq.tasks import normalise


def test_repeated_hashes_are_each_hash_that_occurs_more_than_once_in_order():
    hashes = pl.Series([9, 3, 9, 5, 3, 3, 7, 0, 0], dtype=pl.UInt64)
    repeated = normalise.repeated_hashes(hashes)
    assert repeated.to_list() == [0, 3, 9] and repeated.dtype == pl.UInt64 and repeated.name == "hash"
    assert normalise.repeated_hashes(pl.Series([1, 2], dtype=pl.UInt64)).is_empty()
    assert normalise.repeated_hashes(pl.Series([], dtype=pl.UInt64)).is_empty()


def test_dedupe_keeps_the_earliest_event_of_each_id():
    events = pl.DataFrame(
        {
            "_row": [0, 1, 2, 3, 4],
            "event_id": ["e1", "e2", "e1", "e3", "e2"],
            "contact_id": ["c1", "c2", "c1", "c3", "c9"],
            "event_type": ["demo_request"] * 5,
            "occurred_at": [5, 2, 3, 1, 2],  # e1: row 2 is earlier; e2: a tie, broken by contact_id
        }
    )
    kept, merged = normalise.dedupe_events(events)
    assert merged == 2 and kept["_row"].to_list() == [1, 2, 3]


def test_unusable_contacts_are_the_quarantined_ids_with_no_usable_row():
    """Contact b was quarantined once but has a usable row; a missing id is never a contact."""
    usable = pl.DataFrame({"contact_id": ["a", "b", None]})
    quarantined = pl.DataFrame({"contact_id": ["b", "x", None, "x", "y"]})
    assert sorted(normalise.unusable_contact_ids(usable, quarantined).to_list()) == ["x", "y"]
    assert normalise.unusable_contact_ids(usable, None).is_empty()
    assert sorted(normalise.unusable_contact_ids(usable.clear(), quarantined).to_list()) == ["b", "x", "y"]
    assert sorted(normalise.unusable_contact_ids(usable.lazy(), quarantined).to_list()) == ["x", "y"]  # a scan, too


def test_contacts_read_back_as_a_scan_are_deduplicated_as_in_memory(tmp_path):
    """A scan of the stored contacts (`clean.usable_contacts`) keeps the rows de-duplication
    keeps in memory (the most complete of a repeated id's rows, then by e-mail and title),
    reading only the columns asked for."""
    contacts = pl.DataFrame(
        {
            "_row": [0, 1, 2, 3, 4, 5],
            "contact_id": ["c1", "c2", "c1", "c3", "c2", "c2"],
            "email": ["a@x.com", "b@x.com", "a@x.com", "c@x.com", None, "b2@x.com"],
            "title": ["CTO", None, None, "VP Sales", "Analyst", "Analyst"],
            "department": ["it", "it", "it", "sales", "it", "it"],
            "seniority": ["c_level", None, "c_level", "vp", "individual_contributor", "individual_contributor"],
            "domain": ["x.com"] * 6,
        }
    )
    # c1: row 0 has all four ranked columns, row 2 no title; c2: row 5 has all four, row 4
    # no e-mail, row 1 neither title nor seniority
    in_memory, merged = normalise.dedupe_contacts(contacts)
    assert merged == 3 and in_memory["_row"].to_list() == [0, 3, 5]
    contacts.write_parquet(tmp_path / "contacts.parquet")
    scanned, merged_too = normalise.dedupe_scanned_contacts(pl.scan_parquet(tmp_path / "contacts.parquet"), ["domain", "title"])
    assert merged_too == 3 and scanned.columns == ["_row", "contact_id", "domain", "title"]
    assert scanned.equals(in_memory.select(scanned.columns))
    once, none_merged = normalise.dedupe_scanned_contacts(pl.scan_parquet(tmp_path / "contacts.parquet").filter(pl.col("_row") < 2), [])
    assert none_merged == 0 and once["contact_id"].to_list() == ["c1", "c2"]
