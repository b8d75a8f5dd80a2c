"""PostgreSQL stopped under a running gateway: 503 storage_unavailable with Retry-After, then
everything resumes by itself when it is back, with nothing lost."""

import pytest

from waengine import engine_of

from ..conftest import wait_for
from ..pg import PostgresServer
from .test_outgoing import connected, recorder


@pytest.fixture
def own_postgres():
    """A server of this test's own: it is stopped and started under the gateway."""
    server = PostgresServer()
    yield server
    server.close()


def incoming(n):
    return {"id": f"e{n}", "type": "message", "data": {
        "id": f"false_62822@c.us_IN{n}", "chatId": "62822@c.us", "from": "62822@c.us",
        "fromMe": False, "type": "chat", "body": f"in {n}", "timestamp": 1_800_000_000 + n,
        "sender": {"id": "62822@c.us"}}}


def test_a_lost_postgresql_answers_503_and_work_resumes_when_it_is_back(make_app, factory,
                                                                        own_postgres):
    url = own_postgres.create_database()
    app = make_app(DATABASE_URL=url, STORE_BUSY_TIMEOUT=1.0)
    client, engine = app.test_client(), engine_of(app)
    sent, send = recorder()
    connected(client, factory, handlers={"sendText": send})
    first = client.post("/sessions/s1/messages", json={"to": "62811", "text": "before"})
    assert first.status_code == 201

    own_postgres.stop()
    refused = client.post("/sessions/s1/messages", json={"to": "62811", "text": "during"})
    assert refused.status_code == 503, refused.json
    assert refused.json["error"]["code"] == "storage_unavailable"
    assert int(refused.headers["Retry-After"]) > 0
    factory.bridge().events.append(incoming(1))  # arrives while the database is away
    health = wait_for(lambda: (r := client.get("/health")).status_code == 503 and r,
                      message="/health unhealthy")
    assert "database" in health.json["reason"]
    assert "e1" not in factory.bridge().acked  # it waits in the page until it is committed

    own_postgres.start()
    after = wait_for(lambda: (r := client.post("/sessions/s1/messages",
                                               json={"to": "62811", "text": "after"})
                              ).status_code == 201 and r, timeout=30, message="a send again")
    assert after.json["body"] == "after"
    wait_for(lambda: "e1" in factory.bridge().acked, timeout=30, message="the event committed")
    wait_for(lambda: client.get("/health").status_code == 200, message="/health ok again")
    stored = own_postgres.query(url, "SELECT type, body FROM events WHERE session = 's1'"
                                " ORDER BY seq")
    messages = [body for kind, body in stored if kind == "message"]
    assert len(messages) == 1 and '"in 1"' in messages[0]  # once, not lost
    assert [text for _, _, text in sent] == ["before", "after"]
    rows = own_postgres.query(url, "SELECT status FROM outgoing WHERE session = 's1' ORDER BY seq")
    assert rows == [("sent",), ("sent",)]
    assert engine.store.failing is None
