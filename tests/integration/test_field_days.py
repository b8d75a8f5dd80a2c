"""The field's bad days on real Chromium and the sandbox (docs/sessions.md, "Bad days").

The sandbox never sends an event again once the page acknowledged it, as WhatsApp does not: a
message the page saw but the gateway never committed (the browser died first, or the page lost
it) is only in the chat's history. Catch-up after a relaunch and an on-demand resync read it
from there; nothing else brings it back.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest
import requests

from ..conftest import wait_for
from ..receiver import Receiver

# Phones of this module only: the sandbox network is shared by the whole test run.
P = {name: f"628240000{i:04d}" for i, name in enumerate(
    ("crashme", "ani", "bayu", "resyncme", "cahya"))}

# The gateway stops draining the page (its notification and its poll hand over nothing): what
# the page receives stays in its own queue, as when the gateway is stuck or dying.
STOP_DRAINING = """
var w = window.__waengine;
if (!w.__stopped) {
  w.__stopped = {notify: window.__waengineNotify, poll: w.poll};
  window.__waengineNotify = function () {};
  w.poll = async function (ids) {
    var s = await w.__stopped.poll.call(w, ids);
    s.events = [];
    return s;
  };
}
"""
# The page loses what it held (as a bridge error or a crash would) and the gateway drains again.
LOSE_AND_RESUME = """
var w = window.__waengine;
w.queue = [];
try { window.sessionStorage.removeItem('waengine.queue'); } catch (e) {}
window.__waengineNotify = w.__stopped.notify;
w.poll = w.__stopped.poll;
delete w.__stopped;
"""
QUEUED_BODIES = """
return window.__waengine.queue.filter(function (e) { return e.type === 'message'; })
  .map(function (e) { return e.data.body; });
"""


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def in_page(gw, sid: str, script: str):
    return gw.engine.manager.get(sid).submit(lambda bridge: bridge.driver.execute_script(script))


def write(sandbox, frm: str, to: str, text: str) -> dict:
    return sandbox.post("/_sandbox/messages", **{"from": P[frm], "to": P[to], "text": text})


def messages(receiver) -> list[dict]:
    return [e["data"] for e in receiver.delivered() if e["type"] == "message"]


def page_has_seen(gw, sandbox, sid: str, phone: str, texts: list[str]) -> None:
    """The page holds these messages as events and acknowledged them to the network."""
    wait_for(lambda: set(texts) <= set(in_page(gw, sid, QUEUED_BODIES)), timeout=30,
             message="the page received them")
    wait_for(lambda: all(d["pendingEvents"] == 0 for d in requests.get(
        f"{sandbox.url}/_sandbox/phones/{phone}", timeout=10).json()["devices"]),
        timeout=30, message="the page acknowledged them to the network")


def test_messages_the_page_saw_before_its_browser_died_come_back_only_through_catch_up(
        make_gateway, sandbox, receiver):
    for name in ("ani", "bayu"):
        sandbox.phone(P[name], name.title())
    gw = make_gateway(WEBHOOK_URL=receiver.url)
    gw.link(sandbox, "crashme", P["crashme"])
    write(sandbox, "ani", "crashme", "before")
    wait_for(lambda: [m["body"] for m in messages(receiver)] == ["before"], timeout=60,
             message="the first message")

    in_page(gw, "crashme", STOP_DRAINING)
    seen = ["seen 1", "seen 2", "seen 3"]
    write(sandbox, "ani", "crashme", seen[0])
    write(sandbox, "bayu", "crashme", seen[1])
    write(sandbox, "ani", "crashme", seen[2])
    page_has_seen(gw, sandbox, "crashme", P["crashme"], seen)
    assert [m["body"] for m in messages(receiver)] == ["before"]

    os.kill(gw.engine.manager.get("crashme").browser.pid, signal.SIGKILL)
    gw.wait_status("crashme", "RECOVERING", timeout=30)
    gw.wait_status("crashme", "CONNECTED", timeout=90)
    wait_for(lambda: {m["body"] for m in messages(receiver)} >= set(seen), timeout=90,
             message="the three messages, read from history")
    after = write(sandbox, "bayu", "crashme", "after")  # everything before it is in by then
    wait_for(lambda: any(m["id"].endswith(after["id"]) for m in messages(receiver)),
             timeout=60, message="a live message after the relaunch")
    got = messages(receiver)
    assert Counter(m["body"] for m in got) == Counter(["before", *seen, "after"])
    assert all(m["catchUp"] is True for m in got if m["body"] in seen)
    assert not any(m.get("catchUp") for m in got if m["body"] in ("before", "after"))
    in_chat = [m["body"] for m in got if m["chatId"] == f"{P['ani']}@c.us"]
    assert in_chat == ["before", "seen 1", "seen 3"]  # in order per chat


def test_a_resync_publishes_what_the_event_log_lacks_once(make_gateway, sandbox, receiver):
    sandbox.phone(P["cahya"], "Cahya")
    gw = make_gateway(WEBHOOK_URL=receiver.url)
    gw.link(sandbox, "resyncme", P["resyncme"])
    start = time.time() - 1  # WhatsApp time is whole seconds
    write(sandbox, "cahya", "resyncme", "live")
    wait_for(lambda: [m["body"] for m in messages(receiver)] == ["live"], timeout=60,
             message="the live message")

    in_page(gw, "resyncme", STOP_DRAINING)
    lost = ["lost 1", "lost 2"]
    for text in lost:
        write(sandbox, "cahya", "resyncme", text)
    page_has_seen(gw, sandbox, "resyncme", P["resyncme"], lost)
    in_page(gw, "resyncme", LOSE_AND_RESUME)
    resumed = write(sandbox, "cahya", "resyncme", "resumed")
    wait_for(lambda: any(m["id"].endswith(resumed["id"]) for m in messages(receiver)),
             timeout=60, message="the gateway drains again")
    assert [m["body"] for m in messages(receiver)] == ["live", "resumed"]

    url = f"/sessions/resyncme/chats/{P['cahya']}/resync"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    first = gw.client.post(url, json={"since": iso})
    assert first.status_code == 200 and first.json == {"published": 2}, first.json
    wait_for(lambda: len(messages(receiver)) == 4, timeout=30, message="the two lost messages")
    got = messages(receiver)
    assert [m["body"] for m in got] == ["live", "resumed", *lost]
    assert [bool(m.get("catchUp")) for m in got] == [False, False, True, True]
    again = gw.client.post(url, json={"since": int(start)})
    assert again.status_code == 200 and again.json == {"published": 0}

    for bad in ({}, {"since": "yesterday"}, {"since": True}, {"since": -5}):
        refused = gw.client.post(url, json=bad)
        assert refused.status_code == 422, bad
        assert refused.json["error"]["code"] == "validation_error"
    assert gw.client.post("/sessions/nope/chats/123456789/resync",
                          json={"since": 0}).status_code == 404
