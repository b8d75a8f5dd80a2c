"""Forward overhead in cluster mode: the same command for a session sent to the node that owns
it and to a node that forwards it there (waengine/forward.py), interleaved in one run on two
gunicorn nodes sharing a real PostgreSQL. `python bench/cluster.py` (needs PostgreSQL's server:
make install). The command is GET /sessions/{id}/pacing, which reads no browser, so the
difference is the forward alone: the lease lookup, the signature, one loopback HTTP call.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.common import pct  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.integration.servers import Gunicorn  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402
from waengine import sandbox  # noqa: E402

REQUESTS = 1000
KEY = {"X-API-Key": "k1"}


def timed(client: requests.Session, url: str) -> float:
    start = time.perf_counter()
    resp = client.get(url, headers=KEY, timeout=30)
    elapsed = time.perf_counter() - start
    assert resp.status_code == 200, resp.text
    return elapsed


def main() -> int:
    box = sandbox.make_server("127.0.0.1", 0)
    threading.Thread(target=box.serve_forever, name="sandbox", daemon=True).start()
    pg = PostgresServer()
    nodes: list[Gunicorn] = []
    try:
        url = pg.create_database()
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            folder = Path(tmp)
            for i in range(2):
                nodes.append(Gunicorn(
                    folder / f"node{i}", f"http://127.0.0.1:{box.server_port}/",
                    folder / f"node{i}.log",
                    {"WAENGINE_DATABASE_URL": url, "WAENGINE_CLUSTER_SECRET": "b" * 40},
                    node=f"node-{i}"))
            for node in nodes:
                node.wait_healthy()
            wait_for(lambda: len(nodes[0].get("/nodes").json()["data"]) == 2)
            assert nodes[0].post("/sessions", json={"id": "bench"}).status_code == 201
            owner_id = nodes[0].get("/sessions/bench").json()["node"]
            owner, other = (nodes[0], nodes[1]) if owner_id == "node-0" else (nodes[1], nodes[0])
            path = "/sessions/bench/pacing"
            direct, forwarded = [], []
            client = requests.Session()
            for _ in range(50):  # warm both paths: pools, connections, caches
                timed(client, owner.url + path)
                timed(client, other.url + path)
            for _ in range(REQUESTS):
                direct.append(timed(client, owner.url + path))
                forwarded.append(timed(client, other.url + path))
            for node in nodes:
                node.stop()
            nodes.clear()
    finally:
        for node in nodes:
            node.stop()
        pg.close()
        box.shutdown()
    print(f"| GET {path}, {REQUESTS} each, interleaved | to the owner | through the other "
          "node | added |")
    print("|---|---|---|---|")
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        a, b = pct(direct, q) * 1000, pct(forwarded, q) * 1000
        print(f"| {name} | {a:.2f} ms | {b:.2f} ms | {b - a:.2f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
