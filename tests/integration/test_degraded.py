"""Connected but dead (docs/sessions.md, "Bad days"), on real Chromium and the sandbox.

The sandbox's silent mode keeps a linked device's socket looking open (stream MAIN, no error)
while nothing flows: a send gets no server answer and waits at pending, nothing arrives. The
gateway notices (a send stuck at pending), shows DEGRADED and climbs its ladder: a page reload,
a browser relaunch, an alert. When the socket speaks again, the session recovers and the sends
it held or lost track of go out exactly once.
"""

from __future__ import annotations

from collections import Counter

from ..conftest import phones, wait_for

number = phones(__name__)
ME, PEER = number(1), number(2)
# Short thresholds: a send waits 4 s in the page (COMMAND_TIMEOUT 5), is stuck after 2.
FAST = {"COMMAND_TIMEOUT": 5.0, "DEGRADED_ACK_TIMEOUT": 2.0, "DEGRADED_STEP_AFTER": 3.0}


def events(receiver, kind: str) -> list[dict]:
    return [e["data"] for e in receiver.delivered() if e["type"] == kind]


def steps(receiver) -> list[str]:
    return [d["step"] for d in events(receiver, "session.degraded")]


def test_a_connected_but_dead_session_reloads_relaunches_alerts_and_recovers(
        make_gateway, sandbox, receiver):
    sandbox.phone(PEER, "Dewi")
    gw = make_gateway(WEBHOOK_URL=receiver.url, **FAST)
    gw.link(sandbox, "dead", ME)
    pid = gw.session("dead")["browser"]["pid"]
    sandbox.post(f"/_sandbox/phones/{ME}/silent", silent=True)

    first = gw.client.post("/sessions/dead/messages", json={"to": PEER, "text": "first"})
    assert first.status_code == 202, first.json  # no server ack: its outcome is not known yet
    wait_for(lambda: steps(receiver) == ["reload"], timeout=60, message="the reload step")
    session = gw.session("dead")
    assert session["status"] == "CONNECTED" and session["detail"] == "DEGRADED"
    assert session["statusDetails"]["reason"] == "acks_pending"
    assert session["degraded"]["step"] == "reload"
    health = gw.client.get("/health").json
    assert health["status"] == "ok" and health["degraded"]["dead"]["reason"] == "acks_pending"
    assert gw.session("dead")["browser"]["pid"] == pid  # a reload keeps the browser

    held = gw.client.post("/sessions/dead/messages", json={"to": PEER, "text": "held"})
    assert held.status_code == 202 and held.json["status"] == "queued"  # held, not waited on
    wait_for(lambda: steps(receiver) == ["reload", "relaunch"], timeout=90,
             message="the relaunch step, silent still on")
    relaunched = wait_for(lambda: (s := gw.session("dead"))["status"] == "CONNECTED"
                          and s["browser"] and s["browser"]["pid"] != pid and s, timeout=90,
                          message="CONNECTED in a new browser")
    assert relaunched["detail"] == "DEGRADED" and relaunched["restarts"] >= 1
    wait_for(lambda: steps(receiver) == ["reload", "relaunch", "alert"], timeout=90,
             message="the alert step")
    assert gw.session("dead")["detail"] == "DEGRADED"  # the top of the ladder: it stays so
    assert not events(receiver, "session.recovered")

    sandbox.post(f"/_sandbox/phones/{ME}/silent", silent=False)
    recovered = wait_for(lambda: events(receiver, "session.recovered"), timeout=60,
                         message="session.recovered")
    assert recovered[0]["reason"] == "acks_pending"
    assert recovered[0]["steps"] == ["reload", "relaunch", "alert"]
    wait_for(lambda: gw.session("dead")["detail"] is None, timeout=30, message="no detail")
    ids = {first.json["id"], held.json["id"]}
    wait_for(lambda: {d["id"] for d in events(receiver, "message.status")
                      if d["status"] == "sent"} >= ids, timeout=90, message="both sends sent")
    assert Counter(m["text"] for m in sandbox.inbox(PEER)) == Counter(["first", "held"])
    sent = [d["id"] for d in events(receiver, "message.status") if d["status"] == "sent"]
    assert Counter(sent) == Counter(ids)  # each resolved once
    assert gw.client.get("/health").json.get("degraded") is None
