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
