"""What one text send costs in Python: checks run and time, through Flask's test client.

The unit tests' fake browser (tests/unit/fakes.py) answers the page ops at once, so what is
measured is the gateway's own work for POST /sessions/{id}/messages: the request, the paced
queue, the sender thread and the page-op plumbing, until the 201. Counts are calls per send
of the checks a send should run once; time is the median of SENDS sends (pacing off).

    PYTHONPATH=$PWD .venv/bin/python bench/send_cost.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import wait_for  # noqa: E402
from tests.unit.fakes import FakeFactory  # noqa: E402
from waengine import create_app, engine_of, request_checks, vocabulary  # noqa: E402
from waengine.engine import manager, outgoing, session  # noqa: E402

SENDS = 300
CONNECTED = {"fullReady": True, "auth": True, "mode": "MAIN", "me": {"id": "62800@c.us"}}


def counting(calls: Counter, name: str, fn):
    def wrapper(*args, **kwargs):
        calls[name] += 1
        return fn(*args, **kwargs)
    return wrapper


def instrument(calls: Counter) -> None:
    """Count the checks a send runs, wherever each is defined and imported."""
    session.Session.check_ready = counting(calls, "readiness check", session.Session.check_ready)
    outgoing.pacing_for = counting(calls, "pacing lookup", outgoing.pacing_for)
    outgoing.OutgoingQueue.by_key = counting(calls, "idempotency lookup",
                                             outgoing.OutgoingQueue.by_key)
    check = counting(calls, "session-id check", vocabulary.check_session_id)
    for module in (vocabulary, request_checks, manager):
        module.check_session_id = check
    request_checks.parse_strict_json = counting(calls, "JSON parse (strict)",
                                                request_checks.parse_strict_json)
    try:
        from webargs import core
        core.parse_json = counting(calls, "JSON parse (webargs)", core.parse_json)
    except ImportError:
        pass


def main() -> None:
    calls: Counter = Counter()
    factory = FakeFactory()
    factory.on_open = lambda bridge: (bridge.state.update(CONNECTED), bridge.handlers.update(
        sendText=lambda **a: {"id": a["messageId"], "chatId": a["to"], "fromMe": True,
                              "type": "chat", "body": a["text"], "timestamp": 1, "ack": 1}))
    with tempfile.TemporaryDirectory() as data:
        app = create_app({"ENV": "testing", "DATA_DIR": data, "API_KEYS": [],
                          "PUMP_INTERVAL": 0.02, "SEND_MIN_INTERVAL": 0, "SEND_JITTER": 0,
                          "SEND_TYPING": False, "LOG_LEVEL": "WARNING"}, factory=factory)
        engine = engine_of(app)
        engine.start()
        try:
            client = app.test_client()
            client.post("/sessions", json={"id": "bench"})
            wait_for(lambda: client.get("/sessions/bench").json["status"] == "CONNECTED")
            instrument(calls)
            took = []
            cpu = time.process_time()
            for i in range(SENDS):
                started = time.perf_counter()
                resp = client.post("/sessions/bench/messages", headers={"Idempotency-Key": f"k{i}"},
                                   json={"to": "628111", "text": f"hello {i}"})
                took.append(time.perf_counter() - started)
                assert resp.status_code == 201, resp.json
            cpu = time.process_time() - cpu
        finally:
            engine.close()
    print(f"one text send (median of {SENDS}, fake browser, pacing off): "
          f"{statistics.median(took) * 1000:.2f} ms wall, {cpu / SENDS * 1000:.2f} ms CPU "
          "(every thread of the process)")
    for name in sorted(calls):
        print(f"  {name}: {calls[name] / SENDS:g} per send")


if __name__ == "__main__":
    main()
