"""The gateway on a field-weight sandbox page (as heavy as WhatsApp Web: docs/sandbox.md):
the page carries its weight, and linking, sending and receiving work on it as on the light
page the other tests use."""

from __future__ import annotations

import threading

import pytest
import requests

from waengine import sandbox as sandbox_app
from waengine.sandbox.weight import FIELD

from ..conftest import phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)
ALICE, BUDI = number(1), number(2)


@pytest.fixture
def field_sandbox():
    server = sandbox_app.make_server("127.0.0.1", 0, page_weight="field", qr_first_ttl=30.0,
                                     qr_ttl=10.0)
    thread = threading.Thread(target=server.serve_forever, name="field-sandbox", daemon=True)
    thread.start()
    yield Sandbox(f"http://127.0.0.1:{server.server_port}")
    server.shutdown()


def page(gateway, sid: str, script: str):
    session = gateway.engine.manager.get(sid)
    return session.submit(lambda bridge: bridge.driver.execute_script(script))


@pytest.mark.browser
def test_a_session_on_a_field_weight_page_links_sends_and_receives(field_sandbox, tmp_path):
    field_sandbox.phone(ALICE, "Alice", seedContacts=500, seedGroups=5)
    field_sandbox.phone(BUDI, "Budi")
    with linked_gateway(field_sandbox, tmp_path, "heavy", ALICE) as gw:
        weight = page(gw, "heavy", "return window.__fieldWeight")
        assert weight["scripts"] == FIELD["script_chunks"] and weight["modules"] > 1000
        assert weight["chats"] == FIELD["chats"]
        assert weight["messages"] == FIELD["chats"] * FIELD["messages_per_chat"]
        assert weight["idbRecords"] == FIELD["idb_messages"]
        assert weight["domNodes"] > FIELD["chats"] * 10

        sent = gw.post("/messages", json={"to": BUDI, "text": "berat"})
        assert sent.status_code == 201, sent.json
        wait_for(lambda: any(m["text"] == "berat" for m in field_sandbox.inbox(BUDI)),
                 message="Budi got the message")
        field_sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "balas"})
        listed = lambda: gw.get(f"/chats/{BUDI}@c.us/messages").json.get("data", [])  # noqa: E731
        wait_for(lambda: any(m.get("body") == "balas" for m in listed()),
                 message="Budi's reply on the page")
        # an active chat grows the page's render caches, one per message shown
        assert page(gw, "heavy", "return window.__fieldWeight.retained") >= 1


def test_the_field_page_serves_its_scripts_from_its_own_origin(field_sandbox):
    html = requests.get(field_sandbox.url + "/", timeout=10)
    assert '"pageWeight": "field"' in html.text or '"pageWeight":"field"' in html.text
    chunk = requests.get(field_sandbox.url + "/_sandbox/field/chunk-0.js", timeout=10)
    assert chunk.status_code == 200 and chunk.headers["Content-Type"].startswith("text/javascript")
    assert len(chunk.content) >= 1_000_000
    again = requests.get(field_sandbox.url + "/_sandbox/field/chunk-0.js", timeout=10)
    assert again.content == chunk.content  # deterministic: the HTTP cache keeps it
    missing = requests.get(field_sandbox.url + f"/_sandbox/field/chunk-{FIELD['script_chunks']}.js",
                           timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def message_bodies(gw, sid: str) -> list[str]:
    import json

    return [json.loads(row["body"])["data"].get("body")
            for row in gw.engine.events.outbox.since(sid, 0) if row["type"] == "message"]


@pytest.mark.browser
def test_a_session_over_its_memory_budget_climbs_the_ladder_and_loses_nothing(sandbox,
                                                                             tmp_path):
    carol, dewi = number(3), number(4)
    sandbox.phone(carol, "Carol")
    sandbox.phone(dewi, "Dewi")
    # A budget every browser is over: each watchdog pass (run here, not on its timer) takes
    # the next step, on real Chromium.
    with linked_gateway(sandbox, tmp_path, "lean", carol, SESSION_MEMORY_BUDGET_MB=1.0,
                        WATCHDOG_INTERVAL=3600.0, RECYCLE_COOLDOWN=3600.0) as gw:
        dog = gw.engine.watchdog
        dog.ladder.quiet = 0.0
        assert dog.run_once() == ["ladder_trim_moderate"]
        assert dog.run_once() == ["ladder_trim_critical"]
        trimmed = dog.ladder.usage("lean", None)["ladder"]["last"]
        assert trimmed["step"] == "trim_moderate" and trimmed["beforeMb"] > 1.0

        restarts = gw.session("lean")["restarts"]
        assert dog.run_once() == ["ladder_reload"]
        # messages that arrive while the page reloads reach the events once each
        texts = [f"selama muat ulang {i}" for i in range(3)]
        for text in texts:
            sandbox.post("/_sandbox/messages", **{"from": dewi, "to": carol, "text": text})
        wait_for(lambda: set(texts) <= set(message_bodies(gw, "lean")), timeout=60,
                 message="the messages after the reload")
        gw.wait_status("lean", "CONNECTED")
        session = gw.session("lean")
        assert session["restarts"] == restarts  # the same browser: the page reloaded only
        assert session["status"] == "CONNECTED" and session.get("qr") is None

        # the new page's load trimmed first, then the restart
        assert dog.run_once() == ["ladder_trim_moderate"]
        assert dog.run_once() == ["ladder_trim_critical"]
        assert dog.run_once() == ["recycle", "ladder_restart"]
        wait_for(lambda: gw.session("lean")["restarts"] == restarts + 1, timeout=60,
                 message="the browser relaunched")
        gw.wait_status("lean", "CONNECTED")  # from its profile: no QR
        sandbox.post("/_sandbox/messages", **{"from": dewi, "to": carol, "text": "sesudahnya"})
        wait_for(lambda: "sesudahnya" in message_bodies(gw, "lean"), timeout=60,
                 message="a message after the restart")
        bodies = message_bodies(gw, "lean")
        assert all(bodies.count(t) == 1 for t in [*texts, "sesudahnya"]), bodies
        taken = dog.ladder.usage("lean", None)["ladder"]["taken"]
        assert taken == {"trim_moderate": 2, "trim_critical": 2, "reload": 1, "restart": 1}
