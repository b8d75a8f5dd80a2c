"""Takeover time in cluster mode: N linked sessions on node A, A's whole process group (its
browsers included) SIGKILLed, node B restores each newest snapshot and brings it up CONNECTED
without a scan. `python bench/takeover.py [sessions] [lease seconds]` (default 20, 15; needs
PostgreSQL's server: make install).

The baseline, in the same run: the same N sessions brought up by a single node after a
graceful restart (its own profiles on its own disk, no lease to wait for, no snapshot to
restore). Both are timed per session from the moment the node is gone (SIGTERM'd and started
again / SIGKILLed) to the session's first CONNECTED with a browser, read from GET /sessions.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import pct, sandbox_in_thread  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.integration.conftest import Sandbox  # noqa: E402
from tests.integration.servers import Gunicorn  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402


def phone(i: int) -> str:
    return f"62977{i:07d}"


def node(folder: Path, name: str, env: dict, box_url: str) -> Gunicorn:
    server = Gunicorn(folder / name, box_url, folder / f"{name}.log", env, node=f"node-{name}",
                      start_new_session=True)
    server.wait_healthy()
    return server


def connected_times(gw: Gunicorn, ids: set[str], since: float, owner: str,
                    timeout: float) -> dict[str, float]:
    """Seconds from `since` to each session's first CONNECTED (with a browser) on `owner`."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(ids) and time.monotonic() < deadline:
        try:
            rows = gw.get("/sessions").json()["data"]
        except Exception:  # noqa: BLE001 - a node busy starting: ask again
            rows = []
        now = time.monotonic()
        for row in rows:
            if (row["id"] in ids and row["id"] not in seen and row["status"] == "CONNECTED"
                    and row.get("browser") and row.get("node") == owner):
                seen[row["id"]] = now - since
        time.sleep(0.25)  # a poll interval, not a wait for a condition
    return seen


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    ttl = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    box, box_url = sandbox_in_thread()
    phones = Sandbox(box_url.rstrip("/"))
    pg = PostgresServer()
    nodes: list[Gunicorn] = []
    ids = {f"t{i}" for i in range(n)}
    try:
        url = pg.create_database()
        with tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmp:
            folder = Path(tmp)
            env = {"WAENGINE_DATABASE_URL": url, "WAENGINE_CLUSTER_SECRET": "t" * 40,
                   "WAENGINE_LEASE_TTL": str(ttl),
                   "WAENGINE_SNAPSHOT_STORE": str(folder / "snapshots"),
                   "WAENGINE_SNAPSHOT_KEY": "takeover bench passphrase",
                   "WAENGINE_MAX_SESSIONS": str(n + 5)}
            a = node(folder, "a", env, box_url)
            nodes.append(a)
            for i in range(n):
                phones.phone(phone(i), f"Owner {i}")
                assert a.post("/sessions", json={"id": f"t{i}"}).status_code == 201
            for i in range(n):
                sid = f"t{i}"
                a.wait_status(sid, "SCAN_QR", timeout=300)
                phones.scan(lambda s=sid: a.get(f"/sessions/{s}/qr").json().get("qr"), phone(i))
            for sid in sorted(ids):
                a.wait_status(sid, "CONNECTED", timeout=300)
            print(f"{n} sessions linked on node A", flush=True)

            # baseline: one node, restarted gracefully, brings its own sessions back
            a.proc.send_signal(signal.SIGTERM)
            a.proc.wait(120)
            nodes.remove(a)
            gone = time.monotonic()
            a = Gunicorn(folder / "a", box_url, folder / "a.log", env, node="node-a",
                         start_new_session=True)
            nodes.append(a)
            restart = connected_times(a, ids, gone, "node-a", timeout=600)
            print(f"baseline: {len(restart)} of {n} CONNECTED after a restart", flush=True)

            b = node(folder, "b", env, box_url)
            nodes.append(b)
            wait_for(lambda: len(pg.query(url, "SELECT DISTINCT session FROM events"
                                               " WHERE type = 'session.snapshot'")) == n,
                     timeout=300, message="a snapshot of every session")
            os.killpg(a.proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            a.proc.wait(10)
            nodes.remove(a)
            takeover = connected_times(b, ids, killed, "node-b", timeout=600)
            print(f"takeover: {len(takeover)} of {n} CONNECTED on node B", flush=True)
            for server in nodes:  # before their folder goes
                server.stop()
            nodes.clear()
    finally:
        for server in nodes:
            server.stop()
        pg.close()
        box.shutdown()
    print(f"\n| {n} sessions, lease {ttl} s | p50 | p99 | max | CONNECTED |")
    print("|---|---|---|---|---|")
    for name, times in (("single node, graceful restart (baseline)", restart),
                        ("takeover after SIGKILL of the owner", takeover)):
        values = list(times.values()) or [float("nan")]
        print(f"| {name} | {pct(values, 0.5):.1f} s | {pct(values, 0.99):.1f} s | "
              f"{max(values):.1f} s | {len(times)} of {n} |")
    return 0 if len(takeover) == n else 1


if __name__ == "__main__":
    sys.exit(main())
