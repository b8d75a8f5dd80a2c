"""Profile snapshots, measured: what a linked profile holds per folder, what a snapshot keeps,
its size and time, and N snapshots taken from the running browser during traffic restored one
by one into a fresh gateway (each must come up CONNECTED without a scan).

    python bench/snapshots.py [--restores 20] [--page-weight field]

The sandbox runs in its own process, two gateways in this one (SQLite). docs/cluster.md keeps
the result.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import print_table, row, start_sandbox, wait_for
from waengine import create_app, engine_of
from waengine.snapshots import FolderStore, Snapshots, kept_files

OWNER, FRIEND = "6289900000001", "6289900000002"
KEY = "bench snapshot passphrase"
SID = "bench"


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def gateway(sandbox: str, data: Path, **extra):
    app = create_app({"ENV": "testing", "DATA_DIR": str(data), "WA_URL": sandbox + "/",
                      "API_KEYS": [], **extra})
    engine_of(app).start()
    return app, app.test_client()


def status(client) -> dict:
    return wait_for(lambda: (s := client.get(f"/sessions/{SID}").json).get("status")
                    in ("CONNECTED", "SCAN_QR", "FAILED") and s, timeout=90, message="status")


def link(sandbox: str, client) -> None:
    assert client.post("/sessions", json={"id": SID}).status_code == 201
    wait_for(lambda: client.get(f"/sessions/{SID}/qr").json.get("qr"), timeout=60,
             message="a QR")

    def scan():
        qr = client.get(f"/sessions/{SID}/qr").json.get("qr")
        return qr and requests.post(sandbox + "/_sandbox/link", json={"qr": qr, "phone": OWNER},
                                    timeout=10).status_code == 200
    wait_for(scan, timeout=60, interval=0.5, message="the scan")
    wait_for(lambda: client.get(f"/sessions/{SID}").json["status"] == "CONNECTED", timeout=60,
             message="CONNECTED")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--restores", type=int, default=20)
    parser.add_argument("--page-weight", choices=("light", "field"), default="light",
                        help="the sandbox page's weight (field: WhatsApp Web's IndexedDB size)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="waengine-bench-snap-"))
    sandbox, proc = start_sandbox(tmp, "--page-weight", args.page_weight)
    apps = []
    try:
        for phone, name in ((OWNER, "Owner"), (FRIEND, "Friend")):
            requests.post(sandbox + "/_sandbox/phones", json={"phone": phone, "name": name},
                          timeout=10)
        store = tmp / "snapshots"
        app, client = gateway(sandbox, tmp / "a", SNAPSHOT_STORE=str(store), SNAPSHOT_KEY=KEY,
                              SNAPSHOT_KEEP=args.restores + 5)
        apps.append(app)
        link(sandbox, client)
        engine = engine_of(app)
        profile = engine.profiles / SID
        stop, sent = threading.Event(), [0]

        def traffic():
            while not stop.is_set():
                requests.post(sandbox + "/_sandbox/messages", timeout=10, json={
                    "from": FRIEND, "to": OWNER, "text": f"in {sent[0]}"})
                client.post(f"/sessions/{SID}/messages", json={"to": FRIEND, "text": "out"})
                sent[0] += 1
                stop.wait(0.1)

        thread = threading.Thread(target=traffic, daemon=True)
        thread.start()
        session = engine.manager.get(SID)
        taken = []
        while len(taken) < args.restores:
            made = engine.snapshotter.take(session)
            if made:
                taken.append(made)
            wait_for(lambda n=sent[0]: sent[0] > n, message="traffic")
        stop.set()
        thread.join(30)
        folders: dict[str, int] = {}
        for item in profile.rglob("*"):
            if item.is_file():
                rel = item.relative_to(profile).parts
                key = "/".join(rel[:2]) if rel[0] == "Default" and len(rel) > 2 else rel[0]
                folders[key] = folders.get(key, 0) + item.stat().st_size
        kept = sum((profile / f).stat().st_size for f in kept_files(profile))
        row("profile on disk, whole", f"{du(profile) / 1024:.0f} KiB")
        for name, size in sorted(folders.items(), key=lambda kv: -kv[1])[:8]:
            row(f"  of which {name}", f"{size / 1024:.0f} KiB")
        row("kept by a snapshot (before gzip)", f"{kept / 1024:.0f} KiB")
        sizes = [t["bytes"] for t in taken]
        times = [t["seconds"] for t in taken]
        row("snapshot size, sealed (median)", f"{statistics.median(sizes) / 1024:.0f} KiB")
        row("snapshot time from a running browser (median / max)",
            f"{statistics.median(times):.2f} s / {max(times):.2f} s")
        assert client.delete(f"/sessions/{SID}").status_code == 200

        fresh, fresh_client = gateway(sandbox, tmp / "fresh")
        apps.append(fresh)
        snapshots = Snapshots(FolderStore(store), KEY)
        connected, restore_s, up_s = 0, [], []
        for made in taken:
            started = time.monotonic()
            snapshots.restore(SID, made["version"], engine_of(fresh).profiles / SID)
            restore_s.append(time.monotonic() - started)
            if fresh_client.get(f"/sessions/{SID}").status_code == 404:
                fresh_client.post("/sessions", json={"id": SID})
            else:
                fresh_client.post(f"/sessions/{SID}/start")
            connected += status(fresh_client)["status"] == "CONNECTED"
            up_s.append(time.monotonic() - started)
            fresh_client.delete(f"/sessions/{SID}")
        row("restore of a snapshot into a profile (median)",
            f"{statistics.median(restore_s):.2f} s")
        row("restore to CONNECTED in a fresh browser (median)", f"{statistics.median(up_s):.1f} s")
        row("snapshots taken during traffic that came up CONNECTED without a scan",
            f"{connected} of {len(taken)}")
        print_table(f"Profile snapshots ({args.page_weight} page)")
        return 0 if connected == len(taken) else 1
    finally:
        for app in apps:
            engine_of(app).close()
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
