"""Profile snapshots through real Chromium and the sandbox: snapshots taken from a running
browser while messages flow both ways each bring a fresh browser up CONNECTED without a scan
(the consistency of snapshots.capture), and the engine snapshots a session once it is linked
and when it stops."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import requests

from waengine.snapshots import FolderStore, Snapshots

from ..conftest import phones, wait_for

number = phones(__name__)
SID = "snap"
OWNER = number(1)
FRIEND = number(2)
# Snapshots restored into fresh browsers; each restore is one browser launch and link.
RESTORES = 10
KEY = "a passphrase for the test snapshots"
# Seconds a message may stay ciphertext before the gateway reports it (short for the test)
UNDECRYPTABLE_AFTER = 6.0


def events_of(gw, kind: str, sid: str = SID) -> list[dict]:
    return [e for e in gw.client.get(f"/sessions/{sid}/events/recent?limit=500").json["data"]
            if e["type"] == kind]


def test_snapshots_taken_during_traffic_each_come_up_connected_without_a_scan(
        make_gateway, sandbox, tmp_path):
    store = tmp_path / "snapshots"
    sandbox.phone(OWNER, "Owner")
    sandbox.phone(FRIEND, "Friend")
    gw = make_gateway(SNAPSHOT_STORE=str(store), SNAPSHOT_KEY=KEY, SNAPSHOT_KEEP=RESTORES + 5)
    gw.link(sandbox, SID, OWNER)
    # Once linked, the engine takes the first snapshot by itself.
    first = wait_for(lambda: events_of(gw, "session.snapshot"), message="session.snapshot")
    assert first[0]["data"]["version"] == 1 and first[0]["data"]["bytes"] > 0

    stop = threading.Event()
    counts = {"in": 0, "out": 0}

    def traffic():
        while not stop.is_set():
            sandbox.post("/_sandbox/messages", **{"from": FRIEND, "to": OWNER,
                                                  "text": f"in {counts['in']}"})
            counts["in"] += 1
            resp = gw.post("/messages", sid=SID, json={"to": FRIEND, "text": f"out {counts['out']}"})
            assert resp.status_code in (201, 202), resp.json
            counts["out"] += 1
            stop.wait(0.1)

    sender = threading.Thread(target=traffic, name="test-traffic", daemon=True)
    sender.start()
    session = gw.engine.manager.get(SID)
    taken = []
    try:
        while len(taken) < RESTORES:
            made = gw.engine.snapshotter.take(session)  # from the running browser
            assert made is not None
            taken.append(made["version"])
            wait_for(lambda n=counts["in"]: counts["in"] > n, message="more traffic")
    finally:
        stop.set()
        sender.join(30)
    assert counts["in"] >= RESTORES
    assert gw.client.delete(f"/sessions/{SID}").status_code == 200
    # The graceful stop took one more, from the closed profile.
    wait_for(lambda: Snapshots(FolderStore(store), KEY).list(SID)[-1] > taken[-1],
             message="the snapshot of the stop")

    fresh = make_gateway(data_dir=tmp_path / "fresh")
    snapshots = Snapshots(FolderStore(store), KEY)
    for version in taken:
        snapshots.restore(SID, version, fresh.engine.profiles / SID)
        if fresh.client.get(f"/sessions/{SID}").status_code == 404:
            assert fresh.client.post("/sessions", json={"id": SID}).status_code == 201
        else:
            assert fresh.client.post(f"/sessions/{SID}/start").status_code == 202
        up = fresh.wait_status(SID, "CONNECTED", "SCAN_QR", "FAILED")
        assert up["status"] == "CONNECTED", (version, up)
        assert up["me"]["id"].startswith(OWNER)
        assert fresh.client.delete(f"/sessions/{SID}").status_code == 200
    statuses = [e["data"]["status"] for e in
                fresh.client.get(f"/sessions/{SID}/events/recent?limit=500").json["data"]
                if e["type"] == "session.status"]
    assert "SCAN_QR" not in statuses and statuses.count("CONNECTED") == RESTORES


def cli(*args: str, data_dir, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "waengine", "sessions", *args], capture_output=True, text=True,
        timeout=120, env={**os.environ, "WAENGINE_ENV": "testing",
                          "WAENGINE_DATA_DIR": str(data_dir), **env})


def key_state(sandbox, phone: str) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/phones/{phone}",
                        timeout=10).json()["devices"][0]["keyState"]


def sent(sandbox, sender: str, to: str, text: str) -> str:
    """The phone sends a text; its key as the receiving session knows it."""
    message = sandbox.post("/_sandbox/messages", **{"from": sender, "to": to, "text": text})
    return message["recipientKey"]


def test_a_backup_restored_on_a_new_machine_comes_up_linked(make_gateway, sandbox, tmp_path):
    """…and with stale key state (the sandbox's network/keystate.py): a message that arrived
    after the backup, while no browser ran, first reaches the restored profile as ciphertext and
    again, decrypted, once its sender answers the retry receipt; the gateway delivers it once,
    decrypted. One whose sender never answers is reported as message.undecryptable, never
    delivered as a message."""
    sid, phone, friend, stranger = "moving", number(3), number(4), number(5)
    sandbox.phone(phone, "Mover")
    sandbox.phone(friend, "Friend")
    sandbox.phone(stranger, "Stranger")
    old = make_gateway(data_dir=tmp_path / "old")
    old.link(sandbox, sid, phone)
    assert old.client.put(f"/sessions/{sid}/webhook",
                          json={"url": "https://hooks.example.com/wa"}).status_code == 200
    key = {"WAENGINE_SNAPSHOT_KEY": KEY}
    backup = tmp_path / "backup"
    done = cli("backup", "--to", str(backup), data_dir=tmp_path / "old", **key)
    assert done.returncode == 0, done.stderr  # taken from the running browser
    assert f"{sid}: version 1" in done.stdout
    # After the backup: one message the old box receives (its profile moves past the backup's
    # key state), then one while no browser runs.
    seen = sent(sandbox, friend, phone, "after the backup")
    wait_for(lambda: key_state(sandbox, phone)["ackedKeys"] >= 1, message="the old page's ack")
    assert [e["data"]["id"] for e in events_of(old, "message", sid)] == [seen]
    assert old.client.delete(f"/sessions/{sid}").status_code == 200
    offline = sent(sandbox, friend, phone, "while no browser ran")

    wrong = cli("restore", "--from", str(backup), data_dir=tmp_path / "new",
                WAENGINE_SNAPSHOT_KEY="not the key")
    assert wrong.returncode != 0 and "does not open" in wrong.stderr
    done = cli("restore", "--from", str(backup), data_dir=tmp_path / "new", **key)
    assert done.returncode == 0, done.stderr
    # restores the sessions that were running
    new = make_gateway(data_dir=tmp_path / "new", UNDECRYPTABLE_AFTER=UNDECRYPTABLE_AFTER)
    up = new.wait_status(sid, "CONNECTED", "SCAN_QR", "FAILED")
    assert up["status"] == "CONNECTED" and up["me"]["id"].startswith(phone), up
    assert new.client.get(f"/sessions/{sid}/webhook").json["url"] == "https://hooks.example.com/wa"
    busy = cli("restore", "--from", str(backup), data_dir=tmp_path / "new", **key)
    assert busy.returncode == 1 and "stop the gateway first" in busy.stderr

    wait_for(lambda: offline in [e["data"]["id"] for e in events_of(new, "message", sid)],
             message="the offline message, decrypted after the retry receipt")
    assert key_state(sandbox, phone)["stale"] is True  # the restored page presented less
    # A stranger's message while the retry receipts go unanswered: ciphertext for good.
    sandbox.post(f"/_sandbox/phones/{phone}/retry-receipts", refuse=True)
    lost = sent(sandbox, stranger, phone, "never decrypts")
    reported = wait_for(lambda: events_of(new, "message.undecryptable", sid),
                        timeout=UNDECRYPTABLE_AFTER + 30, message="message.undecryptable")
    sandbox.post(f"/_sandbox/phones/{phone}/retry-receipts", refuse=False)
    assert [e["data"]["id"] for e in reported] == [lost]
    assert reported[0]["data"]["from"].startswith(stranger)
    # Key indexes the sandbox handed out: the two messages of the friend, the offline one again
    # (the answered retry receipt), the stranger's; only the stranger's is still undecrypted.
    state = key_state(sandbox, phone)
    assert state["keys"] == 4 and [lost.split("_")[2]] == state["undecrypted"], state
    delivered = events_of(new, "message", sid)
    # The session says so where an operator looks (GET /sessions/{id}, the dashboard's list).
    assert new.session(sid)["activity"]["undecryptableToday"] == 1
    # Once each, decrypted; never a placeholder, never the message the old box delivered.
    assert [(e["data"]["id"], e["data"]["type"], e["data"]["body"]) for e in delivered] == [
        (offline, "chat", "while no browser ran")]
