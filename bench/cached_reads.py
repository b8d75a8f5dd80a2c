"""Cached contacts under wrk: the gateway with its fast path, without it, and bare Flask.

    python bench/cached_reads.py [--seconds 8] [--rounds 3] [--conns 16] [--api-key]

About two minutes. Two gateways, each gunicorn with gunicorn.conf.py (one gthread worker, as
in production) and one session linked against the sandbox to a phone with 2,000 contacts:
one as shipped (cached list hits answered by waengine/fastpath.py), one without the fast path
(bench/flask_only_wsgi.py: every request through Flask). Next to them, bare Flask on the same
gunicorn settings serving the bytes the gateway sends (bench/bare_wsgi.py, as bench/scale.py's
wrk rows). wrk (`Accept-Encoding: gzip`) runs against each in turn, `--rounds` times, each round
starting with the next of the three, so they share the box's noise; both gateways are up the
whole time. `--api-key` configures an
API key and sends it (auth checked on every read); without it the API is open, as in
bench/scale.py.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import gunicorn, print_table, row, start_sandbox, wait_http  # noqa: E402
from bench.scale import wrk_rounds  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from waengine.engine.processes import reap_profile  # noqa: E402

KEY = "bench-cached-reads-key-0123456789"
PHONES = {"fast": "6289700000001", "flask": "6289700000002"}
CONTACTS = 2000


class Gateway:
    """gunicorn serving `app` with one linked session, "c0"."""

    def __init__(self, tmp: Path, name: str, app: str, sandbox: str, key: str | None):
        env = {"WAENGINE_ENV": "development", "WAENGINE_DATA_DIR": str(tmp / name),
               "WAENGINE_WA_URL": sandbox + "/", "WAENGINE_API_KEYS": key or "",
               "WAENGINE_LOG_LEVEL": "WARNING"}
        self.port, self.proc = gunicorn(app, env, tmp / f"gateway-{name}.log", gateway=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        self.http.headers.update({"X-API-Key": key} if key else {})
        wait_http(self.url + "/health")

    def link(self, sandbox: str, phone: str) -> None:
        assert self.http.post(self.url + "/sessions", json={"id": "c0"}, timeout=60).ok

        def scan():  # a code the page rotated away meanwhile is read again
            qr = self.http.get(self.url + "/sessions/c0/qr", timeout=30).json().get("qr")
            return qr and requests.post(sandbox + "/_sandbox/link", timeout=10,
                                        json={"qr": qr, "phone": phone}).status_code == 200
        wait_for(scan, timeout=120, interval=0.5, message="the scan")
        wait_for(lambda: self.http.get(self.url + "/sessions/c0", timeout=30).json()["status"]
                 == "CONNECTED", timeout=120, interval=0.2, message="CONNECTED")

    def contacts(self) -> requests.Response:
        """The cached contacts as sent (gzip), after a read that fills the cache."""
        url = self.url + "/sessions/c0/contacts"
        assert self.http.get(url + "?refresh=true", timeout=120).json()["cached"] is False
        resp = self.http.get(url, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=60)
        resp.raw.decode_content = False
        resp.body = resp.raw.read()
        assert resp.headers["Content-Encoding"] == "gzip", resp.headers
        return resp


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--api-key", action="store_true", help="auth on: a key on every read")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 1
    key = KEY if args.api_key else None
    tmp = Path(tempfile.mkdtemp(prefix="waengine-cached-reads-"))
    print(f"cached reads in {tmp} (logs there)", file=sys.stderr)
    sandbox_url, sandbox = start_sandbox(tmp)
    servers = []
    try:
        for name, phone in PHONES.items():
            requests.post(f"{sandbox_url}/_sandbox/phones", timeout=30, json={
                "phone": phone, "name": f"Bench {name}", "seedContacts": CONTACTS}).raise_for_status()
        gateways = {}
        for name, app in (("fast", "wsgi:app"), ("flask", "bench.flask_only_wsgi:app")):
            gateways[name] = gw = Gateway(tmp, name, app, sandbox_url, key)
            servers.append(gw.proc)
            gw.link(sandbox_url, PHONES[name])
        answers = {name: gw.contacts() for name, gw in gateways.items()}
        body = tmp / "contacts.body"
        body.write_bytes(answers["fast"].body)
        port, bare = gunicorn("bench.bare_wsgi:app", {
            "BENCH_BODY": str(body), "BENCH_TYPE": answers["fast"].headers["Content-Type"],
            "BENCH_ENCODING": "gzip"}, tmp / "bare-wsgi.log")
        servers.append(bare)
        wait_http(f"http://127.0.0.1:{port}/body")
        urls = {"fast": gateways["fast"].url + "/sessions/c0/contacts",
                "flask": gateways["flask"].url + "/sessions/c0/contacts",
                "bare": f"http://127.0.0.1:{port}/body"}
        extra = ["-H", f"X-API-Key: {key}"] if key else []
        got = wrk_rounds(urls, args.seconds, args.conns, args.rounds, extra)
        rps = {name: [r for r, _ in runs] for name, runs in got.items()}
        shown = {name: ", ".join(f"{r:.0f} ({p99})" for r, p99 in runs)
                 for name, runs in got.items()}
        base = statistics.median(rps["bare"])
        auth = "API key checked" if key else "API open"
        row(f"contacts body (gzip, {CONTACTS} contacts)",
            f"{len(answers['fast'].body) / 1024:.1f} KB fast-path gateway, "
            f"{len(answers['flask'].body) / 1024:.1f} KB Flask-only gateway")
        for name, what in (("fast", "gateway (fast path)"), ("flask", "gateway, Flask only")):
            row(f"GET contacts cached, wrk -c{args.conns} {args.seconds} s, {auth}: {what}, "
                "req/s (p99) per round", shown[name], shown["bare"] + " bare Flask",
                f"{statistics.median(rps[name]) / base:.2f}x")
        row("fast path against Flask only (median req/s)",
            f"{statistics.median(rps['fast']):.0f}", f"{statistics.median(rps['flask']):.0f}",
            f"{statistics.median(rps['fast']) / statistics.median(rps['flask']):.2f}x")
    finally:
        for server in servers:
            server.stop()
        sandbox.stop()
        reap_profile(tmp)
    print_table(f"cached reads, one session, {CONTACTS} contacts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
