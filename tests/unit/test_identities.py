"""The phone <-> @lid map a session keeps (engine/identities.py), on both store backends."""

from __future__ import annotations

import pytest

from waengine.engine.identities import ContactIds, bare, merge_contacts

from ..conftest import BACKENDS

BOTH = pytest.mark.parametrize("database", BACKENDS, indirect=True)
PHONE, LID = "6281300000009@c.us", "12345678901234@lid"


def test_ids_lose_their_device_part_and_only_people_count():
    assert bare("12345678901234:7@lid") == LID and bare("6281300000009:2@c.us") == PHONE
    assert bare("1203630@g.us") is None and bare(None) is None


@BOTH
def test_a_pair_is_learned_once_kept_in_the_store_and_read_from_either_side(make_store):
    store = make_store()
    ids = ContactIds(store, lambda: 1.0)
    assert ids.pair("s1", LID) == {"phone": None, "lid": LID}
    assert ids.learn("s1", PHONE, "12345678901234:3@lid", "message") is True
    assert ids.learn("s1", PHONE, LID, "receipt") is False  # already known
    assert ids.learn("s1", LID, PHONE, "message") is False  # not a (phone, lid) pair
    fresh = ContactIds(make_store(), lambda: 2.0)  # another process, the same database
    assert fresh.pair("s1", LID) == {"phone": PHONE, "lid": LID}
    assert fresh.pair("s1", PHONE) == {"phone": PHONE, "lid": LID}
    assert fresh.pair("s2", PHONE) == {"phone": PHONE, "lid": None}  # per session
    rows = store.execute("SELECT session, phone, lid, source FROM contact_ids")
    assert [(r["session"], r["phone"], r["lid"], r["source"]) for r in rows] == [
        ("s1", PHONE, LID, "message")]
    ids.forget("s1")
    assert ContactIds(store).pair("s1", LID) == {"phone": None, "lid": LID}


@BOTH
def test_messages_contacts_and_rosters_teach_pairs(make_store):
    ids = ContactIds(make_store())
    ids.learn_from_message("s1", {"senderIds": {"phone": PHONE, "lid": LID}})
    ids.learn_from_contacts("s1", [{"id": "777@lid", "phone": "6281300000777", "lid": None},
                                   {"id": "6281300000888@c.us", "lid": "888@lid"},
                                   {"id": "999@lid"}], "group")
    assert ids.pair("s1", LID)["phone"] == PHONE
    assert ids.pair("s1", "777@lid")["phone"] == "6281300000777@c.us"
    assert ids.pair("s1", "6281300000888@c.us")["lid"] == "888@lid"
    assert ids.pair("s1", "999@lid")["phone"] is None


def test_a_person_listed_under_both_ids_is_one_contact_with_both():
    listed = [{"id": PHONE, "phone": PHONE[:-5], "lid": None, "name": "Lina", "pushname": None},
              {"id": LID, "phone": None, "lid": LID, "name": None, "pushname": "Lina L."},
              {"id": "555@lid", "phone": None, "lid": "555@lid", "name": None},
              {"id": "6281300000666@c.us", "phone": "6281300000666", "lid": None}]
    merged = merge_contacts(listed, {LID: PHONE, PHONE: LID, "555@lid": "6281300000555@c.us"})
    assert [c["id"] for c in merged] == [PHONE, "555@lid", "6281300000666@c.us"]
    assert merged[0]["lid"] == LID and merged[0]["pushname"] == "Lina L."
    assert merged[1]["phone"] == "6281300000555"  # known by @lid only, its number learned
    assert merged[2]["lid"] is None
