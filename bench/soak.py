"""Leak soak: steady traffic on S connected sessions, memory slopes after warm-up.

python bench/soak.py --page-weight field --hours 6 --sessions 20: the field-weight run
(docs/sandbox.md, Page weight). It also reports, per session, the passes its browser spent
over SESSION_MEMORY_BUDGET_MB in a row and the memory-ladder steps it needed (soft reloads,
restarts), and whether every incoming message reached the webhook exactly once.
`--budget-mb 250` with a few sessions makes them climb the ladder within minutes: soft
reloads under steady traffic.

python bench/soak.py --sessions 3 --minutes 60 (the issue's target: worker RSS slope
< 5 MB/h, browser PSS slope per session < 10 MB/h after warm-up). Every second each session
gets an incoming message, every 5 s it sends one, reads of the cached contacts run all along
and an uncached read every 30 s. Per-session browser PSS is sampled every 30 s; worker RSS
is read every second and averaged over each 30 s (it saws: see RssSampler). The slope is a
least-squares fit over the samples after the warm-up (the first quarter).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families
from scale import PEER, Gateway, HookReceiver, bare_browsers, phone, quit_all

from bench.common import print_table, row, start_sandbox, wait_http
from tests.conftest import wait_for
from waengine.config import load_config
from waengine.engine.driver import ChromeDriverService
from waengine.engine.processes import reap_profile
from waengine.ops.memory import browsers_memory


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    xs, ys = [s[0] for s in samples], [s[1] for s in samples]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 3600


def worker_rss(gw: Gateway) -> float:
    for child in psutil.Process(gw.proc.proc.pid).children():
        if "chromedriver" not in child.name():
            return child.memory_info().rss / 2**20
    return 0.0


class RssSampler(threading.Thread):
    """The worker's RSS every second, handed out as 30-second means.

    The worker's RSS saws by about 7 MB every 30 s: an uncached read of 2,000 contacts raises
    it, the watchdog's malloc_trim lowers it again. One reading every 30 s lands on a tooth or
    between teeth as the two clocks drift apart, and a drift across the edge looked like a
    7 MB step that stayed (docs/performance.md "The worker's saw"). A mean over the window
    does not depend on where in the cycle the soak's own clock is.
    """

    def __init__(self, gw: Gateway, stop: threading.Event):
        super().__init__(name="soak-rss", daemon=True)
        self.gw, self.stop = gw, stop
        self.readings: list[float] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            value = worker_rss(self.gw)
            with self.lock:
                self.readings.append(value)

    def window(self) -> tuple[float, float, float]:
        """(mean, min, max) of the readings since the last call (one reading now if none)."""
        with self.lock:
            got, self.readings = self.readings, []
        got = got or [worker_rss(self.gw)]
        return statistics.mean(got), min(got), max(got)


def traffic(gw: Gateway, sandbox_url: str, n: int, stop: threading.Event, counts: dict) -> None:
    http = requests.Session()
    tick = 0
    while not stop.is_set():
        started = time.monotonic()
        for i in range(n):
            http.post(f"{sandbox_url}/_sandbox/messages",
                      json={"from": PEER, "to": phone(i), "text": f"soak-{tick}-{i}"})
            counts["in"] += 1
            if tick % 5 == 0:
                ok = gw.http.post(f"{gw.url}/sessions/s{i}/messages", timeout=90,
                                  json={"to": PEER, "text": f"out-{tick}"}).status_code == 201
                counts["sent" if ok else "send_failed"] += 1
            refresh = "?refresh=true" if tick % 30 == 0 else ""
            for _ in range(5):
                http.get(f"{gw.url}/sessions/s{i}/contacts{refresh}",
                         headers={"Accept-Encoding": "gzip"}, timeout=60)
                counts["reads"] += 1
                refresh = ""
        tick += 1
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def link_bare_devices(service, tmp: Path, sandbox_url: str, folder: Path, count: int) -> list:
    """A bare Chromium on the sandbox page, linked as another device of phone(i) for the first
    `count` phones: it receives the same messages as session s<i>, with no gateway in it."""
    config = load_config({"ENV": "development", "DATA_DIR": str(tmp / "bare")})
    drivers, _ = bare_browsers(config, service, [folder / f"d{i}" for i in range(count)],
                               sandbox_url + "/", ready=[])
    for i, driver in enumerate(drivers):
        qr = wait_for(lambda driver=driver: driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "WPP.conn.getAuthCode().then((c) => done(c && c.fullCode), () => done(null));"),
            timeout=60, message="the bare page's QR")
        requests.post(f"{sandbox_url}/_sandbox/link", json={"qr": qr, "phone": phone(i)},
                      timeout=10).raise_for_status()
        wait_for(lambda driver=driver: driver.execute_script(
            "return !!(window.WPP && WPP.conn.isMainReady && WPP.conn.isMainReady())"),
            timeout=120, message="the bare device linked")
    return drivers


def ladder_gains(metrics_text: str) -> str:
    """Steps taken and the mean MB each gave back, from waengine_memory_ladder_gain_megabytes
    (a step that gave none back, as a reload's just-loaded page, counts as 0)."""
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "waengine_memory_ladder_gain_megabytes":
            for sample in family.samples:
                if sample.name.endswith(("_sum", "_count")):
                    found.setdefault(sample.labels["step"], {})[
                        sample.name.rsplit("_", 1)[1]] = sample.value
    return ", ".join(f"{step} {int(v['count'])}× {v['sum'] / v['count']:.0f} MB"
                     for step, v in found.items() if v.get("count")) or "no step taken"


def stop_on_signals() -> None:
    """SIGTERM and SIGINT end the run through its clean-up (gateway, browsers, sandbox), also
    when it was started in the background, where the shell has SIGINT ignored."""
    def end(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, end)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--hours", type=float, default=None, help="instead of --minutes")
    parser.add_argument("--page-weight", choices=("light", "field"), default="light")
    parser.add_argument("--sample", type=float, default=30.0)
    parser.add_argument("--bare", type=int, default=2,
                        help="bare linked devices (no gateway) of the first phones: the baseline")
    parser.add_argument("--budget-mb", type=float, default=None,
                        help="SESSION_MEMORY_BUDGET_MB of the gateway (default: its own); a "
                             "budget under the page's weight makes every session climb the "
                             "memory ladder under the traffic")
    args = parser.parse_args()
    stop_on_signals()
    n = args.sessions
    if args.hours is not None:
        args.minutes = args.hours * 60
    tmp = Path(tempfile.mkdtemp(prefix="waengine-soak-"))
    sandbox_url, sandbox = start_sandbox(tmp, "--page-weight", args.page_weight)
    hooks = HookReceiver()
    gw = None
    stop = threading.Event()
    service = ChromeDriverService(load_config({"ENV": "development",
                                                       "DATA_DIR": str(tmp / "bare")}))
    bare: list = []
    try:
        wait_http(sandbox_url + "/")
        http = requests.Session()
        for i in range(n):
            http.post(f"{sandbox_url}/_sandbox/phones", json={
                "phone": phone(i), "name": f"Soak {i}", "seedContacts": 2000})
        http.post(f"{sandbox_url}/_sandbox/phones", json={"phone": PEER, "name": "Peer"})
        data = tmp / "data"
        budget = ({} if args.budget_mb is None
                  else {"WAENGINE_SESSION_MEMORY_BUDGET_MB": str(args.budget_mb)})
        gw = Gateway(tmp, data, sandbox_url, hooks.url, n, "push", budget)
        for i in range(n):
            gw.http.post(gw.url + "/sessions", json={"id": f"s{i}"})
            wait_for(lambda i=i: gw.status(f"s{i}") == "SCAN_QR", timeout=120)
            qr = gw.http.get(f"{gw.url}/sessions/s{i}/qr").json()["qr"]
            http.post(f"{sandbox_url}/_sandbox/link", json={"qr": qr, "phone": phone(i)})
            wait_for(lambda i=i: gw.status(f"s{i}") == "CONNECTED", timeout=120)
        bare_dir = tmp / "bare-devices"
        bare = link_bare_devices(service, tmp, sandbox_url, bare_dir, min(args.bare, n))
        counts = {"in": 0, "sent": 0, "send_failed": 0, "reads": 0}
        thread = threading.Thread(target=traffic, args=(gw, sandbox_url, n, stop, counts),
                                  name="soak-traffic", daemon=True)
        thread.start()
        sampler = RssSampler(gw, stop)
        sampler.start()
        start = time.monotonic()
        rss, pss, base = [], [], []
        over_run: dict[str, int] = {}  # passes over budget in a row, now and at most
        over_max: dict[str, int] = {}
        while time.monotonic() - start < args.minutes * 60:
            at = time.monotonic() - start
            mean, low, high = sampler.window()
            rss.append((at, mean))
            per = browsers_memory(data / "profiles")
            pss.append((at, statistics.mean(e["pssMb"] for e in per.values()) if per else 0.0))
            per = browsers_memory(bare_dir)
            base.append((at, statistics.mean(e["pssMb"] for e in per.values()) if per else 0.0))
            print(f"  {at / 60:5.1f} min: worker RSS {mean:.0f} MB ({low:.0f}–{high:.0f}), "
                  f"browser PSS "
                  f"{pss[-1][1]:.0f} MB/session (bare device {base[-1][1]:.0f} MB), {counts}",
                  file=sys.stderr, flush=True)
            for s in gw.http.get(gw.url + "/performance", timeout=30).json()["sessions"]:
                use = (s.get("memoryBudget") or {}).get("usePercent")
                over_run[s["id"]] = over_run.get(s["id"], 0) + 1 if use and use > 100 else 0
                over_max[s["id"]] = max(over_max.get(s["id"], 0), over_run[s["id"]])
            stop.wait(args.sample)
        stop.set()
        thread.join(120)
        warm = args.minutes * 60 / 4
        after = lambda samples: [s for s in samples if s[0] >= warm] or samples  # noqa: E731
        row(f"soak: {n} sessions, {args.minutes:.0f} min", f"{counts['in']} in, {counts['sent']} "
            f"sent ({counts['send_failed']} failed), {counts['reads']} contact reads")
        row("worker RSS slope after warm-up", f"{slope_per_hour(after(rss)):+.1f} MB/h",
            f"{rss[0][1]:.0f} → {rss[-1][1]:.0f} MB")
        ours, theirs = slope_per_hour(after(pss)), slope_per_hour(after(base))
        row("browser PSS slope per session after warm-up", f"{ours:+.1f} MB/h "
            f"({pss[0][1]:.0f} → {pss[-1][1]:.0f} MB)", f"{theirs:+.1f} MB/h "
            f"({base[0][1]:.0f} → {base[-1][1]:.0f} MB) a bare linked device of the same phone, "
            "same messages, no gateway", f"{ours - theirs:+.1f} MB/h added")
        bodies = [e["data"].get("body") for _, e in hooks.got if e.get("type") == "message"]
        soaked = [b for b in bodies if b and b.startswith("soak-")]
        row("incoming messages delivered by webhook", f"{len(set(soaked))} of {counts['in']}",
            f"{len(soaked) - len(set(soaked))} doubled")
        ladders = {s["id"]: s["memoryBudget"]["ladder"]["taken"] for s in gw.http.get(
            gw.url + "/performance", timeout=30).json()["sessions"] if s.get("memoryBudget")}
        row(f"memory ladder, {args.page_weight} page",
            f"reloads {sum(t['reload'] for t in ladders.values())}, restarts "
            f"{sum(t['restart'] for t in ladders.values())}, trims "
            f"{sum(t['trim_moderate'] + t['trim_critical'] for t in ladders.values())}",
            f"most passes over budget in a row: {max(over_max.values(), default=0)} "
            f"(sample every {args.sample:.0f} s)")
        row("what each ladder step gave back (the next pass's PSS against the last)",
            ladder_gains(gw.http.get(gw.url + "/metrics", timeout=30).text))
        row("soft reloads each session needed", ", ".join(
            f"{sid} {taken['reload']}" for sid, taken in sorted(
                ladders.items(), key=lambda item: int(item[0][1:]))) or "-")
    finally:
        stop.set()
        if gw is not None:
            gw.proc.stop()
        quit_all(bare, tmp / "bare-devices")
        service.stop()
        sandbox.stop()
        hooks.server.shutdown()
        reap_profile(tmp)
    print_table(f"N={n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
