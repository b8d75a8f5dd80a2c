"""N connected sessions on one box: the gateway's costs next to bare Chromium, same run.

`make bench-scale N=20` (python bench/scale.py N). In order:
1. bare Chromium, same flags, fresh profile: launch + load of the sandbox page (the floor
   for create -> SCAN_QR);
2. gunicorn (one gthread worker, PUMP_MODE=push) and the sandbox as separate processes;
   N sessions created and linked one after the other (create -> SCAN_QR, -> CONNECTED),
   then session N+1 to see admission refuse it;
3. idle: CPU by process kind over a window, PSS and processes per browser;
4. load: /health, an incoming message per session -> signed webhook (latency), a send per
   session, contacts read uncached and cached (sequential, and wrk against a bare Flask app
   on the same gunicorn serving the same bytes: three rounds that alternate which goes first,
   medians compared);
5. the same sessions restored with PUMP_MODE=poll (the page polled on a timer): idle CPU again;
6. bare Chromium on copies of the linked profiles (the same connected page, no gateway), with
   the same flags and with default headless flags: PSS, processes, idle CPU.
Prints one table; the ratios are what to read (these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    Proc,
    gunicorn,
    ms,
    print_table,
    row,
    sec,
    start_sandbox,
    wait_http,
)
from tests.conftest import wait_for  # noqa: E402
from waengine.config import load_config  # noqa: E402
from waengine.engine.driver import ChromeDriverService  # noqa: E402
from waengine.engine.flags import chrome_options, user_agent  # noqa: E402
from waengine.engine.processes import profile_processes, reap_profile  # noqa: E402
from waengine.ops.memory import browsers_memory  # noqa: E402

PEER = "6289800000000"
BOX_GIB = 24
SECRET = "bench-secret-of-24-bytes-or-more"


def phone(i: int) -> str:
    return f"62897{i:08d}"


class HookReceiver:
    """Signed webhooks, each stamped with the monotonic time it arrived."""

    def __init__(self):
        self.got: list[tuple[float, dict]] = []
        self.bad = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                at = time.monotonic()
                signed = f"{self.headers.get('X-Waengine-Timestamp')}.".encode() + body
                good = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
                if hmac.compare_digest(good, self.headers.get("X-Waengine-Signature", "")):
                    receiver.got.append((at, json.loads(body)))
                else:
                    receiver.bad += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, name="bench-hooks", daemon=True).start()

    def arrival(self, text: str) -> float | None:
        for at, event in list(self.got):
            if event.get("type") == "message" and event["data"].get("body") == text:
                return at
        return None


def kinds(gateway: Proc | None, profiles: Path) -> dict[str, list[psutil.Process]]:
    """The processes to account, by kind: gunicorn worker, chromedriver, Chromium."""
    out: dict[str, list[psutil.Process]] = {"worker": [], "chromedriver": [], "chromium": []}
    if gateway is not None:
        for child in psutil.Process(gateway.proc.pid).children(recursive=True):
            try:
                name = child.name()
            except psutil.Error:
                continue
            if "chromedriver" in name:
                out["chromedriver"].append(child)
            elif "python" in name or "gunicorn" in name:
                out["worker"].append(child)
    out["chromium"] = profile_processes(profiles)
    return out


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def idle_cpu(groups: dict[str, list[psutil.Process]], window: float) -> dict[str, float]:
    """Cores used by each kind over the window (a measurement window, not a wait)."""
    before = {k: cpu_seconds(v) for k, v in groups.items()}
    time.sleep(window)
    after = {k: cpu_seconds(v) for k, v in groups.items()}
    return {k: sum(after[k][p] - before[k].get(p, after[k][p]) for p in after[k]) / window
            for k in groups}


def memory(profiles: Path) -> tuple[float, float]:
    """Mean PSS (MB) and processes per browser under the folder."""
    per = browsers_memory(profiles)
    if not per:
        return 0.0, 0.0
    return (statistics.mean(e["pssMb"] for e in per.values()),
            statistics.mean(e["processes"] for e in per.values()))


def bare_options(config: dict, profile: Path, default_flags: bool):
    from selenium import webdriver

    if not default_flags:
        return chrome_options(config, profile)
    opts = webdriver.ChromeOptions()
    opts.binary_location = config["CHROMIUM"]
    for flag in ("--headless=new", f"--user-data-dir={profile}",
                 f"--user-agent={user_agent(config['CHROMIUM'])}"):
        opts.add_argument(flag)
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")
    opts.page_load_strategy = "eager"
    return opts


def bare_browsers(config: dict, service, profiles: list[Path], url: str,
                  default_flags: bool = False, ready: list | None = None) -> tuple[list, list]:
    """Launch a bare Chromium on each profile and load the page; (drivers, launch+load s).

    With `ready`, also the time until the page itself is up (WPP.isFullReady: the sandbox,
    like wa-js, takes ~1.1 s after load by design) is appended to it."""
    from selenium import webdriver

    drivers, times = [], []
    for profile in profiles:
        t = time.perf_counter()
        driver = webdriver.Remote(command_executor=service.url,
                                  options=bare_options(config, profile, default_flags))
        driver.get(url)
        times.append(time.perf_counter() - t)
        if ready is not None:
            wait_for(lambda driver=driver: driver.execute_script(
                "return !!(window.WPP && window.WPP.isFullReady)"), timeout=60, interval=0.02)
            ready.append(time.perf_counter() - t)
        drivers.append(driver)
    return drivers, times


def quit_all(drivers: list, folder: Path) -> None:
    for driver in drivers:
        try:
            driver.quit()
        except Exception:  # a browser that died already: reaped below
            pass
    reap_profile(folder)


def wrk(url: str, seconds: int, conns: int, extra: list[str] = ()) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency",
                          "-H", "Accept-Encoding: gzip", *extra, url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # of the latency distribution
    return rps, p99


def wrk_rounds(urls: dict[str, str], seconds: int, conns: int, rounds: int,
               extra: list[str] = ()) -> dict[str, list[tuple[float, str]]]:
    """(req/s, p99) of each url per round; each round starts with the next one, so a drift in
    the box's load over the rounds lands on all of them."""
    got: dict[str, list[tuple[float, str]]] = {name: [] for name in urls}
    order = list(urls)
    for n in range(rounds):
        for name in order[n % len(order):] + order[:n % len(order)]:
            got[name].append(wrk(urls[name], seconds, conns, extra))
    return got


class Gateway:
    def __init__(self, tmp: Path, data: Path, sandbox_url: str, hook_url: str, n: int,
                 mode: str, extra: dict):
        env = {"WAENGINE_ENV": "development", "WAENGINE_DATA_DIR": str(data),
               "WAENGINE_WA_URL": sandbox_url + "/", "WAENGINE_API_KEYS": "",
               "WAENGINE_PUMP_MODE": mode, "WAENGINE_MAX_SESSIONS": str(n),
               "WAENGINE_WEBHOOK_URL": hook_url, "WAENGINE_WEBHOOK_SECRET": SECRET,
               "WAENGINE_WEBHOOK_EVENTS": "message", "WAENGINE_SEND_MIN_INTERVAL": "0",
               "WAENGINE_SEND_JITTER": "0", "WAENGINE_LOG_LEVEL": "WARNING",
               # Admission by the box (80 % of its RAM, 2 GB kept free), not by the
               # development preset's 4 GB total: how many sessions this box holds.
               "WAENGINE_TOTAL_MEMORY_LIMIT_MB": "0", "WAENGINE_MEMORY_RESERVE_MB": "2048",
               **extra}
        self.port, self.proc = gunicorn("wsgi:app", env, tmp / f"gateway-{mode}.log")
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        try:
            wait_http(self.url + "/health")
        except BaseException:  # nobody holds this gateway yet to stop it: stop it here
            self.proc.stop()
            raise

    def status(self, sid: str) -> str:
        return self.http.get(f"{self.url}/sessions/{sid}", timeout=30).json().get("status")

    def statuses(self) -> dict[str, str]:
        data = self.http.get(self.url + "/sessions", timeout=30).json()
        items = data.get("data", data) if isinstance(data, dict) else data
        return {s["id"]: s["status"] for s in items}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=int(os.environ.get("N", 10)))
    parser.add_argument("--idle", type=float, default=30.0, help="idle CPU window, seconds")
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--skip-poll", action="store_true", help="no PUMP_MODE=poll phase")
    parser.add_argument("--page-weight", choices=("light", "field"), default="light",
                        help="the sandbox page's weight (docs/sandbox.md, Page weight)")
    args = parser.parse_args()
    n = args.n
    tmp = Path(tempfile.mkdtemp(prefix="waengine-scale-"))
    config = load_config({"ENV": "development", "DATA_DIR": str(tmp / "bare")})
    print(f"bench-scale N={n} page={args.page_weight} in {tmp} (logs there)", file=sys.stderr)
    sandbox_url, sandbox = start_sandbox(tmp, "--page-weight", args.page_weight)
    hooks = HookReceiver()
    service = ChromeDriverService(config)
    gw = None
    try:
        wait_http(sandbox_url + "/")
        http = requests.Session()
        for i in range(n + 1):
            http.post(f"{sandbox_url}/_sandbox/phones", json={
                "phone": phone(i), "name": f"Bench {i}", "seedContacts": 2000, "seedGroups": 10})
        http.post(f"{sandbox_url}/_sandbox/phones", json={"phone": PEER, "name": "Peer"})

        # 1. the floor for a start: bare launch + load of the same page on a fresh profile
        fresh = [tmp / "bare-fresh" / f"b{i}" for i in range(min(n, 5))]
        bare_ready: list[float] = []
        drivers, bare_start = bare_browsers(config, service, fresh, sandbox_url + "/",
                                            ready=bare_ready)
        quit_all(drivers, tmp / "bare-fresh")

        # 2. the gateway, push mode: N sessions one after the other
        data = tmp / "data"
        gw = Gateway(tmp, data, sandbox_url, hooks.url, n, "push", {})
        to_qr, to_connected, refused = [], [], None
        for i in range(n + 1):
            sid = f"s{i}"
            t = time.perf_counter()
            resp = gw.http.post(gw.url + "/sessions", json={"id": sid}, timeout=60)
            if resp.status_code != 201:
                error = resp.json()["error"]
                refused = (f"session {i + 1}: {resp.status_code} {error['code']} "
                           f"({error['message']})")
                break
            wait_for(lambda sid=sid: gw.status(sid) == "SCAN_QR", timeout=120, interval=0.02)
            to_qr.append(time.perf_counter() - t)
            qr = gw.http.get(f"{gw.url}/sessions/{sid}/qr").json()["qr"]
            http.post(f"{sandbox_url}/_sandbox/link", json={"qr": qr, "phone": phone(i)})
            wait_for(lambda sid=sid: gw.status(sid) == "CONNECTED", timeout=120, interval=0.02)
            to_connected.append(time.perf_counter() - t)
        linked = len(to_connected)
        row("sessions created, linked and CONNECTED", f"{linked} of {n}")
        row("create → SCAN_QR", sec(to_qr), sec(bare_start) + " bare launch+load",
            f"{statistics.median(to_qr) / statistics.median(bare_start):.2f}x")
        row("create → SCAN_QR vs the bare page up", sec(to_qr),
            sec(bare_ready) + " bare launch+load+WPP.isFullReady",
            f"{statistics.median(to_qr) / statistics.median(bare_ready):.2f}x")
        row("create → CONNECTED (incl. the scan)", sec(to_connected))
        row("admission (MAX_SESSIONS=N)", refused or "session N+1 was accepted")

        # 3. idle
        time.sleep(args.settle)  # let pages finish their post-login work before measuring
        groups = kinds(gw.proc, data / "profiles")
        worker = groups["worker"][0] if groups["worker"] else None
        row(f"resources with {linked} sessions",
            f"{psutil.virtual_memory().available / 2**30:.1f} GiB RAM available, "
            f"worker {worker.num_fds() if worker else '?'} fds, "
            f"{worker.num_threads() if worker else '?'} threads, "
            f"{len(groups['chromium'])} Chromium processes, load {os.getloadavg()[0]:.1f}")
        push_cpu = idle_cpu(groups, args.idle)
        pss, procs = memory(data / "profiles")
        gateway_mb = sum(p.memory_full_info().pss for p in [
            psutil.Process(gw.proc.proc.pid), *groups["worker"], *groups["chromedriver"]]) / 2**20

        # 4. load
        health = []
        for _ in range(500):
            t = time.perf_counter()
            gw.http.get(gw.url + "/health")
            health.append(time.perf_counter() - t)
        row("GET /health, sequential", ms(health))
        latency, missing = [], 0
        for rnd in range(3):
            for i in range(linked):
                text = f"in-{rnd}-{i}"
                t = time.monotonic()
                http.post(f"{sandbox_url}/_sandbox/messages",
                          json={"from": PEER, "to": phone(i), "text": text})
                try:
                    at = wait_for(lambda text=text: hooks.arrival(text), timeout=30,
                                  interval=0.002)
                    latency.append(at - t)
                except AssertionError:
                    missing += 1
        row(f"incoming → signed webhook ({len(latency)} messages, {missing} missing)",
            ms(latency))
        acked = sum(gw.http.post(f"{gw.url}/sessions/s{i}/messages", timeout=90,
                                 json={"to": PEER, "text": f"out-{i}"}).status_code == 201
                    for i in range(linked))
        row("a send to each session acknowledged (201)", f"{acked} of {linked}")
        contacts = f"{gw.url}/sessions/s0/contacts"
        uncached = [time_get(gw.http, contacts + "?refresh=true") for _ in range(10)]
        gc_before = gw.http.get(f"{gw.url}/performance", timeout=60).json()["gc"]
        cached = [time_get(gw.http, contacts) for _ in range(300)]
        row("GET contacts (2,000), uncached (browser)", ms(uncached))
        row("GET contacts (2,000), cached, sequential", ms(cached))
        wrk_rows(gw, tmp, contacts)
        gc_rows(gc_before, gw.http.get(f"{gw.url}/performance", timeout=60).json()["gc"])
        failed = [s for s, st in gw.statuses().items() if st == "FAILED"]
        row("sessions FAILED at the end", str(len(failed)))
        gw.proc.stop()
        gw = None

        # 5. PUMP_MODE=poll, same sessions
        if not args.skip_poll:
            gw = Gateway(tmp, data, sandbox_url, hooks.url, n, "poll", {})
            wait_for(lambda: sum(s == "CONNECTED" for s in gw.statuses().values()) >= linked,
                     timeout=60 + 10 * n, interval=0.5, message="sessions restored")
            time.sleep(args.settle)
            poll_cpu = idle_cpu(kinds(gw.proc, data / "profiles"), args.idle)
            gw.proc.stop()
            gw = None
        else:
            poll_cpu = None

        # 5b. the warm pool: create -> SCAN_QR with a browser launched ahead
        warm_qr = warm_starts(tmp, sandbox_url, hooks.url, min(n, 5))
        row("create → SCAN_QR, WARM_BROWSERS=1", sec(warm_qr), sec(bare_start) + " bare launch+load",
            f"{statistics.median(warm_qr) / statistics.median(bare_start):.2f}x")

        # 6. bare Chromium on copies of the linked profiles
        copies = []
        for i in range(linked):
            dst = tmp / "bare-linked" / f"s{i}"
            shutil.copytree(data / "profiles" / f"s{i}", dst, symlinks=True,
                            ignore=shutil.ignore_patterns("Singleton*"))
            copies.append(dst)
        drivers, _ = bare_browsers(config, service, copies, sandbox_url + "/")
        time.sleep(args.settle)
        bare_cpu = idle_cpu({"chromium": profile_processes(tmp / "bare-linked")},
                            args.idle)["chromium"]
        bare_pss, bare_procs = memory(tmp / "bare-linked")
        quit_all(drivers, tmp / "bare-linked")
        drivers, _ = bare_browsers(config, service, copies, sandbox_url + "/", default_flags=True)
        time.sleep(args.settle)
        default_pss, default_procs = memory(tmp / "bare-linked")
        quit_all(drivers, tmp / "bare-linked")

        row("browser PSS per session", f"{pss:.0f} MB", f"{bare_pss:.0f} MB bare same flags; "
            f"{default_pss:.0f} MB bare default flags", f"{pss / max(default_pss, 1):.2f}x default"
            f", {pss / max(bare_pss, 1):.2f}x same")
        # Memory-bound sessions per box: what is left after the gateway's own processes,
        # divided by the browser PSS of one session.
        box = BOX_GIB * 1024 - gateway_mb
        per_box, bare_box = int(box // max(pss, 1)), int(box // max(default_pss, 1))
        row(f"sessions per {BOX_GIB} GiB box (memory-bound, {args.page_weight} page)",
            f"{per_box}", f"{bare_box} bare default flags", f"{per_box / max(bare_box, 1):.2f}x")
        row("processes per browser", f"{procs:.1f}", f"{bare_procs:.1f} same flags; "
            f"{default_procs:.1f} default flags")
        for name, cpu in (("push", push_cpu), ("poll (PUMP_MODE=poll)", poll_cpu)):
            if cpu is None:
                continue
            added = cpu["worker"] + cpu["chromedriver"] + max(0.0, cpu["chromium"] - bare_cpu)
            row(f"idle CPU, {name}: Chromium / chromedriver / worker (cores)",
                f"{cpu['chromium']:.3f} / {cpu['chromedriver']:.3f} / {cpu['worker']:.3f}",
                f"{bare_cpu:.3f} bare Chromium", f"{cpu['chromium'] / max(bare_cpu, 1e-3):.1f}x")
            row(f"idle CPU the gateway adds, {name}",
                f"{added:.3f} cores = {100 * added / max(linked, 1):.2f} % of a core per session")
    finally:
        if gw is not None:
            gw.proc.stop()
        service.stop()
        sandbox.stop()
        hooks.server.shutdown()
        reap_profile(tmp)
    print_table(f"N={n}, {args.page_weight} page")
    return 0


def page_up(profile: Path) -> bool:
    """Whether the browser on this profile shows a page that is up (WPP.isFullReady), asked
    over its DevTools port (Chromium writes it to DevToolsActivePort in the profile)."""
    import websocket

    try:
        port = (profile / "DevToolsActivePort").read_text().split()[0]
        pages = requests.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
        url = next(p["webSocketDebuggerUrl"] for p in pages if p.get("type") == "page")
        ws = websocket.create_connection(url, timeout=5, suppress_origin=True)
    except (OSError, ValueError, StopIteration, IndexError, requests.RequestException,
            websocket.WebSocketException):
        return False
    try:
        ws.send(json.dumps({"id": 1, "method": "Runtime.evaluate", "params": {
            "expression": "!!(window.WPP && window.WPP.isFullReady)", "returnByValue": True}}))
        while True:
            msg = json.loads(ws.recv())
            if msg.get("id") == 1:
                return bool(msg.get("result", {}).get("result", {}).get("value"))
    finally:
        ws.close()


def warm_ready(profiles: Path) -> bool:
    """A warm browser no session took yet, with its page up."""
    warm = profiles / ".warm"
    if not warm.is_dir():
        return False
    taken = {p.resolve() for p in profiles.iterdir() if p.is_symlink()}
    return any(page_up(folder) for folder in warm.iterdir() if folder.resolve() not in taken)


def warm_starts(tmp: Path, sandbox_url: str, hook_url: str, count: int) -> list[float]:
    data = tmp / "data-warm"
    gw = Gateway(tmp, data, sandbox_url, hook_url, count + 1, "push", {"WAENGINE_WARM_BROWSERS": "1"})
    times = []
    try:
        for i in range(count):
            wait_for(lambda: warm_ready(data / "profiles"), timeout=120, interval=0.1,
                     message="a warm browser")
            t = time.perf_counter()
            assert gw.http.post(gw.url + "/sessions", json={"id": f"w{i}"}).status_code == 201
            wait_for(lambda i=i: gw.status(f"w{i}") == "SCAN_QR", timeout=120, interval=0.01)
            times.append(time.perf_counter() - t)
    finally:
        gw.proc.stop()
    return times


def time_get(http: requests.Session, url: str) -> float:
    t = time.perf_counter()
    resp = http.get(url, headers={"Accept-Encoding": "gzip"}, timeout=60)
    resp.raise_for_status()
    return time.perf_counter() - t


def gc_rows(before: dict, after: dict) -> None:
    """The worker's garbage collections over the cached reads (GET /performance's `gc`)."""
    for b, a in zip(before["generations"], after["generations"]):
        n = a["collections"] - b["collections"]
        total = a["pauseTotalMs"] - b["pauseTotalMs"]
        row(f"garbage collections, generation {a['generation']}, during the cached reads",
            f"{n}, {total:.0f} ms in all" + (f", mean {total / n:.1f} ms" if n else ""),
            f"longest since start {a['pauseMaxMs']:.1f} ms; "
            f"{after['frozenObjects']} objects frozen at start")


# Rounds of wrk against the gateway and against bare Flask, alternating which goes first.
WRK_ROUNDS = 3


def wrk_rows(gw: Gateway, tmp: Path, url: str) -> None:
    """Cached contacts under load, next to a bare Flask app serving the same bytes."""
    if not shutil.which("wrk"):
        row("contacts under load", "wrk is not installed")
        return
    resp = gw.http.get(url, headers={"Accept-Encoding": "gzip"}, stream=True)
    body = tmp / "contacts.body"
    body.write_bytes(resp.raw.read(decode_content=False))
    port, bare = gunicorn("bench.bare_wsgi:app", {
        "BENCH_BODY": str(body), "BENCH_TYPE": resp.headers.get("Content-Type", ""),
        "BENCH_ENCODING": resp.headers.get("Content-Encoding", "")}, tmp / "bare-wsgi.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/body")
        targets = {"ours": url, "bare": f"http://127.0.0.1:{port}/body"}
        for conns in (4, 16):
            # the medians are compared, and each round's ratio shown
            runs = wrk_rounds(targets, 10, conns, WRK_ROUNDS)
            ours, base = (sorted(runs[who])[len(runs[who]) // 2] for who in ("ours", "bare"))
            rounds = ", ".join(f"{a[0] / b[0]:.2f}" for a, b in zip(runs["ours"], runs["bare"]))
            row(f"GET contacts cached, wrk -c{conns}: req/s (p99), median of {WRK_ROUNDS} rounds",
                f"{ours[0]:.0f} ({ours[1]})",
                f"{base[0]:.0f} ({base[1]}) bare Flask, same gunicorn, same bytes",
                f"{ours[0] / base[0]:.2f}x (rounds {rounds})")
    finally:
        bare.stop()


if __name__ == "__main__":
    sys.exit(main())
