"""Reach-out limits on real Chromium and the sandbox (docs/sessions.md, "Bad days"): WhatsApp's
timelock after too many first messages to new contacts, the gateway's own cold-contact budget,
and number lookups kept within a rate.

Cold sends a limit holds stay queued (`status: "held"`, `heldReason`), never failed; replies to
existing chats keep going out. The sandbox's timelocks last seconds (timelockSeconds), so held
sends go out within the test, which waits for that condition, never for a fixed time.
"""

from __future__ import annotations

import json

import pytest
import requests

from ..conftest import phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID = "reach"
ME = number(1)  # the session's phone
FRIEND = number(2)  # wrote first: sends to her are replies
NEW = [number(n) for n in range(10, 20)]  # people the session never talked with


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    box.phone(ME, "Me")
    box.phone(FRIEND, "Friend")
    for i, phone in enumerate(NEW):
        box.phone(phone, f"New {i}")
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("reach"), SID, ME,
                        EXISTS_PER_MINUTE=3) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def friend_chat(gw, sandbox):
    sandbox.post("/_sandbox/messages", **{"from": FRIEND, "to": ME, "text": "halo, ini teman"})
    wait_for(lambda: events(gw, "message", lambda d: d["body"] == "halo, ini teman"),
             timeout=30, message="the friend's message")


def reach_out(sandbox, **limits) -> dict:
    return sandbox.post(f"/_sandbox/phones/{ME}/reach-out", **limits)


def events(gw, kind: str, match=lambda d: True) -> list[dict]:
    rows = gw.engine.events.outbox.since(SID, 0, limit=5000)
    bodies = [json.loads(r["body"]) for r in rows if r["type"] == kind]
    return [b["data"] for b in bodies if match(b["data"])]


def send(gw, to: str, text: str):
    return gw.client.post(f"/sessions/{SID}/messages", json={"to": to, "text": text})


def at_network(sandbox, text: str) -> list[dict]:
    resp = requests.get(f"{sandbox.url}/_sandbox/messages", params={"from": ME}, timeout=10)
    return [m for m in resp.json()["data"] if m["text"] == text]


def status_of(gw, queue_id: str) -> dict:
    return gw.client.get(f"/sessions/{SID}/messages/{queue_id}").json


def test_a_timelock_holds_cold_sends_while_replies_go_out_and_releases_them_at_its_end(
        gw, sandbox, friend_chat):
    first, second, third = NEW[0], NEW[1], NEW[2]
    # the budget counts from here, whatever first messages this module's other tests sent
    refused_before = reach_out(sandbox, newContacts=None, until=None)["refused"]
    reach_out(sandbox, newContacts=1, timelockSeconds=8)
    assert send(gw, first, "perkenalkan, kami toko A").status_code == 201  # the budget's one

    refused = send(gw, second, "perkenalkan juga")
    assert refused.status_code == 202, refused.json  # held, not failed
    assert refused.json["status"] == "held" and refused.json["heldReason"] == "reachout_timelock"
    assert refused.json["heldUntil"]
    restricted = wait_for(lambda: events(gw, "session.restricted"), timeout=10,
                          message="session.restricted")[0]
    assert restricted["reason"] == "reachout_timelock" and restricted["until"]
    session = gw.session(SID)
    assert session["status"] == "CONNECTED" and session["detail"] == "RESTRICTED"
    assert session["until"] == restricted["until"]
    held_event = wait_for(lambda: events(gw, "message.status",
                                         lambda d: d["id"] == refused.json["id"]),
                          timeout=10, message="the held send's message.status")[-1]
    assert held_event["status"] == "held" and held_event["heldReason"] == "reachout_timelock"
    health = gw.client.get("/health").json
    assert health["restricted"][SID]["until"] == restricted["until"]

    # WhatsApp keeps its timelock; the budget that caused it no longer matters for this test.
    reach_out(sandbox, newContacts=None)
    reply = send(gw, FRIEND, "tentu, kami buka jam 9")
    assert reply.status_code == 201, reply.json  # replies go on during the timelock
    assert at_network(sandbox, "tentu, kami buka jam 9")

    held = send(gw, third, "promo untuk anda")
    assert held.status_code == 202 and held.json["status"] == "held"
    refusals = requests.get(f"{sandbox.url}/_sandbox/phones/{ME}/reach-out", timeout=10).json()
    assert refusals["refused"] == refused_before + 1  # the held send was never tried then

    for queued, text in ((refused.json, "perkenalkan juga"), (held.json, "promo untuk anda")):
        wait_for(lambda q=queued: status_of(gw, q["id"])["status"] == "sent", timeout=60,
                 message=f"{text!r} sent after the timelock")
        assert len(at_network(sandbox, text)) == 1
    assert not any(e["status"] == "failed" for e in events(gw, "message.status"))
    assert gw.session(SID)["detail"] is None and "restricted" not in gw.client.get("/health").json


def test_the_sessions_own_cold_budget_holds_new_contacts_until_it_is_raised(
        gw, sandbox, friend_chat):
    reach_out(sandbox, newContacts=None, until=None)
    # first messages this module's other tests sent within the hour count too
    used = gw.engine.store.execute("SELECT COUNT(*) AS n FROM outgoing WHERE session = ?"
                                   " AND cold = 1 AND status = 'sent'", (SID,))[0]["n"]
    resp = gw.client.put(f"/sessions/{SID}/pacing", json={"coldPerHour": used + 1})
    assert resp.status_code == 200 and resp.json["coldPerHour"] == used + 1
    assert send(gw, NEW[3], "halo dari budget").status_code == 201
    over = send(gw, NEW[4], "yang ini ditahan")
    assert over.status_code == 202 and over.json["status"] == "held"
    assert over.json["heldReason"] == "cold_contact_budget"
    assert send(gw, FRIEND, "balasan tetap jalan").status_code == 201
    assert not at_network(sandbox, "yang ini ditahan")
    assert gw.session(SID)["detail"] is None  # the gateway's own limit: no WhatsApp restriction

    gw.client.put(f"/sessions/{SID}/pacing", json={"coldPerHour": 0})
    wait_for(lambda: status_of(gw, over.json["id"])["status"] == "sent", timeout=30,
             message="the held send, once the budget allows it")
    assert len(at_network(sandbox, "yang ini ditahan")) == 1


def test_lookups_are_cached_and_kept_within_the_rate(gw, sandbox):
    ask = [NEW[5], NEW[6], NEW[7], NEW[8]]
    for phone in ask[:3]:
        resp = gw.client.get(f"/sessions/{SID}/contacts/{phone}/exists")
        assert resp.status_code == 200 and resp.json["exists"] is True
    again = gw.client.get(f"/sessions/{SID}/contacts/{ask[0]}/exists")
    assert again.status_code == 200 and again.json["id"] == f"{ask[0]}@c.us"  # kept answer
    over = gw.client.get(f"/sessions/{SID}/contacts/{ask[3]}/exists")
    assert over.status_code == 429 and over.json["error"]["code"] == "too_many_requests"
    assert int(over.headers["Retry-After"]) >= 1
