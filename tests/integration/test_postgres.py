"""The gateway on PostgreSQL (DATABASE_URL): a session linked in the sandbox through real
Chromium sends and receives, and its events, sends and lease are rows in PostgreSQL."""

from __future__ import annotations

import json

import pytest

from ..conftest import phones, wait_for
from .conftest import Sandbox, linked_gateway

number = phones(__name__)

SID = "pg"
ALICE = number(1)
BUDI = number(2)


@pytest.mark.browser  # its gateway is made in the test, not by a fixture
def test_a_session_on_postgresql_sends_and_receives(sandbox: Sandbox, tmp_path, postgres):
    sandbox.phone(BUDI, "Budi")
    sandbox.phone(ALICE, "Alice")
    url = postgres.create_database()
    try:
        with linked_gateway(sandbox, tmp_path, SID, ALICE, DATABASE_URL=url,
                            NODE_ID="node-1", NODE_URL="http://127.0.0.1:1/") as gw:
            sent = gw.client.post(f"/sessions/{SID}/messages",
                                  json={"to": BUDI, "text": "halo dari postgres"})
            assert sent.status_code == 201, sent.json
            wait_for(lambda: [m for m in sandbox.inbox(BUDI) if m["text"] == "halo dari postgres"],
                     message="the text on Budi's phone")
            sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "balas"})
            wait_for(lambda: postgres.query(
                url, "SELECT 1 FROM events WHERE session = %s AND type = 'message'"
                     " AND body::jsonb #>> '{data,body}' = 'balas'", (SID,)),
                message="the incoming message stored in PostgreSQL")
            nodes = gw.client.get("/nodes").json["data"]
            assert [(n["id"], n["url"], n["sessions"]) for n in nodes] == [
                ("node-1", "http://127.0.0.1:1/", 1)]
            assert nodes[0]["alive"] and nodes[0]["free"] >= 0

        events = postgres.query(url, "SELECT type, body FROM events WHERE session = %s"
                                     " ORDER BY seq", (SID,))
        kinds = [kind for kind, _ in events]
        assert "session.status" in kinds and "message" in kinds
        statuses = [json.loads(body)["data"]["status"] for kind, body in events
                    if kind == "session.status"]
        assert "CONNECTED" in statuses
        assert postgres.query(url, "SELECT status FROM outgoing WHERE session = %s",
                              (SID,)) == [("sent",)]
        assert postgres.query(url, "SELECT node, epoch FROM leases WHERE session = %s",
                              (SID,)) == [("node-1", 1)]
        assert postgres.query(url, "SELECT status FROM sessions WHERE id = %s",
                              (SID,)) == [("STOPPED",)]
    finally:
        postgres.drop_database(url)
