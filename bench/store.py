"""Store throughput: events appended and sends queued per second, SQLite against PostgreSQL.

Issue 21's target: PostgreSQL throughput at least 0.8x SQLite's. One run measures every
backend, so the figures share the machine's load:
- sqlite: DATA_DIR/waengine.db (WAL, synchronous=NORMAL: a commit is not fsynced);
- postgresql: a server this script starts (fsync on), with synchronous_commit on (every commit
  waits for its WAL flush) and off (SQLite's guarantee: a crash of the machine may lose the
  last commits, never corrupt);
- postgresql+leases: synchronous_commit off, the node holding each session's lease, so every
  write is fenced (cluster mode as it runs).
Each figure is the median of 3 rounds, every backend measured in each round in turn;
THREADS writers append at once (a gateway's sessions write from their own threads). Next to
each rate: the CPU microseconds per operation of this process (the client) and of the
PostgreSQL server's processes, where the time goes.
`python bench/store.py [operations] [threads]`.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg import PostgresServer  # noqa: E402
from waengine.backends import open_store  # noqa: E402
from waengine.cluster import Leases  # noqa: E402
from waengine.engine.outgoing import OutgoingQueue  # noqa: E402
from waengine.events.outbox import EventOutbox  # noqa: E402

ROUNDS = 3
SESSIONS = 8
QUEUE_CONFIG = {"SEND_MIN_INTERVAL": 0, "SEND_JITTER": 0, "SEND_DAILY_CAP": 0,
                "SEND_TYPING": False}
HOOKS = [{"url": "http://127.0.0.1:9/hook"}]
MESSAGE = {"id": "false_62811@c.us_3EB0AAAA", "chatId": "62811@c.us", "from": "62811@c.us",
           "fromMe": False, "type": "chat", "body": "halo " * 20, "timestamp": 1_800_000_000}


TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(server: PostgresServer | None) -> float:
    """CPU seconds used so far by the PostgreSQL server's processes (0 for SQLite)."""
    if server is None:
        return 0.0
    postmaster = (server.data / "postmaster.pid").read_text().split()[0]
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if postmaster in (pid, fields[1]):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def rate(count: int, threads: int, work, server: PostgresServer | None) -> tuple:
    """Operations per second of `threads` threads doing count // threads operations each,
    and the CPU microseconds per operation of this process (the client) and of the server."""
    each = count // threads
    start = threading.Barrier(threads + 1)

    def run(k):
        start.wait()
        for i in range(each):
            work(k, i)

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began, client, served = time.perf_counter(), time.process_time(), server_cpu(server)
    for w in workers:
        w.join()
    done = each * threads
    return (done / (time.perf_counter() - began),
            (time.process_time() - client) / done * 1e6,
            (server_cpu(server) - served) / done * 1e6)


class Backend:
    def __init__(self, store, tag: str, server: PostgresServer | None = None):
        self.store, self.server = store, server
        self.outbox, self.queue = EventOutbox(store), OutgoingQueue(store, QUEUE_CONFIG)
        self.sessions = [SimpleNamespace(id=f"{tag}-s{k}", options={}) for k in range(SESSIONS)]
        self.events: list[tuple] = []
        self.sends: list[tuple] = []

    def round(self, r: int, count: int, threads: int) -> None:
        sessions, outbox, queue = self.sessions, self.outbox, self.queue
        self.events.append(rate(count, threads, lambda k, i: outbox.add(
            sessions[k % SESSIONS].id, "message", MESSAGE, f"message:{r}:{k}:{i}", HOOKS),
            self.server))
        self.sends.append(rate(count, threads, lambda k, i: queue.submit(
            sessions[k % SESSIONS], "sendText", {"to": "62811@c.us", "text": f"{r} {k} {i}"},
            f"key-{r}-{k}-{i}"), self.server))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    backends: dict[str, Backend] = {}
    server = PostgresServer(durable=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            backends["sqlite"] = Backend(open_store({}, Path(tmp)), "a")
            for name, sync in (("postgresql (synchronous_commit on)", "on"),
                               ("postgresql (synchronous_commit off)", "off"),
                               ("postgresql+leases (synchronous_commit off)", "off")):
                url = server.create_database() + f"?options=-c%20synchronous_commit%3D{sync}"
                store = open_store({"DATABASE_URL": url}, Path("."))
                setting = store.execute("SHOW synchronous_commit")[0]["synchronous_commit"]
                assert setting == sync, f"synchronous_commit is {setting}, not {sync}"
                if "leases" in name:
                    leases = Leases(store, "bench-node", ttl=3600)
                    for k in range(SESSIONS):
                        leases.claim(f"b-s{k}")
                backends[name] = Backend(store, "b", server)
            # round by round, every backend in turn: a shared box's load changes by the
            # minute, and each backend's median then spans the same minutes
            for r in range(ROUNDS):
                for backend in backends.values():
                    backend.round(r, count, threads)
            for backend in backends.values():
                backend.store.close()
    finally:
        server.close()
    def median(runs: list[tuple], k: int) -> float:
        return statistics.median(run[k] for run in runs)

    base = backends["sqlite"]
    print(f"{count} operations per round, {threads} threads, {SESSIONS} sessions, "
          f"median of {ROUNDS} rounds; CPU: microseconds per operation, client / server")
    print(f"{'backend':43} {'events/s':>8} {'x sqlite':>8} {'CPU':>9} {'sends/s':>8}"
          f" {'x sqlite':>8} {'CPU':>9}")
    for name, b in backends.items():
        cells = []
        for runs, base_runs in ((b.events, base.events), (b.sends, base.sends)):
            cells.append(f"{median(runs, 0):8.0f} {median(runs, 0) / median(base_runs, 0):8.2f}"
                         f" {median(runs, 1):4.0f}/{median(runs, 2):<4.0f}")
        print(f"{name:43} {' '.join(cells)}")


if __name__ == "__main__":
    main()
