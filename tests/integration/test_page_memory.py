"""The page keeps nothing of what it answered the gateway.

chromedriver 156 keeps every value execute_script / execute_async_script returns alive in the
page (a remote object it never releases, held under "DevTools console" in a heap snapshot):
every poll and every command's JSON stayed in WhatsApp Web's heap, about 45 MB/h per session
under bench/soak.py's traffic, so the bridge runs through Runtime.evaluate by value. This
looks for the answers themselves in a heap snapshot of the real page after real reads.
"""

from __future__ import annotations

import json

import requests
import websocket

from ..conftest import phones

number = phones(__name__)

ME, FRIEND = number(1), number(2)
MARKER = "Heap Marker Zq7"


def page_socket(profile) -> str:
    port = (profile / "DevToolsActivePort").read_text().split()[0]
    pages = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
    return next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")


def heap_strings(profile) -> list[str]:
    """Every string in a heap snapshot of the session's page (a snapshot collects garbage)."""
    ws = websocket.create_connection(page_socket(profile), suppress_origin=True, timeout=120)
    try:
        ws.send(json.dumps({"id": 1, "method": "HeapProfiler.enable"}))
        ws.send(json.dumps({"id": 2, "method": "HeapProfiler.collectGarbage"}))
        ws.send(json.dumps({"id": 3, "method": "HeapProfiler.takeHeapSnapshot",
                            "params": {"reportProgress": False}}))
        chunks = []
        while True:
            msg = json.loads(ws.recv())
            if msg.get("method") == "HeapProfiler.addHeapSnapshotChunk":
                chunks.append(msg["params"]["chunk"])
            elif msg.get("id") == 3:
                break
    finally:
        ws.close()
    return json.loads("".join(chunks))["strings"]


def test_the_page_keeps_none_of_the_answers_it_gave_the_gateway(gateway, sandbox):
    sandbox.phone(FRIEND, "Friend")
    sandbox.phone(ME, "Me", contacts=[{"phone": FRIEND, "name": MARKER}])
    gateway.link(sandbox, "heap", ME)
    for _ in range(3):  # each one a fresh read of the page, not the cache
        read = gateway.client.get("/sessions/heap/contacts?refresh=true")
        assert read.status_code == 200
        assert MARKER in {c["name"] for c in read.json["data"]}
    strings = heap_strings(gateway.engine.profiles / "heap")
    # The page itself holds the contact (its model): the marker is there, as a name.
    assert MARKER in strings
    # The answers were JSON text with the marker in it; not one of them is left.
    answers = [s for s in strings if MARKER in s and "ok" in s and "value" in s]
    assert answers == [], f"{len(answers)} answers kept, e.g. {answers[0][:120]}"
