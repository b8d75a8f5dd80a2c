"""Not every `chat.new_message` is a customer message (issues 9 and 12).

The sandbox emits what real wa-js 4.6.0 emits through `chat.new_message`: status posts
(`status@broadcast`), group notifications (`gp2`), security-code changes (`e2e_notification`),
missed-call logs (`call_log`), and ciphertexts that decrypt later or never; plus incoming
calls (`call.incoming_call`). A `message` webhook is a chat message only.
"""

from __future__ import annotations

from collections import Counter

import requests

from ..conftest import phones, wait_for

number = phones(__name__)

P = {name: number(i + 1) for i, name in enumerate(
    ("me", "ana", "budi", "cici", "nostatus", "poster", "callee", "caller", "quiet", "ringer",
     "gone", "one", "two", "gposter", "joiner"))}


def of_type(receiver, type_: str) -> list[dict]:
    return [e["data"] for e in receiver.delivered() if e["type"] == type_]


def befriend(sandbox, a: str, b: str) -> None:
    """a and b saved each other (WhatsApp shows statuses only between such contacts)."""
    sandbox.phone(P[a], a.title(), contacts=[{"phone": P[b], "name": b.title()}])
    sandbox.phone(P[b], b.title(), contacts=[{"phone": P[a], "name": a.title()}])


def send(sandbox, frm: str, to: str, text: str, **extra) -> dict:
    return sandbox.post("/_sandbox/messages", **{"from": P[frm], "to": P[to], "text": text},
                        **extra)


def test_each_non_chat_event_gets_its_own_type_and_message_is_chat_only(
        make_gateway, sandbox, receiver):
    befriend(sandbox, "me", "ana")
    sandbox.phone(P["budi"], "Budi")
    sandbox.phone(P["cici"], "Cici")
    gw = make_gateway(WEBHOOK_URL=receiver.url, SYNC_ALL_STATUS=True, UNDECRYPTABLE_AFTER=3.0)
    gw.link(sandbox, "types", P["me"])

    chat = send(sandbox, "ana", "me", "a chat message")
    status = sandbox.post(f"/_sandbox/phones/{P['ana']}/status", text="at the beach")
    group = sandbox.post("/_sandbox/groups", name="Team", owner=P["budi"],
                         participants=[P["me"]])
    sandbox.post(f"/_sandbox/groups/{group['id']}/participants", add=[P["cici"]])
    sandbox.post(f"/_sandbox/phones/{P['ana']}/security-code")
    late = send(sandbox, "ana", "me", "decrypted late", decryptAfter=1.5)
    never = send(sandbox, "ana", "me", "never decrypted", ciphertext=True)
    sandbox.post(f"/_sandbox/messages/{chat['id']}/edit", text="a chat message, edited")
    call = sandbox.post("/_sandbox/calls", **{"from": P["ana"], "to": P["me"], "ringSeconds": 1})

    wait_for(lambda: of_type(receiver, "message.undecryptable"), timeout=60,
             message="the never-decrypted message reported")
    wait_for(lambda: requests.get(f"{sandbox.url}/_sandbox/calls/{call['id']}",
                                  timeout=5).json()["state"] == "missed",
             timeout=20, message="the call stopped ringing")
    sentinel = send(sandbox, "ana", "me", "sentinel")
    wait_for(lambda: any(m["body"] == "sentinel" for m in of_type(receiver, "message")),
             timeout=60, message="the sentinel message")

    bodies = Counter(m["body"] for m in of_type(receiver, "message"))
    # The status, the notifications, the call log and the ciphertext placeholders are not
    # messages; the late one is published once, when it decrypted.
    assert bodies == Counter(["a chat message", "decrypted late", "sentinel"]), bodies
    assert {m["type"] for m in of_type(receiver, "message")} == {"chat"}
    assert sentinel["id"] not in {m["id"] for m in of_type(receiver, "message.undecryptable")}

    [post] = of_type(receiver, "status.posted")
    assert post["body"] == "at the beach" and post["chatId"] == "status@broadcast"
    assert post["author"] == f"{P['ana']}@c.us" and status["id"] in post["id"]

    notes = of_type(receiver, "group.notification")
    added = [n for n in notes if n["subtype"] == "add"]
    assert len(added) == 1 and added[0]["chatId"] == group["id"]
    assert added[0]["participants"] == [f"{P['cici']}@c.us"]
    assert added[0]["author"] == f"{P['budi']}@c.us"

    [decrypted] = [m for m in of_type(receiver, "message") if m["body"] == "decrypted late"]
    assert late["id"] in decrypted["id"]  # the placeholder's id, published once decrypted
    [undecryptable] = of_type(receiver, "message.undecryptable")
    assert never["id"] in undecryptable["id"] and undecryptable["chatId"] == f"{P['ana']}@c.us"

    [edited] = of_type(receiver, "message.edited")
    assert edited["body"] == "a chat message, edited" and chat["id"] in edited["id"]

    [rang] = of_type(receiver, "call.received")
    assert rang["id"] == call["id"] and rang["from"] == f"{P['ana']}@c.us"
    assert rang["isVideo"] is False
    # Not rejected (rejectCalls is off): it rang out.
    assert requests.get(f"{sandbox.url}/_sandbox/calls/{call['id']}",
                        timeout=5).json()["rejectedBy"] is None


def test_other_peoples_status_posts_are_not_synced_by_default(make_gateway, sandbox, receiver):
    befriend(sandbox, "nostatus", "poster")
    gw = make_gateway(WEBHOOK_URL=receiver.url)
    gw.link(sandbox, "nostatus", P["nostatus"])
    sandbox.post(f"/_sandbox/phones/{P['poster']}/status", text="not for you")
    send(sandbox, "poster", "nostatus", "after the status")
    wait_for(lambda: of_type(receiver, "message"), timeout=60, message="the chat message")
    assert [m["body"] for m in of_type(receiver, "message")] == ["after the status"]
    assert of_type(receiver, "status.posted") == []


def test_reject_calls_rejects_at_once_and_the_caller_gets_the_reply(
        make_gateway, sandbox, receiver):
    sandbox.phone(P["caller"], "Caller")
    gw = make_gateway(WEBHOOK_URL=receiver.url, SEND_MIN_INTERVAL=0.2, SEND_JITTER=0.0)
    created = gw.client.post("/sessions", json={"id": "callee", "rejectCalls": True,
                                                "callReply": "I cannot take calls, write me"})
    assert created.status_code == 201, created.json
    assert created.json["rejectCalls"] is True
    gw.link(sandbox, "callee", P["callee"])

    call = sandbox.post("/_sandbox/calls", **{"from": P["caller"], "to": P["callee"],
                                              "ringSeconds": 60})
    ended = wait_for(lambda: (c := requests.get(f"{sandbox.url}/_sandbox/calls/{call['id']}",
                                                timeout=5).json())["state"] != "ringing" and c,
                     timeout=30, message="the call stopped ringing")
    assert ended["state"] == "rejected" and ended["rejectedBy"]  # by the linked device
    reply = wait_for(lambda: [m for m in sandbox.inbox(P["caller"])
                              if m["from"] == P["callee"] and m["type"] == "chat"],
                     timeout=30, message="the reply in the caller's inbox")
    assert [m["text"] for m in reply] == ["I cannot take calls, write me"]
    wait_for(lambda: of_type(receiver, "call.received"), timeout=30, message="call.received")
    assert [c["id"] for c in of_type(receiver, "call.received")] == [call["id"]]
    assert gw.session("callee")["callReply"] == "I cannot take calls, write me"


def test_a_bad_call_setting_is_a_validation_error(make_gateway):
    gw = make_gateway()
    for body in ({"rejectCalls": "sometimes"}, {"callReply": ""}, {"callReply": "x" * 4097}):
        bad = gw.client.post("/sessions", json={"id": "badcall", **body})
        assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error", body
        assert bad.json["error"]["details"]  # names the field
    assert gw.client.get("/sessions/badcall").status_code == 404


def test_messages_sent_while_the_gateway_was_stopped_arrive_once_in_order_per_chat(
        make_gateway, sandbox, receiver, tmp_path):
    befriend(sandbox, "gone", "one")
    befriend(sandbox, "gone", "two")
    data = tmp_path / "catchup"
    hooks = {"WEBHOOK_URL": receiver.url, "SYNC_ALL_STATUS": True}
    first = make_gateway(data_dir=data, **hooks)
    first.link(sandbox, "gone", P["gone"])
    send(sandbox, "one", "gone", "before")
    wait_for(lambda: of_type(receiver, "message"), timeout=60, message="the first message")
    first.engine.close()  # the gateway stops; the phones go on writing

    texts = {"one": [f"one-{i}" for i in range(5)], "two": [f"two-{i}" for i in range(5)]}
    for i in range(5):
        for who in ("one", "two"):
            send(sandbox, who, "gone", texts[who][i])
    sandbox.post(f"/_sandbox/phones/{P['one']}/status", text="a status while away")
    group = sandbox.post("/_sandbox/groups", name="Away", owner=P["two"],
                         participants=[P["gone"]])
    sandbox.post(f"/_sandbox/groups/{group['id']}/participants", add=[P["one"]])

    second = make_gateway(data_dir=data, **hooks)
    second.wait_status("gone", "CONNECTED")
    wanted = texts["one"] + texts["two"]
    wait_for(lambda: len([m for m in of_type(receiver, "message") if m["body"] in wanted]) >= 10,
             timeout=90, message="the ten messages")
    sentinel = send(sandbox, "one", "gone", "sentinel")  # everything before it is in by then
    wait_for(lambda: any(m["id"].endswith(sentinel["id"]) for m in of_type(receiver, "message")),
             timeout=60, message="the sentinel")

    messages = of_type(receiver, "message")
    counts = Counter(m["body"] for m in messages)
    assert counts == Counter(["before", *wanted, "sentinel"]), counts  # each once, nothing else
    for who in ("one", "two"):
        in_chat = [m["body"] for m in messages if m["chatId"] == f"{P[who]}@c.us"
                   and m["body"] in texts[who]]
        assert in_chat == texts[who]  # in order per chat
    assert all(m["type"] == "chat" for m in messages)
