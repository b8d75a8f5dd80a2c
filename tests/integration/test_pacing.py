"""Send pacing end to end: bulk sends through the pacer, idempotent retries, restart survival."""


from ..conftest import phones, wait_for

number = phones(__name__)

# The sandbox lives for the whole run: each test talks to phones of its own.
ALICE, BUDI, CITRA = number(1), number(2), number(3)
DEWI, EKO, FAJAR = number(4), number(5), number(6)


def texts_at(sandbox, phone):
    return [m["text"] for m in sandbox.inbox(phone)]


def test_bulk_sends_go_through_the_pacer_in_order_and_report_their_status(gateway, sandbox,
                                                                          receiver):
    sandbox.phone(BUDI, "Budi")
    sandbox.phone(CITRA, "Citra")
    gateway.client.post("/sessions", json={
        "id": "bulk", "pacing": {"minInterval": 0.3, "jitter": 0.1, "typing": True},
        "webhook": {"url": receiver.url, "events": ["message.status"]}})
    gateway.link(sandbox, "bulk", ALICE)
    assert gateway.client.get("/sessions/bulk/pacing").json["minInterval"] == 0.3
    messages = [{"to": BUDI if i % 2 else CITRA, "text": f"bulk {i}"} for i in range(6)]
    messages.append({"to": "6289999999999", "text": "nobody"})
    resp = gateway.client.post("/sessions/bulk/messages/bulk", json={"messages": messages})
    assert resp.status_code == 202
    queued = resp.json["data"]
    assert [q["status"] for q in queued] == ["queued"] * 7
    wait_for(lambda: len(receiver.delivered()) == 7, timeout=30, message="7 message.status")
    final = {e["data"]["id"]: e["data"] for e in receiver.delivered()}
    assert [final[q["id"]]["status"] for q in queued] == ["sent"] * 6 + ["failed"]
    assert final[queued[-1]["id"]]["error"]["code"] == "recipient_not_on_whatsapp"
    assert texts_at(sandbox, BUDI) == ["bulk 1", "bulk 3", "bulk 5"]
    assert texts_at(sandbox, CITRA) == ["bulk 0", "bulk 2", "bulk 4"]
    one = gateway.client.get(f"/sessions/bulk/messages/{queued[0]['id']}").json
    assert one["status"] == "sent" and one["message"]["body"] == "bulk 0"
    by_wa_id = gateway.client.get(f"/sessions/bulk/messages/{one['message']['id']}").json
    assert by_wa_id["id"] == queued[0]["id"]
    assert gateway.client.get("/sessions/bulk/messages/out_nope").status_code == 404


def test_a_retried_post_with_the_same_idempotency_key_sends_once(gateway, sandbox):
    sandbox.phone(DEWI, "Dewi")
    gateway.link(sandbox, "idem", ALICE)
    headers = {"Idempotency-Key": "order-42-confirmation"}
    body = {"to": DEWI, "text": "Order 42 confirmed"}
    first = gateway.client.post("/sessions/idem/messages", json=body, headers=headers)
    again = gateway.client.post("/sessions/idem/messages", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"]
    wait_for(lambda: texts_at(sandbox, DEWI))
    assert texts_at(sandbox, DEWI) == ["Order 42 confirmed"]
    bad = gateway.client.post("/sessions/idem/messages", json=body,
                              headers={"Idempotency-Key": "x" * 200})
    assert bad.status_code == 422


def test_the_daily_cap_is_reported_as_429_with_retry_after(gateway, sandbox):
    sandbox.phone(EKO, "Eko")
    gateway.link(sandbox, "cap", ALICE)
    assert gateway.client.put("/sessions/cap/pacing", json={"dailyCap": 2}).status_code == 200
    for i in range(2):
        assert gateway.client.post("/sessions/cap/messages",
                                   json={"to": EKO, "text": f"c{i}"}).status_code == 201
    resp = gateway.client.post("/sessions/cap/messages", json={"to": EKO, "text": "c2"})
    assert resp.status_code == 429 and resp.json["error"]["code"] == "too_many_requests"
    assert 0 < int(resp.headers["Retry-After"]) <= 86401
    assert texts_at(sandbox, EKO) == ["c0", "c1"]


def test_queued_sends_survive_a_gateway_restart_and_are_sent_once(make_gateway, sandbox):
    sandbox.phone(FAJAR, "Fajar")
    first = make_gateway()
    first.client.post("/sessions", json={"id": "durable", "pacing": {"minInterval": 1.5,
                                                                      "jitter": 0}})
    first.link(sandbox, "durable", ALICE)
    resp = first.client.post("/sessions/durable/messages/bulk", json={
        "messages": [{"to": FAJAR, "text": f"d{i}"} for i in range(3)]})
    ids = [q["id"] for q in resp.json["data"]]
    wait_for(lambda: texts_at(sandbox, FAJAR) == ["d0"], message="the first send")
    first.engine.close()  # d1 and d2 are still waiting for their pacing slot
    assert texts_at(sandbox, FAJAR) == ["d0"]
    second = make_gateway()
    wait_for(lambda: len(texts_at(sandbox, FAJAR)) == 3, timeout=30, message="the rest")
    assert texts_at(sandbox, FAJAR) == ["d0", "d1", "d2"]
    # The phone has it a moment before the gateway records the page's answer.
    wait_for(lambda: [second.client.get(f"/sessions/durable/messages/{i}").json["status"]
                      for i in ids] == ["sent"] * 3, message="every send recorded as sent")
    assert texts_at(sandbox, FAJAR) == ["d0", "d1", "d2"]  # and none went out twice
