"""waengine benchmarks: prints a table of medians and ratios against baselines run the same time.

Baselines: a bare Flask app on the same werkzeug server (HTTP overhead), a bare Chromium
driven by Selenium with no gateway (launch, memory, command latency). These machines are
noisy: read the ratios, not the absolute numbers. `make bench` runs it (about 2 minutes).
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from flask import Flask
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import ms, print_table, row, timed  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.receiver import Receiver  # noqa: E402


def serve(app) -> tuple[str, object]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def bench_http(base: str) -> None:
    bare = Flask("bare")
    bare.get("/ping")(lambda: {"status": "ok"})
    bare_url, bare_server = serve(bare)
    http = requests.Session()
    for _ in range(50):
        http.get(bare_url + "/ping")
        http.get(base + "/health")
    b = timed(lambda: http.get(bare_url + "/ping"), 500)
    h = timed(lambda: http.get(base + "/health"), 500)
    s = timed(lambda: http.get(base + "/sessions/bench"), 300)
    row("GET /health over HTTP", ms(h), ms(b) + " bare Flask",
        f"{statistics.median(h) / statistics.median(b):.2f}x")
    row("GET /sessions/{id} over HTTP", ms(s), ms(b) + " bare Flask",
        f"{statistics.median(s) / statistics.median(b):.2f}x")
    bare_server.shutdown()


def bare_chromium(tmp: Path) -> dict:
    """Selenium + Chromium with the same flags, no gateway: the floor for launch/memory/latency."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from waengine.config import load_config
    from waengine.engine.flags import chrome_options
    from waengine.engine.processes import reap_profile
    from waengine.ops.memory import browsers_memory

    config = load_config({"ENV": "testing"})
    profile = tmp / "bare-profile"
    t = time.perf_counter()
    driver = webdriver.Chrome(service=Service(config["CHROMEDRIVER"]),
                              options=chrome_options(config, profile))
    driver.get("about:blank")
    launch = time.perf_counter() - t
    latency = timed(lambda: driver.execute_async_script(
        "arguments[arguments.length - 1](JSON.stringify({ok: true}))"), 200)
    time.sleep(1.0)  # let the renderer settle before reading memory, as for the session below
    memory = browsers_memory(profile.parent, only=profile.name).get(profile.name) or {}
    driver.quit()
    reap_profile(profile)
    return {"launch": launch, "latency": latency, "memory": memory}


def main() -> int:
    import logging

    from waengine import create_app, engine_of, sandbox
    from waengine.ops.memory import browsers_memory

    tmp = Path(tempfile.mkdtemp(prefix="waengine-bench-"))
    sb = sandbox.make_server("127.0.0.1", 0, ack_delivered_delay=0.05, ack_read_delay=0.1)
    threading.Thread(target=sb.serve_forever, daemon=True).start()
    sb_url = f"http://127.0.0.1:{sb.server_port}"
    app = create_app({"ENV": "testing", "DATA_DIR": str(tmp / "data"), "WA_URL": sb_url + "/",
                      "API_KEYS": [], "LOG_LEVEL": "WARNING",
                      # A closed SSE client is noticed at the next keep-alive: free slots soon.
                      "SSE_KEEPALIVE": 1.0})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    engine = engine_of(app)
    engine.start()
    base, server = serve(app)
    http = requests.Session()
    receiver = Receiver()
    try:
        print("benchmarking (about 2 minutes)…", file=sys.stderr)
        bench_http(base)
        ws_bench(base, engine.events)
        if sys.argv[1:] == ["ws"]:  # `python bench/run.py ws`: the event streams only
            return 0
        bare = bare_chromium(tmp)

        t = time.perf_counter()
        http.post(base + "/sessions", json={"id": "bench", "webhook": {"url": receiver.url,
                                                                        "events": ["message"]}})
        qr = wait_for(lambda: http.get(base + "/sessions/bench/qr").json().get("qr"), 60)
        to_qr = time.perf_counter() - t
        row("session create → QR shown", f"{to_qr:.2f} s", f"{bare['launch']:.2f} s bare launch",
            f"{to_qr / bare['launch']:.2f}x")
        http.post(sb_url + "/_sandbox/phones", json={"phone": "6289900000001", "name": "Bench",
                                                     "seedContacts": 2000, "seedGroups": 100})
        http.post(sb_url + "/_sandbox/phones", json={"phone": "6289900000002", "name": "Peer"})
        t = time.perf_counter()
        http.post(sb_url + "/_sandbox/link", json={"qr": qr, "phone": "6289900000001"})
        wait_for(lambda: http.get(base + "/sessions/bench").json()["status"] == "CONNECTED", 60)
        row("QR scan → CONNECTED (page reload + login)", f"{time.perf_counter() - t:.2f} s")

        session = engine.manager.get("bench")
        time.sleep(1.0)
        mem = browsers_memory(engine.profiles, only="bench")["bench"]
        row("browser memory per session (PSS)", f"{mem['pssMb']:.0f} MB, {mem['processes']} procs",
            f"{bare['memory']['pssMb']:.0f} MB, {bare['memory']['processes']} procs bare",
            f"{mem['pssMb'] / max(bare['memory']['pssMb'], 1):.2f}x")

        # The bridge's state read: the queue, the worker and the page, no WhatsApp work.
        call = timed(lambda: session.submit(lambda bridge: bridge.poll([])), 200)
        row("engine command round trip (queue + worker + page)", ms(call),
            ms(bare["latency"]) + " bare execute_async_script",
            f"{statistics.median(call) / statistics.median(bare['latency']):.2f}x")
        send = timed(lambda: http.post(base + "/sessions/bench/messages",
                                       json={"to": "6289900000002", "text": "bench"}), 50)
        row("POST /messages (text, through pacer, to server ack)", ms(send))

        def incoming():
            before = len(receiver.delivered())
            t0 = time.perf_counter()
            http.post(sb_url + "/_sandbox/messages",
                      json={"from": "6289900000002", "to": "6289900000001", "text": "in"})
            wait_for(lambda: len(receiver.delivered()) > before, 30, interval=0.005)
            return time.perf_counter() - t0
        hook = [incoming() for _ in range(20)]
        row("incoming message → signed webhook received", ms(hook))

        contacts_bench(http, base)
        media_bench(http, base, sb_url, app)
    finally:
        receiver.close()
        server.shutdown()
        engine.close()
        sb.shutdown()
    print_table("make bench")
    return 0


def ws_bench(base: str, hub) -> None:
    """Events over WebSocket against the same events over SSE (the baseline), same server."""
    import websocket

    def sse_reader():
        resp = requests.get(base + "/events", stream=True, timeout=60, headers=sse_headers)
        lines = resp.iter_lines(decode_unicode=True)
        return resp, lambda: next(line for line in lines if line.startswith("data: "))

    def live(recv) -> list[float]:
        out = []
        for i in range(200):
            t0 = time.perf_counter()
            sent = hub.outbox.add("wsbench", "message", {"body": f"l{i}"}, None, [])["id"]
            while sent not in recv():  # this event itself, not one a buffer held back
                pass
            out.append(time.perf_counter() - t0)
        return out

    ws_url = base.replace("http://", "ws://") + "/ws"
    # skip_utf8_validation: websocket-client checks UTF-8 in pure Python, which costs more than
    # the server's whole path; with it on, the client is what gets measured.
    sse_headers: dict = {}
    ws = websocket.create_connection(ws_url, timeout=60, skip_utf8_validation=True)
    ws.send("{}")
    resp, sse_next = sse_reader()
    ws_live, sse_live = live(ws.recv), None
    ws.close()
    sse_live = live(sse_next)
    resp.close()
    row("event stored → received, WebSocket", ms(ws_live), ms(sse_live) + " SSE",
        f"{statistics.median(ws_live) / statistics.median(sse_live):.2f}x")
    first = hub.outbox.add("wsbench", "message", {"body": "start"}, None, [])["id"]
    for i in range(5000):
        hub.outbox.add("wsbench", "message", {"body": f"r{i}", "pad": "x" * 200}, None, [])
    t0 = time.perf_counter()
    ws = websocket.create_connection(ws_url, timeout=60, skip_utf8_validation=True)
    ws.send(json.dumps({"lastEventId": first}))
    for _ in range(5000):
        ws.recv()
    ws_resume = time.perf_counter() - t0
    ws.close()
    sse_headers = {"Last-Event-ID": first}
    t0 = time.perf_counter()
    resp, sse_next = sse_reader()
    for _ in range(5000):
        sse_next()
    sse_resume = time.perf_counter() - t0
    resp.close()
    row("resume 5000 stored events, WebSocket", f"{5000 / ws_resume:.0f} events/s",
        f"{5000 / sse_resume:.0f} events/s SSE", f"{sse_resume / ws_resume:.2f}x the rate")
    stream_memory(base, ws_url, hub)


def stream_memory(base: str, ws_url: str, hub) -> None:
    """Python memory an open stream holds (8 open, the default cap), WebSocket against SSE."""
    import tracemalloc

    import websocket

    cap = hub.config["SSE_MAX_STREAMS"]
    all_open = lambda: hub.streams._value == 0  # noqa: E731
    all_closed = lambda: hub.streams._value == cap  # noqa: E731

    def held(open_one, close) -> float:
        wait_for(all_closed, 30)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        streams = [open_one() for _ in range(cap)]
        wait_for(all_open, 10)
        used = (tracemalloc.get_traced_memory()[0] - before) / cap
        tracemalloc.stop()
        for stream in streams:
            close(stream)
        return used

    def open_ws():
        ws = websocket.create_connection(ws_url, timeout=10)
        ws.send("{}")
        return ws

    ws_kb = held(open_ws, lambda ws: ws.close()) / 1024
    sse_kb = held(lambda: requests.get(base + "/events", stream=True, timeout=10),
                  lambda resp: resp.close()) / 1024
    row("Python memory per open stream (client and server)", f"{ws_kb:.0f} KiB WebSocket",
        f"{sse_kb:.0f} KiB SSE", f"{ws_kb / sse_kb:.2f}x")


def contacts_bench(http, base: str) -> None:
    url = base + "/sessions/bench/contacts"
    if http.get(url).status_code == 404:
        row("cached contacts", "route not built yet")
        return
    cold = timed(lambda: http.get(url, params={"refresh": "true"}), 10)
    warm = timed(lambda: http.get(url), 100)
    row("GET /contacts, 2,000 contacts, cache hit", ms(warm), ms(cold) + " refresh (browser)",
        f"{statistics.median(cold) / statistics.median(warm):.0f}x faster")
    raw = http.get(url, headers={"Accept-Encoding": "identity"})
    for enc in ("gzip", "br"):
        resp = http.get(url, headers={"Accept-Encoding": enc}, stream=True)
        wire = len(resp.raw.read(decode_content=False))
        row(f"contacts JSON on the wire ({enc})", f"{wire / 1024:.1f} KB",
            f"{len(raw.content) / 1024:.0f} KB uncompressed", f"{len(raw.content) / wire:.1f}x smaller")
    assert json.loads(gzip.decompress(gzip.compress(raw.content)))  # the body is valid JSON
    compression_levels(raw.content)


def compression_levels(body: bytes) -> None:
    """Size and time of each brotli and gzip level on the contacts body, against gzip's
    default (6), to choose COMPRESS_BR_LEVEL and COMPRESS_LEVEL (docs/performance.md)."""
    import brotli

    def measure(compress) -> tuple[int, float]:
        out = compress(body)
        return len(out), statistics.median(timed(lambda: compress(body), 7))

    gzip.compress(body)  # warm up, so the baseline is not the one cold measurement
    base_size, base_time = measure(lambda b: gzip.compress(b, compresslevel=6, mtime=0))
    for level in (1, 4, 6, 9):
        size, took = measure(lambda b, lv=level: gzip.compress(b, compresslevel=lv, mtime=0))
        row(f"  contacts gzip level {level}", f"{size / 1024:.1f} KB, {took * 1000:.1f} ms",
            f"{base_size / 1024:.1f} KB, {base_time * 1000:.1f} ms gzip 6",
            f"{size / base_size:.2f}x size, {took / base_time:.2f}x time")
    for level in (4, 5, 6, 7, 9, 11):  # MODE_TEXT measured no smaller than the default
        size, took = measure(lambda b, lv=level: brotli.compress(b, quality=lv))
        row(f"  contacts br level {level}", f"{size / 1024:.1f} KB, {took * 1000:.1f} ms",
            f"{base_size / 1024:.1f} KB, {base_time * 1000:.1f} ms gzip 6",
            f"{size / base_size:.2f}x size, {took / base_time:.2f}x time")


def media_bench(http, base: str, sb_url: str, app) -> None:
    """An 8 MiB incoming file through the page in chunks, against the same bytes served bare."""
    import base64
    import io
    import os

    from flask import send_file

    data = os.urandom(8 * 2**20)
    sent = http.post(sb_url + "/_sandbox/messages", json={
        "from": "6289900000002", "to": "6289900000001",
        "media": {"data": base64.b64encode(data).decode(), "filename": "bench.bin",
                  "mimetype": "application/zip"}}).json()
    url = f"{base}/sessions/bench/messages/{sent['recipientKey']}/media"

    def download():
        resp = http.get(url)
        assert resp.status_code == 200 and len(resp.content) == len(data), resp.status_code

    wait_for(lambda: http.get(url, stream=True).status_code == 200, 30)
    bare = Flask("bare-file")
    bare.get("/file")(lambda: send_file(io.BytesIO(data), mimetype="application/zip"))
    bare_url, bare_server = serve(bare)
    plain = timed(lambda: http.get(bare_url + "/file").content, 10)
    bare_server.shutdown()
    for chunk in (64 * 2**10, 512 * 2**10, 2 * 2**20):
        app.config["MEDIA_CHUNK_BYTES"] = chunk  # read per request, so it applies at once
        got = timed(download, 5)
        mb_s = len(data) / 2**20 / statistics.median(got)
        row(f"GET …/media, 8 MiB, {chunk // 2**10} KiB chunks", f"{ms(got)}, {mb_s:.0f} MiB/s",
            ms(plain) + " bare Flask send_file",
            f"{statistics.median(got) / statistics.median(plain):.1f}x")
    app.config["MEDIA_CHUNK_BYTES"] = 512 * 2**10
    import tracemalloc

    # Traced from the first chunk on: the open before it has the sandbox, in this process,
    # serve the whole file to the page as WhatsApp's media servers would (not the gateway).
    with http.get(url, stream=True) as resp:
        for n, _ in enumerate(resp.iter_content(256 * 2**10)):
            if n == 0:
                tracemalloc.start()  # every thread here: gateway, session worker, client
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    row("Python memory peak while 8 MiB streams", f"{peak / 2**20:.1f} MiB",
        f"{len(data) / 2**20:.0f} MiB file", f"{peak / len(data):.2f}x")
    chats = base + "/sessions/bench/chats?refresh=true"
    idle = timed(lambda: http.get(chats), 20)
    stop = threading.Event()

    def downloads():
        with requests.Session() as other:
            while not stop.is_set():
                other.get(url).close()
    loader = threading.Thread(target=downloads, name="bench-media", daemon=True)
    loader.start()
    busy = timed(lambda: http.get(chats), 20)
    stop.set()
    loader.join(60)
    row("GET /chats (browser) while 8 MiB downloads run", ms(busy), ms(idle) + " idle",
        f"{statistics.median(busy) / statistics.median(idle):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
