"""The dashboard with 100 sessions: API cost and page cost, as ratios against same-run baselines.

The 100 sessions run on the unit tests' fake browsers (tests/unit/fakes.py), so what is measured
is the gateway's and the page's own work, not 100 Chromiums this box cannot hold; the dashboard
itself runs in real Chromium. Baselines: GET /health (the cheapest route) for the API; the same
table filtered to 1 row for the page. Run: .venv/bin/python bench/dashboard.py (about 30 s).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import ms, print_table, row, timed  # noqa: E402
from bench.run import serve  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.unit.fakes import FakeFactory  # noqa: E402
from waengine import create_app, engine_of  # noqa: E402

SESSIONS = 100
KEY = "bench-key-0123456789abcdefghij"
FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
         "--disable-background-networking --no-first-run").split()
# One synchronous re-render of the table (the filter's input handler), in ms.
RENDER = """
const box = document.querySelector('#filter');
box.value = arguments[0];
const t = performance.now();
box.dispatchEvent(new Event('input'));
return [performance.now() - t, document.querySelectorAll('#sessions-body tr').length];
"""


NUMBERS = iter(range(6281100000000, 6281199999999))


def connected(bridge) -> None:
    bridge.state.update(fullReady=True, auth=True, mode="MAIN",
                        me={"id": f"{next(NUMBERS)}@c.us", "name": "Bench"})


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="wa-bench-dash-"))
    factory = FakeFactory()
    factory.on_open = connected
    # Fake browsers take no memory: admission must not count them at a real browser's size.
    app = create_app({"ENV": "testing", "DATA_DIR": str(tmp / "data"), "API_KEYS": [KEY],
                      "MAX_SESSIONS": SESSIONS, "BROWSER_MEMORY_ESTIMATE_MB": 1.0,
                      "MEMORY_RESERVE_MB": 0.0}, factory=factory)
    engine = engine_of(app)
    engine.start()
    base, server = serve(app)
    http = requests.Session()
    http.headers["X-API-Key"] = KEY
    for i in range(SESSIONS):
        http.post(base + "/sessions", json={"id": f"s{i:03d}"}).raise_for_status()
    wait_for(lambda: all(s["status"] == "CONNECTED" for s in http.get(base + "/sessions")
                         .json()["data"]), timeout=60, message="100 sessions CONNECTED")
    for i in range(SESSIONS * 5):  # a day's worth of events to count from
        engine.events.outbox.add(f"s{i % SESSIONS:03d}", "message", {"body": "x"}, None, [])
    for _ in range(20):
        http.get(base + "/health")
        http.get(base + "/sessions")
    health = timed(lambda: http.get(base + "/health"), 200)
    one = timed(lambda: http.get(base + "/sessions/s000"), 200)
    listing = timed(lambda: http.get(base + "/sessions"), 100)
    h = statistics.median(health)
    row("GET /sessions/{id} (live fields)", ms(one), ms(health) + " GET /health",
        f"{statistics.median(one) / h:.2f}x")
    row(f"GET /sessions, {SESSIONS} sessions", ms(listing), ms(health) + " GET /health",
        f"{statistics.median(listing) / h:.2f}x")

    options = webdriver.ChromeOptions()
    for flag in FLAGS + [f"--user-data-dir={tmp / 'page-profile'}", "--window-size=1280,800"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(base + "/dashboard")
        driver.execute_script("sessionStorage.setItem('waengine.apiKey', arguments[0])", KEY)
        started = time.perf_counter()
        driver.get(base + "/dashboard")
        wait_for(lambda: driver.execute_script(
            "return document.querySelectorAll('#sessions-body tr').length") == SESSIONS,
            timeout=30, message="100 rows")
        row(f"page load to {SESSIONS} rows shown", f"{(time.perf_counter() - started) * 1000:.0f} ms")
        full, small = [], []
        for _ in range(30):
            took, rows = driver.execute_script(RENDER, "")
            assert rows == SESSIONS
            full.append(took / 1000)
            took, rows = driver.execute_script(RENDER, "s042")
            assert rows == 1
            small.append(took / 1000)
        driver.execute_script(RENDER, "")
        row(f"table re-render, {SESSIONS} rows", ms(full), ms(small) + " 1 row",
            f"{statistics.median(full) / statistics.median(small):.1f}x")
        heap = driver.execute_script("return performance.memory.usedJSHeapSize") / 2**20
        row(f"page JS heap with {SESSIONS} sessions", f"{heap:.1f} MB")
    finally:
        driver.quit()
        server.shutdown()
        engine.close()
    print_table(f"dashboard, {SESSIONS} sessions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
