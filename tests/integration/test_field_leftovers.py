"""The field's odd corners on real Chromium and the sandbox (docs/sessions.md, "Bad days"): an
account in many groups still catches up after a crash, and a WhatsApp Web build without
WhatsApp's forward function answers a clear error."""

from __future__ import annotations

import os
import signal

from ..conftest import phones, wait_for
from .test_field_days import STOP_DRAINING, in_page, messages, page_has_seen

number = phones(__name__)
BUSY, FRIEND, FWD, PEER = number(1), number(2), number(3), number(4)


def test_an_account_in_many_groups_catches_up_within_its_command_time(make_gateway, sandbox,
                                                                       receiver):
    # 80 groups: listing every chat with their metadata takes 8 s in the sandbox (as wa-js
    # loads each group's one by one), twice the 4 s a page call may take here
    sandbox.phone(BUSY, "Busy", seedContacts=40, seedGroups=80)
    sandbox.phone(FRIEND, "Friend")
    gw = make_gateway(WEBHOOK_URL=receiver.url, COMMAND_TIMEOUT=5.0)
    gw.link(sandbox, "busy", BUSY)
    sandbox.post("/_sandbox/messages", **{"from": FRIEND, "to": BUSY, "text": "live"})
    wait_for(lambda: [m["body"] for m in messages(receiver)] == ["live"], timeout=60,
             message="the live message")

    in_page(gw, "busy", STOP_DRAINING)
    lost = ["lost 1", "lost 2"]
    for text in lost:
        sandbox.post("/_sandbox/messages", **{"from": FRIEND, "to": BUSY, "text": text})
    page_has_seen(gw, sandbox, "busy", BUSY, lost)
    os.kill(gw.engine.manager.get("busy").browser.pid, signal.SIGKILL)
    gw.wait_status("busy", "RECOVERING", timeout=30)
    gw.wait_status("busy", "CONNECTED", timeout=90)
    wait_for(lambda: [m["body"] for m in messages(receiver)] == ["live", *lost], timeout=90,
             message="the lost messages, caught up")
    assert all(m.get("catchUp") for m in messages(receiver)[1:])


def test_a_forward_on_a_build_without_whatsapp_s_forward_function_is_forward_unavailable(
        make_gateway, sandbox):
    sandbox.phone(PEER, "Peer")
    gw = make_gateway()
    gw.link(sandbox, "fwd", FWD)
    pid = gw.session("fwd")["browser"]["pid"]
    theirs = sandbox.post("/_sandbox/messages", **{"from": PEER, "to": FWD, "text": "pass it on"})
    key = wait_for(lambda: next((m["id"] for m in gw.client.get(
        f"/sessions/fwd/chats/{PEER}/messages").json["data"] if m["body"] == "pass it on"), None),
        timeout=30, message="the message in the chat")
    assert theirs["id"] in key
    done = gw.client.post(f"/sessions/fwd/messages/{key}/forward", json={"to": PEER})
    assert done.status_code == 200 and done.json["forwarded"] is True  # no boolean needed

    sandbox.post(f"/_sandbox/phones/{FWD}/wa-update",
                 remove=["whatsapp.functions.forwardMessagesToChats"])
    assert gw.client.post("/sessions/fwd/reconnect").status_code == 202
    wait_for(lambda: (s := gw.session("fwd"))["status"] == "CONNECTED" and s["browser"]
             and s["browser"]["pid"] != pid, timeout=90, message="the new build loaded")
    refused = gw.client.post(f"/sessions/fwd/messages/{key}/forward", json={"to": PEER})
    assert refused.status_code == 502, refused.json
    assert refused.json["error"]["details"]["waCode"] == "forward_unavailable"
    sandbox.post(f"/_sandbox/phones/{FWD}/wa-update")
