"""Sends WhatsApp refuses: retried under the pacer with the same id (looked for first), or
failed with WhatsApp's reason; acks matched to the id a send answered with."""

import pytest

from waengine import engine_of
from waengine.engine.receipts import Receipts, key_id, match_ack
from waengine.errors import from_page_error
from waengine.events import translate
from waengine.shapes import outgoing_view

from ..conftest import BACKENDS, wait_for
from .test_outgoing import connected

BOTH = pytest.mark.parametrize("database", BACKENDS, indirect=True)

TO = "62821000@c.us"


def refusing(results):
    """A sendText that answers each result in turn (None: WhatsApp took it)."""
    calls = []

    def send(to, text, messageId=None, **_):
        calls.append(messageId)
        result = results.pop(0) if results else None
        if result:
            raise from_page_error(result, f"WhatsApp did not take the message ({result})")
        return {"id": messageId, "chatId": to, "fromMe": True, "to": to, "type": "chat",
                "body": text, "timestamp": 1, "ack": 1}
    return calls, send


@pytest.fixture
def app(make_app):
    return make_app(SEND_RETRY_DELAY=0.05, SEND_RETRIES=3)


def queued(app, factory, handlers):
    engine = engine_of(app)
    connected(app.test_client(), factory, handlers=handlers)
    session = engine.manager.get("s1")
    row = engine.outgoing.submit(session, "sendText", {"to": TO, "text": "hi"}, None)
    engine.senders.ensure(session)
    return engine, row


def ended(engine, row):
    wait_for(lambda: engine.outgoing.get("s1", row["id"])["status"] in ("sent", "failed"),
             timeout=10, message="the send ended")
    return engine.outgoing.get("s1", row["id"])


@BOTH
def test_a_transient_refusal_is_retried_with_the_same_id_after_looking_for_it(app, factory):
    calls, send = refusing(["send_error_network", "send_error_upload"])
    looked = []
    engine, row = queued(app, factory, {"sendText": send,
                                        "findSent": lambda id: looked.append(id)})
    done = ended(engine, row)
    assert done["status"] == "sent" and done["attempts"] == 3 and done["error"] is None
    assert len(calls) == 3 and len(set(calls)) == 1  # one id: WhatsApp drops a duplicate
    assert looked == calls[:2]  # before each resend, the chat is searched for it


@BOTH
def test_a_refused_send_that_reached_whatsapp_after_all_is_not_sent_again(app, factory):
    calls, send = refusing(["send_error_network"])
    found = {}

    def find_sent(id):
        return found.get(id)

    def send_once(**args):
        try:
            return send(**args)
        finally:  # the server had it after all: the ack arrived late
            found[args["messageId"]] = {"id": args["messageId"], "chatId": TO, "fromMe": True,
                                        "type": "chat", "body": "hi", "ack": 1}
    engine, row = queued(app, factory, {"sendText": send_once, "findSent": find_sent})
    done = ended(engine, row)
    assert done["status"] == "sent" and len(calls) == 1 and done["message"]["id"] == calls[0]


@BOTH
def test_a_refusal_for_good_fails_at_once_with_whatsapps_reason(app, factory):
    calls, send = refusing(["send_error_unknown"])
    engine, row = queued(app, factory, {"sendText": send})
    done = ended(engine, row)
    view = outgoing_view(done)
    assert len(calls) == 1 and view["status"] == "failed" and view["ack"] == "failed"
    assert view["reason"] == "ERROR_UNKNOWN" and view["error"]["code"] == "send_failed"


@BOTH
def test_a_transient_refusal_fails_after_its_retries(app, factory):
    calls, send = refusing(["send_error_network"] * 10)
    engine, row = queued(app, factory, {"sendText": send})
    done = ended(engine, row)
    assert len(calls) == 4 and done["status"] == "failed"  # SEND_RETRIES=3: 4 attempts
    assert outgoing_view(done)["reason"] == "ERROR_NETWORK"


@BOTH
def test_retries_count_refusals_not_the_attempts_spent_waiting_for_the_session(app, factory):
    engine = engine_of(app)
    calls, send = refusing(["send_error_network", None])
    connected(app.test_client(), factory, handlers={"sendText": send})
    session = engine.manager.get("s1")
    row = engine.outgoing.submit(session, "sendText", {"to": TO, "text": "hi"}, None)
    # a long wait for the session counts attempts (retry_later) before the first refusal
    engine.store.execute("UPDATE outgoing SET attempts = 5000 WHERE id = ?", (row["id"],))
    engine.senders.ensure(session)
    done = ended(engine, row)
    assert done["status"] == "sent" and len(calls) == 2 and done["attempts"] == 5002


@BOTH
def test_an_unanswered_recipient_lookup_is_tried_again(app, factory):
    calls, send = refusing(["whatsapp_unavailable", None])
    engine, row = queued(app, factory, {"sendText": send})
    assert ended(engine, row)["status"] == "sent" and len(calls) == 2


@BOTH
def test_acks_are_matched_by_key_id_and_group_receipts_kept(app, factory):
    engine = engine_of(app)
    queue, receipts = engine.outgoing, Receipts(engine.store, lambda: 1_700_000_000.0)
    connected(app.test_client(), factory)
    session = engine.manager.get("s1")
    group, sent_id = "1203630001@g.us", "true_1203630001@g.us_3EB0AA11_99@lid"
    row = queue.submit(session, "sendText", {"to": group, "text": "hi"}, None)
    queue.assign_id(row["id"], sent_id)
    queue.finish(row["id"], {"id": sent_id, "chatId": group, "ack": 1}, None)
    assert key_id(sent_id) == "3EB0AA11"
    page = {"ack": 3, "chatId": group, "sender": "62821001@c.us",
            "ids": ["true_1203630001@g.us_3EB0AA11_62821001@c.us"], "keyIds": ["3EB0AA11"]}
    matched = match_ack(queue, receipts, "s1", page)
    assert matched["ids"] == [sent_id]
    match_ack(queue, receipts, "s1", {**page, "ack": 2})  # a late "delivered" never lowers it
    assert receipts.of("s1", sent_id) == [
        {"participant": "62821001@c.us", "ack": "read", "at": "2023-11-14T22:13:20Z"}]
    other_chat = match_ack(queue, receipts, "s1", {**page, "chatId": "1203639999@g.us"})
    assert other_chat["ids"] == page["ids"]  # the same id in another chat is not ours
    unknown = {"ack": 2, "chatId": "62821002@lid", "ids": ["true_62821002@lid_NOPE"],
               "keyIds": ["NOPE"]}
    assert match_ack(queue, receipts, "s1", unknown)["ids"] == ["true_62821002@lid_NOPE"]


def test_ack_events_are_one_per_group_member_and_never_below_sent():
    two = [translate("message.ack", {"ack": 3, "chatId": "g@g.us", "ids": ["m"], "sender": s})
           for s in ("a@c.us", "b@c.us")]
    assert len({dedupe for (_, _, dedupe), in two}) == 2
    assert translate("message.ack", {"ack": -1, "chatId": "c", "ids": ["m"]}) == []
    assert translate("message.ack", {"ack": 0, "chatId": "c", "ids": ["m"]}) == []
