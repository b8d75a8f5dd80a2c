"""The stored message history: search over 1,000,000 messages, and what keeping it costs.

Issue 25's target: `GET /sessions/{id}/messages?q=` p99 ≤ 50 ms over 1,000,000 stored
messages, with the insert cost per message against no history in the same run.

- Load: MESSAGES messages of one session (20 chats, a Zipf-distributed vocabulary of 20,000
  words, 3 to 15 words each, one a second or so over the last 60 days) straight into the
  SQLite store's table, in one transaction (the full-text index's triggers run per row).
- Search: QUERIES requests through the Flask app (its test client: routing, validation, the
  engine door, JSON), `q` drawn from common, middle and rare words, two words, a prefix, and a
  word in one chat; every request asks for the first page (limit 50). p50 and p99 per kind
  and overall.
- Insert cost: EventHub.publish of an incoming `message` event (the outbox commit, plus the
  history row and its index entries when the session keeps history) into the same 1,000,000-
  row database, sessions with and without history alternating in blocks so both share the
  machine's load. Median microseconds per message.

`python bench/history.py [messages] [queries]` (defaults 1,000,000 and 600; about 90 s).
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import pct, print_table, row  # noqa: E402
from waengine import create_app, engine_of  # noqa: E402
from waengine.events.history import sort_key, terms  # noqa: E402
from waengine.store import Store  # noqa: E402

SID = "bench"
CHATS = [f"62811{n:07d}@c.us" for n in range(20)]
VOCABULARY = 20_000
NOW = int(time.time())
SPAN = 60 * 86400
SEED = 25


def vocabulary() -> tuple[list[str], list[float]]:
    """Made-up words (syllables, so they look like words) and Zipf cumulative weights."""
    rng = random.Random(SEED)
    syllables = [c + v for c in "bcdfghjklmnprstw" for v in "aeiou"]
    found: dict[str, None] = {}
    while len(found) < VOCABULARY:
        found["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))] = None
    words = list(found)
    assert terms(" ".join(words[:50]).capitalize()) == " ".join(words[:50])
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(VOCABULARY)))
    return words, weights


def load(path: Path, count: int, words: list[str], weights: list[float]) -> float:
    """Insert `count` messages straight into the table; seconds it took."""
    rng = random.Random(SEED)
    began = time.perf_counter()
    db = sqlite3.connect(str(path), isolation_level=None)
    # a bulk load: no journal (a failed load is thrown away), WAL again afterwards
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    step = SPAN / count
    sql = ("INSERT INTO messages (k, session, id, key_id, chat, sender, recipient, from_me, type,"
           " body, ack, timestamp, edited_at, terms, data) VALUES"
           " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)")

    def rows():
        for n in range(count):
            chat = CHATS[n % len(CHATS)]
            mine = n % 3 == 0
            kid = f"3EB0{n:016X}"
            mid = f"{'true' if mine else 'false'}_{chat}_{kid}"
            stamp = NOW - SPAN + int(n * step)
            picks = rng.choices(words, cum_weights=weights, k=rng.randint(3, 15))
            body = " ".join(picks).capitalize()
            data = (f'{{"id":"{mid}","chatId":"{chat}","from":"{"me" if mine else chat}",'
                    f'"to":"{chat if mine else "me"}","fromMe":{"true" if mine else "false"},'
                    f'"type":"chat","timestamp":{stamp}}}')
            yield (sort_key(SID, mid, stamp), SID, mid, kid, chat, "me" if mine else chat,
                   chat if mine else "me", int(mine), "chat", body, 3, stamp,
                   " ".join(dict.fromkeys(picks)), data)  # = terms(body): ASCII words

    db.executemany(sql, rows())
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA optimize")
    db.close()
    return time.perf_counter() - began


def queries(count: int, words: list[str]) -> list[tuple[str, dict]]:
    """(kind, query string) pairs, the kinds taking turns."""
    rng = random.Random(SEED + 1)
    kinds = {
        "common word (rank 1-20)": lambda: {"q": rng.choice(words[:20])},
        "middle word (rank 200-2,000)": lambda: {"q": rng.choice(words[200:2000])},
        "rare word (rank 10,000+)": lambda: {"q": rng.choice(words[10000:])},
        "two words": lambda: {"q": f"{rng.choice(words[:200])} {rng.choice(words[:2000])}"},
        "prefix (3 letters*)": lambda: {"q": rng.choice(words[:2000])[:3] + "*"},
        "word in one chat": lambda: {"q": rng.choice(words[:2000]), "chat": rng.choice(CHATS)},
    }
    order = list(kinds.items())
    return [(name, make()) for name, make in
            (order[n % len(order)] for n in range(count))]


BASELINE = "newest page, no q (the same-run baseline)"


def search(client, asked: list[tuple[str, dict]]) -> dict[str, list[float]]:
    """Each search, then the plain newest page (no q) as its same-run baseline: on a loaded
    box a p99 is mostly the scheduler's, and the baseline shows how much."""
    timings: dict[str, list[float]] = {}
    for _kind, query in asked[:30]:  # warm the page cache and the code paths
        client.get(f"/sessions/{SID}/messages", query_string=query)
    for kind, query in asked:
        for name, each in ((kind, query), (BASELINE, {"limit": 50})):
            began = time.perf_counter()
            resp = client.get(f"/sessions/{SID}/messages", query_string=each)
            spent = time.perf_counter() - began
            assert resp.status_code == 200, resp.json
            timings.setdefault(name, []).append(spent)
    return timings


def insert_cost(engine, rounds: int = 10, block: int = 100) -> tuple[list[float], list[float]]:
    """Seconds per published message event, with history and without, alternating blocks."""
    hub = engine.events
    keeps = SimpleNamespace(id=SID, options={})
    skips = SimpleNamespace(id="bench-nohistory", options={"historyDays": 0})
    per: dict[bool, list[float]] = {True: [], False: []}
    serial = itertools.count()
    for _ in range(rounds):
        for session, kept in ((keeps, True), (skips, False)):
            began = time.perf_counter()
            for _ in range(block):
                n = next(serial)
                hub.publish(session, "message", {
                    "id": f"false_{CHATS[0]}_3EB1{n:016X}", "chatId": CHATS[0], "from": CHATS[0],
                    "to": "me", "fromMe": False, "type": "chat", "ack": 0,
                    "body": f"pesan baru nomor {n} tentang kopi dan teh", "timestamp": NOW})
            per[kept].append((time.perf_counter() - began) / block)
    return per[True], per[False]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    asked_count = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    words, weights = vocabulary()
    with tempfile.TemporaryDirectory(prefix="waengine-bench-history-") as tmp:
        data = Path(tmp) / "data"
        store = Store(data / "waengine.db")  # the schema, through the migrations
        for sid in (SID, "bench-nohistory"):
            store.insert_session(sid, "STOPPED", {})
        store.close()
        print(f"loading {count:,} messages…", file=sys.stderr, flush=True)
        took = load(data / "waengine.db", count, words, weights)
        row(f"load {count:,} messages (bulk, one transaction)", f"{took:.1f} s",
            ratio=f"{count / took:,.0f} rows/s")
        app = create_app({"ENV": "testing", "DATA_DIR": str(data), "API_KEYS": []})
        engine = engine_of(app)  # not started: no browser, the route reads the store
        try:
            client = app.test_client()
            asked = queries(asked_count, words)
            timings = search(client, asked)
            plain = timings.pop(BASELINE)
            everything = [t for each in timings.values() for t in each]
            for kind, each in timings.items():
                row(f"GET …/messages?q= {kind}", f"p50 {pct(each, 0.5) * 1000:.1f} / p99 "
                    f"{pct(each, 0.99) * 1000:.1f} ms")
            p99 = pct(everything, 0.99) * 1000
            row(f"GET …/messages?q= all {len(everything)} requests",
                f"p50 {pct(everything, 0.5) * 1000:.1f} / p99 {p99:.1f} ms",
                f"p50 {pct(plain, 0.5) * 1000:.1f} / p99 {pct(plain, 0.99) * 1000:.1f} ms "
                f"GET …/messages (no q), interleaved",
                f"target p99 ≤ 50 ms: {'met' if p99 <= 50 else 'NOT met'}")
            first = client.get(f"/sessions/{SID}/messages", query_string={"limit": 50})
            assert len(first.json["data"]) == 50
            kept, skipped = insert_cost(engine)
            with_history, without = statistics.median(kept), statistics.median(skipped)
            row("publish a message event (outbox + history), per message",
                f"{with_history * 1e6:.0f} µs", f"{without * 1e6:.0f} µs outbox only",
                f"{with_history / without:.2f}x (+{(with_history - without) * 1e6:.0f} µs)")
            size = (data / "waengine.db").stat().st_size
            row("database file with the history", f"{size / 2**20:.0f} MiB",
                ratio=f"{size / count:.0f} bytes/message")
        finally:
            engine.close()
    print_table("Message history: search over the stored messages, insert cost")


if __name__ == "__main__":
    main()
