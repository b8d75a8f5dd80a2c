"""Command line: `waengine serve`, `waengine sandbox`, `waengine doctor`, `waengine sessions
backup|restore`."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

# Chrome for Testing's metadata, where webdriver-manager looks chromedriver builds up (hard-coded
# in it); WAENGINE_CHROMEDRIVER_MIRROR replaces this prefix with a mirror's.
CFT_METADATA = "https://googlechromelabs.github.io/chrome-for-testing"
# doctor's exit codes: 0 all good, 1 something to fix, 3 --fix could not download (offline?).
EXIT_PROBLEMS, EXIT_OFFLINE = 1, 3
# Files the server makes (database, media, browser profiles, logs) are its user's alone.
PRIVATE_UMASK = 0o077


def serve(args) -> int:
    """Run the API on werkzeug's threaded server with the engine started (development)."""
    from . import create_app, engine_of
    from .config import ConfigError

    os.umask(PRIVATE_UMASK)  # before any file: see gunicorn.conf.py
    try:
        app = create_app()
    except ConfigError as e:
        print(f"waengine: {e}", file=sys.stderr)
        return 2
    engine = engine_of(app)
    # SIGTERM (systemd, docker stop) ends like Ctrl-C: every browser quits and flushes its profile.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    engine.start()
    try:
        app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        engine.close()
    return 0


def sandbox(args) -> int:
    from . import sandbox as sb

    options = {k: v for k, v in vars(args).items() if k not in ("func", "host", "port", "command")}
    print(f"waengine sandbox on http://{args.host}:{args.port}/ "
          f"(gateway: WAENGINE_WA_URL=http://{args.host}:{args.port}/)", flush=True)
    sb.serve(args.host, args.port, **options)
    return 0


def _version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    return lines[-1].strip() if out.returncode == 0 and lines else None


def version_number(banner: str | None) -> str | None:
    """`Chromium 156.0.8078.114 built on Debian…` or `ChromeDriver 156.0.8078.114 (…)` → 156.0.8078.114."""
    match = re.search(r"\b(\d+\.\d+\.\d+\.\d+)\b", banner or "")
    return match.group(1) if match else None


def check_reachable(url: str, timeout: float = 5.0) -> str | None:
    """None when url's host resolves and accepts a TCP (and for https a TLS) connection, else
    one line naming the step and the network error."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4]
    except socket.gaierror as e:
        return f"DNS lookup of {host} failed: {e.strerror or e}"
    try:
        sock = socket.create_connection((address[0], port), timeout=timeout)
    except OSError as e:
        return f"TCP connect to {host} ({address[0]}) port {port} failed: {e.strerror or e}"
    try:
        if parts.scheme == "https":
            ssl.create_default_context().wrap_socket(sock, server_hostname=host).close()
    except (ssl.SSLError, OSError) as e:
        return f"TLS handshake with {host}:{port} failed: {e}"
    finally:
        sock.close()
    return None


def fetch_chromedriver(version: str, cache_dir: Path, metadata_url: str = CFT_METADATA) -> str:
    """Download the chromedriver build for Chromium `version` with webdriver-manager into
    cache_dir (reused when already there); returns the binary's path. Raises on network errors."""
    from webdriver_manager.chrome import ChromeDriverManager
    from webdriver_manager.core.download_manager import WDMDownloadManager
    from webdriver_manager.core.driver_cache import DriverCacheManager
    from webdriver_manager.core.http import WDMHttpClient
    from webdriver_manager.core.os_manager import ChromeType

    class Client(WDMHttpClient):
        def get(self, url, **kwargs):
            if url.startswith(CFT_METADATA):
                url = metadata_url.rstrip("/") + url[len(CFT_METADATA):]
            return super().get(url, timeout=30, **kwargs)

    manager = ChromeDriverManager(driver_version=version, chrome_type=ChromeType.CHROMIUM,
                                  download_manager=WDMDownloadManager(Client()),
                                  cache_manager=DriverCacheManager(root_dir=str(cache_dir)))
    return manager.install()


def doctor(args) -> int:
    """Check what a session needs; print what is missing and how to fix it."""
    from .config import ConfigError, load_config

    problems = 0

    def report(ok: bool, what: str, fix: str = "") -> None:
        nonlocal problems
        problems += not ok
        print(f"[{'ok' if ok else 'MISSING'}] {what}" + ("" if ok else f"\n        fix: {fix}"))

    try:
        config = load_config()
    except ConfigError as e:
        report(False, f"configuration: {e}", "correct the WAENGINE_* variable named above")
        return 1
    print(f"environment: {config['ENV']}; WhatsApp URL: {config['WA_URL']}")
    chromium = _version([config["CHROMIUM"], "--version"])
    report(bool(chromium), f"chromium: {chromium or config['CHROMIUM']}",
           "apt-get install chromium (or set WAENGINE_CHROMIUM)")
    driver = _version([config["CHROMEDRIVER"], "--version"])
    report(bool(driver), f"chromedriver: {driver or config['CHROMEDRIVER']}",
           "apt-get install chromium-driver (or set WAENGINE_CHROMEDRIVER)")
    browser_version, driver_version = version_number(chromium), version_number(driver)
    data = Path(config["DATA_DIR"]).resolve()
    if browser_version and driver_version:
        major, driver_major = browser_version.split(".")[0], driver_version.split(".")[0]
        same = major == driver_major
        report(same, f"chromium {major} and chromedriver {driver_major}: major versions "
               + ("match" if same else "differ (sessions will not start)"),
               "`waengine doctor --fix` fetches chromedriver " + browser_version + ", or install "
               "chromium and chromium-driver from the same release (apt-get install --only-upgrade "
               "chromium chromium-driver)")
    if args.fix and browser_version and not (driver_version and same):
        print(f"fetching chromedriver {browser_version} (webdriver-manager, "
              f"{config['CHROMEDRIVER_MIRROR']}) into {data / 'cache'}", flush=True)
        try:
            fetched = fetch_chromedriver(browser_version, data / "cache", config["CHROMEDRIVER_MIRROR"])
        except Exception as e:  # requests, HTTP status and archive errors alike: all say "not now"
            print(f"[MISSING] could not fetch chromedriver {browser_version}: {e}\n        fix: "
                  "check this host's internet access (or WAENGINE_CHROMEDRIVER_MIRROR), or "
                  "install the chromium-driver package matching chromium from apt")
            return EXIT_OFFLINE
        got = version_number(_version([fetched, "--version"]))
        ok = bool(got) and got.split(".")[0] == browser_version.split(".")[0]
        report(ok, f"fetched chromedriver {got}: {fetched}",
               "the download is not a working chromedriver for this chromium")
        if ok:
            problems -= 1  # the mismatch (or missing driver) reported above is fixed
            print(f"        use it: WAENGINE_CHROMEDRIVER={fetched}")
    bundle = Path(config["WA_JS"])
    report(bundle.is_file(), f"wa-js bundle: {bundle}",
           "run `npm ci` in the project folder, or set WAENGINE_ASSETS_DIR to a node_modules "
           "folder holding @wppconnect/wa-js")
    try:
        data.mkdir(parents=True, exist_ok=True)
        writable = os.access(data, os.W_OK)
    except OSError:
        writable = False
    report(writable, f"data folder writable: {data}", "set WAENGINE_DATA_DIR to a writable folder")
    if config["ENV"] == "production":
        report(bool(config["API_KEYS"]) or config["AUTH_DISABLED"], "API keys configured",
               "set WAENGINE_API_KEYS=key1,key2")
    report(importlib.util.find_spec("gunicorn") is not None, "gunicorn installed",
           "make install (or pip install . in the virtual environment)")
    unreachable = check_reachable(config["WA_URL"])
    report(not unreachable, f"WhatsApp URL reachable from this host: {config['WA_URL']}",
           f"{unreachable}; sessions here would end FAILED wa_unreachable (the network, not "
           "Chromium): check DNS, firewall and proxy (or give sessions a proxy), or "
           "WAENGINE_WA_URL")
    if args.page:
        checked = page_check(config)
        report(not checked.get("error"), f"WhatsApp Web loaded: {config['WA_URL']}"
               + (f" ({checked['error']})" if checked.get("error") else ""),
               "check the URL, the network and WA_LOAD_TIMEOUT")
        if not checked.get("error"):
            print(f"WhatsApp Web {checked['waVersion'] or 'unknown'}; "
                  f"wa-js {checked['waJsVersion'] or 'unknown'} ({config['WA_JS']})")
            missing = checked["missing"]
            report(not missing, f"wa-js self-check: {checked['checked'] - len(missing)} of "
                   f"{checked['checked']} functions the gateway calls are there"
                   + (f"; missing: {', '.join(missing)}" if missing else ""),
                   "this WhatsApp Web build needs a newer wa-js: point WAENGINE_WA_JS at a "
                   "bundle built for it (sessions here end FAILED wa_update_required)")
    print("all good" if not problems else f"{problems} problem(s)")
    return EXIT_PROBLEMS if problems else 0


def page_check(config: dict) -> dict:
    """Load WhatsApp Web in a throwaway headless browser with the bridge and wa-js injected, as
    a session does; its versions and self-check, or {"error": why}."""
    import tempfile
    import time

    from .engine.driver import ChromeDriverService
    from .engine.manager import ChromiumFactory

    service = ChromeDriverService(config)
    with tempfile.TemporaryDirectory(prefix="waengine-doctor-") as profiles:
        try:
            browser, bridge = ChromiumFactory(config, service, Path(profiles)).open("doctor")
        except Exception as e:  # PageUnreachable, a browser that did not start: said, not raised
            service.stop()
            return {"error": str(e) or type(e).__name__}
        try:
            deadline = time.monotonic() + config["WA_LOAD_TIMEOUT"]
            state = bridge.poll([])
            while not state.get("fullReady"):
                if time.monotonic() > deadline:
                    return {"error": f"not ready within {config['WA_LOAD_TIMEOUT']:.0f}s"}
                time.sleep(0.5)  # the page loads in its own time; nothing to wait on but it
                state = bridge.poll([])
            return {"waVersion": state.get("waVersion"), "waJsVersion": state.get("version"),
                    "checked": state.get("checked") or 0, "missing": state.get("missing") or []}
        finally:
            browser.quit()
            service.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waengine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the gateway (development server)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)))
    p.set_defaults(func=serve)
    p = sub.add_parser("sandbox", help="run the bundled WhatsApp Web simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    from . import sandbox as sb

    sb.add_arguments(p)
    p.set_defaults(func=sandbox)
    p = sub.add_parser("doctor", help="check chromium, chromedriver, wa-js, the data folder and "
                       "the WhatsApp URL; exit 0 all good, 1 problems, 3 --fix offline")
    p.add_argument("--fix", action="store_true",
                   help="fetch the chromedriver matching chromium (webdriver-manager) into "
                   "<data>/cache when it is missing or its major version differs")
    p.add_argument("--rebuild-registry", action="store_true",
                   help="re-register sessions from their profile folders (damaged waengine.db)")
    p.add_argument("--page", action="store_true",
                   help="also load WhatsApp Web in a headless browser: show its version, the "
                        "wa-js version and whether every wa-js function the gateway calls is there")
    p.set_defaults(func=doctor)
    p = sub.add_parser("sessions", help="back the sessions' logins up to a folder, or restore "
                       "them from one (disaster recovery, moving to a new machine)")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("backup", help="snapshot each session's login and registry entry "
                           "into a folder (encrypted with WAENGINE_SNAPSHOT_KEY)")
    q.add_argument("--session", help="only this session")
    q.add_argument("--to", required=True, type=Path, help="the folder (created if missing)")
    q.set_defaults(func=sessions_backup)
    q = actions.add_parser("restore", help="put each session's newest backup into the data "
                           "folder and register it (the gateway must be stopped)")
    q.add_argument("--session", help="only this session")
    q.add_argument("--from", dest="source", required=True, type=Path, help="the backup folder")
    q.set_defaults(func=sessions_restore)
    p = sub.add_parser("node", help="cluster mode: act on a gateway node")
    node_sub = p.add_subparsers(dest="action", required=True)
    d = node_sub.add_parser("drain", help="move every session off a node (POST /nodes/{id}/drain)"
                            " and wait until it runs none")
    d.add_argument("node", nargs="?", help="its NODE_ID (default: this host's node)")
    d.add_argument("--url", default=os.environ.get(
        "WAENGINE_URL", f"http://127.0.0.1:{os.environ.get('PORT', 8080)}"),
        help="any node of the cluster (default: $WAENGINE_URL or this host's port)")
    d.add_argument("--key", default=os.environ.get("WAENGINE_API_KEY", ""),
                   help="an admin API key (default: $WAENGINE_API_KEY)")
    d.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")
    d.set_defaults(func=drain_node)
    args = parser.parse_args(argv)
    if getattr(args, "rebuild_registry", False):
        return rebuild_registry(args)
    return args.func(args)


def _backup_context(args):
    """(config, data_dir, store, Snapshots of the folder) or an exit code."""
    from .backends import open_store
    from .config import ConfigError, load_config
    from .snapshots import FolderStore, Snapshots

    os.umask(PRIVATE_UMASK)  # the backups hold logins: the operator's alone
    try:
        config = load_config()
    except ConfigError as e:
        print(f"waengine: {e}", file=sys.stderr)
        return 2
    folder = args.to if args.func is sessions_backup else args.source
    if not config["SNAPSHOT_KEY"]:
        if config["ENV"] == "production":
            print("waengine: backups hold WhatsApp logins: set WAENGINE_SNAPSHOT_KEY "
                  "(production does not write or read them unencrypted)", file=sys.stderr)
            return 2
        print("waengine: WAENGINE_SNAPSHOT_KEY is not set: the backup is not encrypted",
              file=sys.stderr)
    data_dir = Path(config["DATA_DIR"]).resolve()
    snapshots = Snapshots(FolderStore(folder), config["SNAPSHOT_KEY"] or None,
                          int(config["SNAPSHOT_KEEP"]))
    return config, data_dir, open_store(config, data_dir), snapshots


def sessions_backup(args) -> int:
    """Snapshot every session's profile (or one) with its registry entry into --to."""
    from .snapshots import session_record

    context = _backup_context(args)
    if isinstance(context, int):
        return context
    _config, data_dir, store, snapshots = context
    try:
        ids = [r["id"] for r in store.list_sessions()]
        if args.session:
            if args.session not in ids:
                print(f"waengine: no session {args.session!r}", file=sys.stderr)
                return 1
            ids = [args.session]
        done = 0
        for sid in ids:
            profile = data_dir / "profiles" / sid
            if not (profile / "Default").is_dir():
                print(f"{sid}: no profile (never linked here), skipped")
                continue
            taken = snapshots.take(sid, profile, record=session_record(store, sid))
            print(f"{sid}: version {taken['version']}, {taken['bytes']} bytes, "
                  f"{taken['seconds']:.2f}s")
            done += 1
    finally:
        store.close()
    print(f"backed up {done} session(s) to {args.to}")
    return 0


def sessions_restore(args) -> int:
    """Put each session's newest backup into DATA_DIR/profiles and register it."""
    from .engine.processes import profile_processes
    from .snapshots import SnapshotError
    from .vocabulary import Status

    context = _backup_context(args)
    if isinstance(context, int):
        return context
    _config, data_dir, store, snapshots = context
    try:
        ids = snapshots.sessions()
        if args.session:
            ids = [sid for sid in ids if sid == args.session]
        if not ids:
            print(f"waengine: no backup in {args.source}"
                  + (f" for {args.session!r}" if args.session else ""), file=sys.stderr)
            return 1
        profiles = data_dir / "profiles"
        busy = [sid for sid in ids if profile_processes(profiles / sid)]
        if busy:
            print(f"waengine: a browser runs on {', '.join(busy)}: stop the gateway first",
                  file=sys.stderr)
            return 1
        for sid in ids:
            try:
                restored = snapshots.restore_latest(sid, profiles / sid)
            except SnapshotError as e:
                print(f"waengine: {sid}: {e}", file=sys.stderr)
                return 1
            record = restored["record"] or {}
            if store.get_session(sid) is None:
                store.insert_session(sid, Status.STOPPED.value, record.get("options") or {})
                store.update_session(sid, desired=record.get("desired") or "running",
                                     me_id=record.get("meId"), me_name=record.get("meName"))
            print(f"{sid}: version {restored['version']} restored")
    finally:
        store.close()
    print(f"restored {len(ids)} session(s) into {profiles}; start the gateway: each comes "
          "back linked, without a QR scan")
    return 0


def rebuild_registry(args) -> int:
    """Set a damaged waengine.db aside and re-register every session from its profile folder."""
    from .config import ConfigError, load_config
    from .store import rebuild_registry as rebuild

    try:
        data_dir = Path(load_config()["DATA_DIR"]).resolve()
    except ConfigError as e:
        print(f"waengine: {e}", file=sys.stderr)
        return 2
    moved, added = rebuild(data_dir)
    if moved:
        print(f"damaged database moved to {moved}")
    print(f"registered {len(added)} session(s) from {data_dir / 'profiles'}: "
          f"{', '.join(added) or '-'}")
    print("start the gateway: each comes back from its login (no QR); webhooks and pending "
          "sends that were only in the damaged file must be set again")
    return 0


def drain_node(args) -> int:
    """POST /nodes/{id}/drain through any node, then follow GET /nodes until the node holds no
    session; exit 0 drained, 1 not within --timeout, 2 refused."""
    import time

    import requests

    node = args.node
    if not node:
        from .cluster import node_id_for
        from .config import load_config

        node = node_id_for(load_config())
    headers = {"X-API-Key": args.key} if args.key else {}
    base = args.url.rstrip("/")
    resp = requests.post(f"{base}/nodes/{node}/drain", headers=headers, timeout=60)
    if resp.status_code != 202:
        print(f"waengine: drain refused: {resp.status_code} {resp.text[:300]}", file=sys.stderr)
        return 2
    moving = resp.json().get("moving", [])
    print(f"draining {node}: moving {len(moving)} session(s): {', '.join(moving) or '-'}")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        found = {n["id"]: n for n in requests.get(f"{base}/nodes", headers=headers,
                                                  timeout=30).json()["data"]}
        left = found.get(node, {}).get("sessions", 0)
        if not left:
            print(f"{node} is drained")
            return 0
        time.sleep(1.0)  # the node reports its leases at each heartbeat
    print(f"waengine: {node} still runs {left} session(s) after {args.timeout:.0f}s",
          file=sys.stderr)
    return 1
