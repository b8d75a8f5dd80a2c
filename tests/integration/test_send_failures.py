"""Sends WhatsApp refuses, number lookups that fail, and acks matched to what was sent.

WhatsApp Web resolves a refused send (sendMsgResult ERROR_NETWORK, ...; ack -1) instead of
rejecting it, answers null for a number lookup that errored, and rebuilds receipt keys from
the receipt: the sandbox does the same (docs/sandbox.md), and the gateway must see through it.
"""

import requests

from ..conftest import phones, wait_for

number = phones(__name__)

# The sandbox lives for the whole run: this module's phones are 62821… and 62822….
ALICE, BUDI, CITRA = number(1), number(2), number(3)
DEWI, EKO, FAJAR = number(4), number(5), number(6)
GITA, HADI, INDAH = number(1001), number(1002), number(1003)
JOKO, KIKI, LUKI = number(7), number(8), number(9)  # each test has phones of its own
NOBODY = number(9999999)


def statuses(receiver, queue_id):
    return [e["data"] for e in receiver.delivered()
            if e["type"] == "message.status" and e["data"]["id"] == queue_id]


def test_a_send_refused_with_error_network_is_tried_again_and_delivered_once(make_gateway,
                                                                             sandbox, receiver):
    gateway = make_gateway(SEND_RETRY_DELAY=0.3)
    sandbox.phone(BUDI, "Budi")
    gateway.client.post("/sessions", json={
        "id": "retry", "webhook": {"url": receiver.url, "events": ["message.status"]}})
    gateway.link(sandbox, "retry", ALICE)
    sandbox.post(f"/_sandbox/phones/{ALICE}/send-failures", count=2, result="ERROR_NETWORK")
    first = gateway.client.post("/sessions/retry/messages", json={"to": BUDI, "text": "once"})
    assert first.status_code in (201, 202), first.json
    queue_id = first.json.get("queueId") or first.json["id"]
    wait_for(lambda: any(s["status"] == "sent" for s in statuses(receiver, queue_id)),
             timeout=30, message="sent after the refused attempts")
    row = gateway.client.get(f"/sessions/retry/messages/{queue_id}").json
    assert row["status"] == "sent" and row["attempts"] == 3 and row["ack"] in (
        "sent", "delivered", "read")
    assert [m["text"] for m in sandbox.inbox(BUDI)] == ["once"]  # exactly once
    retried = [s for s in statuses(receiver, queue_id) if s["status"] == "queued"]
    assert retried and retried[0]["reason"] == "ERROR_NETWORK"


def test_a_send_refused_for_good_fails_with_its_reason(gateway, sandbox, receiver):
    sandbox.phone(CITRA, "Citra")
    gateway.client.post("/sessions", json={
        "id": "refused", "webhook": {"url": receiver.url, "events": ["message.status"]}})
    gateway.link(sandbox, "refused", DEWI)
    sandbox.post(f"/_sandbox/phones/{DEWI}/send-failures", count=1, result="ERROR_UNKNOWN")
    resp = gateway.client.post("/sessions/refused/messages/location", json={
        "to": CITRA, "latitude": -6.2, "longitude": 106.8, "name": "Monas"})
    assert resp.status_code == 502, resp.json
    assert resp.json["error"]["code"] == "send_failed"
    assert resp.json["error"]["details"]["waCode"] == "send_error_unknown"
    wait_for(lambda: statuses(receiver, _only_queue_id(gateway, "refused")),
             timeout=20, message="message.status failed")
    event = statuses(receiver, _only_queue_id(gateway, "refused"))[-1]
    assert event["status"] == "failed" and event["reason"] == "ERROR_UNKNOWN"
    assert event["ack"] == "failed" and event["message"] is None and event["attempts"] == 1
    assert sandbox.inbox(CITRA) == []
    # the next send goes through: one failure was asked for
    ok = gateway.client.post("/sessions/refused/messages", json={"to": CITRA, "text": "now"})
    assert ok.status_code == 201 and ok.json["body"] == "now"


def _only_queue_id(gateway, sid):
    store = gateway.engine.outgoing.store
    rows = store.execute("SELECT id FROM outgoing WHERE session = ? ORDER BY seq", (sid,))
    return rows[0]["id"]


def test_a_number_lookup_that_errors_is_retried_then_503_and_a_real_no_is_422(gateway, sandbox):
    sandbox.phone(EKO, "Eko")
    gateway.link(sandbox, "lookup", FAJAR)
    # One failure: contact.queryExists answers null, WhatsApp's own lookup fails once, the retry
    # answers: the number is on WhatsApp.
    sandbox.post(f"/_sandbox/phones/{FAJAR}/query-failures", count=2)
    found = gateway.client.get(f"/sessions/lookup/contacts/{EKO}/exists")
    assert found.status_code == 200 and found.json["exists"] is True, found.json
    # Failing for good: 503 whatsapp_unavailable with Retry-After, never "not on WhatsApp".
    sandbox.post(f"/_sandbox/phones/{FAJAR}/query-failures", count=50)
    down = gateway.client.get(f"/sessions/lookup/contacts/{LUKI}/exists")
    assert down.status_code == 503, down.json
    assert down.json["error"]["code"] == "whatsapp_unavailable"
    assert int(down.headers["Retry-After"]) > 0
    unknown = gateway.client.get(f"/sessions/lookup/contacts/{LUKI}")  # not in the address book
    assert unknown.status_code == 503, unknown.json  # unknown, not 404 "not on WhatsApp"
    assert unknown.json["error"]["code"] == "whatsapp_unavailable"
    sandbox.post(f"/_sandbox/phones/{FAJAR}/query-failures", count=0)
    absent = gateway.client.get(f"/sessions/lookup/contacts/{NOBODY}/exists")
    assert absent.status_code == 200 and absent.json["exists"] is False
    assert gateway.client.get(f"/sessions/lookup/contacts/{NOBODY}").status_code == 404
    refused = gateway.client.post("/sessions/lookup/messages", json={"to": NOBODY, "text": "x"})
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "recipient_not_on_whatsapp"


def test_group_receipts_are_matched_per_member_and_shown_on_the_send(gateway, sandbox,
                                                                     receiver):
    for phone, name in ((HADI, "Hadi"), (INDAH, "Indah")):
        sandbox.phone(phone, name)
    gateway.client.post("/sessions", json={
        "id": "grp", "webhook": {"url": receiver.url, "events": ["message.ack"]}})
    gateway.link(sandbox, "grp", GITA)
    group = sandbox.post("/_sandbox/groups", name="Receipts", owner=GITA,
                         participants=[HADI, INDAH])
    gid = group["id"]
    wait_for(lambda: any(g["id"] == gid for g in gateway.client.get(
        "/sessions/grp/groups?refresh=true").json["data"]), timeout=20, message="group synced")
    sent = gateway.client.post("/sessions/grp/messages", json={"to": gid, "text": "all read?"})
    assert sent.status_code == 201, sent.json
    mid = sent.json["id"]
    assert mid.startswith(f"true_{gid}_") and mid.endswith("@lid")  # our key names us
    for member in (HADI, INDAH):
        assert sandbox.read(member, gid)["read"] == [mid.split("_")[2]]

    def receipts():
        return gateway.client.get(f"/sessions/grp/messages/{mid}").json.get("receipts") or []

    wait_for(lambda: [r["ack"] for r in receipts()] == ["read", "read"], timeout=20,
             message="both members read it")
    assert [r["participant"] for r in receipts()] == [f"{HADI}@c.us", f"{INDAH}@c.us"]
    # The page's receipt keys name the reader, not us: the events carry the id we returned.
    # The webhooks go out after the receipts are stored, so wait for them, not the store.
    expected = {(mid, "read", f"{HADI}@c.us"), (mid, "read", f"{INDAH}@c.us"),
                (mid, "delivered", f"{HADI}@c.us"), (mid, "delivered", f"{INDAH}@c.us")}

    def acked():
        return {(e["data"]["id"], e["data"]["ack"], e["data"]["by"])
                for e in receiver.delivered() if e["type"] == "message.ack"}

    wait_for(lambda: acked() >= expected, timeout=20, message="a webhook for each receipt")
    assert {a for a in acked() if a[0] != mid} == set()


def test_one_to_one_receipts_from_the_lid_are_published_with_the_sent_id(gateway, sandbox,
                                                                          receiver):
    sandbox.phone(JOKO, "Joko")
    gateway.client.post("/sessions", json={
        "id": "lidack", "webhook": {"url": receiver.url, "events": ["message.ack"]}})
    gateway.link(sandbox, "lidack", KIKI)
    sent = gateway.client.post("/sessions/lidack/messages", json={"to": JOKO, "text": "tick"})
    assert sent.status_code == 201
    mid = sent.json["id"]
    assert mid.startswith(f"true_{JOKO}@c.us_")
    sandbox.read(JOKO, KIKI)  # Joko opens the chat: delivered, then read
    wait_for(lambda: "read" in [e["data"]["ack"] for e in receiver.delivered()
                                if e["data"]["id"] == mid], timeout=20, message="read ack")
    acks = [e["data"] for e in receiver.delivered() if e["data"]["id"] == mid]
    assert [a["ack"] for a in acks] == ["sent", "delivered", "read"]
    lid = requests.get(f"{sandbox.url}/_sandbox/phones/{JOKO}", timeout=10).json()["lid"]
    assert {a["chatId"] for a in acks[1:]} == {lid}  # the receipt came from Joko's LID
    assert all(not a["id"].startswith(f"true_{lid}") for a in acks)
