"""The session state machine and worker, driven through HTTP with a fake browser."""

import threading

from waengine import engine_of
from waengine.engine import outgoing
from waengine.engine.status import derive_status, stream_detail
from waengine.vocabulary import Status

from ..conftest import wait_for
from .fakes import connect, scan_qr, status_of


def test_derive_status_reads_login_from_the_page_not_from_readiness():
    assert derive_status({"fullReady": False}, Status.STARTING) is None
    assert derive_status({"fullReady": True, "auth": False}, Status.STARTING) is None
    assert derive_status({"fullReady": True, "auth": False, "qr": "q"}, Status.STARTING) == (
        Status.SCAN_QR, None)
    assert derive_status({"fullReady": True, "auth": True, "mode": "SYNCING"}, Status.SCAN_QR) is None
    assert derive_status({"fullReady": True, "auth": True, "mode": "MAIN"}, Status.SCAN_QR) == (
        Status.CONNECTED, None)
    assert derive_status({"fullReady": True, "auth": False, "qr": "q"}, Status.CONNECTED) == (
        Status.SCAN_QR, "logged_out")
    assert derive_status({"fullReady": True, "auth": False, "idle": True}, Status.SCAN_QR) == (
        Status.FAILED, "qr_expired")


def test_update_available_is_not_a_failure_and_a_reconnecting_socket_is_a_detail():
    # conn.needsUpdate() is WhatsApp's "update available": the socket still works
    main = {"fullReady": True, "auth": True, "mode": "MAIN", "needsUpdate": True}
    assert derive_status(main, Status.CONNECTED) == (Status.CONNECTED, None)
    assert derive_status({**main, "mode": "DEPRECATED_VERSION"}, Status.CONNECTED) == (
        Status.FAILED, "wa_update_required")
    for info in ("CONNECTING", "OPENING", "OFFLINE"):  # StreamInfo under MAIN: socket down
        assert stream_detail({"mode": "MAIN", "info": info}) == info
    assert stream_detail({"mode": "MAIN", "info": "NORMAL"}) is None


def test_session_goes_starting_scan_qr_connected(client, factory):
    resp = client.post("/sessions", json={"id": "s1"})
    assert resp.status_code == 201
    assert resp.json["status"] in ("STARTING", "SCAN_QR")
    wait_for(lambda: factory.opened, message="browser launch")
    assert client.get("/sessions/s1/qr").status_code == 409
    scan_qr(factory.bridge())
    wait_for(lambda: status_of(client) == "SCAN_QR")
    qr = client.get("/sessions/s1/qr")
    assert qr.json["qr"] == "ref1,a,b,c" and qr.json["expiresAt"].endswith("Z")
    png = client.get("/sessions/s1/qr", headers={"Accept": "image/png"})
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    connect(factory.bridge())
    wait_for(lambda: status_of(client) == "CONNECTED")
    body = client.get("/sessions/s1").json
    assert body["me"] == {"id": "6281234567890@c.us", "name": "Sales"}
    assert body["browser"]["pid"] == factory.opened[0][1].pid


def test_qr_rotation_is_visible_and_logout_from_phone_returns_to_scan_qr(client, factory):
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: factory.opened)
    scan_qr(factory.bridge(), "q1")
    wait_for(lambda: client.get("/sessions/s1/qr").json.get("qr") == "q1")
    scan_qr(factory.bridge(), "q2")
    wait_for(lambda: client.get("/sessions/s1/qr").json.get("qr") == "q2")
    connect(factory.bridge())
    wait_for(lambda: status_of(client) == "CONNECTED")
    scan_qr(factory.bridge(), "q3")
    wait_for(lambda: status_of(client) == "SCAN_QR")
    assert client.get("/sessions/s1").json["statusReason"] == "logged_out"


def test_idle_qr_ends_the_session_failed_qr_expired(client, factory):
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: factory.opened)
    factory.bridge().state.update(fullReady=True, auth=False, idle=True)
    wait_for(lambda: status_of(client) == "FAILED")
    assert client.get("/sessions/s1").json["statusReason"] == "qr_expired"
    assert factory.opened[0][1].quits == 1


def test_page_without_whatsapp_fails_wa_not_loaded(make_app, factory):
    client = make_app(WA_LOAD_TIMEOUT=0.3).test_client()
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "FAILED")
    body = client.get("/sessions/s1").json
    assert body["statusReason"] == "wa_not_loaded" and body["browser"] is None
    assert factory.opened[0][1].quits == 1


def test_send_text_shapes_the_message_and_normalizes_the_number(client, factory):
    seen = {}

    def send(**args):
        seen.update(args)
        return {"id": "true_6281111@c.us_3EB0AA", "chatId": "6281111@c.us", "fromMe": True,
                "from": "6280000@c.us", "to": "6281111@c.us", "type": "chat", "body": "hi",
                "timestamp": 1764300000, "ack": 1}

    factory.on_open = lambda bridge: (connect(bridge), bridge.handlers.update(sendText=send))
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    resp = client.post("/sessions/s1/messages", json={"to": "+62 811-11", "text": "hi"})
    assert resp.status_code == 201, resp.json
    assert resp.json["ack"] == "sent" and resp.json["fromMe"] is True
    assert seen["to"] == "6281111@c.us"


def test_sending_before_connected_is_409_and_unknown_session_404(client, factory):
    assert client.post("/sessions/nope/messages", json={"to": "628111", "text": "x"}).status_code == 404
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: factory.opened)
    scan_qr(factory.bridge())
    wait_for(lambda: status_of(client) == "SCAN_QR")
    resp = client.post("/sessions/s1/messages", json={"to": "628111", "text": "x"})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "session_not_ready"


def test_a_hung_send_is_unknown_then_found_sent_once(make_app, factory, monkeypatch):
    # The page may still send what it did not answer in time (a send waits for WhatsApp's
    # socket): the send is "unknown", looked for by its id while the page holds it, and never
    # sent a second time.
    monkeypatch.setattr(outgoing, "UNKNOWN_RECHECK", 0.1)
    client = make_app(COMMAND_TIMEOUT=0.3).test_client()
    release, sends, looked = threading.Event(), [], []

    def send_text(**args):
        release.wait(5)
        sends.append(args["messageId"])
        return {"id": args["messageId"], "chatId": "628111@c.us", "fromMe": True, "body": "x"}

    def find_sent(id):
        looked.append(id)
        if not sends:
            return {"id": id, "pending": True}  # the page's call still runs
        return {"id": id, "chatId": "628111@c.us", "fromMe": True, "body": "x"}

    factory.on_open = lambda bridge: (connect(bridge), bridge.handlers.update(
        sendText=send_text, findSent=find_sent))
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    resp = client.post("/sessions/s1/messages", json={"to": "628111", "text": "x"})
    assert resp.status_code == 202 and resp.json["status"] == "unknown"
    wait_for(lambda: looked, message="looked for while the page holds it")
    release.set()
    row = wait_for(lambda: (r := client.get(f"/sessions/s1/messages/{resp.json['id']}").json)
                   ["status"] == "sent" and r, message="found sent")
    assert row["status"] == "sent" and len(sends) == 1
    assert status_of(client) == "CONNECTED"


def test_dead_browser_recovers_from_the_profile_with_a_restart_count(client, factory):
    factory.on_open = connect
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    factory.bridge().dead = True
    wait_for(lambda: len(factory.opened) == 2, message="relaunch")
    wait_for(lambda: status_of(client) == "CONNECTED")
    body = client.get("/sessions/s1").json
    assert body["restarts"] == 1
    assert factory.opened[0][1].quits == 1


def test_repeated_crashes_end_failed_browser_crashed(client, factory):
    factory.on_open = lambda bridge: setattr(bridge, "dead", True)
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "FAILED")
    assert client.get("/sessions/s1").json["statusReason"] == "browser_crashed"
    assert len(factory.opened) == 3


def test_events_are_acknowledged_to_the_page_only_after_the_sink_took_them(app, factory):
    client = app.test_client()
    taken = []
    engine_of(app).manager.on_event = lambda s, t, d: taken.append((t, d))
    factory.on_open = connect
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    factory.bridge().events.append({"id": "d:1", "type": "message", "data": {"id": "m1"}})
    wait_for(lambda: "d:1" in factory.bridge().acked)
    assert ("message", {"id": "m1"}) in taken


def test_delete_stops_and_purge_removes_the_session(client, factory, app):
    factory.on_open = connect
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(client) == "CONNECTED")
    profile = engine_of(app).profiles / "s1"
    profile.mkdir(parents=True, exist_ok=True)
    resp = client.delete("/sessions/s1")
    assert resp.status_code == 200 and resp.json["status"] == "STOPPED"
    assert client.get("/sessions/s1").json["status"] == "STOPPED"
    assert client.post("/sessions/s1/start").status_code == 202
    wait_for(lambda: status_of(client) == "CONNECTED")
    assert client.delete("/sessions/s1?purge=true").json["status"] == "STOPPED"
    assert client.get("/sessions/s1").status_code == 404
    assert not profile.exists()


def test_sessions_that_were_running_are_restored_after_a_restart(make_app, factory):
    factory.on_open = connect
    first = make_app()
    first.test_client().post("/sessions", json={"id": "s1"})
    wait_for(lambda: status_of(first.test_client()) == "CONNECTED")
    engine_of(first).close()
    second = make_app()
    wait_for(lambda: status_of(second.test_client()) == "CONNECTED")
    assert len(factory.opened) == 2


def test_duplicate_session_is_409(client, factory):
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    resp = client.post("/sessions", json={"id": "s1"})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "session_exists"


def test_a_client_that_reads_a_new_status_finds_its_event(client, app, factory):
    """GET /sessions/{id} shows a status only once its session.status event is written: the
    reader waits for the write in progress (Session.STATUS_WAIT bounds the wait)."""
    eng = engine_of(app)
    publish = eng.events.publish
    seen, written = [], threading.Event()

    def held(session, kind, data):
        if kind == "session.status" and data["status"] == "FAILED":
            reader = threading.Thread(target=lambda: seen.append(
                (status_of(client), written.is_set())))
            reader.start()
            reader.join(timeout=1.0)  # the reader is held on the change in progress
            publish(session, kind, data)
            written.set()
            reader.join()
            return
        publish(session, kind, data)

    eng.events.publish = held
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: factory.opened)
    factory.bridge().state.update(fullReady=True, auth=False, idle=True)
    wait_for(lambda: seen, message="a read during the FAILED change")
    assert seen == [("FAILED", True)]
