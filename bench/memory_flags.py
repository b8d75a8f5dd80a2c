"""Chromium's own memory switches, measured: PSS per browser on the same connected page.

python bench/memory_flags.py N: links N sessions through the gateway (sandbox, 2,000 contacts
each), stops it, then opens N bare browsers on copies of the linked profiles once per
variant, with waengine's flags plus the variant's, and reads PSS after a settle. Last, a CDP
collection for an idle page (HeapProfiler.collectGarbage) on the plain variant. (Not
Memory.forciblyPurgeJavaScriptMemory: on Chromium 156 it never answers and the page's
renderer is lost, measured 2026-11-30.) docs/performance.md keeps the
result; only what a measurement justifies goes into engine/flags.py.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from scale import PEER, Gateway, HookReceiver, phone, quit_all
from selenium import webdriver

from bench.common import print_table, row, start_sandbox, wait_http
from tests.conftest import wait_for
from waengine.config import load_config
from waengine.engine.driver import ChromeDriverService
from waengine.engine.flags import chrome_options
from waengine.engine.processes import reap_profile
from waengine.ops.memory import browsers_memory

VARIANTS = {
    "waengine's flags": [],
    "+ --enable-low-end-device-mode": ["--enable-low-end-device-mode"],
    "+ --js-flags=--optimize-for-size": ["--js-flags=--optimize-for-size"],
    "+ --js-flags=--max-old-space-size=128 --max-semi-space-size=1":
        ["--js-flags=--max-old-space-size=128 --max-semi-space-size=1"],
    "+ --disable-features=BackForwardCache,SpareRendererForSitePerProcess":
        ["--disable-features=BackForwardCache,SpareRendererForSitePerProcess"],
    # The same as the first, last: how far PSS drifted during the run (other browsers on the
    # box share Chromium's pages, so their count moves everyone's PSS).
    "waengine's flags, again": [],
}


def pss(folder: Path) -> float:
    per = browsers_memory(folder)
    return statistics.mean(e["pssMb"] for e in per.values()) if per else 0.0


def open_all(config, service, profiles: list[Path], url: str, extra: list[str]) -> list:
    drivers = []
    for profile in profiles:
        opts = chrome_options(config, profile)
        for flag in extra:
            opts.add_argument(flag)
        driver = webdriver.Remote(command_executor=service.url, options=opts)
        driver.get(url)
        drivers.append(driver)
    return drivers


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=5)
    parser.add_argument("--settle", type=float, default=15.0)
    args = parser.parse_args()
    n = args.n
    tmp = Path(tempfile.mkdtemp(prefix="waengine-memflags-"))
    config = load_config({"ENV": "development", "DATA_DIR": str(tmp / "bare")})
    url, sandbox = start_sandbox(tmp)
    hooks = HookReceiver()
    service = ChromeDriverService(config)
    try:
        wait_http(url + "/")
        http = requests.Session()
        for i in range(n):
            http.post(f"{url}/_sandbox/phones", json={"phone": phone(i), "name": f"M {i}",
                                                      "seedContacts": 2000})
        http.post(f"{url}/_sandbox/phones", json={"phone": PEER, "name": "Peer"})
        data = tmp / "data"
        gw = Gateway(tmp, data, url, hooks.url, n, "push", {})
        try:
            for i in range(n):
                gw.http.post(gw.url + "/sessions", json={"id": f"s{i}"})
                wait_for(lambda i=i: gw.status(f"s{i}") == "SCAN_QR", timeout=120)
                qr = gw.http.get(f"{gw.url}/sessions/s{i}/qr").json()["qr"]
                http.post(f"{url}/_sandbox/link", json={"qr": qr, "phone": phone(i)})
                wait_for(lambda i=i: gw.status(f"s{i}") == "CONNECTED", timeout=120)
        finally:
            gw.proc.stop()
        copies = []
        for i in range(n):
            dst = tmp / "copies" / f"s{i}"
            shutil.copytree(data / "profiles" / f"s{i}", dst, symlinks=True,
                            ignore=shutil.ignore_patterns("Singleton*"))
            copies.append(dst)
        base = None
        for name, extra in VARIANTS.items():
            drivers = open_all(config, service, copies, url + "/", extra)
            time.sleep(args.settle)  # a measurement: let the pages settle before reading PSS
            value = pss(tmp / "copies")
            base = base or value
            row(f"PSS per browser, {name}", f"{value:.0f} MB", f"{base:.0f} MB waengine's flags",
                f"{value / base:.2f}x")
            if name == "waengine's flags":
                for driver in drivers:
                    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
                time.sleep(3.0)  # the collection returns before the pages are given back
                after = pss(tmp / "copies")
                row("PSS per browser after CDP HeapProfiler.collectGarbage",
                    f"{after:.0f} MB", f"{value:.0f} MB before", f"{after / value:.2f}x")
            quit_all(drivers, tmp / "copies")
    finally:
        service.stop()
        sandbox.stop()
        hooks.server.shutdown()
        reap_profile(tmp)
    print_table(f"N={n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
