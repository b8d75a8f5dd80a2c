"""What a sandbox page costs a bare Chromium, at each page weight (docs/sandbox.md, Page weight).

For `light` and `field`, in one run: K bare Chromium (default headless flags) on fresh
profiles load the page, which links to a phone with seeded contacts and groups; after the
page settles, per browser: PSS of all its processes, the renderer's JS heap (CDP
Runtime.getHeapUsage after a full GC), DOM nodes, script bytes parsed, the origin's storage
(IndexedDB included), and idle CPU over a window. Then the heap one active chat adds: M
messages arrive in one chat, heap measured again.

    python bench/page_weight.py [K] [--messages M] [--idle SECONDS]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Proc, row, start_sandbox, wait_for  # noqa: E402
from bench.scale import bare_browsers, quit_all  # noqa: E402
from waengine.config import load_config  # noqa: E402
from waengine.engine.driver import ChromeDriverService  # noqa: E402
from waengine.ops.memory import browsers_memory  # noqa: E402

PEER = "6281900000001"


def sandbox(tmp: Path, weight: str) -> tuple[str, Proc]:
    folder = tmp / f"sandbox-{weight}"
    folder.mkdir(parents=True)
    return start_sandbox(folder, "--page-weight", weight, "--qr-first-ttl", "120")


def page_figures(driver) -> dict:
    driver.execute_cdp_cmd("HeapProfiler.enable", {})
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    heap = driver.execute_cdp_cmd("Runtime.getHeapUsage", {})
    page = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const scripts = performance.getEntriesByType('resource')
          .filter((e) => e.initiatorType === 'script' || e.name.endsWith('.js'))
          .reduce((n, e) => n + (e.decodedBodySize || 0), 0);
        navigator.storage.estimate().then((s) => done({
          dom: document.getElementsByTagName('*').length, scripts, storage: s.usage || 0}));
    """)
    return {"heapMb": heap["usedSize"] / 2**20, **page}


def cpu_seconds(folder: Path) -> float:
    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(folder) in part for part in proc.info["cmdline"] or ()):
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


def measure(tmp: Path, weight: str, k: int, messages: int, idle: float) -> dict:
    url, proc = sandbox(tmp, weight)
    config = load_config({"ENV": "development", "DATA_DIR": str(tmp / weight)})
    service = ChromeDriverService(config)
    folder = tmp / f"bare-{weight}"
    http = requests.Session()
    drivers = []
    try:
        http.post(f"{url}/_sandbox/phones", json={"phone": PEER, "name": "Peer"})
        phones = [f"62819{i:08d}" for i in range(k)]
        for p in phones:
            http.post(f"{url}/_sandbox/phones", json={
                "phone": p, "name": f"Bench {p}", "seedContacts": 2000, "seedGroups": 10})
        profiles = [folder / f"b{i}" for i in range(k)]
        ready: list[float] = []
        drivers, _ = bare_browsers(config, service, profiles, url + "/",
                                   default_flags=True, ready=ready)
        for driver, p in zip(drivers, phones, strict=True):
            qr = wait_for(lambda d=driver: d.execute_script(
                "return document.getElementById('qr-box').dataset.ref"), timeout=60)
            http.post(f"{url}/_sandbox/link", json={"qr": qr, "phone": p}).raise_for_status()
        for driver in drivers:  # the page reloads after the scan, then comes up linked
            wait_for(lambda d=driver: d.execute_script(
                "return !!(window.WPP && WPP.conn.isMainReady && WPP.conn.isMainReady())"),
                timeout=120)
        time.sleep(5)  # the page's post-login work (history, stores) settles
        figures = [page_figures(d) for d in drivers]
        before = cpu_seconds(folder)
        time.sleep(idle)
        idle_cpu = (cpu_seconds(folder) - before) / idle / k * 100
        per = browsers_memory(folder)
        first = drivers[0]
        first.execute_script("window.__benchSeen = 0;"
                             "WPP.on('chat.new_message', () => { window.__benchSeen++; });")
        for i in range(messages):
            http.post(f"{url}/_sandbox/messages", json={
                "from": PEER, "to": phones[0], "text": f"message {i} of an active chat"})
        wait_for(lambda: first.execute_script("return window.__benchSeen") >= messages,
                 timeout=120, message="the messages shown")
        grown = page_figures(first)
        return {
            "pss": statistics.mean(e["pssMb"] for e in per.values()),
            "processes": statistics.mean(e["processes"] for e in per.values()),
            "heap": statistics.mean(f["heapMb"] for f in figures),
            "dom": statistics.mean(f["dom"] for f in figures),
            "scripts": statistics.mean(f["scripts"] for f in figures) / 2**20,
            "storage": statistics.mean(f["storage"] for f in figures) / 2**20,
            "ready": statistics.median(ready), "idle_cpu": idle_cpu,
            "growth": (grown["heapMb"] - figures[0]["heapMb"]) / max(messages, 1) * 1024,
        }
    finally:
        quit_all(drivers, folder)
        service.stop()
        proc.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("k", type=int, nargs="?", default=3, help="browsers per weight")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="waengine-weight-"))
    print(f"bench page-weight K={args.k} in {tmp}", file=sys.stderr)
    light = measure(tmp, "light", args.k, args.messages, args.idle)
    field = measure(tmp, "field", args.k, args.messages, args.idle)
    for key, label, unit in (
            ("pss", "browser PSS (all its processes)", "MB"),
            ("heap", "renderer JS heap after GC", "MB"),
            ("dom", "DOM nodes", ""), ("scripts", "script parsed at start", "MB"),
            ("storage", "origin storage (IndexedDB)", "MB"),
            ("ready", "launch → WPP.isFullReady", "s"),
            ("idle_cpu", "idle CPU per browser", "% of a core"),
            ("growth", "heap per message of an active chat", "KB"),
            ("processes", "processes per browser", "")):
        row(label, f"field {field[key]:.1f} {unit}", f"light {light[key]:.1f} {unit}",
            f"{field[key] / light[key]:.2f}x" if light[key] else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
