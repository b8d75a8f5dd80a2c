"""What cluster mode asks of PostgreSQL, per unit of work: the figures docs/cluster.md's plan
for 10,000 sessions on 100 nodes multiplies out. `python bench/cluster_writes.py [sessions]
[messages]` (default 5, 40; needs PostgreSQL's server: make install).

One gunicorn node in cluster mode (PostgreSQL, a snapshot folder, a signed webhook) runs
SESSIONS linked sessions on the sandbox. The server's own counters (pg_stat_database: commits,
rows inserted, updated, deleted; pg_current_wal_lsn: WAL bytes) are read around three phases:
- idle: the node's heartbeat, lease renewals and its look for ended nodes, per second;
- incoming: MESSAGES messages to each session, until the webhook has every one;
- sends: MESSAGES sends from each session, until each is sent and then delivered (its
  message.ack events at the webhook: the peer's phone comes online after the sends).
A traffic phase's counts, less what the idle node does in as many seconds, are divided by its
messages or sends. The counters are the whole server's; nothing else uses it during the run.
"Statements" counts commits: every autocommit statement, reads included.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import sandbox_in_thread  # noqa: E402
from bench.scale import SECRET, HookReceiver  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.integration.conftest import Sandbox  # noqa: E402
from tests.integration.servers import Gunicorn  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402

PEER = "6297800000000"
IDLE = 30.0
STATS_FLUSH = 11.0  # seconds: every backend's counts have reached pg_stat_* after this


def phone(i: int) -> str:
    return f"62978{i:07d}"


def counters(pg: PostgresServer, url: str) -> dict[str, int]:
    row = pg.query(url, "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted,"
                        " pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_database"
                        " WHERE datname = current_database()")[0]
    got = dict(zip(("commits", "inserted", "updated", "deleted", "wal"), map(int, row)))
    for table, written in pg.query(url, "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del"
                                        " FROM pg_stat_user_tables"):
        got[f"table {table}"] = int(written)
    return got


def measured(pg: PostgresServer, url: str, work) -> tuple[dict[str, int], float]:
    """The counters' growth over work(). A backend reports its counts when it goes idle, at
    most once a second, and one that stays idle reports what it still holds within 10 s
    (PostgreSQL's PGSTAT_MIN_INTERVAL and PGSTAT_IDLE_INTERVAL): both sides wait that out.
    Also the seconds the counts span."""
    time.sleep(STATS_FLUSH)
    before, start = counters(pg, url), time.monotonic()
    work()
    time.sleep(STATS_FLUSH)
    after, span = counters(pg, url), time.monotonic() - start
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}, span


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    messages = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    box, box_url = sandbox_in_thread()
    phones = Sandbox(box_url.rstrip("/"))
    hooks = HookReceiver()
    pg = PostgresServer()
    gw = None
    try:
        url = pg.create_database()
        with tempfile.TemporaryDirectory(prefix="bench-cluster-writes-") as tmp:
            folder = Path(tmp)
            gw = Gunicorn(folder / "a", box_url, folder / "a.log", {
                "WAENGINE_DATABASE_URL": url, "WAENGINE_CLUSTER_SECRET": "w" * 40,
                "WAENGINE_SNAPSHOT_STORE": str(folder / "snapshots"),
                "WAENGINE_SNAPSHOT_KEY": "cluster writes bench passphrase",
                "WAENGINE_WEBHOOK_URL": hooks.url, "WAENGINE_WEBHOOK_SECRET": SECRET,
                "WAENGINE_WEBHOOK_ALLOW": "127.0.0.1",
                "WAENGINE_SEND_MIN_INTERVAL": "0", "WAENGINE_SEND_JITTER": "0"},
                node="node-a")
            try:
                gw.wait_healthy()
            except AssertionError:
                print((folder / "a.log").read_text()[-3000:], file=sys.stderr)
                raise
            phones.phone(PEER, "Peer")
            for i in range(n):
                phones.phone(phone(i), f"Owner {i}")
                assert gw.post("/sessions", json={"id": f"w{i}"}).status_code == 201
                gw.wait_status(f"w{i}", "SCAN_QR", timeout=120)
                phones.scan(lambda s=f"w{i}": gw.get(f"/sessions/{s}/qr").json().get("qr"),
                            phone(i))
                gw.wait_status(f"w{i}", "CONNECTED", timeout=120)
            wait_for(lambda: len(pg.query(url, "SELECT DISTINCT session FROM events"
                                               " WHERE type = 'session.snapshot'")) == n,
                     timeout=120, message="every session's first snapshot")
            time.sleep(5)  # the link's own writes (catch-up, snapshot events) settle

            idle = measured(pg, url, lambda: time.sleep(IDLE))

            def incoming():
                for k in range(messages):
                    for i in range(n):
                        phones.post("/_sandbox/messages", **{
                            "from": PEER, "to": phone(i), "text": f"in-{k}-{i}"})
                wait_for(lambda: sum(1 for _, e in list(hooks.got) if e["type"] == "message"
                                     and str(e["data"].get("body", "")).startswith("in-"))
                         >= n * messages, timeout=300, message="every incoming message")
            inbound = measured(pg, url, incoming)

            def sends():
                ids = []
                for k in range(messages):
                    for i in range(n):
                        resp = gw.post(f"/sessions/w{i}/messages",
                                       json={"to": PEER, "text": f"out-{k}-{i}"})
                        assert resp.status_code in (201, 202), resp.text
                        ids.append(resp.json().get("id"))

                def acked(level: str) -> bool:
                    got = {e["data"].get("id") for _, e in list(hooks.got)
                           if e["type"] == "message.ack" and e["data"].get("ack") == level}
                    return got >= set(ids)
                wait_for(lambda: acked("sent"), timeout=300, message="every send sent")
                phones.deliver(PEER)  # the peer's phone comes online: delivery receipts
                wait_for(lambda: acked("delivered"), timeout=300, message="every send delivered")
            outbound = measured(pg, url, sends)
            snaps = pg.query(url, "SELECT seq FROM events WHERE type = 'session.snapshot'")
            gw.stop()
            gw = None
    finally:
        if gw is not None:
            gw.stop()
        pg.close()
        box.shutdown()
    total = n * messages
    idle_counts, idle_span = idle
    rate = {k: v / idle_span for k, v in idle_counts.items()}  # the node's own, per second

    def per_unit(phase, units: float, background: bool) -> dict[str, float]:
        counts, span = phase  # less what the idle node does in as many seconds
        return {k: (v - (rate.get(k, 0.0) * span if background else 0.0)) / units
                for k, v in counts.items()}
    rows = ((f"idle node with {n} sessions, per second", per_unit(idle, idle_span, False)),
            ("incoming message (to the webhook)", per_unit(inbound, total, True)),
            ("send (queued to delivered)", per_unit(outbound, total, True)))
    print(f"\n| per unit, {n} sessions, {messages} messages each way per session | statements |"
          " rows inserted | rows updated | rows deleted | WAL bytes |")
    print("|---|---|---|---|---|---|")
    for name, got in rows:
        print(f"| {name} | {got['commits']:.1f} | {got['inserted']:.1f} | {got['updated']:.1f} |"
              f" {got['deleted']:.1f} | {got['wal']:.0f} |")
    for name, got in rows:
        tables = sorted((k[6:], v) for k, v in got.items()
                        if k.startswith("table ") and abs(v) >= 0.005)
        print(f"rows written, {name}: " + ", ".join(f"{t} {v:.2f}" for t, v in tables))
    print(f"snapshot events: {len(snaps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
