"""The sandbox's simulated network on a fake clock: no Flask, no browser."""

from __future__ import annotations

import threading

import pytest

from waengine.sandbox import create_app
from waengine.sandbox.network import Network, Options, SandboxError, normalize_phone

ALICE, BUDI, CITRA = "6281300000001", "6281300000002", "6281300000003"


class FakeClock:
    """A clock and a scheduler in one: advance() runs what came due, in time order."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now
        self.tasks: list[tuple[float, int, object]] = []

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay, fn):
        self.tasks.append((self.now + delay, len(self.tasks), fn))

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted(t for t in self.tasks if t[0] <= end)
            if not due:
                break
            self.tasks.remove(due[0])
            self.now = max(self.now, due[0][0])
            due[0][2]()
        self.now = end


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_network(clock):
    def make(**options) -> Network:
        return Network(Options(**options), clock=clock, scheduler=clock)

    return make


@pytest.fixture
def net(make_network) -> Network:
    return make_network()


def linked_device(net: Network, phone: str, client: str = "page-1") -> dict:
    """Show a QR, scan it with `phone`, and connect the page; return its login."""
    pairing = net.start_pairing("Chrome")
    net.link(qr=pairing["authCode"]["fullCode"], phone=phone)
    login = net.poll_pairing(pairing["pairing"], None, 0)["linked"]
    assert net.hello(login["device"], login["token"], client)["loggedIn"]
    return login


def poll(net: Network, login: dict, ack: int = 0, client: str = "page-1") -> dict:
    return net.poll_events(login["device"], login["token"], client, ack, 0)


# --------------------------------------------------------------------------- phones


def test_phone_numbers_are_normalized_to_digits():
    assert normalize_phone("+62 812-3456-7890") == "6281234567890"
    assert normalize_phone("6281234567890@c.us") == "6281234567890"
    for bad in ("", "abc", "12", "+62 812 x"):
        with pytest.raises(SandboxError) as err:
            normalize_phone(bad)
        assert (err.value.status, err.value.code) == (400, "invalid_phone")


def test_upserting_a_phone_creates_then_updates_it(net):
    view, created = net.upsert_phone("+62 813-0000-0001", "Alice",
                                     contacts=[{"phone": BUDI, "name": "Budi"}])
    assert created and view["phone"] == ALICE and view["savedContacts"] == 1
    view, created = net.upsert_phone(ALICE, "Alice B.")
    assert not created and view["name"] == "Alice B."
    with pytest.raises(SandboxError) as err:
        net.get_phone("6289999999999")
    assert err.value.code == "phone_not_found"


def test_seeded_contacts_and_groups_are_deterministic_and_varied(make_network):
    first = make_network(seed_contacts=2000, seed_groups=100, seed=7)
    second = make_network(seed_contacts=2000, seed_groups=100, seed=7)
    view, _ = first.upsert_phone(ALICE, "Alice")
    again, _ = second.upsert_phone(ALICE, "Alice")
    assert view["contacts"] == 2001  # the generated ones plus yourself
    assert len(view["groups"]) == 100 and view["groups"] == again["groups"]
    login = linked_device(first, ALICE)
    contacts = first.sync(login["device"], login["token"])["contacts"]
    numbers = [c["id"] for c in contacts]
    assert len(set(numbers)) == len(numbers)
    assert any(not c["isMyContact"] for c in contacts)
    assert any(c["isBusiness"] for c in contacts)
    assert len({c["pushname"] for c in contacts}) > 200
    other_seed = make_network(seed_contacts=5, seed=8)
    assert other_seed.upsert_phone(ALICE, "Alice")[0]["contacts"] == 6


# --------------------------------------------------------------------------- QR & linking


def test_the_auth_code_has_four_comma_separated_parts(net):
    code = net.start_pairing()["authCode"]
    assert code["type"] == "multidevice"
    assert code["fullCode"] == ",".join(
        [code["ref"], code["staticKeyPair"], code["identityKeyPair"], code["secretKey"]])


def test_refs_rotate_on_the_clock_and_stop_after_qr_max(make_network, clock):
    net = make_network(qr_first_ttl=60, qr_ttl=20, qr_max=3)
    pairing = net.start_pairing()
    pid, first = pairing["pairing"], pairing["authCode"]["ref"]
    clock.advance(59)
    assert net.poll_pairing(pid, first, 0)["authCode"]["ref"] == first
    clock.advance(1)
    second = net.poll_pairing(pid, first, 0)["authCode"]["ref"]
    assert second != first
    clock.advance(40)  # the third ref expires too: idle
    state = net.poll_pairing(pid, second, 0)
    assert state["idle"] is True and state["authCode"] is None
    refreshed = net.refresh_pairing(pid)
    assert refreshed["idle"] is False and refreshed["authCode"]["ref"] not in (first, second)


def test_only_the_current_ref_links(make_network, clock):
    net = make_network(qr_first_ttl=10, qr_ttl=10)
    pairing = net.start_pairing()
    stale = pairing["authCode"]["fullCode"]
    clock.advance(10)
    current = net.poll_pairing(pairing["pairing"], None, 0)["authCode"]
    with pytest.raises(SandboxError) as err:
        net.link(qr=stale, phone=ALICE)
    assert (err.value.status, err.value.code) == (410, "qr_expired")
    with pytest.raises(SandboxError) as err:
        net.link(qr="2@unknown,a,b,c", phone=ALICE)
    assert (err.value.status, err.value.code) == (404, "qr_not_found")
    linked = net.link(qr=current["ref"], phone=ALICE)  # the ref alone is enough
    assert linked["phone"] == ALICE and linked["phoneCreated"] is True


def test_a_closed_page_s_qr_is_not_found(net):
    pairing = net.start_pairing()
    net.close_pairing(pairing["pairing"])
    with pytest.raises(SandboxError) as err:
        net.link(qr=pairing["authCode"]["fullCode"], phone=ALICE)
    assert err.value.code == "qr_not_found"


def test_a_pairing_code_links_the_phone_it_was_made_for(net):
    pairing = net.start_pairing()
    code = net.pairing_code(pairing["pairing"], "+62 813-0000-0001")
    assert len(code) == 8
    with pytest.raises(SandboxError) as err:
        net.link(code=code, phone=BUDI)
    assert err.value.code == "phone_mismatch"
    assert net.link(code=f"{code[:4]}-{code[4:].lower()}", phone=None)["phone"] == ALICE


def test_a_long_poll_on_the_qr_wakes_up_on_the_link(net):
    pairing = net.start_pairing()
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        net.poll_pairing(pairing["pairing"], pairing["authCode"]["ref"], 20)))
    waiter.start()
    net.link(qr=pairing["authCode"]["fullCode"], phone=ALICE)
    waiter.join(10)
    assert not waiter.is_alive() and answers[0]["linked"]["phone"] == ALICE


# --------------------------------------------------------------------------- devices


def test_a_wrong_token_or_unlinked_device_is_not_logged_in(net):
    login = linked_device(net, ALICE)
    assert net.hello(login["device"], "wrong", "x") == {"loggedIn": False,
                                                        "reason": "unknown_device"}
    net.unlink_phone(ALICE, reason="user_initiated")
    assert net.hello(login["device"], login["token"], "x") == {"loggedIn": False,
                                                               "reason": "user_initiated"}


def test_an_unlink_ends_the_device_s_long_poll(net):
    login = linked_device(net, ALICE)
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        net.poll_events(login["device"], login["token"], "page-1", 0, 20)))
    waiter.start()
    net.unlink_phone(ALICE)
    waiter.join(10)
    assert answers == [{"loggedOut": True, "reason": "user_initiated", "events": []}]


def test_a_newer_page_with_the_same_login_takes_over(net):
    login = linked_device(net, ALICE, client="old")
    net.hello(login["device"], login["token"], "new")
    assert poll(net, login, client="old")["conflict"] is True
    assert "conflict" not in poll(net, login, client="new")


# --------------------------------------------------------------------------- messages


def test_events_stay_queued_until_a_poll_acknowledges_them(net):
    login = linked_device(net, ALICE)
    net.send_from_phone(BUDI, ALICE, "one")
    net.send_from_phone(BUDI, ALICE, "two")
    events = poll(net, login)["events"]
    assert [e["msg"]["body"] for e in events] == ["one", "two"]
    assert poll(net, login)["events"] == events  # not acknowledged: delivered again
    assert [e["msg"]["body"] for e in poll(net, login, ack=events[0]["seq"])["events"]] == ["two"]
    assert poll(net, login, ack=events[1]["seq"])["events"] == []


def test_an_incoming_message_is_shaped_like_whatsapp_s(net):
    login = linked_device(net, ALICE)
    net.upsert_phone(BUDI, "Budi")
    sent = net.send_from_phone(BUDI, ALICE, "halo")
    event = poll(net, login)["events"][0]
    msg = event["msg"]
    assert msg["key"] == {"fromMe": False, "remote": f"{BUDI}@c.us", "id": sent["id"],
                          "participant": None, "_serialized": f"false_{BUDI}@c.us_{sent['id']}"}
    assert (msg["from"], msg["to"], msg["notifyName"], msg["self"]) == (
        f"{BUDI}@c.us", f"{ALICE}@c.us", "Budi", "in")
    assert len(sent["id"]) == 20 and sent["id"] == sent["id"].upper()
    assert event["contact"]["pushname"] == "Budi" and event["contact"]["isMyContact"] is False
    assert event["chat"]["unreadCount"] == 1


def test_a_device_send_is_listed_for_the_recipient_and_acked_on_the_clock(make_network, clock):
    # ack delays: every recipient acks by itself (an option; by default phones ack when told)
    net = make_network(ack_delivered_delay=0.3, ack_read_delay=1.0)
    net.upsert_phone(BUDI, "Budi")
    login = linked_device(net, ALICE)
    result = net.send_from_device(login["device"], login["token"],
                                  {"id": "3EB0AAAABBBBCCCCDDDD", "to": f"{BUDI}@c.us",
                                   "type": "chat", "body": "hi"})
    assert result["key"]["_serialized"] == f"true_{BUDI}@c.us_3EB0AAAABBBBCCCCDDDD"
    assert result["ack"] == 1
    listed = net.list_messages(to=BUDI)
    assert [(m["id"], m["from"], m["text"]) for m in listed] == [
        ("3EB0AAAABBBBCCCCDDDD", ALICE, "hi")]
    assert poll(net, login)["events"] == []  # the sending page already has its own copy
    clock.advance(0.3)
    clock.advance(0.7)
    acks = [(e["ack"], e["ids"], e["chat"]) for e in poll(net, login)["events"]]
    # Receipts rebuild the key from the receipt: its sender is Budi, by his LID.
    lid = net.get_phone(BUDI)["lid"]
    key = f"true_{lid}_3EB0AAAABBBBCCCCDDDD"
    assert acks == [(2, [key], lid), (3, [key], lid)]
    assert net.list_messages(from_=ALICE)[0]["ack"] == 3


def test_resending_the_same_message_id_is_idempotent(net):
    login = linked_device(net, ALICE)
    payload = {"id": "3EB0000000000000000A", "to": BUDI, "type": "chat", "body": "x"}
    net.send_from_device(login["device"], login["token"], payload)
    net.send_from_device(login["device"], login["token"], payload)
    assert len(net.list_messages(from_=ALICE)) == 1


def test_a_number_not_on_the_network_gets_the_message_but_no_acks(net, clock):
    login = linked_device(net, ALICE)
    net.send_from_device(login["device"], login["token"],
                         {"id": "3EB0000000000000000B", "to": "6289999999999", "type": "chat"})
    clock.advance(5)
    assert poll(net, login)["events"] == []
    assert net.list_messages(to="6289999999999")[0]["ack"] == 1


def test_explicit_read_receipts_and_mark_read(make_network):
    net = make_network(ack_delivered_delay=-1, ack_read_delay=-1)
    alice = linked_device(net, ALICE)
    budi = linked_device(net, BUDI, client="budi-page")
    net.send_from_device(alice["device"], alice["token"],
                         {"id": "3EB0000000000000000C", "to": BUDI, "type": "chat", "body": "?"})
    assert net.mark_read(budi["device"], budi["token"], f"{ALICE}@c.us") == 1
    assert [e["ack"] for e in poll(net, alice)["events"]] == [3]
    with pytest.raises(SandboxError) as err:
        net.read_receipt("3EB0000000000000000C", CITRA)
    assert err.value.code == "not_a_recipient"


def test_a_revoke_reaches_recipients_and_the_sender_s_devices(net):
    alice = linked_device(net, ALICE)
    budi = linked_device(net, BUDI, client="budi-page")
    sent = net.send_from_phone(BUDI, ALICE, "oops")
    acked = poll(net, alice)["events"][-1]["seq"]
    net.revoke(sent["id"])
    revoke = poll(net, alice, ack=acked)["events"][0]
    assert revoke["type"] == "revoke" and revoke["revokeType"] == "revoke"
    assert revoke["refId"]["id"] == sent["id"] and revoke["id"]["id"] != sent["id"]
    own = [e for e in poll(net, budi, client="budi-page")["events"] if e["type"] == "revoke"]
    assert own[0]["revokeType"] == "sender_revoke"
    with pytest.raises(SandboxError):
        net.revoke(sent["id"])


# --------------------------------------------------------------------------- groups


def test_group_messages_reach_every_member_but_the_sender(net):
    for phone in (ALICE, BUDI, CITRA):
        net.upsert_phone(phone, phone)
    group = net.create_group("Team", ALICE, [BUDI, CITRA])
    assert group["id"].endswith("@g.us") and group["owner"] == f"{ALICE}@c.us"
    budi = linked_device(net, BUDI)
    sent = net.send_from_phone(ALICE, group["id"], "hi team")
    assert sorted(sent["recipients"]) == [BUDI, CITRA]
    msg = [e for e in poll(net, budi)["events"] if e["type"] == "message"][0]["msg"]
    assert msg["key"]["_serialized"] == f"false_{group['id']}_{sent['id']}_{ALICE}@c.us"
    assert msg["from"] == group["id"] and msg["author"] == f"{ALICE}@c.us"
    assert [m["id"] for m in net.list_messages(to=CITRA)] == [sent["id"]]
    assert net.list_messages(to=ALICE) == []


def test_participant_changes_are_announced_to_old_and_new_members(net):
    for phone in (ALICE, BUDI, CITRA):
        net.upsert_phone(phone, phone)
    gid = net.create_group("Team", ALICE, [BUDI])["id"]
    budi = linked_device(net, BUDI)
    citra = linked_device(net, CITRA, client="citra-page")
    net.change_participants(gid, add=[CITRA, "6289999999999"])
    events = [e for e in poll(net, budi)["events"] if e["type"] == "participants"]
    assert events[0]["event"] == {"groupId": gid, "action": "add", "operation": "add",
                                  "participants": [f"{CITRA}@c.us"], "author": f"{ALICE}@c.us",
                                  "authorPushName": ALICE}
    assert any(e["type"] == "participants" for e in poll(net, citra, client="citra-page")["events"])
    with pytest.raises(SandboxError) as err:
        net.change_participants(gid, remove=[BUDI], by=CITRA, as_admin=True)
    assert err.value.code == "group_you_are_not_admin"
    result = net.change_participants(gid, remove=[BUDI])
    assert result["removed"] == [BUDI]


def test_creating_a_group_with_an_unknown_participant_fails(net):
    with pytest.raises(SandboxError) as err:
        net.create_group("Team", ALICE, ["6289999999999"])
    assert err.value.code == "participant_not_exists"


# --------------------------------------------------------------------------- misc


def test_stalls_are_set_and_cleared(net):
    net.set_stall("chat.sendTextMessage", 30)
    assert net.get_stall("chat.sendTextMessage") == 30
    net.set_stall("chat.sendTextMessage", 0)
    assert net.get_stall("chat.sendTextMessage") == 0


def test_reset_forgets_everything(net):
    login = linked_device(net, ALICE)
    net.reset()
    assert net.hello(login["device"], login["token"], "x")["loggedIn"] is False
    with pytest.raises(SandboxError):
        net.get_phone(ALICE)


def test_the_control_api_answers_json_errors(clock):
    client = create_app().test_client()
    assert client.post("/_sandbox/phones", json={"phone": "+62 813-0000-0001"}).status_code == 201
    assert client.post("/_sandbox/phones", json={"phone": ALICE}).status_code == 200
    bad = client.post("/_sandbox/phones", data="nope", content_type="application/json")
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_json"
    missing = client.get("/_sandbox/phones/6289999999999")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "phone_not_found"
    assert client.get("/_sandbox/nothing").json["error"]["code"] == "not_found"
    sent = client.post("/_sandbox/messages", json={"from": BUDI, "to": ALICE, "text": "x"})
    assert sent.status_code == 201 and sent.json["text"] == "x"
    assert client.get(f"/_sandbox/messages?to={ALICE}").json["data"][0]["id"] == sent.json["id"]
    png = client.get("/_sandbox/qr.png?data=hello")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")


def test_the_control_api_manages_groups_and_creates_missing_phones():
    client = create_app().test_client()
    created = client.post("/_sandbox/groups", json={"name": "Ops", "owner": ALICE,
                                                    "participants": [BUDI]})
    assert created.status_code == 201 and created.json["id"].endswith("@g.us")
    gid = created.json["id"]
    assert client.get(f"/_sandbox/phones/{BUDI}").json["groups"] == [gid]
    changed = client.post(f"/_sandbox/groups/{gid}/participants", json={"add": [CITRA]})
    assert changed.status_code == 200 and changed.json["results"] == {f"{CITRA}@c.us": 200}
    outsider = client.post("/_sandbox/messages",
                           json={"from": "6289999999999", "to": gid, "text": "hi"})
    assert outsider.status_code == 403 and outsider.json["error"]["code"] == "not_a_participant"
    sent = client.post("/_sandbox/messages", json={"from": BUDI, "to": gid, "text": "hi"})
    assert sent.json["recipientKey"] == f"false_{gid}_{sent.json['id']}_{BUDI}@c.us"
    assert [m["id"] for m in client.get(f"/_sandbox/messages?to={gid}").json["data"]] == [
        sent.json["id"]]
    read = client.post(f"/_sandbox/messages/{sent.json['id']}/read", json={"by": CITRA})
    assert read.status_code == 200 and read.json["readBy"] == [CITRA]


# --------------------------------------------------------------------------- media


def test_a_phone_sends_a_file_that_the_linked_device_downloads_until_it_expires(net):
    import base64

    net.upsert_phone(ALICE, name="Alice")
    login = linked_device(net, ALICE)
    media = {"data": base64.b64encode(b"%PDF-1.4 x").decode(), "filename": "a.pdf",
             "mimetype": "application/pdf"}
    sent = net.send_from_phone(BUDI, ALICE, "", caption="invoice", media=media)
    assert (sent["type"], sent["size"], sent["caption"], sent["text"]) == (
        "document", 10, "invoice", "")
    msg = net.media_for_device(login["device"], login["token"], sent["id"])
    assert (msg.data, msg.mimetype, msg.filename) == (b"%PDF-1.4 x", "application/pdf", "a.pdf")
    assert net.expire_media(sent["id"])["mediaExpired"] is True
    with pytest.raises(SandboxError) as err:
        net.media_for_device(login["device"], login["token"], sent["id"])
    assert (err.value.status, err.value.code) == (404, "media_not_found")


def test_media_the_control_api_cannot_send_or_expire_is_refused(net):
    net.upsert_phone(ALICE, name="Alice")
    for bad in ({"data": "not base64!"}, {"data": ""}, "x",
                {"data": "QUJD", "mimetype": "text/html\r\nX: y"}):
        with pytest.raises(SandboxError) as err:
            net.send_from_phone(BUDI, ALICE, "", media=bad)
        assert (err.value.status, err.value.code) == (400, "invalid_media")
    text = net.send_from_phone(BUDI, ALICE, "plain")
    with pytest.raises(SandboxError) as err:
        net.expire_media(text["id"])
    assert (err.value.status, err.value.code) == (409, "not_media")


# --------------------------------------------------------------------------- message actions


def test_only_the_sender_edits_and_only_within_fifteen_minutes(net, clock):
    alice = linked_device(net, ALICE)
    budi = linked_device(net, BUDI, client="budi-page")
    sent = net.send_from_phone(BUDI, ALICE, "at 10")
    acked = poll(net, alice)["events"][-1]["seq"]
    with pytest.raises(SandboxError) as err:  # Alice received it: not hers to edit
        net.edit_from_device(alice["device"], alice["token"], sent["id"], "mine")
    assert (err.value.status, err.value.code) == (403, "edit_message_error")
    view = net.edit_from_device(budi["device"], budi["token"], sent["id"], " at 11 ")
    assert view["body"] == "at 11" and view["editedAt"] == int(clock.now)
    edit = poll(net, alice, ack=acked)["events"][0]
    assert edit["type"] == "edit" and edit["msg"]["body"] == "at 11"
    assert edit["msg"]["key"]["id"] == sent["id"]
    clock.advance(15 * 60 + 1)
    with pytest.raises(SandboxError) as err:
        net.edit_from_device(budi["device"], budi["token"], sent["id"], "at 12")
    assert (err.value.status, err.value.code) == (422, "edit_message_error")
    assert net.list_messages(from_=BUDI)[-1]["text"] == "at 11"


def test_a_page_revokes_only_its_own_message_and_its_device_gets_no_echo(net):
    alice = linked_device(net, ALICE)
    budi = linked_device(net, BUDI, client="budi-page")
    theirs = net.send_from_phone(BUDI, ALICE, "from budi")
    with pytest.raises(SandboxError) as err:
        net.revoke_from_device(alice["device"], alice["token"], theirs["id"])
    assert err.value.code == "not_sender"
    acked = poll(net, budi, client="budi-page")["events"][-1]["seq"]
    answer = net.revoke_from_device(budi["device"], budi["token"], theirs["id"])
    assert answer["revokeId"] != theirs["id"]
    revokes = [e for e in poll(net, alice)["events"] if e["type"] == "revoke"]
    assert revokes[0]["id"]["id"] == answer["revokeId"]
    assert poll(net, budi, ack=acked, client="budi-page")["events"] == []
    assert net.list_messages(from_=BUDI)[-1]["revoked"] is True


def test_a_forward_is_marked_and_reuses_the_media_file(net):
    alice = linked_device(net, ALICE)
    photo = net.send_from_phone(BUDI, ALICE, "", media={
        "data": "iVBORw0KGgo=", "filename": "a.png", "mimetype": "image/png"})
    payload = {"id": "3EB0FFFFFFFFFFFFFFF1", "to": CITRA, "type": "image", "caption": "a.png",
               "mimetype": "image/png", "filename": "a.png", "forwardOf": photo["id"]}
    net.send_from_device(alice["device"], alice["token"], payload)
    forwarded = net.list_messages(to=CITRA)[-1]
    assert forwarded["forwarded"] is True and forwarded["from"] == ALICE
    assert net.media_for_device(alice["device"], alice["token"], payload["id"]).data == \
        net.media_for_device(alice["device"], alice["token"], photo["id"]).data
    with pytest.raises(SandboxError) as err:
        net.send_from_device(alice["device"], alice["token"],
                             {**payload, "id": "3EB0FFFFFFFFFFFFFFF2", "forwardOf": "3EB0NOPE"})
    assert err.value.code == "msg_not_found"
