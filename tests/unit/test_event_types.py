"""Non-chat events and calls: translate(), the call policy, the sandbox
network's status posts, notifications, ciphertexts and calls on a fake clock."""

from __future__ import annotations

import threading

import pytest

from waengine.engine.calls import CallRejecter, call_policy
from waengine.errors import WAEngineError
from waengine.events import translate
from waengine.events.outbox import EVENT_TYPES
from waengine.sandbox.network import Network, Options, SandboxError

from .test_sandbox_network import FakeClock, linked_device, poll

ANA, BUDI, CICI = "6282400000001", "6282400000002", "6282400000003"


def page_msg(mid, **extra):
    return {"id": mid, "chatId": "62824@c.us", "from": "62824@c.us", "to": "62800@c.us",
            "fromMe": False, "type": "chat", "body": "", "timestamp": 1, "ack": 1, **extra}


# --------------------------------------------------------------------------- translate()


def test_each_non_chat_kind_has_its_own_documented_event_type():
    for kind in ("status.posted", "group.notification", "message.undecryptable",
                 "call.received", "message.edited"):
        assert kind in EVENT_TYPES


def test_a_status_post_is_status_posted_never_message():
    post = page_msg("false_status@broadcast_AA_62824@c.us", chatId="status@broadcast",
                    **{"from": "status@broadcast"}, author="62824@c.us", body="beach")
    [(kind, data, key)] = translate("status.posted", post)
    assert kind == "status.posted" and data["body"] == "beach"
    assert data["senderIds"]["phone"] == "62824@c.us" and key == f"status:{post['id']}"


def test_a_group_notification_names_its_subtype_and_participants():
    note = page_msg("false_1203@g.us_BB_62811@c.us", chatId="1203@g.us", type="gp2",
                    subtype="add", author="62811@c.us", recipients=["62812@c.us"])
    [(kind, data, key)] = translate("group.notification", note)
    assert kind == "group.notification" and data["subtype"] == "add"
    assert data["participants"] == ["62812@c.us"] and data["author"] == "62811@c.us"
    assert key == f"gp2:{note['id']}"


def test_an_undecryptable_message_is_one_event_per_id_also_when_caught_up():
    raw = {"id": "false_62824@c.us_CC", "chatId": "62824@c.us", "from": "62824@c.us",
           "author": None, "timestamp": 5, "body": "never shown"}
    [(kind, data, key)] = translate("message.undecryptable", raw)
    assert kind == "message.undecryptable" and "body" not in data and "catchUp" not in data
    [(_, again, again_key)] = translate("message.undecryptable", {**raw, "catchUp": True})
    assert again["catchUp"] is True and again_key == key == "undecryptable:false_62824@c.us_CC"


def test_a_call_is_call_received_once_per_call_id():
    call = {"id": "AB12", "from": "62824@c.us", "peerJid": "62824@c.us", "isVideo": True,
            "isGroup": False, "offerTime": 7}
    [(kind, data, key)] = translate("call.received", call)
    assert kind == "call.received" and key == "call:AB12"
    assert data == {"id": "AB12", "from": "62824@c.us", "isVideo": True, "isGroup": False,
                    "offerTime": 7}


# --------------------------------------------------------------------------- call policy

CONFIG = {"REJECT_CALLS": False, "CALL_REPLY": ""}


def test_a_session_field_overrides_the_configured_call_policy():
    assert call_policy(CONFIG, {}) == {"rejectCalls": False, "callReply": None}
    on = {"REJECT_CALLS": True, "CALL_REPLY": "busy"}
    assert call_policy(on, {}) == {"rejectCalls": True, "callReply": "busy"}
    assert call_policy(on, {"rejectCalls": False}) == {"rejectCalls": False, "callReply": "busy"}
    assert call_policy(CONFIG, {"rejectCalls": True, "callReply": "later"}) == {
        "rejectCalls": True, "callReply": "later"}


class FakeSession:
    """What CallRejecter needs of a session: id, options, and submit() on its worker."""

    def __init__(self, options, reject):
        self.id, self.options, self._reject = "s1", options, reject

    def submit(self, fn, need_connected=True, checked=False):
        return fn(self)

    def call(self, op, **args):  # the bridge
        assert op == "rejectCall"
        return self._reject(args["id"])


def run_rejecter(options, reject) -> list:
    queued = []

    def queue(session, op, args, key):
        queued.append((op, args, key))

    rejecter = CallRejecter(CONFIG, queue)
    session = FakeSession(options, reject)
    threads_before = set(threading.enumerate())
    rejecter.on_call(session, {"id": "C1", "from": "62824@c.us", "isGroup": False})
    for thread in set(threading.enumerate()) - threads_before:
        assert thread.name == "wa-call-s1"
        thread.join(5)
    return queued


def test_a_rejected_call_queues_one_reply_keyed_by_the_call():
    rejected = []
    queued = run_rejecter({"rejectCalls": True, "callReply": "write me"},
                          lambda cid: rejected.append(cid) or {"id": cid, "rejected": True})
    assert rejected == ["C1"]
    assert queued == [("sendText", {"to": "62824@c.us", "text": "write me", "replyTo": None,
                                    "mentions": []}, "call-reply:C1")]


def test_a_call_that_stopped_ringing_gets_no_reply_and_a_session_without_the_policy_nothing():
    def gone(cid):
        raise WAEngineError("Call C1 is not incoming ring")

    assert run_rejecter({"rejectCalls": True, "callReply": "write me"}, gone) == []
    never = []
    assert run_rejecter({}, lambda cid: never.append(cid)) == [] and never == []


# --------------------------------------------------------------------------- sandbox network


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def net(clock) -> Network:
    return Network(Options(), clock=clock, scheduler=clock)


def events_of(net, login, type_: str) -> list[dict]:
    return [e for e in poll(net, login)["events"] if e["type"] == type_]


def test_a_status_reaches_mutual_contacts_only_from_status_broadcast(net):
    net.upsert_phone(ANA, "Ana", contacts=[{"phone": BUDI}, {"phone": CICI}])
    net.upsert_phone(BUDI, "Budi", contacts=[{"phone": ANA}])
    net.upsert_phone(CICI, "Cici")  # has not saved Ana
    budi, cici = linked_device(net, BUDI), linked_device(net, CICI, "page-2")
    posted = net.post_status(ANA, "beach")
    assert posted["recipients"] == [BUDI]
    [event] = events_of(net, budi, "message")
    view = event["msg"]
    assert view["key"]["remote"] == "status@broadcast" and view["from"] == "status@broadcast"
    assert view["author"] == f"{ANA}@c.us" and view["body"] == "beach"
    assert events_of(net, cici, "message") == []
    assert net.list_messages(to=BUDI) == []  # the control listing shows what people sent
    with pytest.raises(SandboxError):
        net.post_status(ANA, " ")


def test_a_ciphertext_is_a_placeholder_until_it_decrypts(net, clock):
    net.upsert_phone(ANA, "Ana")
    budi = linked_device(net, BUDI)
    sent = net.send_ciphertext(ANA, BUDI, "secret", decrypt_after=2)
    [event] = events_of(net, budi, "message")
    assert (event["msg"]["type"], event["msg"]["body"]) == ("ciphertext", "")
    clock.advance(2.5)
    [decrypt] = events_of(net, budi, "decrypt")
    assert decrypt["msg"]["key"]["id"] == sent["id"] and decrypt["msg"]["body"] == "secret"
    never = net.send_ciphertext(ANA, BUDI, "lost", decrypt_after=None)
    clock.advance(3600)
    history = net.history(budi["device"], budi["token"], f"{ANA}@c.us", None, 10)
    assert [(m["type"], m["key"]["id"]) for m in history][-1] == ("ciphertext", never["id"])


def test_group_changes_put_a_gp2_notification_in_the_group_chat(net):
    net.upsert_phone(ANA, "Ana")
    budi = linked_device(net, BUDI)
    group = net.create_group("Team", ANA, [BUDI], create_missing=True)
    net.change_participants(group["id"], add=[CICI], create_missing=True)
    [note] = [e["msg"] for e in events_of(net, budi, "message")]
    assert (note["type"], note["subtype"], note["recipients"]) == ("gp2", "add", [f"{CICI}@c.us"])
    assert note["key"]["remote"] == group["id"] and note["author"] == f"{ANA}@c.us"


def test_a_call_rings_until_rejected_once_then_both_chats_log_it(net, clock):
    net.upsert_phone(ANA, "Ana")
    budi = linked_device(net, BUDI)
    call = net.start_call(ANA, BUDI)
    [offer] = events_of(net, budi, "call")
    assert offer["call"] == {"id": call["id"], "peerJid": f"{ANA}@c.us", "isVideo": False,
                             "isGroup": False, "offerTime": call["offerTime"]}
    with pytest.raises(SandboxError) as err:
        net.reject_call_from_device(budi["device"], budi["token"], "NOPE")
    assert err.value.code == "call_not_found"
    assert net.reject_call_from_device(budi["device"], budi["token"], call["id"])["state"] \
        == "rejected"
    with pytest.raises(SandboxError) as err:
        net.reject_call_from_device(budi["device"], budi["token"], call["id"])
    assert err.value.code == "call_is_not_incoming_ring"
    clock.advance(120)  # the ring timeout no longer changes it
    assert net.get_call(call["id"])["state"] == "rejected"
    logs = [e["msg"] for e in events_of(net, budi, "message")]
    assert [(m["type"], m["subtype"]) for m in logs] == [("call_log", "miss")]


def test_an_unanswered_call_is_missed_after_ringing(net, clock):
    net.upsert_phone(ANA, "Ana")
    net.upsert_phone(BUDI, "Budi")
    call = net.start_call(ANA, BUDI, video=True, ring_seconds=10)
    clock.advance(11)
    assert net.get_call(call["id"])["state"] == "missed"
    with pytest.raises(SandboxError):
        net.start_call(ANA, ANA)
