"""Stream modes: a session that is connected only in name says so, and never hangs.

HTTP → real Chromium → the sandbox page, whose devices the control API puts in the stream modes
of wa-js 4.6.0 (`conn.getStreamData().mode`): CONFLICT, OFFLINE, SYNCING/RESUMING,
DEPRECATED_VERSION, TOS_BLOCK, PROXYBLOCK. A device that is not in MAIN neither receives nor
sends (the page keeps a send waiting, as WhatsApp Web does), so a gateway that ignored the mode
would hang every send until COMMAND_TIMEOUT.
"""

from __future__ import annotations

import json
import threading

import pytest
import requests

from waengine import create_app
from waengine.engine.outgoing import Sender

from ..conftest import phones, wait_for
from .conftest import Gateway, Sandbox, assert_no_browsers, linked_gateway

number = phones(__name__)

SID = "stream"
ALICE = number(1)  # the session's phone
BUDI = number(2)


@pytest.fixture(scope="module")
def sandbox(sandbox_url) -> Sandbox:
    box = Sandbox(sandbox_url)
    box.phone(BUDI, "Budi")
    box.phone(ALICE, "Alice", contacts=[{"phone": BUDI, "name": "Budi"}])
    return box


@pytest.fixture(scope="module")
def gw(sandbox, tmp_path_factory):
    with linked_gateway(sandbox, tmp_path_factory.mktemp("stream"), SID, ALICE) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def back_to_main(request, sandbox):
    yield
    if "gw" in request.fixturenames:  # the module's session: leave it in MAIN for the next test
        sandbox.post(f"/_sandbox/phones/{ALICE}/mode", mode="MAIN")
        request.getfixturevalue("gw").wait_status(SID, "CONNECTED")


def mode(sandbox, phone: str, name: str) -> dict:
    return sandbox.post(f"/_sandbox/phones/{phone}/mode", mode=name)


def statuses(gw, sid: str) -> list[dict]:
    rows = gw.engine.events.outbox.since(sid, 0, limit=5000)
    return [json.loads(r["body"])["data"] for r in rows if r["type"] == "session.status"]


def texts_to(sandbox, phone: str) -> list[str]:
    return [m["text"] for m in sandbox.inbox(phone)]


@pytest.fixture
def sender_steps(monkeypatch):
    """The session ids whose sender finished a look at its queue (outgoing.Sender._step), in
    order: a test waits for the sender to have held a send, not for a guessed time."""
    steps = []
    original = Sender._step

    def counted(self):
        try:
            return original(self)
        finally:
            steps.append(self.session.id)

    monkeypatch.setattr(Sender, "_step", counted)
    return steps


def held_twice(steps: list, sid: str = SID) -> None:
    """Return once sid's sender has looked at its queue twice more (a look that began after the
    caller's send has finished, with the send still queued)."""
    seen = steps.count(sid)
    wait_for(lambda: steps.count(sid) >= seen + 2, timeout=30, message="the sender held the send")


def send(gw, sid: str, to: str, text: str):
    return gw.client.post(f"/sessions/{sid}/messages", json={"to": to, "text": text})


def test_offline_is_connected_with_a_detail_and_sends_wait_for_the_stream(gw, sandbox,
                                                                           sender_steps):
    mode(sandbox, ALICE, "OFFLINE")
    session = wait_for(lambda: (s := gw.session(SID))["detail"] == "OFFLINE" and s,
                       message="detail OFFLINE")
    assert session["status"] == "CONNECTED"
    resp = send(gw, SID, BUDI, "sent while offline")
    assert resp.status_code == 202, resp.json  # queued at once, not held for COMMAND_TIMEOUT
    queued = resp.json
    assert queued["status"] == "queued"
    held_twice(sender_steps)  # it would have sent it by now if it ignored the stream
    assert "sent while offline" not in texts_to(sandbox, BUDI)
    mode(sandbox, ALICE, "MAIN")
    wait_for(lambda: "sent while offline" in texts_to(sandbox, BUDI), message="delivered")
    row = wait_for(lambda: (r := gw.client.get(f"/sessions/{SID}/messages/{queued['id']}").json)
                   ["status"] == "sent" and r, message="send recorded")
    assert row["status"] == "sent"
    assert gw.session(SID)["detail"] is None
    changes = [(e["status"], e.get("detail", "-")) for e in statuses(gw, SID)]
    assert ("CONNECTED", "OFFLINE") in changes and ("CONNECTED", None) in changes


def test_syncing_and_resuming_are_details_of_connected(gw, sandbox):
    for name in ("SYNCING", "RESUMING"):
        mode(sandbox, ALICE, name)
        session = wait_for(lambda n=name: (s := gw.session(SID))["detail"] == n and s,
                           message=f"detail {name}")
        assert session["status"] == "CONNECTED"
    mode(sandbox, ALICE, "MAIN")
    wait_for(lambda: gw.session(SID)["detail"] is None, message="back in MAIN")


def test_a_socket_reconnecting_under_main_holds_sends_until_it_is_back(gw, sandbox):
    # WhatsApp keeps the mode MAIN through a short reconnect; only the StreamInfo says nothing
    # flows. A send made then waits in the queue, not in the page until COMMAND_TIMEOUT.
    mode(sandbox, ALICE, "CONNECTING")
    session = wait_for(lambda: (s := gw.session(SID))["detail"] == "CONNECTING" and s,
                       message="detail CONNECTING")
    assert session["status"] == "CONNECTED"
    resp = send(gw, SID, BUDI, "sent while reconnecting")
    assert resp.status_code == 202 and resp.json["status"] == "queued", resp.json
    mode(sandbox, ALICE, "MAIN")
    row = wait_for(lambda: (r := gw.client.get(f"/sessions/{SID}/messages/{resp.json['id']}").json)
                   ["status"] == "sent" and r, message="sent once the socket is back")
    assert row["status"] == "sent"
    assert texts_to(sandbox, BUDI).count("sent while reconnecting") == 1


def test_update_available_keeps_a_healthy_session_connected(gw, sandbox):
    # conn.needsUpdate() is WhatsApp's own "update available" flag: the socket keeps working.
    sandbox.post(f"/_sandbox/phones/{ALICE}/mode", mode="MAIN", needsUpdate=True)
    sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "ada pembaruan"})
    rows = lambda: gw.engine.events.outbox.since(SID, 0, limit=5000)  # noqa: E731
    wait_for(lambda: any(r["type"] == "message" and "ada pembaruan" in r["body"] for r in rows()),
             message="the message that came with the flag")
    resp = send(gw, SID, BUDI, "masih jalan")
    assert resp.status_code == 201, resp.json
    assert gw.session(SID)["status"] == "CONNECTED"
    assert all(e["status"] != "FAILED" for e in statuses(gw, SID))


def test_conflict_answers_409_at_once_and_a_takeover_sends_what_was_queued(gw, sandbox,
                                                                             sender_steps):
    mode(sandbox, ALICE, "OFFLINE")
    wait_for(lambda: gw.session(SID)["detail"] == "OFFLINE", message="offline")
    queued = send(gw, SID, BUDI, "queued before the conflict")
    assert queued.status_code == 202, queued.json
    mode(sandbox, ALICE, "CONFLICT")
    session = gw.wait_status(SID, "CONFLICT")
    assert session["detail"] is None

    refused = send(gw, SID, BUDI, "sent in conflict")
    assert refused.status_code == 409  # refused at once: a wait would end in a timeout error
    assert refused.json["error"]["code"] == "session_not_ready"
    assert refused.json["error"]["details"]["status"] == "CONFLICT"
    held_twice(sender_steps)
    assert "queued before the conflict" not in texts_to(sandbox, BUDI)

    resp = gw.client.post(f"/sessions/{SID}/takeover")
    assert resp.status_code == 202, resp.json
    gw.wait_status(SID, "CONNECTED")
    wait_for(lambda: "queued before the conflict" in texts_to(sandbox, BUDI),
             message="the queued send went out after the takeover")
    assert "sent in conflict" not in texts_to(sandbox, BUDI)
    assert send(gw, SID, BUDI, "after the takeover").status_code == 201
    assert [e["status"] for e in statuses(gw, SID)][-2:] == ["CONFLICT", "CONNECTED"]


def test_takeover_of_a_session_not_in_conflict_is_refused(gw):
    resp = gw.client.post(f"/sessions/{SID}/takeover")
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "session_not_ready"
    assert resp.json["error"]["details"]["status"] == "CONNECTED"
    assert gw.client.post("/sessions/nobody/takeover").status_code == 404


def test_sandbox_mode_control_rejects_what_it_does_not_know(sandbox):
    bad = requests.post(f"{sandbox.url}/_sandbox/phones/{BUDI}/mode", json={"mode": "NAPPING"},
                        timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_mode"
    unlinked = requests.post(f"{sandbox.url}/_sandbox/phones/{BUDI}/mode",
                             json={"mode": "OFFLINE"}, timeout=10)
    assert unlinked.status_code == 409 and unlinked.json()["error"]["code"] == "no_linked_device"


# ---- modes that end the session, and the automatic takeover: one session each ----

@pytest.mark.parametrize(("phone", "stream_mode", "reason"), [
    (number(11), "DEPRECATED_VERSION", "wa_update_required"),
    (number(12), "TOS_BLOCK", "banned"),
    (number(13), "PROXYBLOCK", "proxy_blocked"),
])
def test_blocking_modes_end_the_session_failed(make_gateway, sandbox_url, phone, stream_mode,
                                               reason):
    box = Sandbox(sandbox_url)
    box.phone(phone, "Blocked")
    gw = make_gateway()
    gw.link(box, "blocked", phone)
    mode(box, phone, stream_mode)
    session = gw.wait_status("blocked", "FAILED")
    assert session["statusReason"] == reason
    assert session["browser"] is None
    last = statuses(gw, "blocked")[-1]
    assert (last["status"], last["reason"]) == ("FAILED", reason)
    if reason == "wa_update_required":
        assert session["statusDetails"]["waJsVersion"] == "4.6.0"
        assert session["statusDetails"]["waVersion"]  # WhatsApp Web's build, to compare
        assert session["statusDetails"]["missing"] == []  # WhatsApp itself said so
        assert last["details"] == session["statusDetails"]
    assert send(gw, "blocked", number(2), "hi").status_code == 409


def test_takeover_on_conflict_takes_the_account_back_by_itself(make_gateway, sandbox_url):
    box = Sandbox(sandbox_url)
    phone = number(21)
    box.phone(phone, "Insistent")
    gw = make_gateway(TAKEOVER_ON_CONFLICT=True)
    gw.link(box, "insist", phone)
    mode(box, phone, "CONFLICT")
    wait_for(lambda: [e["status"] for e in statuses(gw, "insist")][-2:] == ["CONFLICT", "CONNECTED"],
             message="CONFLICT, then CONNECTED again without a request")
    assert gw.session("insist")["status"] == "CONNECTED"


# ---- the page's Content-Security-Policy ----

def test_the_sandbox_page_refuses_inline_scripts_while_the_gateway_works(gw, sandbox):
    csp = requests.get(sandbox.url + "/", timeout=10).headers["Content-Security-Policy"]
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert script_src == "script-src 'self'"  # no 'unsafe-inline', no eval, no other origin

    def inject_inline(bridge):
        # What a gateway that injects with a <script> element would do: CSP must refuse it.
        return bridge.driver.execute_async_script("""
            var done = arguments[arguments.length - 1], violations = [];
            document.addEventListener('securitypolicyviolation', function (e) {
              violations.push(e.violatedDirective);
            });
            var s = document.createElement('script');
            s.textContent = 'window.__inlineRan = true;';
            document.head.appendChild(s);
            setTimeout(function () {
              done({ran: window.__inlineRan === true, violations: violations,
                    bridge: !!window.__waengine, wpp: !!window.WPP});
            }, 200);
        """)

    seen = gw.engine.manager.get(SID).submit(inject_inline)
    assert seen["ran"] is False
    assert any(v.startswith("script-src") for v in seen["violations"])
    assert seen["bridge"] and seen["wpp"]  # the gateway's own script (DevTools) is in the page
    assert send(gw, SID, BUDI, "under a strict CSP").status_code == 201
    assert "under a strict CSP" in texts_to(sandbox, BUDI)


# ---- pairing codes: the managed flow of wa-js 4.6.0, codes that expire ----

@pytest.fixture
def short_codes_sandbox():
    """A sandbox of its own whose pairing codes live 1.5 s (the shared one keeps 180 s)."""
    from waengine import sandbox as sandbox_module

    server = sandbox_module.make_server("127.0.0.1", 0, link_code_ttl=1.5, qr_first_ttl=600.0,
                                        qr_ttl=600.0)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-codes", daemon=True)
    thread.start()
    yield Sandbox(f"http://127.0.0.1:{server.server_port}")
    server.shutdown()


def link_by_code(box: Sandbox, code: str, phone: str):
    return requests.post(f"{box.url}/_sandbox/link", json={"code": code, "phone": phone},
                         timeout=10)


@pytest.mark.browser  # its gateway is made in the test, not by a fixture
def test_pairing_codes_refresh_as_they_expire_then_the_flow_ends(short_codes_sandbox, tmp_path):
    box, phone = short_codes_sandbox, number(31)
    gw = Gateway(create_app({"ENV": "testing", "DATA_DIR": str(tmp_path / "data"),
                             "WA_URL": box.url + "/", "API_KEYS": []}))
    gw.engine.start()
    try:
        assert gw.client.post("/sessions", json={"id": "pair"}).status_code == 201
        gw.wait_status("pair", "SCAN_QR")
        first = gw.client.post("/sessions/pair/pairing-code", json={"phone": f"+{phone}"})
        assert first.status_code == 200, first.json
        first = first.json["code"]
        # WhatsApp expires the code: the page's managed flow gets a new one, the session shows it
        fresh = wait_for(lambda: (c := gw.client.get("/sessions/pair/pairing-code").json
                                  .get("code")) not in (None, first) and c,
                         message="a refreshed code")
        assert link_by_code(box, first, phone).status_code in (404, 410)  # the old one is dead
        codes = [e["code"] for e in events(gw, "pair", "pairing.code") if e["code"]]
        assert first in codes and fresh in codes
        # After five refreshes wa-js stops (conn.link_code_expired): no code in force any more
        ended = wait_for(lambda: [e for e in events(gw, "pair", "pairing.code") if e["expired"]],
                         timeout=30, message="the flow gave up")
        assert ended[-1]["code"] is None
        gone = gw.client.get("/sessions/pair/pairing-code")
        assert gone.status_code == 409 and gone.json["error"]["code"] == "session_not_ready"
        # A new request starts a new flow; its code links the phone
        again = gw.client.post("/sessions/pair/pairing-code", json={"phone": phone}).json["code"]
        assert link_by_code(box, again, phone).status_code == 200
        gw.wait_status("pair", "CONNECTED")
    finally:
        gw.engine.close()
        assert_no_browsers(tmp_path)


def events(gw, sid: str, type_: str) -> list[dict]:
    rows = gw.engine.events.outbox.since(sid, 0, limit=5000)
    return [json.loads(r["body"])["data"] for r in rows if r["type"] == type_]
