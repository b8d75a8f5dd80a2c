"""The sandbox network's channel rules (WhatsApp's newsletters): no browser."""

from __future__ import annotations

import pytest

from waengine.sandbox.network import Network

from .test_sandbox_network import FakeClock
from .test_sandbox_social import refused

OWNER, ANI, BUDI = "6283320000001", "6283320000002", "6283320000003"


@pytest.fixture
def net():
    clock = FakeClock()
    network = Network(clock=clock, scheduler=clock)
    for phone in (OWNER, ANI, BUDI):
        network.upsert_phone(phone, name=phone[-1])
    return network


def test_only_the_owner_and_admins_post_edit_and_list_followers(net):
    cid = net.create_channel(OWNER, "Kabar")["id"]
    assert cid.endswith("@newsletter")
    net.follow_channel(cid, ANI)
    refused("not_newsletter_admin", net.post_to_channel, cid, ANI, text="bukan admin")
    refused("not_newsletter_admin", net.edit_channel, cid, ANI, name="Diambil")
    refused("not_newsletter_admin", net.channel_followers, cid, ANI)
    refused("not_newsletter_owner", net.delete_channel, cid, ANI)
    net.set_channel_admin(cid, ANI, True)
    assert net.post_to_channel(cid, ANI, text="dari admin")["recipients"] == [OWNER]
    refused("not_newsletter_owner", net.delete_channel, cid, ANI)
    assert net.delete_channel(cid, OWNER) == {"id": cid, "deleted": True}
    refused("newsletter_not_found", net.get_channel, cid)


def test_followers_get_posts_without_the_poster_and_texts_images_videos_polls_only(net):
    cid = net.create_channel(OWNER, "Promo")["id"]
    net.follow_channel(cid, ANI)
    post = net.post_to_channel(cid, OWNER, text="diskon")
    assert post["recipients"] == [ANI] and post["chatId"] == cid
    ani = net._phones[ANI]
    event = net._message_event(net._messages[post["id"]], ani)
    assert "contact" not in event and event["msg"]["from"] == cid
    assert event["msg"]["key"]["_serialized"] == f"false_{cid}_{post['id']}"
    assert OWNER not in ani.known  # a follower never learns who posted
    refused("type_not_valid_for_newsletter", net._check_channel_post, cid, OWNER, "document")
    assert BUDI not in net.post_to_channel(cid, OWNER, poll={"name": "Jam?",
                                                             "options": ["8", "9"]})["recipients"]


def test_views_and_reactions_are_counted_not_named(net):
    cid = net.create_channel(OWNER, "Kabar")["id"]
    net.follow_channel(cid, ANI)
    net.follow_channel(cid, BUDI)
    msg_id = net.post_to_channel(cid, OWNER, text="halo")["id"]
    net.view_channel_post(msg_id, ANI, "👍")
    counts = net.view_channel_post(msg_id, BUDI, "👍")
    assert counts == {"id": msg_id, "views": 2, "reactions": {"👍": 2}}
    assert net.view_channel_post(msg_id, BUDI, "")["reactions"] == {"👍": 1}
    net.follow_channel(cid, BUDI, follow=False)
    refused("msg_not_found", net.view_channel_post, msg_id, BUDI)


def test_a_status_reaches_contacts_who_saved_the_poster_and_is_gone_after_a_day(net):
    net.upsert_phone(OWNER, contacts=[{"phone": ANI}, {"phone": BUDI}])
    net.upsert_phone(ANI, contacts=[{"phone": OWNER}])  # Budi did not save the poster
    posted = net.post_status(OWNER, "hari ini")
    assert posted["recipients"] == [ANI]
    assert [s["text"] for s in net.statuses_seen_by(ANI)] == ["hari ini"]
    assert net.statuses_seen_by(BUDI) == []
    refused("not_a_contact", net.view_status, posted["id"], BUDI)
    assert net.view_status(posted["id"], ANI)["viewers"] == [ANI]
    net.clock(advance=24 * 3600)
    assert net.statuses_seen_by(ANI) == []
    refused("status_not_found", net.view_status, posted["id"], ANI)
    assert net.clock(offset=0)["offset"] == 0
