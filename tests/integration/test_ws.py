"""Events over WebSocket: real servers (werkzeug's, gunicorn), a real client (websocket-client)."""

from __future__ import annotations

import json
import signal
import socket
import struct
import threading

import pytest
import requests
import websocket
from werkzeug.serving import make_server

from ..conftest import phones, wait_for
from .servers import Gunicorn, Nginx

number = phones(__name__)

ALICE, BUDI = number(1), number(2)
KEY = "ws-test-key-0123456789abcdef"


class DevServer:
    """The gateway app on werkzeug's threaded dev server (the `make run`-less path)."""

    def __init__(self, gateway):
        self.server = make_server("127.0.0.1", 0, gateway.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, name="ws-test-server",
                         daemon=True).start()
        self.http = f"http://127.0.0.1:{self.server.server_port}"
        self.ws = f"ws://127.0.0.1:{self.server.server_port}"

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def served(servers, make_gateway):
    """A gateway (API key KEY) on the dev server."""
    def serve(**config):
        gateway = make_gateway(API_KEYS=[KEY], **config)
        gateway.client.environ_base["HTTP_X_API_KEY"] = KEY  # for the Gateway helpers
        server = DevServer(gateway)
        servers.append(server)
        return gateway, server
    return serve


def connect(url, hello: dict | None = None, key: str | None = KEY, **options):
    ws = websocket.create_connection(url, timeout=30, header=[f"X-API-Key: {key}"] if key else [],
                                     **options)
    if hello is not None:
        ws.send(json.dumps(hello))
    return ws


def frame(ws):
    """The next frame: ("text", event dict) or ("close", code, reason); pings are answered."""
    while True:
        opcode, data = ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return "text", json.loads(data.data)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return "close", struct.unpack("!H", data.data[:2])[0], data.data[2:].decode()


def events(ws, count, type_="message") -> list[dict]:
    got = []
    while len(got) < count:
        kind, *rest = frame(ws)
        assert kind == "text", rest
        if rest[0]["type"] == type_:
            got.append(rest[0])
    return got


def place_free(hub) -> bool:
    """Whether a stream place (SSE_MAX_STREAMS) is free now; takes none."""
    if not hub.streams.acquire(blocking=False):
        return False
    hub.streams.release()
    return True


def closed(ws) -> tuple[int, str]:
    while True:
        kind, *rest = frame(ws)
        if kind == "close":
            return tuple(rest)


def bodies(got):
    return [e["data"]["body"] for e in got]


def test_ws_delivers_live_events_and_resumes_after_the_first_frames_event(served, sandbox):
    gateway, server = served()
    sandbox.phone(BUDI, "Budi")
    gateway.link(sandbox, "wss", ALICE)
    ws = connect(f"{server.ws}/sessions/wss/ws", hello={})
    for text in ("w1", "w2"):
        sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": text})
    live = events(ws, 2)
    ws.close()
    assert bodies(live) == ["w1", "w2"] and live[0]["session"] == "wss"
    assert live[0]["data"]["from"] == f"{BUDI}@c.us"
    for text in ("w3", "w4"):
        sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": text})
    outbox = gateway.engine.events.outbox
    wait_for(lambda: sum(r["type"] == "message" for r in outbox.since("wss", 0)) == 4,
             message="w3, w4 stored")
    # Resuming after w1 (first frame) gives w2, w3, w4: no gap, no repeat.
    resumed = connect(f"{server.ws}/sessions/wss/ws", hello={"lastEventId": live[0]["id"]})
    assert bodies(events(resumed, 3)) == ["w2", "w3", "w4"]
    resumed.close()
    # The same through the all-sessions route, with ?lastEventId= and a stream token.
    token = requests.post(f"{server.http}/auth/stream-token", headers={"X-API-Key": KEY},
                          timeout=10).json()["token"]
    every = connect(f"{server.ws}/ws?sessions=wss&lastEventId={live[1]['id']}&token={token}",
                    key=None, hello={})
    assert bodies(events(every, 2)) == ["w3", "w4"]
    every.close()


def test_ws_refuses_bad_requests_with_the_json_envelope(served):
    gateway, server = served(SSE_MAX_STREAMS=1)
    plain = requests.get(f"{server.http}/ws", headers={"X-API-Key": KEY}, timeout=10)
    assert plain.status_code == 426 and plain.headers["Upgrade"] == "websocket"
    assert plain.json()["error"]["code"] == "upgrade_required"
    for url, key, status in ((f"{server.ws}/ws", None, 401), (f"{server.ws}/ws", "wrong", 401),
                             (f"{server.ws}/ws?token=0.1.forged", None, 401),
                             (f"{server.ws}/sessions/nope/ws", KEY, 404),
                             (f"{server.ws}/ws?lastEventId=evt_unknown", KEY, 422)):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect(url, key=key)
        assert refused.value.status_code == status, url
        assert json.loads(refused.value.resp_body)["error"]["message"]
    # One stream place (SSE_MAX_STREAMS=1): a second connection gets 429 until the first leaves.
    first = connect(f"{server.ws}/ws", hello={})
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(f"{server.ws}/ws")
    assert refused.value.status_code == 429 and refused.value.resp_headers["retry-after"] == "5"
    first.close()
    hub = gateway.engine.events
    # The server gives the place back after the closing handshake, a moment after the client
    # has seen it: wait for the place itself, not for the client's side of the close.
    wait_for(lambda: place_free(hub), message="the first socket's place given back")
    # A first frame that is not a resume, or names an unknown event, is closed with a reason.
    assert closed(connect(f"{server.ws}/ws", hello=["x"])) == (
        4400, 'The first frame must be {"lastEventId": "evt_…"} or {}')
    wait_for(lambda: place_free(hub), message="the refused socket's place given back")
    code, reason = closed(connect(f"{server.ws}/ws", hello={"lastEventId": "evt_nope"}))
    assert code == 4422 and "evt_nope" in reason


def test_a_web_page_of_another_origin_cannot_open_the_websocket(served):
    # WebSockets are not held to the same-origin policy: a page elsewhere that an operator
    # visits could otherwise read the event stream with a token it got. 403 before upgrading.
    gateway, server = served(WS_ORIGINS=["https://app.example.com"])
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(f"{server.ws}/ws", origin="https://evil.example")
    assert refused.value.status_code == 403
    assert json.loads(refused.value.resp_body)["error"]["details"]["origin"] == "https://evil.example"
    for origin in (server.http, "https://app.example.com"):  # its own page, a listed one
        ws = connect(f"{server.ws}/ws", hello={}, origin=origin)
        ws.close()
        wait_for(lambda: place_free(gateway.engine.events), message="the place given back")
    ws = connect(f"{server.ws}/ws", hello={}, suppress_origin=True)  # not a browser
    ws.close()


def test_a_ws_client_that_stops_reading_is_closed_4008_and_resumes_without_loss(served):
    gateway, server = served(WS_SEND_BUFFER=16)
    hub = gateway.engine.events
    # A small receive window, and no reads: what the server sends piles up in its buffer.
    ws = connect(f"{server.ws}/ws", hello={},
                 sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    wait_for(lambda: hub.sockets, message="socket open")
    # Volume, not the browser, is the point here: 200 events of 8 KB each, straight into the
    # outbox the way EventHub.publish stores them.
    ids = [hub.outbox.add("bulk", "message", {"body": f"b{i}", "pad": "x" * 8192}, None, [])["id"]
           for i in range(200)]
    [slow] = hub.sockets
    wait_for(lambda: slow.close_with is not None, timeout=30, message="slow consumer noticed")
    got = []
    while (kind := frame(ws))[0] == "text":
        got.append(kind[1]["id"])
    assert kind[1:] == (4008, "Slow consumer: 16 events unsent for 5 s")
    assert 0 < len(got) < 200 and got == ids[:len(got)]  # in order, a prefix: nothing skipped
    rest = connect(f"{server.ws}/ws", hello={"lastEventId": got[-1]})
    assert [e["id"] for e in events(rest, 200 - len(got))] == ids[len(got):]
    rest.close()


def test_ws_pings_and_closes_a_client_that_never_answers_1008(served):
    _, server = served(WS_PING_INTERVAL=0.5)
    ws = connect(f"{server.ws}/ws", hello={})
    # A reading client answers pings (websocket-client does) and stays connected.
    pings = 0
    while pings < 3:
        opcode, _ = ws.recv_data_frame(True)
        pings += opcode == websocket.ABNF.OPCODE_PING
    ws.close()
    # One that never reads never answers: after a ping goes unanswered, 1008.
    mute = connect(f"{server.ws}/ws", hello={})
    while (got := _raw_frame(mute))[0] != websocket.ABNF.OPCODE_CLOSE:
        assert got[0] == websocket.ABNF.OPCODE_PING
    assert struct.unpack("!H", got[1][:2])[0] == 1008 and got[1][2:] == b"Ping timeout"


def _raw_frame(ws) -> tuple[int, bytes]:
    """A frame read without answering pings (websocket-client answers them in recv_data_frame)."""
    frame_ = ws.frame_buffer.recv_frame()
    return frame_.opcode, frame_.data


def test_gunicorn_streams_over_ws_and_sigterm_closes_it_1001(servers, sandbox, tmp_path):
    server = Gunicorn(tmp_path / "data", sandbox.url + "/", tmp_path / "gunicorn.log")
    servers.append(server)
    server.wait_healthy()
    ws_url = server.url.replace("http://", "ws://")
    # Every session (the key sees all), opened before the session exists so no event is missed.
    ws = websocket.create_connection(f"{ws_url}/ws?sessions=gws", timeout=60,
                                     header=["X-API-Key: k1"])
    ws.send(json.dumps({}))
    assert server.post("/sessions", json={"id": "gws"}).status_code == 201
    # Real events from the session's real browser, through gunicorn's gthread worker.
    seen = []
    while "SCAN_QR" not in seen:
        kind, event = frame(ws)
        assert kind == "text"
        if event["type"] == "session.status":
            seen.append(event["data"]["status"])
    server.proc.send_signal(signal.SIGTERM)
    assert closed(ws)[0] == 1001
    assert server.proc.wait(60) == 0


def test_ws_through_nginx_with_the_shipped_config(served, servers, sandbox, tmp_path):
    """deploy/nginx.conf as shipped (ports and paths aside) passes the upgrade on."""
    gateway, server = served()
    nginx = Nginx(tmp_path / "nginx", server.server.server_port)
    servers.append(nginx)
    assert requests.get(nginx.url + "/ws", headers={"X-API-Key": KEY}, timeout=10).status_code == 426
    ws = connect(nginx.url.replace("http://", "ws://") + "/ws?sessions=nx", hello={})
    assert gateway.client.post("/sessions", json={"id": "nx"}).status_code == 201
    seen = []
    while "SCAN_QR" not in seen:  # the real browser's status events, through the proxy
        kind, event = frame(ws)
        assert kind == "text" and event["session"] == "nx"
        seen.append(event["data"].get("status"))
    ws.close()


def test_stopping_the_engine_closes_open_websockets_1001(served):
    gateway, server = served()
    ws = connect(f"{server.ws}/ws", hello={})
    wait_for(lambda: gateway.engine.events.sockets, message="socket open")
    gateway.engine.close()
    assert closed(ws) == (1001, "The server is shutting down: reconnect with lastEventId")


def test_without_a_first_frame_the_stream_starts_at_connect_time_and_loses_nothing(served):
    gateway, server = served()
    outbox = gateway.engine.events.outbox
    before = outbox.add("quiet", "message", {"body": "before"}, None, [])
    ws = connect(f"{server.ws}/ws?sessions=quiet")  # no first frame: the server waits for one
    wait_for(lambda: gateway.engine.events.sockets, message="socket open")
    during = outbox.add("quiet", "message", {"body": "during"}, None, [])  # within the wait
    [got] = events(ws, 1)
    assert got["id"] == during["id"] != before["id"]
    ws.close()
