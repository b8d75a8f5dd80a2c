"""The message history on both backends (SQLite FTS5, PostgreSQL tsvector): what each event
stores or changes, search, filters, cursor paging, retention and purge, with the same results."""

from types import SimpleNamespace

import pytest

from waengine.events.history import (
    KEY_BITS,
    MessageHistory,
    lower_bound,
    parse_query,
    sort_key,
    terms,
    upper_bound,
)

from ..conftest import BACKENDS

BOTH = pytest.mark.parametrize("database", BACKENDS, indirect=True)
NOW = 1_800_000_000
PEER, OTHER = "6281100000001@c.us", "6281100000002@c.us"


class Clock:
    def __init__(self):
        self.now = float(NOW)

    def __call__(self):
        return self.now


@pytest.fixture
def history(store):
    return MessageHistory(store, {"HISTORY_DAYS": 30}, clock=Clock())


def session(sid="s1", **options):
    return SimpleNamespace(id=sid, options=options)


def incoming(n: int, text: str, chat: str = PEER, ago: int = 0, type_: str = "chat", **extra):
    return {"id": f"false_{chat}_3EB0{n:016X}", "chatId": chat, "from": chat, "to": "me@c.us",
            "fromMe": False, "type": type_, "body": text, "timestamp": NOW - ago, "ack": 0,
            **extra}


def mine(n: int, text: str, chat: str = PEER, ago: int = 0):
    return {"id": f"true_{chat}_3EB1{n:016X}", "chatId": chat, "from": "me@c.us", "to": chat,
            "fromMe": True, "type": "chat", "body": text, "timestamp": NOW - ago, "ack": 0}


def bodies(page) -> list[str]:
    return [m["body"] for m in page["data"]]


def everything(history, sid="s1", **query) -> list[dict]:
    """Every page of a query, following `next`."""
    found, before = [], None
    while True:
        page = history.page(sid, before=before, **query)
        found += page["data"]
        if page["next"] is None:
            return found
        before = page["next"]


def test_words_fold_case_and_accents_and_a_query_may_end_in_a_prefix():
    assert terms("Café CAFÉ, naïve_user 42!") == "cafe naive user 42"
    assert parse_query("Ré* pesan-baru") == [("re", True), ("pesan", False), ("baru", False)]
    assert parse_query("!!! ***") == []


def test_a_second_has_its_messages_in_key_order_and_bounds_split_seconds():
    one, two = sort_key("s", "a", NOW), sort_key("s", "b", NOW)
    assert one >> KEY_BITS == two >> KEY_BITS == NOW and one != two
    assert upper_bound(str(NOW)) <= min(one, two) and lower_bound(str(NOW)) >= max(one, two)
    assert upper_bound(f"c{one}") == one == lower_bound(f"c{one}")
    assert upper_bound("c" + "9" * 19) == 2**63 - 1  # any documented bound is accepted


@BOTH
def test_incoming_and_own_messages_are_stored_newest_first_with_a_media_reference(history):
    s = session()
    history.record(s, "message", incoming(1, "first", ago=30))
    media = {"url": "/media/s1/x.jpg", "mimetype": "image/jpeg", "size": 10, "sha256": None}
    history.record(s, "message", incoming(2, "a caption", ago=20, type_="image", media=media,
                                          mimetype="image/jpeg"))
    history.record(s, "message.sent", mine(3, "my reply", ago=10))
    page = history.page("s1")
    assert bodies(page) == ["my reply", "a caption", "first"] and page["next"] is None
    reply, image, _ = page["data"]
    assert reply["fromMe"] is True and reply["from"] == "me@c.us" and reply["to"] == PEER
    assert image["type"] == "image" and image["media"] == media
    assert image["timestamp"] == NOW - 20 and image["cursor"].startswith("c")


@BOTH
def test_a_send_seen_twice_is_one_row_and_its_ack_only_rises(history):
    s = session()
    sent = mine(1, "hello")
    history.record(s, "message.sent", sent)
    history.record(s, "message.status", {"status": "sent", "message": {**sent, "ack": 1}})
    # a receipt names a 1:1 chat by @lid: matched by the key's random id
    history.record(s, "message.ack", {"ack": 3, "ids": [f"true_999@lid_3EB1{1:016X}"]})
    history.record(s, "message.ack", {"ack": 2, "ids": [sent["id"]]})
    history.record(s, "message.sent", sent)  # redelivered: still read
    page = history.page("s1")
    assert [(m["id"], m["ack"]) for m in page["data"]] == [(sent["id"], "read")]


@BOTH
def test_an_edit_replaces_the_text_and_the_search_follows_it(history):
    s = session()
    history.record(s, "message.sent", mine(1, "Meeting at 10"))
    history.record(s, "message.edited", {**mine(1, "Rapat jam 11"), "editedAt": NOW + 5})
    [row] = history.page("s1")["data"]
    assert row["body"] == "Rapat jam 11" and row["editedAt"] == NOW + 5
    assert bodies(history.page("s1", q="rapat")) == ["Rapat jam 11"]
    assert bodies(history.page("s1", q="meeting")) == []


@BOTH
def test_a_revoke_keeps_the_row_and_drops_its_content(history):
    s = session()
    media = {"url": "/media/s1/y.jpg", "mimetype": "image/jpeg", "size": 10, "sha256": None}
    history.record(s, "message", incoming(1, "secret plan", type_="image", media=media))
    history.record(s, "message.revoked", {"id": incoming(1, "")["id"], "type": "sender_revoke"})
    history.record(s, "message.edited", {**incoming(1, "back again"), "editedAt": NOW})
    [row] = history.page("s1")["data"]
    assert row["type"] == "revoked" and row["body"] == "" and row["revokedAt"] == NOW
    assert "media" not in row and "editedAt" not in row
    assert bodies(history.page("s1", q="secret")) == []
    assert len(history.page("s1", type_="revoked")["data"]) == 1


@BOTH
def test_search_filters_and_paging_agree_and_pages_are_complete_without_duplicates(history):
    s = session()
    for n in range(57):  # several per second: keys, not timestamps, tell them apart
        chat = PEER if n % 3 else OTHER
        history.record(s, "message", incoming(n, f"pesan {n} {'kopi' if n % 2 else 'teh'}",
                                              chat=chat, ago=200 - n // 4))
    history.record(session("s2"), "message", incoming(99, "kopi elsewhere"))
    every = everything(history, limit=10)
    assert len(every) == 57 == len({m["id"] for m in every})
    assert [m["cursor"] for m in every] == sorted((m["cursor"] for m in every),
                                                  key=lambda c: -int(c[1:]))
    coffee = everything(history, q="KOPI", limit=4)
    assert len(coffee) == 28 and all("kopi" in m["body"] for m in coffee)
    assert len({m["id"] for m in coffee}) == 28
    both = everything(history, q="kopi pes*", chat=OTHER, limit=3)
    assert [m["body"] for m in both] == [m["body"] for m in every
                                         if m["chatId"] == OTHER and "kopi" in m["body"]]
    assert everything(history, q="pesan 17") == [m for m in every if m["body"] == "pesan 17 kopi"]
    newer = history.page("s1", after=every[5]["cursor"], limit=500)["data"]
    assert newer == every[:5]
    window = history.page("s1", after=str(NOW - 195), before=str(NOW - 190), limit=500)["data"]
    assert {m["timestamp"] for m in window} == set(range(NOW - 194, NOW - 190))
    assert history.page("s1", q="!!!") == {"data": [], "next": None}


@BOTH
def test_retention_is_per_session_and_a_purge_forgets_everything(history, store):
    s1, keeps_more, keeps_none = session(), session("s2", historyDays=365), session("s3",
                                                                                   historyDays=0)
    for each in (s1, keeps_more, keeps_none):
        history.record(each, "message", incoming(1, "old", ago=40 * 86400))
        history.record(each, "message", incoming(2, "new", ago=86400))
    # a catch-up from before the retention is not kept at all
    assert bodies(history.page("s1")) == ["new"]
    assert bodies(history.page("s2")) == ["new", "old"] and bodies(history.page("s3")) == []
    history.clock.now += 10 * 86400
    assert history.expire("s1", history.days(s1.options)) == 0
    history.clock.now += 30 * 86400
    assert history.expire("s1", history.days(s1.options)) == 1
    assert history.expire("s2", history.days(keeps_more.options)) == 0
    assert bodies(history.page("s1")) == [] and bodies(history.page("s2")) == ["new", "old"]
    assert history.forget_session("s2") == 2
    assert store.execute("SELECT COUNT(*) AS n FROM messages")[0]["n"] == 0
    # the full-text index forgot them too
    assert bodies(history.page("s2", q="old")) == []


# ---- the route (a fake browser: the events reach the hub as the engine publishes them) ----
ADMIN, SALES = "admin-0123456789abcdef0123", "salesbot-0123456789abcdef01"


@pytest.fixture
def api(make_app, factory):
    from waengine import engine_of

    from ..conftest import wait_for

    app = make_app(API_KEYS=[ADMIN, f"{SALES}:sales"])
    client = app.test_client()
    for sid, key in (("sales", SALES), ("other", ADMIN), ("brief", ADMIN)):
        body = {"id": sid, **({"historyDays": 2} if sid == "brief" else {})}
        assert client.post("/sessions", json=body, headers={"X-API-Key": key}).status_code == 201
    wait_for(lambda: len(factory.opened) == 3, message="three browsers")
    engine = engine_of(app)
    for sid in ("sales", "other", "brief"):
        published = engine.manager.get(sid)
        for n in range(3):
            engine._on_event(published, "message", incoming(n, f"{sid} pesan {n}", ago=-n))
    return client


def get(client, sid, key=ADMIN, **query):
    return client.get(f"/sessions/{sid}/messages", query_string=query,
                      headers={"X-API-Key": key})


def test_the_route_pages_a_session_history_newest_first(api):
    resp = get(api, "sales", SALES, limit=2)
    assert resp.status_code == 200 and bodies(resp.json) == ["sales pesan 2", "sales pesan 1"]
    rest = get(api, "sales", SALES, before=resp.json["next"])
    assert bodies(rest.json) == ["sales pesan 0"] and rest.json["next"] is None
    assert bodies(get(api, "sales", SALES, q="PESAN 1", chat="+62 811-0000-0001").json) == [
        "sales pesan 1"]
    assert get(api, "sales", SALES, type="image").json == {"data": [], "next": None}


def test_a_scoped_key_reads_only_its_sessions_history_and_unknown_is_404(api):
    resp = get(api, "other", SALES)
    assert resp.status_code == 403 and resp.json["error"]["code"] == "forbidden"
    assert get(api, "nobody").status_code == 404


@pytest.mark.parametrize("query, field", [
    ({"before": "yesterday"}, "before"), ({"after": "c12x"}, "after"), ({"limit": 0}, "limit"),
    ({"limit": 501}, "limit"), ({"type": "Chat!"}, "type"), ({"chat": "not a chat"}, "chat"),
    ({"q": "x" * 201}, "q"), ({"q": ""}, "q")])
def test_bad_parameters_are_422_naming_the_field(api, query, field):
    resp = get(api, "other", **query)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "validation_error"
    assert field in str(resp.json["error"]["details"])


def test_a_session_shows_its_retention_and_a_purge_removes_its_history(api):
    assert api.get("/sessions/brief", headers={"X-API-Key": ADMIN}).json["historyDays"] == 2
    assert api.get("/sessions/other", headers={"X-API-Key": ADMIN}).json["historyDays"] == 90
    assert api.delete("/sessions/brief?purge=true",
                      headers={"X-API-Key": ADMIN}).status_code == 200
    assert api.post("/sessions", json={"id": "brief"},
                    headers={"X-API-Key": ADMIN}).status_code == 201
    assert get(api, "brief").json == {"data": [], "next": None}
    assert len(get(api, "other").json["data"]) == 3
