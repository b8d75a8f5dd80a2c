"""Command line: `waengine serve`, `waengine sandbox`, `waengine doctor`."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def serve(args) -> int:
    """Run the API on werkzeug's threaded server with the engine started (development)."""
    from . import create_app, engine_of
    from .config import ConfigError

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
    if chromium and driver:
        same = chromium.split()[1].split(".")[0] == driver.split()[1].split(".")[0]
        report(same, "chromium and chromedriver major versions match",
               "install chromium and chromium-driver from the same release")
    bundle = Path(config["WA_JS"])
    report(bundle.is_file(), f"wa-js bundle: {bundle}", "run `npm ci` in the project folder")
    data = Path(config["DATA_DIR"]).resolve()
    try:
        data.mkdir(parents=True, exist_ok=True)
        writable = os.access(data, os.W_OK)
    except OSError:
        writable = False
    report(writable, f"data folder writable: {data}", "set WAENGINE_DATA_DIR to a writable folder")
    if config["ENV"] == "production":
        report(bool(config["API_KEYS"]) or config["AUTH_DISABLED"], "API keys configured",
               "set WAENGINE_API_KEYS=key1,key2")
    report(shutil.which("gunicorn") is not None, "gunicorn on PATH", "pip install -e .")
    print("all good" if not problems else f"{problems} problem(s)")
    return 1 if problems else 0


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
    p = sub.add_parser("doctor", help="check chromium, chromedriver, wa-js and the data folder")
    p.add_argument("--rebuild-registry", action="store_true",
                   help="re-register sessions from their profile folders (damaged waengine.db)")
    p.set_defaults(func=doctor)
    args = parser.parse_args(argv)
    if getattr(args, "rebuild_registry", False):
        return rebuild_registry(args)
    return args.func(args)


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
