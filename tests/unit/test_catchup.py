"""engine/catchup.py against a real outbox (SQLite) and a page that answers from a list."""

from __future__ import annotations

from types import SimpleNamespace

from waengine.engine import catchup
from waengine.events import translate
from waengine.events.outbox import EventOutbox
from waengine.store import Store


class ListPage:
    """The page's history of one chat, newest last (bridge.js getMessages / catchUp)."""

    def __init__(self, msgs):
        self.msgs = msgs

    def get_messages(self, chat_id, limit):
        return [m for m in self.msgs if m["chatId"] == chat_id][-limit:]

    def catch_up(self, since, per_chat, undecryptable_before=None):
        return [m for m in self.msgs if m["timestamp"] >= since and not m["fromMe"]]


def msg(n: int, t: int, **extra) -> dict:
    return {"id": f"false_62811@c.us_M{n}", "chatId": "62811@c.us", "fromMe": False,
            "from": "62811@c.us", "type": "chat", "body": f"m{n}", "timestamp": t, "ack": 1,
            **extra}


def hub_and_sink(tmp_path):
    store = Store(tmp_path / "waengine.db", 5.0)
    hub = SimpleNamespace(outbox=EventOutbox(store))
    session = SimpleNamespace(id="s1", created_at=None, webhook=None)
    published = []

    def on_event(sess, kind, data):
        published.append((kind, data))
        for type_, payload, dedupe in translate(kind, data):
            hub.outbox.add(sess.id, type_, payload, dedupe, [])
        return True

    return hub, session, on_event, published


def test_a_resync_publishes_what_the_log_lacks_since_the_time_once(tmp_path):
    hub, session, on_event, published = hub_and_sink(tmp_path)
    history = [msg(1, 100), msg(2, 200), msg(3, 300), msg(4, 310, fromMe=True),
               msg(5, 320, type="e2e_notification"), msg(6, 330, type="gp2"),
               msg(7, 340, chatId="62899@c.us")]
    on_event(session, "message", history[1])  # m2 arrived live
    published.clear()
    page = ListPage(history)
    assert catchup.resync(session, page, hub.outbox, on_event, "62811@c.us", 150) == 1
    assert [(k, d["body"], d["catchUp"]) for k, d in published] == [("message", "m3", True)]
    assert catchup.resync(session, page, hub.outbox, on_event, "62811@c.us", 0) == 1  # m1
    assert catchup.resync(session, page, hub.outbox, on_event, "62811@c.us", 0) == 0


def test_catch_up_hands_over_what_the_page_history_holds_since_the_newest_stored(tmp_path):
    hub, session, on_event, published = hub_and_sink(tmp_path)
    on_event(session, "message", msg(1, 10_000))
    published.clear()
    page = ListPage([msg(1, 10_000), msg(2, 10_050), msg(3, 10_060)])
    bridge = SimpleNamespace(call=lambda op, **a: page.catch_up(a["since"], a["perChat"]))
    assert catchup.run(session, bridge, hub.outbox, on_event) == 3
    assert [d["body"] for _, d in published] == ["m1", "m2", "m3"]
    rows = hub.outbox.since("s1", 0)
    assert [r["type"] for r in rows] == ["message"] * 3  # m1 once: the outbox dedupes it
